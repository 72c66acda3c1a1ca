"""``mask`` and ``mask-create``."""

from __future__ import annotations

from PIL import Image, ImageFilter, ImageOps

from siayn_core import PostprocessContext, SiaynError, read_image, resize, scaled_size

from .options import MaskCreateOptions, MaskOptions
from .segmentation import fcn_resnet101_mask, grabcut_mask


class Mask:
    """Composite the stylized image over the content through a mask (white = styled)."""

    def __init__(self, options: MaskOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        o = self.options
        styled = image.convert("RGB")
        if context.content is None:
            raise SiaynError("postprocessor 'mask' needs the content image the result was made from")
        content = resize(read_image(context.find(context.content, what="content image")), styled.size)
        if o.mask:
            mask = read_image(context.find(o.mask, what="mask image")).convert("L")
        else:
            mask = grabcut_mask(content)
        if mask.size != styled.size:
            # Bilinear, not Lanczos: Lanczos overshoots and would leak style into black areas.
            mask = mask.resize(styled.size, Image.Resampling.BILINEAR)
        if o.invert:
            mask = ImageOps.invert(mask)
        if o.feather > 0:
            mask = mask.filter(ImageFilter.GaussianBlur(o.feather))
        return Image.composite(styled, content, mask)


class MaskCreate:
    """A white-on-black foreground mask of the image, returned as an RGB image."""

    def __init__(self, options: MaskCreateOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        o = self.options
        scaled = resize(image.convert("RGB"), scaled_size(image.size, o.scaler))
        if o.method == "fcn_resnet101":
            mask = fcn_resnet101_mask(scaled, device=o.device)
        else:
            mask = grabcut_mask(scaled, margin=o.margin, iterations=o.iterations, work_size=o.work_size)
        return mask.convert("RGB")
