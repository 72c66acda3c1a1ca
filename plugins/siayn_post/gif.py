"""``gif``: an animation of a folder of frames; its product is a file."""

from __future__ import annotations

from PIL import Image, ImageChops

from siayn_core import PostprocessContext, SiaynError, atomic_path, image_files, read_image, unique_path

from .options import GifOptions

#: Frames per second of a GIF of frames that are not a clip's (a run's progress).
DEFAULT_FPS = 5.0


class Gif:
    """Write ``<output_dir>/<out_name>.gif`` from the images of a folder in natural order.

    The image being postprocessed (a run's result) ends the animation when it differs from
    the last frame, and passes through unchanged: this step makes a file, not an image.
    """

    def __init__(self, options: GifOptions) -> None:
        self.options = options

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        o = self.options
        if "/" in o.out_name or "\\" in o.out_name or not o.out_name.strip():
            raise SiaynError(f"gif option 'out_name' must be a plain file name, got {o.out_name!r}")
        if o.frames:
            folder = context.find(o.frames, what="frames folder")
        elif context.run_dir is not None:
            folder = context.run_dir / "frames"
        else:
            raise SiaynError("postprocessor 'gif' needs option 'frames' (a folder of images)")
        files = image_files(folder)
        if not files:
            raise SiaynError(f"no images to animate in {folder}")
        frames = [read_image(path) for path in files]
        if not same_image(frames[-1], image):
            frames.append(image.convert("RGB"))
        size = frames[0].size
        if o.max_size is not None and max(size) > o.max_size:
            ratio = o.max_size / max(size)
            size = (max(1, round(size[0] * ratio)), max(1, round(size[1] * ratio)))
        frames = [f if f.size == size else f.resize(size, Image.Resampling.LANCZOS) for f in frames]
        output_dir = context.output_dir or folder
        target = unique_path(output_dir / f"{o.out_name}.gif")
        extra = {} if o.loop is None else {"loop": o.loop}
        with atomic_path(target) as temporary:
            frames[0].save(
                temporary, format="GIF", save_all=True, append_images=frames[1:],
                duration=round(1000.0 / (o.fps or context.frame_rate or DEFAULT_FPS)), **extra,
            )
        context.files.append(target)
        return image


def same_image(a: Image.Image, b: Image.Image) -> bool:
    """Whether two images have the same size and RGB pixels."""
    a, b = a.convert("RGB"), b.convert("RGB")
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None
