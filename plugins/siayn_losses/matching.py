"""Losses that match feature vectors read at sampled positions (hypercolumns, see
:func:`siayn_core.read_hypercolumns`) instead of statistics of whole maps:

- ``remd``, STROTSS's style loss (Kolkin, Salavon, Shakhnarovich, CVPR 2019): the relaxed
  earth mover's distance between the generated image's hypercolumns and the style's under the
  cosine distance, plus a moment term and a palette term (the relaxed EMD of the colours);
- ``self-similarity``, STROTSS's content loss: the generated image's cosine self-similarity
  matrix against the photo's, at the same positions;
- ``nn-feature``, the loss of NNST's final pass (Kolkin et al. 2022): the cosine distance from
  each hypercolumn to its nearest style hypercolumn.

Each declares ``hypercolumns = True``: the engine hands it every layer at once and the positions
to read them at. Nearest neighbours are found by exhaustive search in blocks of rows, without
gradients; the distance to the neighbour found is then computed with gradients, which equals
the minimum of the distance matrix in value and gradient without keeping that matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from siayn_core import PIXELS, SamplePositions, read_hypercolumns

#: Floor of a vector's norm and of a column sum, where they divide.
EPS = 1e-8

#: Rows of a distance matrix computed at once in a nearest-neighbour search.
DEFAULT_CHUNK = 4096


def unit_rows(rows: torch.Tensor) -> torch.Tensor:
    """``rows`` scaled to unit length (a zero row stays zero)."""
    return rows / rows.norm(dim=1, keepdim=True).clamp_min(EPS)


def cosine_distances(a: torch.Tensor, b: torch.Tensor, *, product: torch.dtype | None = None) -> torch.Tensor:
    """``1 - cos`` between every row of ``a`` (``(N, D)``) and every row of ``b`` (``(M, D)``):
    ``(N, M)``, in ``a``'s dtype; ``product``: the dtype of the product (None: ``a``'s)."""
    return 1.0 - matrix_product(unit_rows(a), unit_rows(b).transpose(0, 1), product)


def matrix_product(a: torch.Tensor, b: torch.Tensor, product: torch.dtype | None) -> torch.Tensor:
    """``a @ b`` computed in ``product`` (None: as they are), returned in ``a``'s dtype."""
    if product is None or product == a.dtype:
        return a @ b
    return (a.to(product) @ b.to(product)).to(a.dtype)


def product_dtype(features: Mapping[str, torch.Tensor]) -> torch.dtype | None:
    """The dtype of a loss's large matrix products: bfloat16 where its maps are in it (the
    backbone runs in bfloat16), else None (the rows' own). As the Gram loss's products, they then
    multiply in bfloat16 and accumulate in float32; a nearest-neighbour search's only choose the
    neighbours, whose distances are computed in float32."""
    return torch.bfloat16 if any(value.dtype == torch.bfloat16 for value in features.values()) else None


def nearest_neighbours(
    queries: torch.Tensor, references: torch.Tensor, *, metric: str = "cosine", chunk: int = DEFAULT_CHUNK,
    unit: bool = False, search: torch.dtype | None = None,
) -> torch.Tensor:
    """For each row of ``queries``, the index of the nearest row of ``references`` under
    ``metric`` (``"cosine"`` distance or ``"euclidean"``): exhaustive, ``chunk`` query rows
    at a time, so at most ``chunk x M`` distances are held. No gradient flows through it.
    ``unit``: the references are of unit length already (the cosine search then skips scaling
    them; the queries' lengths do not change which is nearest). ``search``: the dtype the
    products are computed in (:func:`product_dtype`; None: the rows' own)."""
    with torch.no_grad():
        if metric == "cosine" and not unit:
            references = unit_rows(references)
        squared = references.square().sum(1) if metric != "cosine" else None
        if search is not None:
            queries, references = queries.to(search), references.to(search)
        found = []
        for start in range(0, queries.shape[0], chunk):
            block = queries[start:start + chunk]
            products = block @ references.transpose(0, 1)
            if metric == "cosine":
                found.append(products.argmax(dim=1))
            else:
                # |q - r|^2 less |q|^2, which is the same along a row.
                assert squared is not None
                found.append((squared.unsqueeze(0) - 2 * products).argmin(dim=1))
        if not found:
            return torch.zeros(0, dtype=torch.long, device=queries.device)
        return torch.cat(found)


def nearest_both_ways(
    a: torch.Tensor, b: torch.Tensor, *, metric: str = "cosine", chunk: int = DEFAULT_CHUNK, unit: bool = False,
    search: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest_neighbours` from ``a`` to ``b`` and from ``b`` to ``a`` at once: each
    block of ``chunk`` rows of ``a`` against ``b`` is computed once and serves both searches.
    ``unit``: the rows are of unit length already (the cosine search then skips scaling them).
    ``search``: the dtype the products are computed in (None: the rows' own)."""
    with torch.no_grad():
        if metric == "cosine" and not unit:
            a, b = unit_rows(a), unit_rows(b)
        if metric != "cosine":
            squared_a, squared_b = a.square().sum(1), b.square().sum(1)
        if search is not None:
            a, b = a.to(search), b.to(search)
        rows = []
        best = torch.full((b.shape[0],), -math.inf, dtype=a.dtype, device=a.device)
        columns = torch.zeros(b.shape[0], dtype=torch.long, device=a.device)
        for start in range(0, a.shape[0], chunk):
            products = a[start:start + chunk] @ b.transpose(0, 1)
            if metric == "cosine":
                scores = products
            else:
                # Minus the squared distance, so that the nearest scores highest both ways.
                scores = 2 * products - squared_a[start:start + chunk, None] - squared_b[None, :]
            rows.append(scores.argmax(dim=1))
            value, index = scores.max(dim=0)
            better = value > best
            best = torch.where(better, value, best)
            columns = torch.where(better, index + start, columns)
        if not rows:
            return torch.zeros(0, dtype=torch.long, device=a.device), columns
        return torch.cat(rows), columns


def paired_distances(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """The distance between each row of ``a`` and the same row of ``b``."""
    if metric == "cosine":
        return 1.0 - (unit_rows(a) * unit_rows(b)).sum(1)
    return torch.linalg.vector_norm(a - b, dim=1)


def relaxed_emd(a: torch.Tensor, b: torch.Tensor, *, metric: str = "cosine", chunk: int = DEFAULT_CHUNK,
                b_unit: torch.Tensor | None = None, search: torch.dtype | None = None,
                b_unit_searched: torch.Tensor | None = None) -> torch.Tensor:
    """The relaxed earth mover's distance of STROTSS (eq. 3-5): the larger of the mean over
    ``a``'s rows of the distance to the nearest row of ``b``, and the same from ``b`` to ``a``.

    :param b_unit: for the cosine distance, ``b``'s rows scaled to unit length, where the caller
        keeps them (a style's, reused at every evaluation).
    :param search: the dtype the nearest-neighbour products are computed in (None: the rows' own).
    :param b_unit_searched: ``b_unit`` in ``search``'s dtype, where the caller keeps that too.
    """
    if metric == "cosine":
        return relaxed_cosine_emd(unit_rows(a), unit_rows(b) if b_unit is None else b_unit, chunk=chunk,
                                  search=search, unit_b_searched=b_unit_searched)
    towards_b, towards_a = nearest_both_ways(a, b, metric=metric, chunk=chunk, search=search)
    forward = paired_distances(a, b[towards_b], metric).mean()
    backward = paired_distances(a[towards_a], b, metric).mean()
    return torch.maximum(forward, backward)


def relaxed_cosine_emd(unit_a: torch.Tensor, unit_b: torch.Tensor, *, chunk: int = DEFAULT_CHUNK,
                       search: torch.dtype | None = None, unit_b_searched: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`relaxed_emd` under the cosine distance, of rows already of unit length
    (``unit_b_searched``: ``unit_b`` in ``search``'s dtype, where the caller keeps it)."""
    searched_b = unit_b if unit_b_searched is None else unit_b_searched
    towards_b, towards_a = nearest_both_ways(unit_a, searched_b, chunk=chunk, unit=True, search=search)
    forward = 1.0 - (unit_a * unit_b[towards_b]).sum(1).mean()
    # Each b row's product with its nearest a row, summed per a row first: an (N, D) product
    # with gradients instead of an (M, D) one.
    pooled = torch.zeros_like(unit_a, requires_grad=False).index_add_(0, towards_a, unit_b)
    backward = 1.0 - (unit_a * pooled).sum() / unit_b.shape[0]
    return torch.maximum(forward, backward)


def moments(columns: torch.Tensor, *, product: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean ``(D,)`` and covariance ``(D, D)`` of the rows of ``columns``; ``product``: the
    dtype of the covariance's product (None: the rows')."""
    mean = columns.mean(0)
    centred = columns - mean
    return mean, matrix_product(centred.transpose(0, 1), centred, product) / columns.shape[0]


def moment_distance(columns: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor, *,
                    product: torch.dtype | None = None) -> torch.Tensor:
    """STROTSS's moment term: ``|mean - mean_s|_1 / D + |cov - cov_s|_1 / D^2``."""
    own_mean = columns.mean(0)
    dimensions = columns.shape[1]
    return ((own_mean - mean).abs().sum() / dimensions
            + _CovarianceDistance.apply(columns - own_mean, covariance, product) / dimensions**2)


class _CovarianceDistance(torch.autograd.Function):
    """``|X^T X / N - C|_1`` of centred rows ``X`` (``(N, D)``), with a one-product backward,
    ``2 X sign(X^T X / N - C) / N`` (the difference is symmetric): autograd's generic one takes
    two products and several passes over the ``(D, D)`` matrices, which cost as much."""

    @staticmethod
    def forward(ctx: Any, centred: torch.Tensor, covariance: torch.Tensor,
                product: torch.dtype | None) -> torch.Tensor:
        rows = centred.shape[0]
        factor = centred if product is None else centred.to(product)
        # N times the difference, in one pass: the product divided by N would be a pass more.
        scaled_difference = torch.sub(factor.transpose(0, 1) @ factor, covariance, alpha=rows)
        ctx.save_for_backward(factor, scaled_difference)
        ctx.rows_dtype = centred.dtype
        return scaled_difference.abs().sum() / rows

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        factor, scaled_difference = ctx.saved_tensors
        gradient = (factor @ scaled_difference.sign().to(factor.dtype)).to(ctx.rows_dtype)
        return gradient.mul_(grad * (2.0 / factor.shape[0])), None, None


def kept_in(cache: dict[torch.dtype, torch.Tensor], rows: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``rows`` in ``dtype`` (None: as they are), cast on the first call and kept in ``cache``:
    a target's rows, searched at every evaluation of a run."""
    if dtype is None or dtype == rows.dtype:
        return rows
    if dtype not in cache:
        cache[dtype] = rows.to(dtype)
    return cache[dtype]


def colours_at(image: torch.Tensor, positions: SamplePositions) -> torch.Tensor:
    """The RGB colours of ``image`` at ``positions``, ``(N, 3)``."""
    return read_hypercolumns({PIXELS: image}, positions)


class HypercolumnLoss:
    """A loss the engine hands every layer at once, with the positions to read them at
    (``hypercolumns = True``). It reads them through :func:`siayn_core.read_hypercolumns`,
    which casts only the positions it reads to float32, so it takes bfloat16 maps as they are."""

    hypercolumns = True
    takes_bfloat16 = True


@dataclass(frozen=True)
class RemdTarget:
    """A style's sampled hypercolumns (also scaled to unit length) and colours, with the
    hypercolumns' mean and covariance."""

    columns: torch.Tensor
    colours: torch.Tensor
    mean: torch.Tensor
    covariance: torch.Tensor
    unit: torch.Tensor
    searched: dict[torch.dtype, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    def unit_in(self, dtype: torch.dtype | None) -> torch.Tensor:
        """:attr:`unit` in ``dtype``, the search's (None: as it is), cast once."""
        return kept_in(self.searched, self.unit, dtype)


class RemdLoss(HypercolumnLoss):
    """STROTSS's style loss: ``remd + moment_weight * moments + palette_weight * palette``.

    ``remd`` is the relaxed EMD between the generated image's hypercolumns at this evaluation's
    positions and the style's at ``target_samples`` positions under the cosine distance;
    ``moments`` compares their means and covariances; ``palette`` is the relaxed EMD of the
    RGB colours at the same positions under the Euclidean distance.
    """

    def __init__(self, samples: int = 1024, style_samples: int = 5000, moment_weight: float = 1.0,
                 palette_weight: float = 1.0, resample_every: int = 1, chunk: int = DEFAULT_CHUNK) -> None:
        self.samples = samples
        self.target_samples = style_samples
        self.moment_weight = moment_weight
        self.palette_weight = palette_weight
        self.resample_every = resample_every
        self.chunk = chunk

    def target(self, features: Mapping[str, torch.Tensor], *, positions: SamplePositions | None,
               image: torch.Tensor) -> RemdTarget:
        """The style's hypercolumns and colours at ``positions``, and the hypercolumns' moments."""
        assert positions is not None
        columns = read_hypercolumns(features, positions).detach()
        mean, covariance = moments(columns)
        return RemdTarget(columns, colours_at(image, positions).detach(), mean, covariance, unit_rows(columns))

    def __call__(self, features: Mapping[str, torch.Tensor], target: RemdTarget, *, positions: SamplePositions,
                 image: torch.Tensor) -> torch.Tensor:
        columns = read_hypercolumns(features, positions)
        product = product_dtype(features)
        value = relaxed_emd(columns, target.columns, chunk=self.chunk, b_unit=target.unit, search=product,
                            b_unit_searched=target.unit_in(product))
        if self.moment_weight:
            value = value + self.moment_weight * moment_distance(columns, target.mean, target.covariance,
                                                                 product=product)
        if self.palette_weight:
            palette = relaxed_emd(colours_at(image, positions), target.colours, metric="euclidean", chunk=self.chunk)
            value = value + self.palette_weight * palette
        return value


def self_similarity(columns: torch.Tensor, *, product: torch.dtype | None = None) -> torch.Tensor:
    """STROTSS's self-similarity matrix: the cosine distances between the rows of ``columns``,
    each column divided by its sum; ``product``: the dtype of the distances' product."""
    distances = cosine_distances(columns, columns, product=product)
    return distances / distances.sum(0, keepdim=True).clamp_min(EPS)


class SelfSimilarityLoss(HypercolumnLoss):
    """STROTSS's content loss: the absolute differences between the self-similarity matrices of
    the generated image's hypercolumns and the photo's, at the same positions, summed over each
    column and averaged over the columns (STROTSS's mean over the matrix times its size), so
    that the value does not shrink as ``samples`` grows."""

    def __init__(self, samples: int = 1024, resample_every: int = 1) -> None:
        self.samples = samples
        self.resample_every = resample_every
        # The photo's last self-similarity matrix, with the target, positions and product it is of.
        self._last_photo: tuple[object, SamplePositions, torch.dtype | None, torch.Tensor] | None = None

    def target(self, features: Mapping[str, torch.Tensor], *, positions: SamplePositions | None = None,
               image: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The photo's maps themselves: they are read at each evaluation's positions."""
        return {layer: value.detach() for layer, value in features.items()}

    def __call__(self, features: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], *,
                 positions: SamplePositions, image: torch.Tensor | None = None) -> torch.Tensor:
        product = product_dtype(features)
        generated = self_similarity(read_hypercolumns(features, positions), product=product)
        return (generated - self.photo_similarity(target, positions, list(features), product)).abs().sum(0).mean()

    def photo_similarity(self, target: Mapping[str, torch.Tensor], positions: SamplePositions, layers: list[str],
                         product: torch.dtype | None) -> torch.Tensor:
        """The photo's self-similarity matrix at ``positions``, computed again only when the
        positions or the target changed (between draws, with ``resample_every`` above 1)."""
        last = self._last_photo
        if last is not None and last[0] is target and last[1] is positions and last[2] == product:
            return last[3]
        photo = self_similarity(read_hypercolumns(target, positions, layers=layers), product=product)
        self._last_photo = (target, positions, product, photo)
        return photo


def scaled_hypercolumns(features: Mapping[str, torch.Tensor], positions: SamplePositions, *,
                        per_channel: bool = True) -> torch.Tensor:
    """The hypercolumns at ``positions``, each layer divided by its channel count when
    ``per_channel`` (NNST's scaling, so that wide layers do not dominate the cosine distance)."""
    columns = read_hypercolumns(features, positions)
    if not per_channel:
        return columns
    channels = torch.tensor([value.shape[1] for value in features.values()], device=columns.device)
    return columns / channels.repeat_interleave(channels).to(columns.dtype)


@dataclass(frozen=True)
class NearestTarget:
    """A style's sampled hypercolumns, centred and scaled to unit length, and their mean."""

    references: torch.Tensor
    mean: torch.Tensor
    searched: dict[torch.dtype, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    def references_in(self, dtype: torch.dtype | None) -> torch.Tensor:
        """:attr:`references` in ``dtype``, the search's (None: as they are), cast once."""
        return kept_in(self.searched, self.references, dtype)

    @classmethod
    def of(cls, columns: torch.Tensor, center: str) -> NearestTarget:
        """The target of style hypercolumns ``columns`` (``(M, D)``), centred on their own
        mean unless ``center`` is ``"none"``."""
        columns = columns.detach()
        mean = columns.mean(0) if center != "none" else torch.zeros_like(columns[0])
        return cls(unit_rows(columns - mean), mean)


#: How hypercolumns are centred before the cosine distance: on the style's mean (both sets),
#: each set on its own (NNST's code), or not at all.
CENTRES = ("style", "each", "none")


def nearest_distance(columns: torch.Tensor, target: NearestTarget, *, center: str = "style",
                     chunk: int = DEFAULT_CHUNK, search: torch.dtype | None = None) -> torch.Tensor:
    """The mean over the rows of ``columns`` of the cosine distance to the nearest row of the
    target, after centring as ``center`` says (the target was centred by :meth:`NearestTarget.of`).
    ``search``: the dtype the nearest-neighbour products are computed in (None: the rows' own)."""
    columns = columns - (columns.mean(0) if center == "each" else target.mean)
    neighbours = nearest_neighbours(columns, target.references_in(search), chunk=chunk, unit=True, search=search)
    return paired_distances(columns, target.references[neighbours], "cosine").mean()


class NearestFeatureLoss(HypercolumnLoss):
    """NNST's final-pass loss: the mean over the generated image's hypercolumns of the cosine
    distance to the nearest style hypercolumn, after centring (by the style's mean by default)."""

    CENTRES = CENTRES

    def __init__(self, samples: int = 4096, style_samples: int = 16384, per_channel: bool = True,
                 center: str = "style", resample_every: int = 1, chunk: int = DEFAULT_CHUNK) -> None:
        if center not in CENTRES:
            raise ValueError(f"center must be one of {CENTRES}, got {center!r}")
        self.samples = samples
        self.target_samples = style_samples
        self.per_channel = per_channel
        self.center = center
        self.resample_every = resample_every
        self.chunk = chunk

    def columns(self, features: Mapping[str, torch.Tensor], positions: SamplePositions) -> torch.Tensor:
        """The hypercolumns at ``positions`` (:func:`scaled_hypercolumns`)."""
        return scaled_hypercolumns(features, positions, per_channel=self.per_channel)

    def target(self, features: Mapping[str, torch.Tensor], *, positions: SamplePositions | None,
               image: torch.Tensor | None = None) -> NearestTarget:
        """The style's hypercolumns at ``positions``, ready for the search."""
        assert positions is not None
        return NearestTarget.of(self.columns(features, positions), self.center)

    def __call__(self, features: Mapping[str, torch.Tensor], target: NearestTarget, *, positions: SamplePositions,
                 image: torch.Tensor | None = None) -> torch.Tensor:
        return nearest_distance(self.columns(features, positions), target, center=self.center, chunk=self.chunk,
                                search=product_dtype(features))
