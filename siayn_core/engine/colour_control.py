"""Colour control inside the optimization (Gatys et al., "Controlling Perceptual Factors in
Neural Style Transfer", CVPR 2017, section 5), chosen by ``color_control``:

- ``luminance``: the photo and the styles become luminance images (each style's luminance
  given the photo's mean and standard deviation first), the run optimizes luminance only,
  and the result gets the photo's chroma back (YCbCr);
- ``match``: each style image gets the photo's colour mean and covariance before the run,
  so the texture comes from the painting and the palette from the photo.

YCbCr conversions are OpenCV's (``cv2.cvtColor``, ITU-R BT.601).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch
    from PIL import Image

#: Variance added to each colour channel so a flat image still has an invertible covariance.
_RIDGE = 1e-5


class ColourControl:
    """What ``color_control`` does to a run's images before and after the optimization."""

    def __init__(self, mode: str, photo: Image.Image) -> None:
        self.mode = mode
        self.photo = photo.convert("RGB")
        self._chroma: dict[tuple[int, int], PhotoChroma] = {}

    @property
    def recolours(self) -> bool:
        """Whether the optimized image is luminance that gets the photo's chroma back."""
        return self.mode == "luminance"

    def prepare(self, styles: Sequence[Image.Image]) -> tuple[Image.Image, list[Image.Image]]:
        """The content and style images the optimization sees."""
        if self.mode == "luminance":
            reference = luminance(self.photo)
            return luminance_image(self.photo), [luminance_image(style, like=reference) for style in styles]
        if self.mode == "match":
            return self.photo, [match_colours(style, self.photo) for style in styles]
        return self.photo, list(styles)

    def start_image(self, image: Image.Image) -> Image.Image:
        """A saved result to resume from, as the optimization sees it."""
        return luminance_image(image) if self.recolours else image

    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """The image a user sees: with ``luminance``, ``image``'s luminance with the photo's chroma."""
        if not self.recolours:
            return image
        height, width = image.shape[-2:]
        if (width, height) not in self._chroma:  # once per stage size, not once per step
            from ..io.images import resize

            photo = np.asarray(resize(self.photo, (width, height)), dtype=np.float32) / 255.0
            self._chroma[width, height] = photo_chroma(photo)
        return with_chroma(image, self._chroma[width, height])


def luminance(image: Image.Image) -> np.ndarray:
    """The Y channel of ``image`` in [0, 1], ``(H, W)`` float32."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return _ycrcb(rgb)[..., 0]


def luminance_image(image: Image.Image, like: np.ndarray | None = None) -> Image.Image:
    """``image``'s luminance as a grey RGB image; with ``like``, given that luminance's mean
    and standard deviation first (the paper's luminance matching of the style to the photo)."""
    from PIL import Image as PILImage

    y = luminance(image)
    if like is not None:
        y = (y - y.mean()) / max(float(y.std()), 1e-6) * like.std() + like.mean()
    grey = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    return PILImage.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")


class PhotoChroma(NamedTuple):
    """The photo's YCrCb at one size, with the per-pixel luminance range in which its chroma
    is a colour in [0, 1]."""

    ycrcb: np.ndarray
    lowest: np.ndarray
    highest: np.ndarray


def photo_chroma(photo: np.ndarray) -> PhotoChroma:
    """The :class:`PhotoChroma` of ``photo``, a float32 ``(H, W, 3)`` RGB array in [0, 1]."""
    import cv2

    ycrcb = _ycrcb(photo)
    without_luminance = ycrcb.copy()
    without_luminance[..., 0] = 0.0
    offsets = cv2.cvtColor(without_luminance, cv2.COLOR_YCrCb2RGB)  # each channel is Y plus this
    lowest = (-offsets).max(axis=2)
    return PhotoChroma(ycrcb, lowest, np.maximum(lowest, (1.0 - offsets).min(axis=2)))


def with_chroma(image: torch.Tensor, chroma: PhotoChroma) -> torch.Tensor:
    """``image`` (``(1, 3, H, W)`` in [0, 1]) recombined: its luminance with the photo's Cr/Cb,
    the luminance kept within the range in which that chroma is a colour in [0, 1]."""
    import cv2
    import torch

    rgb = image[0].detach().permute(1, 2, 0).float().cpu().numpy()
    recombined = chroma.ycrcb.copy()
    # Limiting Y to what keeps every channel in [0, 1] keeps the chroma exact where clipping RGB would shift it.
    recombined[..., 0] = np.clip(_ycrcb(np.clip(rgb, 0.0, 1.0))[..., 0], chroma.lowest, chroma.highest)
    recombined = np.clip(cv2.cvtColor(recombined, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(recombined)).permute(2, 0, 1)[None].to(image.device, image.dtype)


def match_colours(style: Image.Image, photo: Image.Image) -> Image.Image:
    """``style`` with the mean and covariance of ``photo``'s colours: ``x' = A (x - μₛ) + μₚ``
    with ``A = Σₚ^½ Σₛ^-½`` (symmetric roots), the paper's colour transfer before the run."""
    from PIL import Image as PILImage

    pixels = np.asarray(style.convert("RGB"), dtype=np.float64) / 255.0
    flat, reference = pixels.reshape(-1, 3), np.asarray(photo.convert("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    transform = _root(_covariance(reference)) @ _root(_covariance(flat), inverse=True)
    matched = (flat - flat.mean(axis=0)) @ transform.T + reference.mean(axis=0)
    out = np.clip(np.rint(matched.reshape(pixels.shape) * 255.0), 0, 255).astype(np.uint8)
    return PILImage.fromarray(out, "RGB")


def _covariance(pixels: np.ndarray) -> np.ndarray:
    return np.cov(pixels, rowvar=False) + _RIDGE * np.eye(3)


def _root(matrix: np.ndarray, *, inverse: bool = False) -> np.ndarray:
    """The symmetric square root of a positive definite matrix, or its inverse."""
    values, vectors = np.linalg.eigh(matrix)
    powers = values ** (-0.5 if inverse else 0.5)
    return (vectors * powers) @ vectors.T


def _ycrcb(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's YCrCb of a float32 RGB array in [0, 1] (Y in [0, 1], chroma centred on 0.5)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2YCrCb)
