"""``denoise``: OpenCV's non-local means denoising."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from siayn_core import PostprocessContext

from .options import DenoiseOptions


class Denoise:
    """Non-local means (Buades et al. 2005) through ``cv2.fastNlMeansDenoisingColored``;
    a grayscale image (equal channels) goes through ``cv2.fastNlMeansDenoising``."""

    def __init__(self, options: DenoiseOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        o = self.options
        windows = {"templateWindowSize": o.template_window, "searchWindowSize": o.search_window}
        rgb = np.asarray(image.convert("RGB"))
        if is_grayscale(rgb):
            gray = np.ascontiguousarray(rgb[..., 0])
            denoised = cv2.fastNlMeansDenoising(gray, None, h=float(o.strength), **windows)
            return Image.fromarray(denoised, "L").convert("RGB")
        # OpenCV expects BGR: it converts to L*a*b* internally to apply h and hColor separately.
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        denoised = cv2.fastNlMeansDenoisingColored(
            bgr, None, h=float(o.strength), hColor=float(o.color_strength), **windows
        )
        return Image.fromarray(cv2.cvtColor(denoised, cv2.COLOR_BGR2RGB), "RGB")


def is_grayscale(rgb: np.ndarray) -> bool:
    """Whether an ``(H, W, 3)`` array has three equal channels."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))
