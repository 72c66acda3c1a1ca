"""The options of every built-in postprocessor (plain dataclasses: cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from siayn_core import option


@dataclass(frozen=True)
class DenoiseOptions:
    """Options of ``denoise`` (OpenCV non-local means). The original SIAYN's p3..p6, by name."""

    template_window: int = option(
        7, help="size in pixels of the patch compared to weigh neighbours (the original SIAYN's p3); odd sizes are exact",
        minimum=1, maximum=99,
    )
    search_window: int = option(
        21, help="size in pixels of the window searched for similar patches (the original SIAYN's p4); time grows with it",
        minimum=1, maximum=199,
    )
    strength: float = option(
        7.0, help="filter strength for luminance (the original SIAYN's p5): higher removes more noise and more detail",
        minimum=0.0,
    )
    color_strength: float = option(
        15.0, help="filter strength for colour (the original SIAYN's p6); unused on a grayscale image", minimum=0.0,
    )


@dataclass(frozen=True)
class MaskOptions:
    """Options of ``mask``: keep the style only where the mask is white."""

    mask: str | None = option(
        None,
        help="mask image, white = styled, black = original content (grey blends); empty: make one "
        "from the content image with GrabCut",
    )
    feather: float = option(
        0.0, help="blur radius in pixels that softens the mask's edge (0: hard edge)", minimum=0.0,
    )
    invert: bool = option(False, help="swap the roles: style where the mask is black")


@dataclass(frozen=True)
class MaskCreateOptions:
    """Options of ``mask-create``: a white-on-black foreground mask of an image."""

    method: Literal["grabcut", "fcn_resnet101"] = option(
        "grabcut",
        help="'grabcut': OpenCV GrabCut from a centred rectangle, needs no weights; 'fcn_resnet101': "
        "torchvision's pretrained segmentation (weights cached or downloaded once)",
    )
    scaler: float = option(
        1.0, help="scale factor of the image before segmentation; the mask has the scaled size",
        minimum=0.01, maximum=8.0,
    )
    margin: float = option(
        0.05, help="grabcut: fraction of each side outside the centred rectangle (certain background)",
        minimum=0.0, maximum=0.45,
    )
    iterations: int = option(5, help="grabcut: number of GrabCut iterations", minimum=1, maximum=50)
    work_size: int = option(
        320, help="grabcut: longest side in pixels GrabCut works at (its time grows fast with size); "
        "the mask is scaled back up; 0: full size", minimum=0,
    )
    device: str = option("auto", help="fcn_resnet101: 'auto', 'cpu', 'cuda' or 'mps'")


@dataclass(frozen=True)
class GrabCutOptions:
    """Options of the ``grabcut`` masker (the foreground for ``style_masks: auto``)."""

    margin: float = option(
        0.05, help="fraction of each side outside the centred rectangle (certain background)", minimum=0.0, maximum=0.45
    )
    iterations: int = option(5, help="number of GrabCut iterations", minimum=1, maximum=50)
    work_size: int = option(
        320, help="longest side in pixels GrabCut works at (its time grows fast with size); 0: full size", minimum=0
    )


@dataclass(frozen=True)
class FcnOptions:
    """Options of the ``fcn`` masker: torchvision's FCN-ResNet101, every pixel not labelled background."""

    device: str = option("auto", help="'auto', 'cpu', 'cuda' or 'mps'")


@dataclass(frozen=True)
class HistogramOptions:
    """Options of ``histogram``: match each colour channel's histogram to a target image."""

    target: str | None = option(
        None, help="image whose colour histogram to match; empty: the run's first style image",
    )


@dataclass(frozen=True)
class PreserveColorsOptions:
    """Options of ``preserve-colors``: luminance from the result, colours from the content."""

    colorspace: Literal["ycbcr", "lab"] = option(
        "ycbcr", help="where luminance and chroma are split: 'ycbcr' (as neural-style's -original_colors) "
        "or 'lab' (CIE L*a*b*)",
    )


@dataclass(frozen=True)
class GifOptions:
    """Options of ``gif``: an animation of a run's saved frames or of any folder of images."""

    frames: str | None = option(
        None, help="folder of images, sorted naturally (frame2 before frame10); empty: the run's frames/ folder",
    )
    out_name: str = option("transformation", help="file name of the GIF, without '.gif'")
    fps: float | None = option(None, help="frames per second; empty: the clip's frame rate for a siayn video "
                               "clip, else 5", minimum=0.1, maximum=100.0)
    loop: int | None = option(
        0, help="0: loop forever; N: repeat N more times; empty: play once", minimum=0,
    )
    max_size: int | None = option(
        None, help="largest width or height in pixels, keeping the aspect ratio; empty: frames' own size",
        minimum=8,
    )
