"""Any timm CNN as a backbone: ``backbone: timm:resnet50``.

The layers are the model's feature stages as timm's ``feature_info`` names them (for a
ResNet: ``act1``, ``layer1`` ... ``layer4``), also reachable as ``stage0`` ... ``stageN``.
torch and timm are imported only when a backbone is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from siayn_core import Backbone, hookimpl, option


@dataclass(frozen=True)
class TimmOptions:
    """Options of the ``timm`` backbone; ``timm:NAME`` sets :attr:`model`."""

    model: str = option(
        "resnet50",
        help="the timm model name (see timm.list_models()), e.g. resnet50 or convnext_tiny; "
        "'backbone: timm:NAME' sets it",
    )
    weights: str = option(
        "imagenet",
        help="'imagenet' (the model's default pretrained weights from the Hugging Face hub or "
        "its cache), 'none' (random initialisation) or the path of a checkpoint file of the "
        "full timm model (.pth, .bin or .safetensors)",
    )
    normalize: bool = option(
        True, help="normalize the [0, 1] input with the mean and std from the model's pretrained config"
    )


def make_timm(options: TimmOptions) -> Backbone:
    """A timm model's feature stages."""
    from .backbone import TimmBackbone

    return TimmBackbone(options)


@hookimpl
def register_backbones(register):
    register(
        "timm",
        make_timm,
        description="Any timm CNN through its feature stages, e.g. timm:resnet50 (layers layer1 ... layer4).",
    )
