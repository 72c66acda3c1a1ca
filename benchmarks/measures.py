"""Measures of a result that no loss optimizes, for tests and benchmarks that judge one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def stroke_width(image: torch.Tensor) -> float:
    """The size of an image's brush strokes relative to its width: the half-width of the
    autocorrelation of its luminance's detail (the luminance minus a blur of a sixteenth of
    the width), divided by the width.

    :param image: ``(1, 3, H, W)`` RGB in ``[0, 1]``.
    """
    import cv2

    rgb = image[0].detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy().astype(np.float64)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    width = luminance.shape[1]
    detail = luminance - cv2.GaussianBlur(luminance, (0, 0), width / 16)
    spectrum = np.fft.fft2(detail - detail.mean())
    correlation = np.fft.ifft2(np.abs(spectrum) ** 2).real
    profile = (correlation[0, :width // 2] + correlation[: width // 2, 0][: width // 2]) / (2 * correlation[0, 0])
    below = int(np.argmax(profile < 0.5))
    # linear interpolation between the last lag above one half and the first below it
    lag = below - 1 + (profile[below - 1] - 0.5) / (profile[below - 1] - profile[below])
    return float(lag / width)


def painted_stroke_width(image: torch.Tensor, photo: torch.Tensor) -> float:
    """The size of the strokes a run painted onto ``photo``, relative to the width: the
    :func:`stroke_width` of the change (``image - photo``), so that the photo's own sharp
    detail, which a large output keeps, does not count as strokes.

    :param image: the result, ``(1, 3, H, W)`` RGB in ``[0, 1]``.
    :param photo: the photo at the result's size, like ``image``.
    """
    return stroke_width((image - photo + 0.5).clamp(0.0, 1.0))
