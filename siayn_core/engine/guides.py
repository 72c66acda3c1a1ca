"""Spatial control (Gatys et al., "Controlling Perceptual Factors in Neural Style Transfer",
CVPR 2017, section 4): where on the photo each style applies, and where the photo is kept.

A run's masks become :class:`Regions`: one weight map per style (white = that style applies,
grey = partly), with a kept region (``content_mask``) taken out of every one. The objective
asks for them at each stage's size (:meth:`Regions.guides`) and reduces them to each style
layer's resolution (:func:`layer_guide`); a guided style loss then computes its statistics
over the positions weighted by the guide. Masks come from one file per style, a colour-key
file (one colour per style), or ``auto``: a registered masker's foreground for the first of
two styles and the rest for the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    import torch

    from ..config.schema import StylizeOptions
    from ..host.registry import Registry

#: How far a mask's aspect ratio may differ from the photo's before it is taken for a mistake.
_ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Regions:
    """Where each style applies on the photo.

    :param masks: one ``L`` image per style (white: the style applies), or None: everywhere.
    :param keep: an ``L`` image, white where the photo is kept (no style there), or None.
    """

    masks: tuple[Image.Image, ...] | None = None
    keep: Image.Image | None = None

    @property
    def active(self) -> bool:
        """Whether any style is confined to a region."""
        return self.masks is not None or self.keep is not None

    def guides(self, size: tuple[int, int], count: int) -> list[torch.Tensor | None]:
        """Each of ``count`` styles' weights at ``size`` (``(width, height)``), ``(1, 1, H, W)``
        in ``[0, 1]``; None for a style that applies everywhere (so a white mask is no mask)."""
        import torch

        keep = None if self.keep is None else _weights(self.keep, size)
        guides: list[torch.Tensor | None] = []
        for index in range(count):
            weights = _weights(self.masks[index], size) if self.masks is not None else None
            if keep is not None:
                weights = (1.0 - keep) if weights is None else weights * (1.0 - keep)
            if weights is not None and bool((weights == 1.0).all()):
                weights = None
            guides.append(None if weights is None else torch.from_numpy(weights)[None, None])
        return guides


def _weights(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """A mask at ``size`` as float32 weights in [0, 1]; box-filtered, so a border pixel gets
    the share of the area it covers, and no filter overshoot leaks weight across a border."""
    resized = mask if mask.size == size else mask.resize(size, Image.Resampling.BOX)
    return np.asarray(resized, dtype=np.float32) / 255.0


def layer_guide(guide: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``guide`` reduced to a feature map of ``shape`` (``(h, w)``): each position's weight is
    the mean weight of the pixels its stride cell covers (the paper's simple propagation)."""
    import torch.nn.functional as F

    if tuple(guide.shape[-2:]) == tuple(shape):
        return guide
    return F.interpolate(guide, size=tuple(shape), mode="area")


def regions_for(
    options: StylizeOptions,
    photo: Image.Image,
    count: int,
    masks: Sequence[Image.Image],
    keep: Image.Image | None,
    *,
    registry: Registry,
) -> Regions:
    """The regions ``options`` ask for, for ``count`` styles: ``masks`` are the images
    ``style_masks`` names (one per style, or one colour-key image for several styles),
    ``keep`` the ``content_mask`` image."""
    if keep is not None:
        keep = _checked(keep, photo, what="content_mask")
    if options.style_masks is None:
        return Regions(None, keep)
    if options.style_masks == ["auto"]:
        foreground = auto_mask(options, photo, registry=registry)
        named = [foreground, Image.eval(foreground, lambda value: 255 - value)]
    elif len(masks) == 1 and count > 1:
        named = colour_key_masks(masks[0].convert("RGB"), count, options.style_mask_colors)
    else:
        named = [mask.convert("L") for mask in masks]
    checked = tuple(_checked(mask, photo, what=f"the mask of style {index + 1}") for index, mask in enumerate(named))
    for index, mask in enumerate(checked):
        if mask.getextrema()[1] == 0:
            found = f" ({options.auto_mask} found no foreground)" if options.style_masks == ["auto"] else ""
            raise SiaynError(f"the mask of style {index + 1} is black everywhere{found}: that style would apply nowhere")
    return Regions(checked, keep)


def _checked(mask: Image.Image, photo: Image.Image, *, what: str) -> Image.Image:
    """``mask`` in mode ``L`` at the photo's size; SiaynError when its shape is another's."""
    mask_ratio = mask.size[0] / mask.size[1]
    photo_ratio = photo.size[0] / photo.size[1]
    if abs(mask_ratio / photo_ratio - 1) > _ASPECT_TOLERANCE:
        raise SiaynError(
            f"{what} is {mask.size[0]}x{mask.size[1]} px and the photo {photo.size[0]}x{photo.size[1]}: "
            "a mask needs the photo's aspect ratio"
        )
    return mask.convert("L").resize(photo.size, Image.Resampling.BILINEAR) if mask.size != photo.size else mask.convert("L")


def colour_key_masks(key: Image.Image, count: int, colours: Sequence[str] | None) -> list[Image.Image]:
    """One mask per style from a colour-key image: each pixel belongs to the nearest of the
    styles' colours (``colours`` as ``#rrggbb``, else the key's ``count`` most frequent)."""
    pixels = np.asarray(key.convert("RGB"), dtype=np.int32)
    if colours is not None:
        if len(colours) != count:
            raise SiaynError(f"style_mask_colors has {len(colours)} colours for {count} styles")
        palette = np.array([parse_colour(colour) for colour in colours], dtype=np.int32)
    else:
        values, frequencies = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
        if len(values) < count:
            raise SiaynError(f"the colour-key mask has {len(values)} colours for {count} styles")
        palette = values[np.argsort(-frequencies, kind="stable")[:count]]
    distance = ((pixels[:, :, None, :] - palette[None, None]) ** 2).sum(-1)
    nearest = distance.argmin(-1)
    return [Image.fromarray(np.where(nearest == index, 255, 0).astype(np.uint8), "L") for index in range(count)]


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#rrggbb`` (or ``rrggbb``) as an RGB triple; SiaynError for anything else."""
    digits = text.strip().removeprefix("#")
    if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise SiaynError(f"style_mask_colors: {text!r} is not a colour like '#ff8800'")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def auto_mask(options: StylizeOptions, photo: Image.Image, *, registry: Registry) -> Image.Image:
    """The photo's foreground as found by the masker ``auto_mask`` names."""
    masker = registry.create("masker", options.auto_mask, options.auto_mask_options)
    mask = masker(photo.convert("RGB"))
    return mask.convert("L")
