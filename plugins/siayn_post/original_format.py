"""The original SIAYN's postprocessing keys (``use_denoise``, ``p3``..``p6``, ``use_mask``...),
each switch turned into a job for one of this package's postprocessors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siayn_core import PostprocessJob, PostprocessRequest, option


@dataclass(frozen=True)
class OriginalPostprocessOptions:
    """One run of the original SIAYN's postprocessing config."""

    use_denoise: bool = option(False, help="denoise 'img_path' with OpenCV non-local means")
    p3: int | None = option(None, help="denoise: template patch size in pixels (empty: 7)", minimum=1)
    p4: int | None = option(None, help="denoise: search window size in pixels (empty: 21)", minimum=1)
    p5: float | None = option(None, help="denoise: filter strength for luminance (empty: 7)", minimum=0)
    p6: float | None = option(None, help="denoise: filter strength for colour (empty: 15)", minimum=0)
    img_path: str | None = option(None, help="denoise: the image to denoise")
    use_mask: bool = option(False, help="keep the style of 'styled' only where 'mask' is white")
    mask: str | None = option(
        None, help="mask: mask image, white = styled (empty: made from 'content' with GrabCut)"
    )
    content: str | None = option(None, help="mask: the content image 'styled' was made from")
    styled: str | None = option(None, help="mask: the stylized image")
    use_histogram: bool = option(False, help="match the colour histogram of 'source' to 'target'")
    source: str | None = option(None, help="histogram: the image to recolour")
    target: str | None = option(None, help="histogram: the image whose histogram to match")
    use_mask_creation: bool = option(False, help="make a foreground mask of 'p_image' (GrabCut)")
    p_image: str | None = option(None, help="mask creation: the image to segment")
    scaler: float | None = option(
        None, help="mask creation: scale factor of the image and mask (empty: 1)", minimum=0.01
    )
    use_gif_creation: bool = option(False, help="make a GIF of the images in folder 'path'")
    path: str | None = option(None, help="gif: the folder of frames; the GIF is written there")
    out_name: str | None = option(None, help="gif: file name without '.gif' (empty: transformation)")
    fps: float | None = option(None, help="gif: frames per second (empty: 5)", minimum=0.1)


class OriginalFormat:
    """The jobs a run of the original format switches on, in the original's order."""

    def __init__(self, options: OriginalPostprocessOptions) -> None:
        self.options = options

    def __call__(self, request: PostprocessRequest) -> list[PostprocessJob]:
        o = self.options
        jobs = []
        if o.use_denoise:
            image = request.require("img_path", o.img_path, what="image to denoise")
            step = {"name": "denoise", **_given(template_window=o.p3, search_window=o.p4,
                                                strength=o.p5, color_strength=o.p6)}
            jobs.append(request.job(image, [step]))
        if o.use_mask:
            mask = request.optional("mask", o.mask, what="mask image")
            content = request.require("content", o.content, what="content image")
            styled = request.require("styled", o.styled, what="stylized image")
            jobs.append(request.job(styled, [{"name": "mask", **_given(mask=mask and str(mask))}], content=content))
        if o.use_histogram:
            source = request.require("source", o.source, what="image to recolour")
            target = request.require("target", o.target, what="histogram target image")
            jobs.append(request.job(source, [{"name": "histogram", "target": str(target)}]))
        if o.use_mask_creation:
            image = request.require("p_image", o.p_image, what="image to segment")
            jobs.append(request.job(image, [{"name": "mask-create", **_given(scaler=o.scaler)}]))
        if o.use_gif_creation:
            folder = request.require("path", o.path, what="folder of frames")
            step = {"name": "gif", "frames": str(folder), **_given(out_name=o.out_name, fps=o.fps)}
            jobs.append(request.job(folder, [step]))
        return jobs


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
