"""The objective of a run: the weighted content, style and total variation losses of one image,
all computed from a single backbone pass (Gatys et al. 2016, eq. 7).

:func:`build_components` creates a run's components from the registry; :class:`Objective`
holds the targets at one image size and evaluates to named terms
(:mod:`siayn_core.engine.terms`). The tiled evaluation (:mod:`siayn_core.engine.tiling`) reads
the parts an objective is made of, and weighs each tile's losses, through :class:`WeightedObjective`.

A loss that reads hypercolumns (:mod:`siayn_core.plugin.hypercolumns`) gets every layer of its
slot at once, at the positions :class:`~siayn_core.engine.positions.PositionDraws` draws; one
that declares ``stage_targets`` gets its target from ``stage_target`` with a
:class:`~siayn_core.plugin.stages.StageContext` at the start of every stage.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch

from ..config.schema import COMPONENT_KEYS, StylizeOptions
from ..config.build import style_weights
from ..config.components import component_options
from ..plugin.errors import SiaynError
from ..plugin.hypercolumns import PIXELS
from ..plugin.stages import StageContext
from .guides import layer_guide
from .positions import PositionDraws, columns_of, draws_positions, reads_hypercolumns, reads_stage_targets
from .terms import Terms, add_terms, weighted

if TYPE_CHECKING:
    from ..plugin.protocols import FeatureExtractor, Loss
    from ..host.registry import Registry


class WeightedObjective(Protocol):
    """What an objective is made of: its extractor, losses, layers and weights."""

    extractor: FeatureExtractor
    content_loss: Loss
    style_loss: Loss
    content_weight: float
    content_layers: list[str]
    style_coefficients: list[dict[str, float]]

    def layer_guides(
        self, guides: Sequence[torch.Tensor | None], shapes: Mapping[str, Sequence[int]]
    ) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, float]]]:
        """Each style's guide at its layers' resolutions, and the share of each layer's positions it weighs."""
        ...

    def content_terms(self, value: torch.Tensor | Mapping[str, torch.Tensor], part: float = 1.0) -> Terms:
        """The weighted terms of one content layer's loss ``value`` over ``part`` of the layer."""
        ...

    def style_terms(
        self, value: torch.Tensor | Mapping[str, torch.Tensor], style: int, layer: str,
        shares: Mapping[str, float], part: float = 1.0,
    ) -> Terms:
        """The weighted terms of style ``style``'s loss ``value`` at ``layer`` over ``part`` of it."""
        ...

    def image_terms(self, image: torch.Tensor) -> Terms:
        """The weighted terms of the image itself, which need no backbone (total variation)."""
        ...


#: Where an objective gets a style's targets: ``(style, key, compute) -> targets``, calling
#: ``compute`` only for a picture, size and key it has not seen (:meth:`Painter.style_targets`);
#: the key is the layers, and for a hypercolumn loss the seed its positions are drawn with.
StyleTargets = Callable[[torch.Tensor, Sequence[str], Callable[[], Any]], Any]


class Objective:
    """The weighted loss of a generated image against targets fixed at one image size.

    One backbone forward pass per evaluation serves the content and every style loss.

    :param seed: the run's seed, which draws the positions of hypercolumn losses.
    """

    def __init__(
        self,
        options: StylizeOptions,
        components: Mapping[str, Any],
        n_styles: int,
        *,
        style_targets: StyleTargets | None = None,
        seed: int | None = None,
    ) -> None:
        self.extractor = components["backbone"]
        self.cached_style_targets = style_targets
        self.content_loss = components["content_loss"]
        self.style_loss = components["style_loss"]
        self.tv_loss = components["tv_loss"] if options.tv_weight else None
        self.content_weight = options.content_weight
        self.tv_weight = options.tv_weight or 0.0
        self.content_layers = list(dict.fromkeys(options.content_layers))
        self.style_coefficients = style_coefficients(options, n_styles)
        self.content_columns = reads_hypercolumns(self.content_loss)
        self.style_columns = reads_hypercolumns(self.style_loss)
        self.content_per_stage = reads_stage_targets(self.content_loss)
        self.style_per_stage = reads_stage_targets(self.style_loss)
        self.seed = 0 if seed is None else seed
        readers = [loss for loss in (self.content_loss, self.style_loss) if draws_positions(loss)]
        self.draws = PositionDraws(readers, self.seed) if readers else None
        #: Whether the engine's positions go to each slot's loss (else it gets positions=None).
        self.content_draws = draws_positions(self.content_loss)
        self.style_draws = draws_positions(self.style_loss)
        #: A hypercolumn style loss's target per style, with its layers and weight (None: unused).
        self.style_column_targets: list[tuple[Any, list[str], float] | None] = []
        self.content_column_target: Any = None
        guided = getattr(self.style_loss, "guided", False) or self.style_columns
        if (options.style_masks is not None or options.content_mask) and not guided:
            raise SiaynError(
                f"style loss {options.style_loss!r} does not support masks (style_masks, content_mask): "
                "use gram, w2, mean-std, sliced-wasserstein, remd, nn-feature or nn-target, or a plugin loss that "
                "declares guided = True"
            )
        self.content_targets: dict[str, torch.Tensor] = {}
        self.style_targets: list[dict[str, torch.Tensor]] = []
        self.style_guides: list[dict[str, torch.Tensor]] = []
        self.style_shares: list[dict[str, float]] = []
        self._zero = torch.zeros(())

    @torch.no_grad()
    def set_targets(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        guides: Sequence[torch.Tensor | None] | None = None,
        *,
        start: torch.Tensor | None = None,
        stage: tuple[int, int] = (0, 1),
        steps: int = 0,
    ) -> None:
        """Compute the content and style targets (once per image size).

        :param guides: one per style: where on the image it applies, ``(1, 1, H, W)``
            weights at the content's size (None: everywhere).
        :param start: the image the stage starts from (None: the content), ``stage`` its
            ``(index, count)`` among the run's stages with steps, and ``steps`` its steps:
            what a loss with ``stage_targets`` computes its target from.
        """
        self._zero = content.new_zeros(())
        stage_context = functools.partial(
            StageContext, start=content if start is None else start, content=content, styles=list(styles),
            index=stage[0], count=stage[1], steps=steps, seed=self.seed,
        )
        features = self._features_of(content, "content")
        if self.draws is not None:
            self.draws.restart((guides or [None] * len(styles)) if self.style_draws else [])
        if self.content_per_stage:
            self.content_targets = {}
            self.content_column_target = None
            if self.content_weight:
                self.content_column_target = self.content_loss.stage_target(  # type: ignore[attr-defined]
                    stage_context(style=None, guide=None, layers=self.content_layers,
                                  features=self._stage_features(self.content_layers)))
        elif self.content_columns:
            assert self.draws is not None
            self.content_targets = {}
            self.content_column_target = self.content_loss.target(
                columns_of(features, content, self.content_layers),
                positions=self.draws.for_reference(content, self.content_loss), image=content,
            )
        else:
            self.content_targets = {layer: self.content_loss.target(features[layer]) for layer in self.content_layers}
        if self.style_columns:
            self._set_column_targets(styles, guides or [None] * len(styles), stage_context)
            return
        shapes = {layer: tuple(value.shape[-2:]) for layer, value in features.items()}
        self.style_guides, self.style_shares = self.layer_guides(guides or [None] * len(styles), shapes)
        self.style_targets = []
        for style, coefficients, shares in zip(styles, self.style_coefficients, self.style_shares):
            layers = [layer for layer, c in coefficients.items() if c and shares.get(layer, 1.0)]

            def compute(style: torch.Tensor = style, layers: list[str] = layers) -> dict[str, torch.Tensor]:
                features = self._features_of(style, "style")
                return {layer: self.style_loss.target(features[layer]) for layer in layers}

            cache = self.cached_style_targets
            self.style_targets.append(compute() if cache is None else cache(style, layers, compute))

    def _set_column_targets(self, styles: Sequence[torch.Tensor], guides: Sequence[torch.Tensor | None],
                            stage_context: Callable[..., StageContext]) -> None:
        """Each style's hypercolumn target, over the layers it has a coefficient at, weighted by
        the sum of those coefficients times the share of the image its guide covers. A loss
        with ``stage_targets`` computes it from this stage's context, which no cache can hold."""
        draws = self.draws
        self.style_column_targets = []
        for index, (style, coefficients, guide) in enumerate(zip(styles, self.style_coefficients, guides)):
            layers = [layer for layer, c in coefficients.items() if c]
            share = 1.0 if guide is None else float(guide.mean())
            if not layers or not share:
                self.style_column_targets.append(None)
                continue
            weight = sum(coefficients[layer] for layer in layers) * share
            if self.style_per_stage:
                target = self.style_loss.stage_target(  # type: ignore[attr-defined]
                    stage_context(style=index, guide=guide, layers=layers,
                                        features=self._stage_features(layers)))
                self.style_column_targets.append((target, layers, weight))
                continue
            assert draws is not None

            def compute(style: torch.Tensor = style, layers: list[str] = layers) -> Any:
                features = self._features_of(style, "style")
                return self.style_loss.target(columns_of(features, style, layers),
                                              positions=draws.for_reference(style, self.style_loss), image=style)

            cache = self.cached_style_targets
            key = [*layers, f"hypercolumns seed {draws.seed}"]
            target = compute() if cache is None else cache(style, key, compute)
            self.style_column_targets.append((target, layers, weight))

    def _stage_features(self, layers: Sequence[str]) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        """What a :class:`StageContext` hands a loss as ``features``: ``layers`` of any picture."""

        def features(image: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                return columns_of(self._features_of(image, "stage"), image, layers)

        return features

    def layer_guides(
        self, guides: Sequence[torch.Tensor | None], shapes: Mapping[str, Sequence[int]]
    ) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, float]]]:
        """Each style's guide at its layers' resolutions, and the share of each layer's
        positions it weighs: a style's loss counts in proportion to the area it covers, so
        every region is stylized as strongly as an unmasked image."""
        layer_guides: list[dict[str, torch.Tensor]] = []
        shares: list[dict[str, float]] = []
        for guide, coefficients in zip(guides, self.style_coefficients):
            at_layers = {} if guide is None else {
                layer: layer_guide(guide, shapes[layer]) for layer in coefficients
            }
            layer_guides.append(at_layers)
            shares.append({layer: float(value.mean()) for layer, value in at_layers.items()})
        return layer_guides, shares

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

    def content_terms(self, value: torch.Tensor | Mapping[str, torch.Tensor], part: float = 1.0) -> Terms:
        """The weighted terms of one content layer's loss ``value``: the layers share
        ``content_weight`` equally; ``part`` is the share of the layer ``value`` covers (a tile's)."""
        return weighted("content", self.content_weight / len(self.content_layers) * part, value)

    def style_terms(
        self, value: torch.Tensor | Mapping[str, torch.Tensor], style: int, layer: str,
        shares: Mapping[str, float], part: float = 1.0,
    ) -> Terms:
        """The weighted terms of style ``style``'s loss ``value`` at ``layer``: its coefficient
        there times the share of the layer its guide weighs (``shares``, see :meth:`layer_guides`);
        ``part`` is the share of the representation ``value`` covers (a tile's)."""
        return weighted("style", self.style_coefficients[style][layer] * shares.get(layer, 1.0) * part, value)

    def image_terms(self, image: torch.Tensor) -> Terms:
        """The weighted terms of the image itself, which need no backbone: total variation
        (0 without ``tv_weight``)."""
        if self.tv_loss is None:
            return {"tv": self._zero}
        terms = weighted("tv", self.tv_weight, self.tv_loss(image, None))
        return terms if "tv" in terms else {"tv": self._zero, **terms}

    def __call__(self, image: torch.Tensor) -> Terms:
        """The weighted terms of ``image``: ``content``, ``style``, ``tv`` and any a plugin loss
        names. Their sum (:func:`~siayn_core.engine.terms.total_loss`) is the loss to minimize."""
        features = self.extractor(image)
        terms: Terms = {"content": self._zero, "style": self._zero, **self.image_terms(image)}
        whole, per_style = self.draws.for_evaluation(image) if self.draws is not None else (None, [])
        if self.content_weight and self.content_columns:
            value = self.content_loss(columns_of(features, image, self.content_layers), self.content_column_target,
                                      positions=whole if self.content_draws else None, image=image)
            add_terms(terms, weighted("content", self.content_weight, value))
        elif self.content_weight:
            for layer, target in self.content_targets.items():
                add_terms(terms, self.content_terms(self.content_loss(features[layer], target)))
        if self.style_columns:
            if not self.style_draws:
                per_style = [None] * len(self.style_column_targets)
            for entry, positions in zip(self.style_column_targets, per_style):
                if entry is None or (positions is not None and not len(positions)):
                    continue
                target, layers, weight = entry
                value = self.style_loss(columns_of(features, image, layers), target, positions=positions, image=image)
                add_terms(terms, weighted("style", weight, value))
            return terms
        styles = zip(self.style_targets, self.style_guides, self.style_shares)
        for style, (targets, guides, shares) in enumerate(styles):
            for layer, target in targets.items():
                value = guided_loss(self.style_loss, features[layer], target, guides.get(layer))
                add_terms(terms, self.style_terms(value, style, layer, shares))
        return terms


def check_untiled(options: StylizeOptions, components: Mapping[str, Any], sizes: Sequence[tuple[int, int]]) -> None:
    """SiaynError where a hypercolumn loss would run on tiles: the stages of ``sizes``
    (``(width, height)``, those with steps) larger than ``tile_size``."""
    if options.tile_size is None:
        return
    tiled = [size for size in sizes if max(size) > options.tile_size]
    if not tiled:
        return
    for key in ("style_loss", "content_loss"):
        if reads_hypercolumns(components[key]):
            width, height = max(tiled, key=max)
            raise SiaynError(
                f"{key.replace('_', ' ')} {getattr(options, key)!r} compares positions across the whole image and "
                f"cannot run on tiles ({width}x{height} px is larger than tile_size {options.tile_size}); "
                f"set tile_size: null, or at least {max(width, height)}"
            )


def style_coefficients(options: StylizeOptions, n_styles: int) -> list[dict[str, float]]:
    """Each style's weight at each style layer: its style weight times the layer's weight,
    averaged over the style layers (the original SIAYN's rule). With ``fine_style`` (the last
    style image), ``fine_layers`` are its and the other styles keep the rest."""
    layer_weights = options.style_layers_weights or [1.0] * len(options.style_layers)
    weights = style_weights(options, n_styles)
    fine = set(options.fine_layers) if options.fine_style else set()
    coefficients = [
        {layer: (0.0 if layer in fine else weight) * lw / len(options.style_layers)
         for layer, lw in zip(options.style_layers, layer_weights)}
        for weight in weights
    ]
    if options.fine_style:
        # The fine style paints where the other styles do, as strongly as the strongest.
        fine_weight = max(weights) if options.style_masks is not None else sum(weights)
        coefficients.append({layer: (fine_weight if layer in fine else 0.0) * lw / len(options.style_layers)
                             for layer, lw in zip(options.style_layers, layer_weights)})
    return coefficients


def guided_loss(loss: Loss, features: torch.Tensor, target: torch.Tensor, guide: torch.Tensor | None) -> torch.Tensor:
    """``loss(features, target)``, passing ``guide`` only where there is one, so an unguided
    run works with any plugin loss."""
    return loss(features, target) if guide is None else loss(features, target, guide=guide)  # type: ignore[call-arg]


def guided_target(loss: Loss, features: torch.Tensor, guide: torch.Tensor | None) -> torch.Tensor:
    """``loss.target(features)``, passing ``guide`` only where there is one."""
    return loss.target(features) if guide is None else loss.target(features, guide=guide)  # type: ignore[call-arg]


def component_record(options: StylizeOptions, registry: Registry) -> dict[str, dict[str, Any]]:
    """For each component key of a run (``backbone``, ``opt``...), the name it asks for, the
    component and plugin that name resolves to and the component's options."""
    record: dict[str, dict[str, Any]] = {}
    for key, (kind, _) in COMPONENT_KEYS.items():
        name = getattr(options, key)
        component = registry.get(kind, name)
        values = component_options(options, key, registry)
        record[key] = {"name": name, "component": component.name, "plugin": component.plugin, "options": values}
    return record


def build_components(
    options: StylizeOptions, registry: Registry, device: torch.device
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Create every component a run names; returns them with a record of what was used.

    The backbone entry is already the feature extractor for the run's layers, on ``device``
    (the pseudo-layer ``pixels`` of hypercolumn losses is not asked of it).
    """
    record = component_record(options, registry)
    built: dict[str, Any] = {}
    for key, (kind, _) in COMPONENT_KEYS.items():
        built[key] = registry.create(kind, record[key]["name"], record[key]["options"])
    for key, layers_key in (("content_loss", "content_layers"), ("style_loss", "style_layers")):
        if PIXELS in getattr(options, layers_key) and not reads_hypercolumns(built[key]):
            raise SiaynError(
                f"{layers_key} names {PIXELS!r}, the image itself, which only a loss that reads hypercolumns "
                f"takes (remd, self-similarity, nn-feature, nn-target); {key.replace('_', ' ')} {getattr(options, key)!r} "
                "reads one backbone layer at a time"
            )
    layers = [layer for layer in dict.fromkeys([*options.content_layers, *options.style_layers]) if layer != PIXELS]
    extractor = built["backbone"].extractor(layers)
    if isinstance(extractor, torch.nn.Module):
        extractor = extractor.to(device)
    from .acceleration import accelerate, bfloat16_layers

    readers: dict[str, list[Any]] = {layer: [] for layer in layers}
    for layer in options.content_layers:
        if layer != PIXELS:
            readers[layer].append(built["content_loss"])
    for layer in options.style_layers:
        if layer != PIXELS:
            readers[layer].append(built["style_loss"])
    built["backbone"] = accelerate(
        extractor, device, channels_last=options.channels_last, precision=options.precision,
        compile=options.compile, bfloat16_layers=bfloat16_layers(readers),
    )
    return built, record


