"""VGG16 and VGG19 backbones (torchvision architectures and ImageNet weights).

Layers are named both the canonical way (``conv4_2``, ``relu4_2``, ``pool3``) and the way
the original configs did (``conv_8``: the 8th convolution; ``relu_8``: the ReLU after it).
torch and torchvision are imported only when a backbone is built, so loading this plugin
stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from siayn_core import Backbone, hookimpl, option

WEIGHTS_HELP = (
    "'imagenet' (torchvision's IMAGENET1K_V1, from the torch hub cache, downloaded when missing), "
    "'none' (random initialisation) or the path of a local state dict in torchvision's key layout "
    "(with or without the 'features.' prefix)"
)


@dataclass(frozen=True)
class VGGOptions:
    """Options of the ``vgg16`` and ``vgg19`` backbones."""

    weights: str = option("imagenet", help=WEIGHTS_HELP)
    normalize: bool = option(
        True, help="normalize the [0, 1] input with the mean and std the ImageNet weights were trained with"
    )
    pooling: Literal["max", "avg"] = option(
        "max",
        help="'max' keeps VGG's max pooling; 'avg' swaps in average pooling, which Gatys et al. "
        "found gives smoother results",
        choices=("max", "avg"),
    )


def make_vgg16(options: VGGOptions) -> Backbone:
    """VGG16 (13 convolutions)."""
    from .backbone import VGGBackbone

    return VGGBackbone("vgg16", options)


def make_vgg19(options: VGGOptions) -> Backbone:
    """VGG19 (16 convolutions)."""
    from .backbone import VGGBackbone

    return VGGBackbone("vgg19", options)


@hookimpl
def register_backbones(register):
    register("vgg16", make_vgg16, description="VGG16 from torchvision, 13 conv layers (conv1_1 ... conv5_3).")
    register("vgg19", make_vgg19, description="VGG19 from torchvision, 16 conv layers (conv1_1 ... conv5_4).")
