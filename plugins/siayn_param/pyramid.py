"""The image as a Laplacian pyramid (Burt and Adelson 1983), the parameters STROTSS (Kolkin et al.
2019) and NNST (Kolkin et al. 2022) optimize instead of pixels.

Level 0 is the image at full size; each next level is the one before averaged over 2x2 blocks
(a block at an odd edge averages the pixels it has), so a ``37x29`` image has levels of
``19x15``, ``10x8``, ``5x4``... The band of a level is that level minus the next one upsampled
to its size (bilinear), and the last band is the coarsest level itself. The image is rendered
back by upsampling from the coarsest band and adding each finer band: exactly the image the
pyramid was built from, to float rounding, since every band stores a difference from the very
upsampling the rendering does.

A step of the optimizer on a coarse band moves a whole region of the image at once, so large
forms change as readily as fine texture; on pixels, a gradient step mostly paints the finest
scale first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def level_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """The ``(height, width)`` of each level, full size first: each half the one before,
    rounded up, and no more once the image is one pixel."""
    sizes = [(height, width)]
    while len(sizes) < levels and sizes[-1] != (1, 1):
        rows, columns = sizes[-1]
        sizes.append(((rows + 1) // 2, (columns + 1) // 2))
    return sizes


def downsample(image: torch.Tensor) -> torch.Tensor:
    """The next coarser level: the mean of each 2x2 block (of the pixels an edge block has)."""
    return F.avg_pool2d(image, 2, ceil_mode=True)


def upsample(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``image`` brought up to ``size`` (``(height, width)``), bilinear."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=tuple(size), mode="bilinear", align_corners=False)


def bands_of(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The pyramid's bands of ``image``, finest first; the last is the coarsest level itself."""
    gaussian = [image]
    for _ in level_sizes(*image.shape[-2:], levels)[1:]:
        gaussian.append(downsample(gaussian[-1]))
    bands = [finer - upsample(coarser, finer.shape[-2:]) for finer, coarser in zip(gaussian, gaussian[1:])]
    return [*bands, gaussian[-1]]


def reconstruct(bands: Sequence[torch.Tensor]) -> torch.Tensor:
    """The image the bands stand for: the coarsest band upsampled, plus each finer band in turn."""
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = upsample(image, band.shape[-2:]) + band
    return image


class PyramidImage:
    """An image held as its Laplacian pyramid's bands, each a tensor the optimizer moves.

    :param bands: the bands, finest first (:func:`bands_of`); copied.
    """

    def __init__(self, bands: Sequence[torch.Tensor]) -> None:
        self.bands = [band.detach().clone().requires_grad_(True) for band in bands]
        self.box: tuple[float, float] | None = None

    def parameters(self) -> Sequence[torch.Tensor]:
        """The bands, finest first."""
        return self.bands

    def render(self) -> torch.Tensor:
        """The image the bands reconstruct (clamped into the box once :meth:`project` has set one)."""
        image = reconstruct(self.bands)
        if self.box is None:
            return image
        # The projection leaves the image in the box to float rounding only; the clamp removes that.
        return image.clamp(*self.box)

    @torch.no_grad()
    def project(self, low: float, high: float) -> bool:
        """Clamp the rendered image into ``[low, high]`` by adding the correction to the finest band.

        The correction is a full-size image, which only the finest band can hold as it is: the
        coarse bands, and the optimizer's state about them, stay as the step left them (a
        re-encoding of the clamped image would move every band).
        """
        image = reconstruct(self.bands)
        self.bands[0].add_(image.clamp(low, high) - image)
        self.box = (low, high)
        return True


class Laplacian:
    """The ``laplacian`` parametrization: the image as its pyramid of ``levels`` bands."""

    def __init__(self, levels: int = 5) -> None:
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        self.levels = levels

    def encode(self, image: torch.Tensor) -> PyramidImage:
        """The pyramid of ``image``, whose rendering is ``image`` to float rounding."""
        with torch.no_grad():
            return PyramidImage(bands_of(image.detach(), self.levels))
