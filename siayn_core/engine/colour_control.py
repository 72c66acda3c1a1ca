"""Colour control, chosen by ``color_control``: inside the optimization (Gatys et al.,
"Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017, section 5) or after it:

- ``luminance``: the photo and the styles become luminance images (each style's luminance
  given the photo's mean and standard deviation first), the run optimizes luminance only,
  and the result gets the photo's chroma back (YCbCr);
- ``match``: each style image gets the photo's colour mean and covariance before the run,
  so the texture comes from the painting and the palette from the photo;
- ``oklab-chroma``: after the run, the colour step of Neural Neighbor Style Transfer (Kolkin
  et al. 2022): the result keeps its OkLab lightness and takes the photo's chroma, given the
  paintings' chroma mean and covariance and smoothed along the result's lightness edges.

YCbCr conversions are OpenCV's (``cv2.cvtColor``, ITU-R BT.601); OkLab's are
:mod:`siayn_core.engine.oklab`'s.
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

#: Variance added to the photo's OkLab a and b before their covariance is inverted: a
#: standard deviation of 0.001, far below a visible chroma difference, so the chroma noise of a
#: grey photo is not blown up to the paintings' spread.
_CHROMA_RIDGE = 1e-6

#: The range of the chroma's smoothing in OkLab lightness: chroma is averaged over neighbours
#: whose lightness differs by about this much or less.
_SMOOTHING_LIGHTNESS = 0.05

#: The spatial reach of the chroma's smoothing, as a share of the image's longer side (at least a pixel).
_SMOOTHING_REACH = 1 / 256

#: Paintings are sampled on a grid of at most about this many pixels for their chroma statistics.
_STATISTICS_PIXELS = 1 << 20


class ColourControl:
    """What ``color_control`` does to a run's images before and after the optimization."""

    def __init__(self, mode: str, photo: Image.Image) -> None:
        self.mode = mode
        self.photo = photo.convert("RGB")
        self._chroma: dict[tuple[int, int], PhotoChroma] = {}
        self._painting: ChromaStatistics | None = None

    @property
    def recolours(self) -> bool:
        """Whether the optimized image is luminance that gets the photo's chroma back, in every
        preview as in the result."""
        return self.mode == "luminance"

    def prepare(self, styles: Sequence[Image.Image]) -> tuple[Image.Image, list[Image.Image]]:
        """The content and style images the optimization sees."""
        if self.mode == "luminance":
            reference = luminance(self.photo)
            return luminance_image(self.photo), [luminance_image(style, like=reference) for style in styles]
        if self.mode == "match":
            return self.photo, [match_colours(style, self.photo) for style in styles]
        if self.mode == "oklab-chroma":
            self._painting = chroma_statistics(styles)
        return self.photo, list(styles)

    def start_image(self, image: Image.Image) -> Image.Image:
        """A saved result to resume from, as the optimization sees it (with ``oklab-chroma``,
        the saved colours: :meth:`finish` keeps only the result's lightness anyway)."""
        return luminance_image(image) if self.mode == "luminance" else image

    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """The image a user sees: with ``luminance``, ``image``'s luminance with the photo's
        chroma; with ``oklab-chroma`` (applied to the finished result, not to every step's
        preview), its OkLab lightness with the photo's chroma matched to the paintings'
        (:meth:`prepare` must have seen them)."""
        height, width = image.shape[-2:]
        if self.mode == "oklab-chroma":
            assert self._painting is not None, "prepare() gives the paintings' chroma statistics"
            photo = self._photo_at((width, height)) / 255.0
            rgb = image[0].detach().permute(1, 2, 0).double().cpu().numpy()
            return _tensor_like(with_lightness_of(rgb, matched_chroma(photo, self._painting)), image)
        if not self.recolours:
            return image
        if (width, height) not in self._chroma:  # once per stage size, not once per step
            self._chroma[width, height] = photo_chroma(self._photo_at((width, height)).astype(np.float32) / 255.0)
        return with_chroma(image, self._chroma[width, height])

    def _photo_at(self, size: tuple[int, int]) -> np.ndarray:
        """The photo at ``size`` (width, height): ``(H, W, 3)`` 8-bit RGB."""
        from ..io.images import resize

        return np.asarray(resize(self.photo, size))


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


class ChromaStatistics(NamedTuple):
    """The mean ``(2,)`` and covariance ``(2, 2)`` of OkLab's a and b over an image's pixels."""

    mean: np.ndarray
    covariance: np.ndarray


def chroma_statistics(images: Sequence[Image.Image]) -> ChromaStatistics:
    """The chroma statistics of the pixels of ``images``, each image weighing the same (the
    moments of the mixture of their colour distributions)."""
    from .oklab import srgb_to_oklab

    means, seconds = [], []
    for image in images:
        step = max(1, int(np.ceil(np.sqrt(image.width * image.height / _STATISTICS_PIXELS))))
        pixels = np.asarray(image.convert("RGB"))[::step, ::step].reshape(-1, 3) / 255.0
        chroma = srgb_to_oklab(pixels)[:, 1:]
        means.append(chroma.mean(axis=0))
        seconds.append(chroma.T @ chroma / len(chroma))
    mean = np.mean(means, axis=0)
    return ChromaStatistics(mean, np.mean(seconds, axis=0) - np.outer(mean, mean))


def matched_chroma(photo: np.ndarray, painting: ChromaStatistics) -> np.ndarray:
    """The OkLab a and b of ``photo`` (``(H, W, 3)`` RGB in [0, 1]), given the mean and
    covariance of ``painting``'s by the linear Monge-Kantorovich map: ``x' = A (x − μₚ) + μₛ``
    with ``A = Σₚ^-½ (Σₚ^½ Σₛ Σₚ^½)^½ Σₚ^-½``, the affine map that moves the colours least.
    Returns ``(H, W, 2)``."""
    from .oklab import srgb_to_oklab

    chroma = srgb_to_oklab(photo)[..., 1:]
    flat = chroma.reshape(-1, 2)
    mean = flat.mean(axis=0)
    covariance = np.cov(flat, rowvar=False, bias=True) + _CHROMA_RIDGE * np.eye(2)
    root, inverse_root = _root(covariance), _root(covariance, inverse=True)
    transform = inverse_root @ _root(root @ painting.covariance @ root, floor=0.0) @ inverse_root
    return (chroma - mean) @ transform.T + painting.mean


def with_lightness_of(image: np.ndarray, chroma: np.ndarray, *, smooth: bool = True) -> np.ndarray:
    """``image``'s OkLab lightness with ``chroma`` (``(H, W, 2)`` OkLab a and b), as RGB in
    [0, 1]; a colour outside the sRGB gamut keeps its lightness and hue and loses chroma.

    :param image: ``(H, W, 3)`` RGB in [0, 1].
    :param smooth: smooth the chroma first with a bilateral filter that follows the image's
        lightness (:func:`smooth_chroma`).
    """
    from .oklab import oklab_to_srgb_in_gamut, srgb_to_oklab

    lightness = srgb_to_oklab(np.clip(image, 0.0, 1.0))[..., :1]
    if smooth:
        chroma = smooth_chroma(lightness[..., 0], chroma)
    # NNST clamps each OkLab channel into the painting's range instead, which moves the lightness.
    return oklab_to_srgb_in_gamut(np.concatenate((lightness, chroma), axis=-1))


def smooth_chroma(lightness: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """``chroma`` (``(H, W, 2)``) averaged over neighbours of about the same ``lightness``
    (``(H, W)``): a bilateral filter whose range kernel sees the lightness only, so the colours
    follow the result's edges rather than the photo's."""
    import cv2

    # OpenCV's range distance adds the channels' differences: chroma scaled far below the
    # lightness does not count in it, and scaling back after the (linear) average is exact.
    scale = 1e-3
    stacked = np.concatenate((lightness[..., None], chroma * scale), axis=-1).astype(np.float32)
    reach = max(1.0, max(lightness.shape) * _SMOOTHING_REACH)
    smoothed = cv2.bilateralFilter(stacked, 0, _SMOOTHING_LIGHTNESS, reach)
    return smoothed[..., 1:].astype(np.float64) / scale


def _tensor_like(rgb: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """An ``(H, W, 3)`` array as a ``(1, 3, H, W)`` tensor of ``like``'s dtype and device."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].to(like.device, like.dtype)


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


def _root(matrix: np.ndarray, *, inverse: bool = False, floor: float | None = None) -> np.ndarray:
    """The symmetric square root of a positive definite matrix, or its inverse; with ``floor``,
    of a semi-definite one (eigenvalues below ``floor`` raised to it)."""
    values, vectors = np.linalg.eigh(matrix)
    if floor is not None:
        values = np.maximum(values, floor)
    powers = values ** (-0.5 if inverse else 0.5)
    return (vectors * powers) @ vectors.T


def _ycrcb(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's YCrCb of a float32 RGB array in [0, 1] (Y in [0, 1], chroma centred on 0.5)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2YCrCb)
