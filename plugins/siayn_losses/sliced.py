"""The ``sliced-wasserstein`` style loss (Heitz, Vanhoey, Chambon and Belcour, "A Sliced
Wasserstein Loss for Neural Texture Synthesis", CVPR 2021).

A layer's features are a set of points in channel space, one per position. Projected onto a
random unit direction, each set becomes a list of numbers; sorting both lists pairs each
point of the generated image with the style's point of the same rank, and the squared
differences of the pairs are the squared 1D Wasserstein-2 distance. The loss averages it over
``K`` directions, drawn afresh at every call, so over the steps of a run the whole
distribution is matched, not only its first two moments as by a Gram matrix.

Sets of different sizes (a style image of another size, a tile, a masked region) are compared
at matched quantiles: the style's sorted projections are read by linear interpolation at the
quantiles of the generated image's positions. With a guide, each generated position weighs
its guide's value: its quantile is the middle of its share of the total weight, and its
squared difference counts by that share, so a guide of ones gives the unguided value.
"""

from __future__ import annotations

import torch

#: Half-precision features are sorted in float32: ties and rounding in bfloat16 would pair
#: positions arbitrarily.
_SORT_DTYPES = (torch.float32, torch.float64)


def random_directions(
    channels: int, count: int, *, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``count`` directions drawn uniformly on the unit sphere of ``channels`` dimensions, as
    the columns of a ``(channels, count)`` matrix (normalized Gaussian draws)."""
    directions = torch.randn(channels, count, generator=generator, dtype=torch.float64)
    return (directions / directions.norm(dim=0, keepdim=True).clamp(min=1e-12)).to(dtype)


def quantile_positions(weights: torch.Tensor | None, count: int, like: torch.Tensor) -> torch.Tensor:
    """Where each of ``count`` sorted values sits in its distribution, in ``(0, 1)``: the
    middle of its share of the total weight.

    :param weights: each sorted value's weight, shaped like the sorted values ``(B, N, K)``;
        None: equal weights, ``(i + 1/2) / N`` for every direction, as a ``(1, N, 1)`` tensor.
    :param like: gives the dtype and device.
    """
    if weights is None:
        ranks = torch.arange(count, dtype=like.dtype, device=like.device)
        return ((ranks + 0.5) / count).view(1, count, 1)
    cumulative = weights.cumsum(dim=1)
    total = cumulative[:, -1:].clamp(min=1e-12)
    return (cumulative - weights / 2) / total


def values_at_quantiles(sorted_values: torch.Tensor, positions: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """A sorted sample's quantile function at ``quantiles``, by linear interpolation between
    its values at their ``positions`` (constant beyond the first and the last).

    :param sorted_values: ``(B, M, K)``, sorted along ``M``.
    :param positions: ``(B, M, K)`` or ``(1, M, 1)``, non-decreasing along ``M``.
    :param quantiles: ``(B, N, K)`` or ``(1, N, 1)``.
    :returns: ``(B, N, K)``.
    """
    batch, count, directions = sorted_values.shape
    shape = (batch, quantiles.shape[1], directions)
    # searchsorted wants the searched dimension last.
    rows = positions.expand(batch, count, directions).transpose(1, 2).contiguous()
    wanted = quantiles.expand(shape).transpose(1, 2).contiguous()
    above = torch.searchsorted(rows, wanted, right=True).transpose(1, 2)
    low, high = (above - 1).clamp(0, count - 1), above.clamp(0, count - 1)
    low_position, high_position = (positions.expand(batch, count, directions).gather(1, index)
                                   for index in (low, high))
    span = high_position - low_position
    fraction = torch.where(span > 0, (quantiles.expand(shape) - low_position) / span.clamp(min=1e-30),
                           torch.zeros_like(span)).clamp(0, 1)
    low_value, high_value = sorted_values.gather(1, low), sorted_values.gather(1, high)
    return low_value + fraction * (high_value - low_value)


def sliced_wasserstein(
    points: torch.Tensor,
    style: torch.Tensor,
    directions: torch.Tensor,
    *,
    weights: torch.Tensor | None = None,
    style_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The mean over ``directions`` of the squared 1D Wasserstein-2 distance between the
    projections of ``points`` and of ``style``: the mean squared difference of the sorted
    projections, compared at matched quantiles.

    :param points: ``(B, N, C)``, the generated image's positions.
    :param style: ``(B, M, C)``, the style's positions (detached).
    :param directions: ``(C, K)`` unit columns.
    :param weights: ``(B, N)`` weights of ``points`` (a guide); None: all equal.
    :param style_weights: ``(B, M)`` weights of ``style``; None: all equal.
    """
    projected, order = _sorted_projections(points, directions)
    style_projected, style_order = _sorted_projections(style, directions)
    count, style_count = projected.shape[1], style_projected.shape[1]
    sorted_weights = None if weights is None else _gathered(weights, order)
    if sorted_weights is None and style_weights is None and count == style_count:
        matched = style_projected
    else:
        if style_weights is None:
            positions = quantile_positions(None, style_count, style_projected)
        else:
            sorted_style_weights = _gathered(style_weights, style_order)
            positions = quantile_positions(sorted_style_weights, style_count, style_projected)
            style_projected, positions = _weighed_only(style_projected, positions, sorted_style_weights)
        matched = values_at_quantiles(style_projected, positions, quantile_positions(sorted_weights, count, projected))
    squared = (projected - matched).square()
    if sorted_weights is None:
        return squared.mean()
    total = sorted_weights[:, :, :1].sum(dim=1, keepdim=True).clamp(min=1e-12)
    return (squared * sorted_weights / total).sum(dim=1).mean()


def _sorted_projections(points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The projections of ``points`` (``(B, N, C)``) onto ``directions`` (``(C, K)``), sorted
    along ``N``, and the order that sorts them: ``(B, N, K)`` views of a ``(B, K, N)`` sort,
    since sorting contiguous rows is about twice as fast as sorting along a strided dimension."""
    values, order = torch.matmul(directions.transpose(0, 1), points.transpose(1, 2)).sort(dim=-1)
    return values.transpose(1, 2), order.transpose(1, 2)


def _weighed_only(
    values: torch.Tensor, positions: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted ``values`` and their ``positions`` with each weightless entry replaced by the
    nearest weighed one before it (after it, at the start): the interpolation then runs
    through the weighed entries only, as if the others were not there."""
    ranks = torch.arange(values.shape[1], device=values.device).view(1, -1, 1).expand_as(values)
    weighed = weights > 0
    before = torch.where(weighed, ranks, torch.full_like(ranks, -1)).cummax(dim=1).values
    first = weighed.to(torch.uint8).argmax(dim=1, keepdim=True).expand_as(ranks)
    nearest = torch.where(before < 0, first, before)
    return values.gather(1, nearest), positions.gather(1, nearest)


def _gathered(weights: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` weights in the order ``(B, N, K)`` sorts each direction's projections."""
    return weights.unsqueeze(-1).expand_as(order).gather(1, order)


class SlicedWassersteinLoss:
    """Style loss: the sliced Wasserstein distance between the features' and the style's
    distributions over positions (Heitz et al. 2021), on fresh random directions every call.

    :param projections: directions per call; None: the layer's number of channels, as in the paper.
    :param seed: seeds the loss's own generator; None: drawn from torch's global generator
        when the loss is built (the engine builds components under a fixed seed, so a freshly
        built run repeats exactly; one that reuses built components draws on).
    """

    guided = True
    # The features are cast to float32 before they are projected and sorted.
    takes_bfloat16 = True

    def __init__(self, projections: int | None = None, seed: int | None = None) -> None:
        self.projections = projections
        if seed is None:
            seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        self.generator = torch.Generator().manual_seed(seed)

    def target(self, features: torch.Tensor, guide: torch.Tensor | None = None) -> torch.Tensor:
        """The style's positions ``(B, H*W, C)``; with a guide, each row followed by its
        weight: ``(B, H*W, C + 1)``."""
        points = _positions(features).detach()
        if guide is None:
            return points
        return torch.cat((points, _guide_weights(guide, points)), dim=-1)

    def __call__(
        self, features: torch.Tensor, target: torch.Tensor | None, guide: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The sliced Wasserstein distance of ``features`` (``(B, C, H, W)``; the positions that
        ``guide`` weighs) to the style's positions in ``target``."""
        assert target is not None
        points = _positions(features)
        channels = points.shape[-1]
        style, style_weights = target, None
        if target.shape[-1] == channels + 1:
            style, style_weights = target[..., :channels], target[..., channels]
        style = style.to(device=points.device, dtype=points.dtype)
        directions = random_directions(
            channels, self.projections or channels, generator=self.generator, dtype=points.dtype
        ).to(points.device)
        weights = None if guide is None else _guide_weights(guide, points)[..., 0]
        return sliced_wasserstein(points, style, directions, weights=weights, style_weights=style_weights)


def _positions(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` features as ``(B, H*W, C)`` rows, in float32 at least."""
    batch, channels = features.shape[:2]
    rows = features.reshape(batch, channels, -1).transpose(1, 2)
    return rows if rows.dtype in _SORT_DTYPES else rows.float()


def _guide_weights(guide: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """A ``(1, 1, H, W)`` guide as ``(B, H*W, 1)`` weights of ``points``' rows."""
    weights = guide.reshape(guide.shape[0], -1, 1).to(device=points.device, dtype=points.dtype)
    return weights.expand(points.shape[0], -1, -1)
