"""``histogram`` and ``preserve-colors``."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from siayn_core import PostprocessContext, SiaynError, read_image, resize

from .options import HistogramOptions, PreserveColorsOptions


class HistogramMatch:
    """Match each RGB channel's histogram to a target image's
    (``skimage.exposure.match_histograms`` with ``channel_axis=-1``)."""

    def __init__(self, options: HistogramOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        from skimage.exposure import match_histograms

        if self.options.target:
            target_path = context.find(self.options.target, what="histogram target image")
        elif context.styles:
            target_path = context.find(context.styles[0], what="style image")
        else:
            raise SiaynError("postprocessor 'histogram' needs option 'target' (an image to match)")
        target = np.asarray(read_image(target_path))
        matched = match_histograms(np.asarray(image.convert("RGB")), target, channel_axis=-1)
        return Image.fromarray(to_uint8(matched), "RGB")


class PreserveColors:
    """Luminance from the stylized image, chroma from the content image (Gatys et al. 2016,
    "Preserving color in neural artistic style transfer"; neural-style's -original_colors)."""

    def __init__(self, options: PreserveColorsOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        if context.content is None:
            raise SiaynError("postprocessor 'preserve-colors' needs the content image the result was made from")
        styled = image.convert("RGB")
        content = resize(read_image(context.find(context.content, what="content image")), styled.size)
        if self.options.colorspace == "lab":
            from skimage.color import lab2rgb, rgb2lab

            lab = rgb2lab(np.asarray(content))
            lab[..., 0] = rgb2lab(np.asarray(styled))[..., 0]
            with warnings.catch_warnings():
                # Dark luminance with strong chroma falls outside sRGB: clipping it is the intent.
                warnings.filterwarnings("ignore", message=".*negative Z values.*", category=UserWarning)
                rgb = lab2rgb(lab)
            return Image.fromarray(to_uint8(rgb * 255.0), "RGB")
        luminance = styled.convert("YCbCr").getchannel("Y")
        _, blue, red = content.convert("YCbCr").split()
        return Image.merge("YCbCr", (luminance, blue, red)).convert("RGB")


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Round and clip a float array to 8-bit."""
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)
