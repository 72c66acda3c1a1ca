"""The library call for notebooks and scripts: one function, images in, a PIL image out.

    >>> from siayn_core import stylize
    >>> image = stylize("photo.jpg", "starry.jpg", size=512, num_steps=300)

Every :class:`~siayn_core.config.schema.StylizeOptions` key is a keyword argument, checked as a
config file's keys are. Tools that need the losses or the run's record call
:func:`siayn_core.engine.loop.stylize` instead.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

from PIL import Image

from .config.build import build_options
from .io.images import read_image, to_pil

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
    from .config.components import check_components
    from .config.loader import side_images
    from .engine.loop import stylize as run_engine

    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    where = "stylize()"
    run_options = build_options({**options, "style": [_label(item) for item in styles]}, where=where)
    registry = default_registry() if registry is None else registry
    check_components(run_options, registry, where=where)
    side = side_images(run_options, (), where=where)
    result = run_engine(
        _open(content),
        [_open(item) for item in styles],
        run_options,
        registry=registry,
        device=device,
        callback=callback,
        masks=[_open(path) for path in side["masks"]],
        content_mask=_open(side["content_mask"]) if side["content_mask"] else None,
        fine_style=_open(side["fine_style"]) if side["fine_style"] else None,
    )
    return to_pil(result.image)


def _open(image: ImageInput) -> Image.Image:
    return image.convert("RGB") if isinstance(image, Image.Image) else read_image(os.fspath(image))


def _label(image: ImageInput) -> str:
    """What ``run.json`` and messages call an image: its path, or ``<image>`` for a PIL one."""
    return "<image>" if isinstance(image, Image.Image) else os.fspath(image)
