"""The objective of a run: the weighted content, style and total variation losses of one image,
all computed from a single backbone pass (Gatys et al. 2016, eq. 7).

:func:`build_components` creates a run's components from the registry; :class:`Objective`
holds the targets at one image size. The tiled evaluation (:mod:`siayn_core.tiling`) reads
the parts an objective is made of through :class:`WeightedObjective`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch

from .config import COMPONENT_KEYS, StylizeOptions, style_weights
from .config_components import component_options
from .errors import SiaynError

if TYPE_CHECKING:
    from .protocols import FeatureExtractor, Loss
    from .registry import Registry


class WeightedObjective(Protocol):
    """What an objective is made of: its extractor, losses, layers and weights."""

    extractor: FeatureExtractor
    content_loss: Loss
    style_loss: Loss
    tv_loss: Loss | None
    content_weight: float
    tv_weight: float
    content_layers: list[str]
    style_coefficients: list[dict[str, float]]


class Objective:
    """The weighted loss of a generated image against targets fixed at one image size.

    One backbone forward pass per evaluation serves the content and every style loss.
    """

    def __init__(self, options: StylizeOptions, components: Mapping[str, Any], n_styles: int) -> None:
        self.extractor = components["backbone"]
        self.content_loss = components["content_loss"]
        self.style_loss = components["style_loss"]
        self.tv_loss = components["tv_loss"] if options.tv_weight else None
        self.content_weight = options.content_weight
        self.tv_weight = options.tv_weight or 0.0
        self.content_layers = list(dict.fromkeys(options.content_layers))
        layer_weights = options.style_layers_weights or [1.0] * len(options.style_layers)
        # The original SIAYN's rule: the weighted layer losses are averaged over the style layers.
        self.style_coefficients = [
            {layer: weight * lw / len(options.style_layers) for layer, lw in zip(options.style_layers, layer_weights)}
            for weight in style_weights(options, n_styles)
        ]
        self.content_targets: dict[str, torch.Tensor] = {}
        self.style_targets: list[dict[str, torch.Tensor]] = []
        self._zero = torch.zeros(())

    @torch.no_grad()
    def set_targets(self, content: torch.Tensor, styles: Sequence[torch.Tensor]) -> None:
        """Compute the content and style targets (once per image size)."""
        self._zero = content.new_zeros(())
        features = self._features_of(content, "content")
        self.content_targets = {layer: self.content_loss.target(features[layer]) for layer in self.content_layers}
        self.style_targets = []
        for style, coefficients in zip(styles, self.style_coefficients):
            features = self._features_of(style, "style")
            self.style_targets.append(
                {layer: self.style_loss.target(features[layer]) for layer, c in coefficients.items() if c}
            )

    def _features_of(self, image: torch.Tensor, what: str) -> Mapping[str, torch.Tensor]:
        try:
            return self.extractor(image)
        except RuntimeError as error:
            if "too small" not in str(error):
                raise
            height, width = image.shape[-2:]
            raise SiaynError(
                f"the {what} image is too small for the chosen layers at {width}x{height} px: "
                "raise scaler (or use a larger image), or choose shallower layers"
            ) from None

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The total loss (for backward) and the detached terms ``[total, content, style, tv]``."""
        features = self.extractor(image)
        zero = self._zero
        content = zero
        if self.content_weight:
            for layer, target in self.content_targets.items():
                content = content + self.content_loss(features[layer], target)
            content = content * (self.content_weight / len(self.content_targets))
        style = zero
        for targets, coefficients in zip(self.style_targets, self.style_coefficients):
            for layer, target in targets.items():
                style = style + coefficients[layer] * self.style_loss(features[layer], target)
        tv = self.tv_weight * self.tv_loss(image, None) if self.tv_loss is not None else zero
        total = content + style + tv
        return total, torch.stack((total, content, style, tv)).detach()



def build_components(
    options: StylizeOptions, registry: Registry, device: torch.device
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Create every component a run names; returns them with a record of what was used.

    The backbone entry is already the feature extractor for the run's layers, on ``device``.
    """
    built: dict[str, Any] = {}
    record: dict[str, dict[str, Any]] = {}
    for key, (kind, _) in COMPONENT_KEYS.items():
        name = getattr(options, key)
        values = component_options(options, key, registry)
        component = registry.get(kind, name)
        built[key] = registry.create(kind, name, values)
        record[key] = {"name": name, "component": component.name, "plugin": component.plugin, "options": values}
    layers = list(dict.fromkeys([*options.content_layers, *options.style_layers]))
    extractor = built["backbone"].extractor(layers)
    if isinstance(extractor, torch.nn.Module):
        extractor = extractor.to(device)
    from .acceleration import accelerate

    built["backbone"] = accelerate(
        extractor, device, channels_last=options.channels_last, precision=options.precision, compile=options.compile
    )
    return built, record


