"""Optimizing images larger than memory allows, in overlapping tiles, without seams.

The objective stays the one of the whole image: Gram statistics are global, so the style of
a tile of sky is not forced to contain the colours of the houses. Each evaluation

1. draws a tile grid shifted by a random offset (so tile borders never stay in one place),
2. runs the backbone on every tile without gradients and sums each tile's share of the
   image's style representation (a Gram matrix is a sum over positions, so the image's is
   the count-weighted mean of its tiles'),
3. runs every tile again with gradients, each against a *shifted* target
   ``T + G_tile - G_image``: for a loss of the form ``phi(G - T)`` (the squared Gram
   difference is one) the tile's loss then equals the whole image's and its gradient is the
   whole image's gradient with respect to that tile, so the summed tile gradients are exact.

Every tile is the core region it contributes plus a margin of context on each side; a
feature position belongs to exactly one core, so nothing is counted twice, and the margin
keeps the zero padding of the tile's border away from the features that count. Content
targets are stitched once per stage from a fixed grid. The total variation term is
computed on the whole image (it needs no backbone).

Step 3 needs a style loss that declares how its representation adds up and compares
representations (a :class:`~siayn_core.plugin.protocols.TileableLoss`): each tile's gradient is then
the gradient of the loss with respect to the image's representation, carried back through
that tile's share of it. Any other style loss falls back to comparing every tile with the
global target, weighted by its size: an approximation of the whole-image objective, still
seam-free thanks to the shifting grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .objective import guided_loss, guided_target
from .terms import Terms, add_terms, detached, total_loss
from ..plugin.protocols import TileableLoss

if TYPE_CHECKING:
    from .objective import WeightedObjective

#: Tile borders fall on multiples of this many pixels: the largest stride of common
#: backbones, so that a tile's feature maps line up with the whole image's.
ALIGN = 32


@dataclass(frozen=True)
class Tile:
    """A window of the image and the core of it whose features count.

    Rows and columns are ``[start, stop)`` in image pixels; the window contains the core.
    """

    window: tuple[int, int, int, int]  # top, bottom, left, right
    core: tuple[int, int, int, int]

    @property
    def window_slices(self) -> tuple[slice, slice]:
        top, bottom, left, right = self.window
        return slice(top, bottom), slice(left, right)


def _segments(length: int, tile: int, margin: int, offset: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(core, window) intervals along one axis; a single one when the axis fits in a tile."""
    if length <= tile:
        return [((0, length), (0, length))]
    core = max(ALIGN, (tile - 2 * margin) // ALIGN * ALIGN)
    offset %= core
    bounds = [0, *range(offset if offset else core, length, core)]
    if bounds[-1] != length:
        bounds.append(length)
    return [((a, b), (max(0, a - margin), min(length, b + margin))) for a, b in zip(bounds, bounds[1:]) if b > a]


def tile_grid(height: int, width: int, *, tile_size: int, margin: int, offset: tuple[int, int] = (0, 0)) -> list[Tile]:
    """Overlapping tiles covering a ``height`` x ``width`` image.

    Cores are ``tile_size - 2 * margin`` px (rounded down to a multiple of :data:`ALIGN`),
    shifted by ``offset`` (``(dy, dx)``, multiples of :data:`ALIGN`); each window is its
    core plus ``margin`` px on every side, cut at the image border.
    """
    margin = math.ceil(margin / ALIGN) * ALIGN
    rows = _segments(height, tile_size, margin, offset[0])
    columns = _segments(width, tile_size, margin, offset[1])
    return [
        Tile(window=(wt, wb, wl, wr), core=(ct, cb, cl, cr))
        for (ct, cb), (wt, wb) in rows
        for (cl, cr), (wl, wr) in columns
    ]


def random_offset(tile_size: int, margin: int, generator: torch.Generator) -> tuple[int, int]:
    """A grid offset ``(dy, dx)``: multiples of :data:`ALIGN` below the core size."""
    margin = math.ceil(margin / ALIGN) * ALIGN
    steps = max(1, (tile_size - 2 * margin) // ALIGN)
    dy, dx = torch.randint(0, steps, (2,), generator=generator).tolist()
    return dy * ALIGN, dx * ALIGN


# ------------------------------------------------------------------ how losses combine


def _flat(features: torch.Tensor) -> torch.Tensor:
    """Feature positions in one row, ``(1, C, 1, N)``: tiles' cores concatenate along N."""
    return features.reshape(features.shape[0], features.shape[1], 1, -1)


def _weights(rule: str | None, counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    if rule == "sum":
        return [1.0] * len(counts)
    return [count / total for count in counts]


class TiledObjective:
    """The objective of an :class:`~siayn_core.engine.objective.Objective`, evaluated tile by tile.

    Callable like the objective: ``terms = tiled(image)`` are its weighted terms, and
    ``total_loss(terms).backward()`` puts the whole image's gradient into ``image.grad``.
    Each tile's losses are weighted by the objective (its ``content_terms`` and ``style_terms``).

    :param tile_size: the largest window side in pixels.
    :param margin: context around each core, in pixels (rounded up to a multiple of 32).
    :param generator: draws the grid offsets (the run's seeded generator).
    """

    def __init__(self, objective: WeightedObjective, *, tile_size: int, margin: int, generator: torch.Generator) -> None:
        self.objective = objective
        self.tile_size = tile_size
        self.margin = margin
        self.generator = generator
        self.style_rule = getattr(objective.style_loss, "combines", None)
        self.style_exact = isinstance(objective.style_loss, TileableLoss) and self.style_rule in ("sum", "mean")
        self.content_rule = getattr(objective.content_loss, "combines", "mean")
        self.strides: dict[str, int] = {}
        self.content_maps: dict[str, torch.Tensor] = {}
        self.style_targets: list[dict[str, torch.Tensor]] = []
        self.style_guides: list[dict[str, torch.Tensor]] = []
        self.style_shares: list[dict[str, float]] = []
        self.tiles_per_step = 0

    # -- targets ---------------------------------------------------------------------

    def _measure_strides(self, like: torch.Tensor) -> None:
        side = 4 * ALIGN
        probe = like.new_zeros((1, 3, side, side))
        with torch.no_grad():
            features = self.objective.extractor(probe)
        self.strides = {name: max(1, round(side / value.shape[-2])) for name, value in features.items()}

    def _core(self, features: torch.Tensor, layer: str, tile: Tile) -> torch.Tensor:
        """The features of ``tile``'s core, cut from the features of its window."""
        stride = self.strides[layer]
        top, bottom, left, right = tile.core
        wtop, wbottom, wleft, wright = tile.window
        height, width = features.shape[-2:]
        # Windows start on multiples of ALIGN, so core borders fall between feature
        # positions; a core that reaches the image border takes the rest of the map.
        rows = slice((top - wtop) // stride, height if bottom == wbottom else (bottom - wtop) // stride)
        columns = slice((left - wleft) // stride, width if right == wright else (right - wleft) // stride)
        return features[..., rows, columns]

    def _map_region(self, layer: str, tile: Tile, shape: tuple[int, int]) -> tuple[slice, slice]:
        """Where ``tile``'s core lies in the whole image's feature map of ``layer``."""
        stride = self.strides[layer]
        top, bottom, left, right = tile.core
        height, width = self._size
        return (
            slice(top // stride, shape[0] if bottom >= height else bottom // stride),
            slice(left // stride, shape[1] if right >= width else right // stride),
        )

    def _tiles(self, height: int, width: int, offset: tuple[int, int] = (0, 0)) -> list[Tile]:
        return tile_grid(height, width, tile_size=self.tile_size, margin=self.margin, offset=offset)

    @torch.no_grad()
    def _representation(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """The style representation of a whole image, combined over a fixed grid of tiles."""
        loss = self.objective.style_loss
        parts: dict[str, list[tuple[torch.Tensor, int]]] = {layer: [] for layer in layers}
        for tile in self._tiles(*image.shape[-2:]):
            rows, columns = tile.window_slices
            features = self.objective.extractor(image[..., rows, columns])
            for layer in layers:
                core = _flat(self._core(features[layer], layer, tile))
                if core.shape[-1]:
                    parts[layer].append((loss.target(core), core.shape[-1]))
        result = {}
        for layer, items in parts.items():
            weights = _weights(self.style_rule, [count for _, count in items])
            result[layer] = sum(weight * rep for weight, (rep, _) in zip(weights, items))
        return result

    @torch.no_grad()
    def set_targets(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        guides: Sequence[torch.Tensor | None] | None = None,
        **stage: Any,
    ) -> None:
        """The content's feature maps (stitched from tiles), each style's global
        representation and each style's guides, at this stage's size (``stage``, what a loss
        with per-stage targets reads, is not needed: no such loss runs on tiles)."""
        objective = self.objective
        self._measure_strides(content)
        self._zero = content.new_zeros(())
        height, width = content.shape[-2:]
        self.content_maps = {}
        if objective.content_weight:
            self._size = (height, width)
            for tile in self._tiles(height, width):
                rows, columns = tile.window_slices
                features = objective.extractor(content[..., rows, columns])
                for layer in objective.content_layers:
                    value = features[layer]
                    if layer not in self.content_maps:
                        stride = self.strides[layer]
                        shape = (*value.shape[:2], height // stride, width // stride)
                        self.content_maps[layer] = value.new_zeros(shape)
                    target = self.content_maps[layer]
                    rows_in_map, columns_in_map = self._map_region(layer, tile, tuple(target.shape[-2:]))
                    target[..., rows_in_map, columns_in_map] = self._core(value, layer, tile)
        shapes = {layer: (height // stride, width // stride) for layer, stride in self.strides.items()}
        self.style_guides, self.style_shares = objective.layer_guides(guides or [None] * len(styles), shapes)
        self.style_targets = []
        for style, coefficients, shares in zip(styles, objective.style_coefficients, self.style_shares):
            self._size = tuple(style.shape[-2:])
            layers = [layer for layer, c in coefficients.items() if c and shares.get(layer, 1.0)]
            self.style_targets.append(self._representation(style, layers))
        self._size = (height, width)

    # -- evaluation ------------------------------------------------------------------

    def _style_parts(self) -> list[tuple[int, torch.Tensor, tuple[int | None, str]]]:
        """Every style representation compared: its style, target and the representation it
        compares (``(style, layer)`` for a guided style, ``(None, layer)`` for the image's)."""
        parts = []
        for style, targets in enumerate(self.style_targets):
            for layer, target in targets.items():
                guided = layer in self.style_guides[style]
                parts.append((style, target, (style if guided else None, layer)))
        return parts

    def _guide(self, key: tuple[int | None, str], tile: Tile) -> torch.Tensor | None:
        """The guide of representation ``key`` over ``tile``'s core, flat like its features."""
        index, layer = key
        if index is None:
            return None
        guide = self.style_guides[index][layer]
        rows, columns = self._map_region(layer, tile, tuple(guide.shape[-2:]))
        return _flat(guide[..., rows, columns])

    def _tile_weights(self, key: tuple[int | None, str], tiles: Sequence[Tile]) -> list[float]:
        """How each tile's representation ``key`` adds to the image's: by its positions, or
        its guide weight."""
        index, layer = key
        counts = []
        for tile in tiles:
            guide = self._guide(key, tile)
            if guide is None:
                stride = self.strides[layer]
                shape = (self._size[0] // stride, self._size[1] // stride)
                rows, columns = self._map_region(layer, tile, shape)
                counts.append(len(range(*rows.indices(shape[0]))) * len(range(*columns.indices(shape[1]))))
            else:
                counts.append(float(guide.sum()))
        return _weights(self.style_rule, counts)

    def _representation_slopes(
        self, whole: dict[tuple[int | None, str], torch.Tensor]
    ) -> tuple[Terms, dict[tuple[int | None, str], torch.Tensor]]:
        """The weighted style terms of the image's representations ``whole`` and the gradient
        of their sum with respect to each representation."""
        objective = self.objective
        leaves = {key: value.detach().requires_grad_(True) for key, value in whole.items()}
        with torch.enable_grad():
            terms: Terms = {}
            for style, target, key in self._style_parts():
                value = objective.style_loss.compare(leaves[key], target)
                add_terms(terms, objective.style_terms(value, style, key[1], self.style_shares[style]))
            slopes = torch.autograd.grad(total_loss(terms), list(leaves.values()))
        return detached(terms), dict(zip(leaves, slopes))

    def __call__(self, image: torch.Tensor) -> Terms:
        """The objective's weighted terms of ``image``, whose sum's backward gives the whole
        image's gradient."""
        objective = self.objective
        loss = objective.style_loss
        height, width = image.shape[-2:]
        self._size = (height, width)
        tiles = self._tiles(height, width, random_offset(self.tile_size, self.margin, self.generator))
        self.tiles_per_step = len(tiles)
        parts = self._style_parts()
        keys = list(dict.fromkeys(key for _, _, key in parts))
        tile_weights = {key: self._tile_weights(key, tiles) for key in keys}
        pixels = image.detach()
        terms: Terms = {"content": self._zero, "style": self._zero, **objective.image_terms(image)}

        # Pass 1: every tile's share of the image's style representations.
        whole: dict[tuple[int | None, str], torch.Tensor] = {}
        if self.style_exact and keys:
            with torch.no_grad():
                for index, tile in enumerate(tiles):
                    rows, columns = tile.window_slices
                    features = objective.extractor(pixels[..., rows, columns])
                    for key in keys:
                        core = _flat(self._core(features[key[1]], key[1], tile))
                        share = tile_weights[key][index] * guided_target(loss, core, self._guide(key, tile))
                        whole[key] = share if key not in whole else whole[key] + share
        slopes: dict[tuple[int | None, str], torch.Tensor] = {}
        style_terms: Terms = {}
        if whole:
            style_terms, slopes = self._representation_slopes(whole)

        # Pass 2: each tile's gradient of the whole image's loss.
        gradient = torch.zeros_like(pixels)
        for index, tile in enumerate(tiles):
            rows, columns = tile.window_slices
            window = pixels[..., rows, columns].detach().requires_grad_(True)
            features = objective.extractor(window)
            tile_terms: Terms = {}
            if self.content_maps:
                for layer, target_map in self.content_maps.items():
                    core = self._core(features[layer], layer, tile)
                    rows_in_map, columns_in_map = self._map_region(layer, tile, tuple(target_map.shape[-2:]))
                    target = target_map[..., rows_in_map, columns_in_map]
                    if not core.numel():
                        continue
                    part = 1.0 if self.content_rule == "sum" else target.shape[-2] * target.shape[-1] / (
                        target_map.shape[-2] * target_map.shape[-1]
                    )
                    value = objective.content_loss(_flat(core), _flat(target))
                    add_terms(tile_terms, objective.content_terms(value, part))
            if not self.style_exact:
                for style, target, key in parts:
                    core = _flat(self._core(features[key[1]], key[1], tile))
                    tile_weight = tile_weights[key][index]
                    if not core.shape[-1] or not tile_weight:
                        continue
                    value = guided_loss(loss, core, target, self._guide(key, tile))
                    shares = self.style_shares[style]
                    add_terms(tile_terms, objective.style_terms(value, style, key[1], shares, tile_weight))
            surrogate = total_loss(tile_terms) if tile_terms else window.new_zeros(())
            for key, slope in slopes.items():
                core = _flat(self._core(features[key[1]], key[1], tile))
                if core.shape[-1]:
                    share = tile_weights[key][index] * guided_target(loss, core, self._guide(key, tile))
                    surrogate = surrogate + (slope * share).sum()
            if surrogate.requires_grad:
                (window_gradient,) = torch.autograd.grad(surrogate, window)
                gradient[..., rows, columns] += window_gradient
            add_terms(terms, detached(tile_terms))
            del features, surrogate, tile_terms

        add_terms(terms, style_terms)
        linear = (image * gradient).sum()
        # The tiles' terms share one backward pass per tile, so their joint gradient rides on
        # the content term as (linear - its value), which adds nothing to the term's value.
        terms["content"] = terms["content"] + (linear - linear.detach())
        return terms
