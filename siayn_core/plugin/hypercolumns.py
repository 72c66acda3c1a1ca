"""Hypercolumns: the features of several layers read at shared positions of the image.

A loss that compares feature vectors position by position, across layers (STROTSS's relaxed
EMD, NNST's nearest neighbours), reads each layer's map at the same points of the image and
puts the values side by side. :func:`draw_positions` picks the points, one at a random offset
in each cell of a regular grid (as STROTSS samples), optionally only inside a mask;
:func:`read_hypercolumns` reads every map there by bilinear interpolation. The layer name
:data:`PIXELS` stands for the image itself, so the colours can be part of the vectors.

Positions are in image coordinates: ``(row, column)`` in pixels, pixel ``(i, j)``'s centre at
``(i, j)``. A map of another resolution covers the same image, so its value at a position is
read where that position falls on it. torch is imported inside the functions, so this module
stays cheap to import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: The pseudo-layer that means the image itself (``(1, 3, H, W)`` RGB in ``[0, 1]``): a
#: hypercolumn loss may name it among its layers; the backbone is never asked for it.
PIXELS = "pixels"


@dataclass(frozen=True)
class SamplePositions:
    """Points of an image where hypercolumns are read.

    :param points: ``(N, 2)`` float ``(row, column)`` pixel coordinates, inside
        ``[0, height - 1] x [0, width - 1]``.
    :param size: ``(height, width)`` of the image the points lie on.
    """

    points: torch.Tensor
    size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.points.shape[0])


def draw_positions(
    size: tuple[int, int],
    count: int,
    generator: torch.Generator,
    *,
    guide: torch.Tensor | None = None,
) -> SamplePositions:
    """About ``count`` positions on an image of ``size`` (``(height, width)``): the image is cut
    into a regular grid of square cells, about ``count`` of them, and each cell gives one point
    drawn uniformly inside it.

    :param generator: draws the offsets (a CPU generator; the run's seeded one in a run).
    :param guide: ``(1, 1, h, w)`` weights: only points where it is above 0.5 are kept (read
        at the nearest pixel, the guide resized to ``size`` when it has another size); the grid
        is then sized so that about ``count`` cells fall inside that region. Where no point
        falls inside (a few scattered pixels), up to ``count`` of its pixels are taken instead;
        an empty region gives no points.
    :returns: positions on the CPU, in float32.
    """
    import torch
    import torch.nn.functional as F

    height, width = size
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    inside: torch.Tensor | None = None
    area = float(height * width)
    if guide is not None:
        weights = guide.detach().float().cpu()
        if tuple(weights.shape[-2:]) != (height, width):
            weights = F.interpolate(weights, size=(height, width), mode="bilinear", align_corners=False)
        inside = weights.reshape(height, width) > 0.5
        area = float(inside.sum())
        if not area:
            return SamplePositions(torch.zeros((0, 2)), (height, width))
    cell = max(1.0, math.sqrt(area / count))
    rows, columns = math.ceil(height / cell), math.ceil(width / cell)
    grid_rows, grid_columns = torch.meshgrid(
        torch.arange(rows, dtype=torch.float32), torch.arange(columns, dtype=torch.float32), indexing="ij"
    )
    origins = torch.stack((grid_rows.reshape(-1), grid_columns.reshape(-1)), dim=1) * cell
    offsets = torch.rand(origins.shape, generator=generator, dtype=torch.float32) * cell
    # Cells span [0, height) x [0, width) with pixel i covering [i, i + 1): shift to centres.
    points = origins + offsets
    keep = (points[:, 0] < height) & (points[:, 1] < width)
    points = points[keep] - 0.5
    points[:, 0].clamp_(0.0, height - 1.0)
    points[:, 1].clamp_(0.0, width - 1.0)
    if inside is not None:
        nearest = points.round().long()
        points = points[inside[nearest[:, 0], nearest[:, 1]]]
        if not len(points):
            pixels = inside.nonzero().float()
            order = torch.randperm(len(pixels), generator=generator)[:count]
            points = pixels[order]
    return SamplePositions(points.contiguous(), (height, width))


def read_hypercolumns(
    features: Mapping[str, torch.Tensor],
    positions: SamplePositions,
    *,
    layers: Sequence[str] | None = None,
) -> torch.Tensor:
    """The hypercolumns at ``positions``: each map of ``features`` (``(1, C, h, w)``, batch of
    one, covering the image ``positions`` lie on) read by bilinear interpolation, the layers'
    values concatenated in order.

    The interpolation is ``grid_sample``'s (``align_corners=False``, ``padding_mode="border"``),
    written as a gather of each position's four neighbours, so that a bfloat16 or float16 map
    is read where it lies: only its N x 4 neighbours are cast, not the whole map, and its
    gradient comes back in its own dtype.

    :param layers: which maps, in which order (default: all of ``features``, in its order).
    :returns: ``(N, sum of C)``, in the maps' dtype (float32 for bfloat16 or float16 maps).
    """
    import torch

    names = list(features) if layers is None else list(layers)
    if not names:
        raise ValueError("read_hypercolumns needs at least one layer")
    parts = []
    for name in names:
        value = features[name]
        if value.dim() != 4 or value.shape[0] != 1:
            raise ValueError(f"layer {name!r}: expected a (1, C, h, w) map, got {tuple(value.shape)}")
        parts.append(_bilinear_rows(value, positions))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _bilinear_rows(value: torch.Tensor, positions: SamplePositions) -> torch.Tensor:
    """``value`` (``(1, C, h, w)``) read at ``positions`` by bilinear interpolation: ``(N, C)``."""
    import torch

    _, channels, height, width = value.shape
    dtype = value.dtype if value.dtype in (torch.float32, torch.float64) else torch.float32
    points = positions.points.to(device=value.device, dtype=dtype)
    # Pixel i's centre lies at the same place of the image on every map, whatever its resolution.
    scale_y, scale_x = height / positions.size[0], width / positions.size[1]
    y = ((points[:, 0] + 0.5) * scale_y - 0.5).clamp(0, height - 1)
    x = ((points[:, 1] + 0.5) * scale_x - 0.5).clamp(0, width - 1)
    top, left = y.floor(), x.floor()
    down, right = y - top, x - left
    top, left = top.long(), left.long()
    bottom, after = (top + 1).clamp(max=height - 1), (left + 1).clamp(max=width - 1)
    index = torch.cat((top * width + left, top * width + after, bottom * width + left, bottom * width + after))
    if value.is_contiguous(memory_format=torch.channels_last):
        corners = value.permute(0, 2, 3, 1).reshape(height * width, channels).index_select(0, index)
    else:
        corners = value.reshape(channels, height * width).index_select(1, index).transpose(0, 1)
    corners = corners.to(dtype).view(4, len(points), channels)
    weights = torch.stack(((1 - down) * (1 - right), (1 - down) * right, down * (1 - right), down * right))
    return (corners * weights.unsqueeze(-1)).sum(dim=0)
