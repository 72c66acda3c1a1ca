"""The one resolver: settings, from wherever they come, into a :class:`~siayn_core.config.schema.RunSpec`.

A YAML run with ``--set``, ``siayn stylize CONTENT STYLE``, the library call's keywords, the
GUI's form, a video's frame options, a batch job and a resumed run all go through
:func:`resolve_run`: the options are validated once, every image is decoded once (an
:class:`ImageReader` shared by the runs of one command decodes a file the first time it is
named), the output size is computed once and checked against the pixel limit and the
machine's memory, and the components are checked against the registry without building them.
Nothing heavy (no weights) runs here, so a bad setting is refused before any work.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io.images import max_image_pixels, output_size, read_image
from ..io.resources import examples_dir
from ..plugin.errors import SiaynError
from .build import build_options
from .files import expand_user, resolve_file
from .schema import RunPictures, RunSpec, StylizeOptions

if TYPE_CHECKING:
    from PIL import Image

    from ..host.registry import Registry

#: Bytes per output pixel that the last stage holds at once at least: the optimized image,
#: its upsampled and detail copies in float32 RGB, and the 8-bit result.
BYTES_PER_OUTPUT_PIXEL = 4 * 3 * 4 + 3


class ImageReader:
    """Decodes each image file once for the runs of one command (or one GUI session).

    Pictures that come already decoded (a PIL image given to :func:`siayn_core.stylize`, a
    clip's frame) are :meth:`supply`-ed under a name of their own.
    """

    def __init__(self) -> None:
        self._decoded: dict[Path, Image.Image] = {}
        self._lock = threading.Lock()

    def supply(self, name: Path, image: Image.Image) -> None:
        """Make ``image`` the picture of ``name`` (a path or a label such as ``<image 1>``)."""
        with self._lock:
            self._decoded[name] = image.convert("RGB") if image.mode != "RGB" else image

    def supplied(self, name: str | os.PathLike[str]) -> bool:
        """Whether ``name`` is a picture given already decoded."""
        return Path(name) in self._decoded

    def read(self, path: Path) -> Image.Image:
        """The decoded picture of ``path``, read from disk the first time only."""
        key = path if path in self._decoded else path.resolve()
        with self._lock:
            image = self._decoded.get(key)
        if image is None:
            image = read_image(path)
            with self._lock:
                image = self._decoded.setdefault(key, image)
        return image


def resolve_run(
    name: str,
    settings: Mapping[str, Any],
    *,
    where: str,
    registry: Registry | None,
    reader: ImageReader,
    config_file: Path | None = None,
    from_command_line: Collection[str] = (),
    size_cap: int | None = None,
    defer_unreadable: bool = False,
) -> RunSpec:
    """One run's ``settings`` as a validated :class:`RunSpec` with its pictures decoded.

    :param where: how messages name the run (``run 'test1' in runs.yaml``, ``the form``).
    :param registry: when given, the components are checked against it (nothing is built).
    :param reader: decodes each file once across the runs of a command.
    :param config_file: the YAML file the settings came from: image names are then looked up
        in its ``content_dir``/``style_dir``, next to it, and among the bundled images.
    :param from_command_line: the keys ``--set`` replaced (they win over the recipe).
    :param size_cap: the longest side the output may have when the photo came from the
        command line and no size was asked for.
    :param defer_unreadable: a picture that cannot be decoded leaves the run without
        pictures, to fail when it runs (:func:`with_pictures`) instead of now: a batch's broken
        file fails its own run only.
    :raises SiaynError: naming the key, the run and the file; for an output past the pixel
        limit or the machine's memory, before any work.
    """
    options = build_options(settings, where=where, from_command_line=from_command_line)
    content_dirs: list[Path] = []
    style_dirs: list[Path] = []
    if config_file is not None:
        base = config_file.resolve().parent
        content_dirs = [base / options.content_dir, base, examples_dir()]
        style_dirs = [base / options.style_dir, base, examples_dir()]

    def find(value: str, directories: Sequence[Path], what: str) -> Path:
        if reader.supplied(value):
            return Path(value)
        return resolve_file(value, directories, what=f"{what} of {where}")

    content_path = find(options.content, content_dirs, "content image")
    style_paths = tuple(find(style, style_dirs, "style image") for style in options.style)
    side_dirs = [*style_dirs, *content_dirs]
    mask_names = [] if options.style_masks in (None, ["auto"]) else options.style_masks
    mask_paths = tuple(find(mask, side_dirs, "style mask") for mask in mask_names)
    content_mask = find(options.content_mask, side_dirs, "content mask") if options.content_mask else None
    fine_style = find(options.fine_style, side_dirs, "fine style image") if options.fine_style else None

    pictures: RunPictures | None = None
    try:
        pictures = decode_pictures(reader, content_path, style_paths, mask_paths, content_mask, fine_style)
    except SiaynError:
        if not defer_unreadable:
            raise
    capped = False
    size = (0, 0)
    if pictures is not None:
        capped = size_cap is not None and max(pictures.content.size) > size_cap
        if capped:
            options = dataclasses.replace(options, size=size_cap)
        size = checked_output_size(pictures.content.size, options, where=where)
    if registry is not None:
        from .components import check_components

        check_components(options, registry, where=where)
    return RunSpec(
        name=name,
        options=options,
        content=content_path,
        styles=style_paths,
        source=config_file,
        capped=capped,
        masks=mask_paths,
        content_mask=content_mask,
        fine_style=fine_style,
        size=size,
        pictures=pictures,
    )


def decode_pictures(
    reader: ImageReader,
    content: Path,
    styles: Sequence[Path],
    masks: Sequence[Path] = (),
    content_mask: Path | None = None,
    fine_style: Path | None = None,
) -> RunPictures:
    """The pictures of a run's files, each decoded by ``reader``."""
    return RunPictures(
        content=reader.read(content),
        styles=tuple(reader.read(path) for path in styles),
        masks=tuple(reader.read(path) for path in masks),
        content_mask=reader.read(content_mask) if content_mask else None,
        fine_style=reader.read(fine_style) if fine_style else None,
    )


def with_pictures(spec: RunSpec) -> RunSpec:
    """``spec`` with its pictures: as resolved, or for a run resolved with
    ``defer_unreadable``, its files decoded now and its output size checked (raising
    SiaynError for a broken file)."""
    if spec.pictures is not None:
        return spec
    pictures = decode_pictures(ImageReader(), spec.content, spec.styles, spec.masks, spec.content_mask,
                               spec.fine_style)
    size = checked_output_size(pictures.content.size, spec.options, where=spec.where)
    return dataclasses.replace(spec, pictures=pictures, size=size)


def checked_output_size(photo_size: tuple[int, int], options: StylizeOptions, *, where: str) -> tuple[int, int]:
    """The output size ``options`` give a photo of ``photo_size``, refused by
    :func:`check_output_size` when it cannot run."""
    size = output_size(photo_size, longer_side=options.size, scale=options.scaler)
    check_output_size(size, where=where)
    return size


def check_output_size(size: tuple[int, int], *, where: str) -> None:
    """Refuse an output of ``size`` that is past the pixel limit (``--max-pixels``) or that
    could not be held in this machine's memory, before any weights are loaded."""
    width, height = size
    pixels = width * height
    limit = max_image_pixels()
    if pixels > limit:
        raise SiaynError(
            f"{where}: a {width}x{height} px output is {pixels:,} pixels, above the limit of {limit:,} "
            "(choose a smaller size, or raise the limit with --max-pixels N / SIAYN_MAX_IMAGE_PIXELS)"
        )
    memory = physical_memory()
    needed = pixels * BYTES_PER_OUTPUT_PIXEL
    if memory is not None and needed > memory:
        raise SiaynError(
            f"{where}: a {width}x{height} px output needs at least {needed / 2**30:.1f} GiB of memory, "
            f"more than this machine's {memory / 2**30:.1f} GiB: choose a smaller size"
        )


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, where the system says it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None

