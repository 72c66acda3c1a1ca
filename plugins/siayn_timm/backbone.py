"""timm feature extractors built with ``timm.create_model(..., features_only=True)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from siayn_core import FrozenExtractor, SiaynError, closest, unknown_name_message

from . import TimmOptions

#: Model-name prefixes that timm resolves itself (a hub repository or a local folder).
_EXTERNAL_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:")
#: What timm falls back to when a pretrained config has no mean/std.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class TimmFeatureExtractor(FrozenExtractor):
    """A frozen timm feature network that returns the requested stages from one forward pass.

    :ivar body: timm's feature wrapper, built with only the needed ``out_indices``.
    :ivar layers: the requested layer names, which key the returned mapping (in this order).
    """

    def __init__(
        self,
        body: nn.Module,
        positions: Sequence[tuple[str, int]],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        normalize: bool,
    ) -> None:
        super().__init__(mean=mean, std=std, normalize=normalize)
        self.body = body
        self._positions = tuple(positions)
        self.layers = tuple(name for name, _ in self._positions)
        self.freeze()

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations of the requested stages for ``image`` (``(N, 3, H, W)`` RGB in ``[0, 1]``)."""
        x = self.normalized(image)
        features = self.body(x)
        if isinstance(features, dict):
            features = list(features.values())
        return {name: features[position] for name, position in self._positions}


class TimmBackbone:
    """A timm model whose feature stages can be named; the model is built by :meth:`extractor`."""

    def __init__(self, options: TimmOptions) -> None:
        self.options = options
        self.model_name = options.model.strip()
        check_model_name(self.model_name)
        self._layout = model_layout(self.model_name)
        self._canonical = list(self._layout.stages)
        self._lookup: dict[str, int] = {}
        for index, module in enumerate(self._canonical):
            self._lookup[module.lower()] = index
            self._lookup[f"stage{index}"] = index

    def __repr__(self) -> str:
        return f"TimmBackbone({self.options!r})"

    def layer_names(self) -> list[str]:
        """timm's feature stage module names, shallowest first (``stageN`` is accepted too)."""
        return list(self._canonical)

    def layer_index(self, name: str) -> int:
        """The feature stage index of the layer called ``name``."""
        index = self._lookup.get(name.strip().lower())
        if index is None:
            known = [*self._canonical, *(f"stage{i}" for i in range(len(self._canonical)))]
            message = unknown_name_message("layer", name, known, owner=f"backbone 'timm:{self.model_name}'")
            raise SiaynError(
                f"{message.split('; known: ')[0]}; known: {', '.join(self._canonical)} "
                f"(or stage0 ... stage{len(self._canonical) - 1})"
            )
        return index

    def extractor(self, layers: Sequence[str]) -> TimmFeatureExtractor:
        """A frozen extractor in eval mode; timm's wrapper drops the modules after the deepest stage."""
        if isinstance(layers, str) or not layers:
            raise SiaynError(f"backbone 'timm:{self.model_name}' needs a non-empty list of layer names, got {layers!r}")
        requested = tuple(dict.fromkeys(layers))
        stage_of = {name: self.layer_index(name) for name in requested}
        out_indices = tuple(sorted(set(stage_of.values())))
        body = self._create(out_indices)
        config = getattr(body, "pretrained_cfg", None) or {}
        return TimmFeatureExtractor(
            body,
            [(name, out_indices.index(stage)) for name, stage in stage_of.items()],
            mean=config.get("mean") or _IMAGENET_MEAN,
            std=config.get("std") or _IMAGENET_STD,
            normalize=self.options.normalize,
        )

    def _create(self, out_indices: tuple[int, ...]) -> nn.Module:
        weights = self.options.weights.strip()
        kwargs: dict[str, Any] = {"features_only": True, "out_indices": out_indices}
        if self._layout.feature_class is not None:
            kwargs["feature_cls"] = self._layout.feature_class
        path: Path | None = None
        if weights.lower() == "imagenet":
            kwargs["pretrained"] = True
        elif weights.lower() == "none":
            kwargs["pretrained"] = False
        else:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise SiaynError(
                    f"weights file {path} for backbone 'timm:{self.model_name}' does not exist "
                    "(weights takes 'imagenet', 'none' or the path of a checkpoint file)"
                )
            state = read_checkpoint(path)
            # timm loads pretrained weights non-strictly into a features_only model, so a
            # checkpoint of another model would silently leave layers random: check it first.
            check_checkpoint(state, self._layout, source=f"weights file {path}", model=self.model_name)
            kwargs["pretrained"] = True
            kwargs["pretrained_cfg_overlay"] = {"state_dict": state}
        try:
            body = timm.create_model(self.model_name, **kwargs)
        except OSError as error:  # no network, missing cache entry, unreadable cache file
            if weights.lower() == "imagenet":
                raise SiaynError(self._download_failure(error)) from None
            raise SiaynError(f"could not build timm model {self.model_name!r}: {_summary(error)}") from None
        except Exception as error:  # timm reports bad checkpoints and unsupported models variously
            where = f" with weights file {path}" if path is not None else f" with weights {weights!r}"
            raise SiaynError(f"could not build timm model {self.model_name!r}{where}: {_summary(error)}") from None
        config = getattr(body, "pretrained_cfg", None)
        if isinstance(config, dict) and config.get("state_dict") is not None:
            config["state_dict"] = None  # the weights now live in the model; don't keep a copy
        body.requires_grad_(False).eval()
        return body

    def _download_failure(self, error: BaseException) -> str:
        sources = []
        try:
            config = timm.models.get_pretrained_cfg(self.model_name)
        except RuntimeError:
            config = None
        if config is not None and config.hf_hub_id:
            sources.append(f"https://huggingface.co/{config.hf_hub_id}")
        if config is not None and config.url:
            sources.append(config.url)
        where = " or ".join(sources) or "the model's hub page"
        return (
            f"could not get the pretrained weights of timm model {self.model_name!r} ({_summary(error)}); "
            f"download them from {where} and set the backbone option weights to the file's path, "
            "or run once with internet access to fill the Hugging Face cache"
        )


def check_model_name(name: str) -> None:
    """Raise a SiaynError with a suggestion when timm has no model called ``name``."""
    if name.startswith(_EXTERNAL_PREFIXES) or timm.is_model(name):
        return
    suggestion = closest(name.split(".")[0], timm.list_models())
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    raise SiaynError(f"unknown timm model {name!r}{hint}; timm.list_models() lists them all")


@dataclass(frozen=True)
class ModelLayout:
    """What a timm model looks like, without its weights.

    :param stages: the module names of its feature stages, from timm's ``feature_info``.
    :param shapes: parameter and buffer name -> shape, as in the full model's state dict.
    :param classifier: the classifier modules (their weights are not needed for features).
    :param feature_class: the ``feature_cls`` to build its feature network with, or None
        for timm's default. For models whose default wrapper runs the whole network (the
        dedicated classes of EfficientNet and MobileNetV3, the hooks of PiT, Xception and
        NASNet), ``"getter"``: the model then prunes itself after the deepest stage asked
        for. Same features, less compute.
    """

    stages: tuple[str, ...]
    shapes: Mapping[str, tuple[int, ...]]
    classifier: tuple[str, ...]
    feature_class: str | None = None


def model_layout(name: str) -> ModelLayout:
    """Describe model ``name``.

    The model is built without weights on the meta device (no memory, no init cost), or
    on the CPU for the few models whose constructor needs real tensors.
    """
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
    except Exception:  # e.g. a constructor that calls .tolist() on a tensor
        try:
            model = timm.create_model(name, pretrained=False)
        except Exception as error:
            raise SiaynError(f"could not build timm model {name!r}: {_summary(error)}") from None
    info = getattr(model, "feature_info", None)
    if not info:
        raise SiaynError(
            f"timm model {name!r} does not describe its feature stages (no feature_info); choose a CNN such as resnet50"
        )
    classifier = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    prunable = hasattr(model, "forward_intermediates") and hasattr(model, "prune_intermediate_layers")
    return ModelLayout(
        stages=tuple(str(stage["module"]) for stage in info),
        shapes={key: tuple(value.shape) for key, value in model.state_dict().items()},
        classifier=(classifier,) if isinstance(classifier, str) else tuple(classifier),
        feature_class="getter" if prunable and _default_features_run_whole_model(name) else None,
    )


def _default_features_run_whole_model(name: str) -> bool:
    """Whether timm's default ``features_only`` wrapper for ``name`` keeps the modules after
    the last stage it returns: all but the list and dict wrappers, which drop them, and the
    getter, which prunes the model."""
    try:
        with torch.device("meta"):
            body = timm.create_model(name, pretrained=False, features_only=True)
    except Exception:  # the full model built; a wrapper that does not is not ours to judge
        return False
    truncating = (timm.models.FeatureListNet, timm.models.FeatureDictNet, timm.models._features.FeatureGetterNet)
    return not isinstance(body, truncating)


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A timm checkpoint (``.pth``/``.bin`` loaded with ``weights_only=True``, or ``.safetensors``)."""
    try:
        return timm.models.load_state_dict(str(path), weights_only=True)
    except Exception as error:  # the errors vary with what the file holds
        raise SiaynError(f"could not load weights file {path} as a state dict: {_summary(error)}") from None


def check_checkpoint(state: Mapping[str, Any], layout: ModelLayout, *, source: str, model: str) -> None:
    """Raise a SiaynError unless ``state`` holds every feature weight of ``layout`` in its shape."""

    def is_classifier(key: str) -> bool:
        return any(key == head or key.startswith(head + ".") for head in layout.classifier)

    missing = [key for key in layout.shapes if key not in state and not is_classifier(key)]
    unexpected = [key for key in state if key not in layout.shapes and not is_classifier(key)]
    resized = [
        f"{key} {tuple(value.shape)} instead of {layout.shapes[key]}"
        for key, value in state.items()
        if key in layout.shapes and not is_classifier(key) and tuple(getattr(value, "shape", ())) != layout.shapes[key]
    ]
    problems = [
        f"{label} {', '.join(keys[:3])}" + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape:", resized))
        if keys
    ]
    if problems:
        raise SiaynError(f"{source} does not match timm model {model!r}: {'; '.join(problems)}")


def _summary(error: BaseException, limit: int = 300) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = "; ".join(lines[:2]) if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
