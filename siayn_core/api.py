"""The library call for notebooks and scripts: one function, images in, a PIL image out.

    >>> from siayn_core import stylize
    >>> image = stylize("photo.jpg", "starry.jpg", size=512, num_steps=300)

Every :class:`~siayn_core.config.schema.StylizeOptions` key is a keyword argument, checked as a
config file's keys are. Tools that need the losses or the run's record call
:func:`siayn_core.engine.painter.stylize` instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from PIL import Image

from .io.images import to_pil

if TYPE_CHECKING:
    from .engine.loop import Callback
    from .host.registry import Registry

#: A picture given to :func:`stylize`: a file path or a PIL image.
ImageInput = Union[str, "os.PathLike[str]", Image.Image]


@functools.lru_cache(maxsize=None)
def default_registry() -> Registry:
    """The registry of every installed plugin, loaded on the first call and kept."""
    from .host.plugins import load_plugins

    return load_plugins().registry


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    *,
    callback: Callback | None = None,
    device: str = "auto",
    registry: Registry | None = None,
    **options: Any,
) -> Image.Image:
    """Paint ``content`` in the style of ``style`` and return the result.

    :param content: the photo, as a path or a PIL image.
    :param style: one style image, or a list of them (blended by ``style_weight``).
    :param callback: called after every step with an :class:`~siayn_core.engine.loop.Iterate`;
        returning True stops the run and keeps the current image.
    :param device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
    :param registry: where components are looked up (default: every installed plugin).
    :param options: any :class:`~siayn_core.config.schema.StylizeOptions` key, e.g. ``size=512``,
        ``num_steps=300``, ``backbone="vgg19"``, ``style_weight=1e6``; files (``style_masks``,
        ``content_mask``, ``fine_style``) as paths.
    :raises SiaynError: for an unknown key, a bad value or an unreadable image.
    """
    from .config.resolve import ImageReader, resolve_run
    from .engine.painter import stylize as run_engine

    reader = ImageReader()
    items = list(style) if isinstance(style, (list, tuple)) else [style]
    settings = {**options, "content": _name(content, "<content image>", reader),
                "style": [_name(item, f"<style image {number}>", reader) for number, item in enumerate(items, 1)]}
    registry = default_registry() if registry is None else registry
    spec = resolve_run("stylize()", settings, where="stylize()", registry=registry, reader=reader)
    pictures = spec.pictures
    assert pictures is not None
    result = run_engine(
        pictures.content,
        pictures.styles,
        spec.options,
        registry=registry,
        device=device,
        callback=callback,
        masks=pictures.masks,
        content_mask=pictures.content_mask,
        fine_style=pictures.fine_style,
    )
    return to_pil(result.image)


def _name(image: ImageInput, label: str, reader: ImageReader) -> str:
    """What the run calls a picture: its path, or ``label`` for a PIL image (handed to ``reader``)."""
    if isinstance(image, Image.Image):
        reader.supply(Path(label), image)
        return label
    return os.fspath(image)
