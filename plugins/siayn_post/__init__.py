"""SIAYN's built-in postprocessors: ``denoise``, ``mask``, ``mask-create``, ``histogram``,
``preserve-colors`` and ``gif``; the original SIAYN's postprocessing keys, which use them;
and the maskers ``grabcut`` and ``fcn`` that find a photo's foreground for ``style_masks: auto``.

Each factory imports its implementation (OpenCV, scikit-image, torchvision) only when the
component is built, so listing plugins stays cheap.
"""

from __future__ import annotations

from siayn_core import Masker, PostprocessFormat, Postprocessor, Register, hookimpl

from .options import (
    DenoiseOptions,
    FcnOptions,
    GifOptions,
    GrabCutOptions,
    HistogramOptions,
    MaskCreateOptions,
    MaskOptions,
    PreserveColorsOptions,
)
from .original_format import OriginalFormat, OriginalPostprocessOptions


def make_denoise(options: DenoiseOptions) -> Postprocessor:
    """Build ``denoise``."""
    from .denoise import Denoise

    return Denoise(options)


def make_mask(options: MaskOptions) -> Postprocessor:
    """Build ``mask``."""
    from .masking import Mask

    return Mask(options)


def make_mask_create(options: MaskCreateOptions) -> Postprocessor:
    """Build ``mask-create``."""
    from .masking import MaskCreate

    return MaskCreate(options)


def make_histogram(options: HistogramOptions) -> Postprocessor:
    """Build ``histogram``."""
    from .colour import HistogramMatch

    return HistogramMatch(options)


def make_preserve_colors(options: PreserveColorsOptions) -> Postprocessor:
    """Build ``preserve-colors``."""
    from .colour import PreserveColors

    return PreserveColors(options)


def make_gif(options: GifOptions) -> Postprocessor:
    """Build ``gif``."""
    from .gif import Gif

    return Gif(options)


def make_original_format(options: OriginalPostprocessOptions) -> PostprocessFormat:
    """Build ``original``, the original SIAYN's postprocessing keys."""
    return OriginalFormat(options)


def make_grabcut(options: GrabCutOptions) -> Masker:
    """Build the ``grabcut`` masker."""
    from .segmentation import grabcut_mask

    return lambda image: grabcut_mask(image, margin=options.margin, iterations=options.iterations,
                                      work_size=options.work_size)


def make_fcn(options: FcnOptions) -> Masker:
    """Build the ``fcn`` masker."""
    from .segmentation import fcn_resnet101_mask

    return lambda image: fcn_resnet101_mask(image, device=options.device)


@hookimpl
def register_maskers(register: Register) -> None:
    register("grabcut", make_grabcut, description="OpenCV GrabCut from a centred rectangle; needs no weights.")
    register("fcn", make_fcn, aliases=("fcn_resnet101",),
             description="torchvision's pretrained FCN-ResNet101: every pixel not labelled background.")


@hookimpl
def register_postprocessors(register: Register) -> None:
    register("denoise", make_denoise, aliases=("nlmeans",),
             description="Non-local means noise reduction (OpenCV).")
    register("mask", make_mask,
             description="Keep the style only where a mask is white; the content shows elsewhere.")
    register("mask-create", make_mask_create, aliases=("segment",),
             description="A white-on-black foreground mask of the image (GrabCut or FCN-ResNet101).")
    register("histogram", make_histogram, aliases=("histogram-match",),
             description="Match each colour channel's histogram to a target image (scikit-image).")
    register("preserve-colors", make_preserve_colors, aliases=("original-colors", "preserve-colours"),
             description="Keep the content's colours; take only the luminance of the result.")
    register("gif", make_gif,
             description="Write a GIF of a run's saved frames (or any folder of images).")


@hookimpl
def register_postprocess_formats(register: Register) -> None:
    register("original", make_original_format,
             description="The original SIAYN's keys: use_denoise and p3..p6, use_mask, use_histogram, "
             "use_mask_creation, use_gif_creation.")
