"""A SIAYN plugin that adds the ``sepia`` postprocessor, and ``use_sepia``/``sepia_image`` keys
to ``siayn postprocess`` configs."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

from siayn_core import PostprocessContext, PostprocessJob, PostprocessRequest, hookimpl, option


@dataclass(frozen=True)
class SepiaOptions:
    """Options of the ``sepia`` postprocessor."""

    strength: float = option(1.0, help="0 keeps the image, 1 is fully sepia-toned", minimum=0.0, maximum=1.0)


class Sepia:
    """Tone an image in warm browns, blended with the original by ``strength``."""

    def __init__(self, options: SepiaOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        toned = ImageOps.colorize(ImageOps.grayscale(image), black="#2b1d0e", white="#fff3dc")
        return Image.blend(image.convert("RGB"), toned, self.options.strength)


@hookimpl
def register_postprocessors(register):
    register("sepia", Sepia, aliases=("old-photo",), description="Warm brown tones, like an old photograph.")


@dataclass(frozen=True)
class SepiaKeys:
    """The keys this plugin adds to ``siayn postprocess`` configs."""

    use_sepia: bool = option(False, help="tone 'sepia_image' brown")
    sepia_image: str | None = option(None, help="the image to tone")


class SepiaFormat:
    """A ``sepia`` job for each run that sets ``use_sepia``."""

    def __init__(self, options: SepiaKeys) -> None:
        self.options = options

    def __call__(self, request: PostprocessRequest) -> list[PostprocessJob]:
        if not self.options.use_sepia:
            return []
        image = request.require("sepia_image", self.options.sepia_image, what="image to tone")
        return [request.job(image, ["sepia"])]


@hookimpl
def register_postprocess_formats(register):
    register("sepia-keys", SepiaFormat, description="use_sepia and sepia_image.")
