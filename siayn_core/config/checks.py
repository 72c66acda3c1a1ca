"""Checks a command makes before it writes or runs anything: that the output folder can be
written, that every input image opens, and the pixel limit for this command."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .files import expand_user
from ..plugin.errors import SiaynError
from ..io.images import command_pixel_limit, read_image


def check_writable_dir(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Raise SiaynError unless ``path`` is, or can be created as, a writable folder.

    Nothing is created: the nearest existing ancestor is checked instead, so a command can
    fail before it leaves an empty folder behind.
    """
    path = expand_user(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        detail = "is a file" if existing == path else f"cannot be created: {existing} is a file, not a folder"
        raise SiaynError(f"cannot write to {what} {path}: {detail}")
    if not os.access(existing, os.W_OK | os.X_OK):
        detail = "is not writable" if existing == path else f"cannot be created: {existing} is not writable"
        raise SiaynError(f"cannot write to {what} {path}: {detail} (permission denied or read-only)")
    return path


def check_images(paths: Iterable[Path]) -> None:
    """Open every image once, so a broken file in the last run is reported before the first
    run starts."""
    for path in dict.fromkeys(paths):
        read_image(path)


@contextmanager
def pixel_limit(limit: int | None) -> Iterator[None]:
    """Within the block, :func:`~siayn_core.io.images.read_image` accepts images of up to
    ``limit`` pixels (``--max-pixels``) in this thread; None keeps the current limit.

    The limit lives in a context variable, not the environment, so threads running other
    commands (the GUI's sessions) keep their own."""
    if limit is None:
        yield
        return
    if limit <= 0:
        raise SiaynError(f"--max-pixels must be a positive number of pixels, got {limit}")
    token = command_pixel_limit.set(limit)
    try:
        yield
    finally:
        command_pixel_limit.reset(token)
