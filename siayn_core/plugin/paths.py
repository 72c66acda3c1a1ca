"""Paths as users write them: ``~`` expanded, and a file a config or option names looked
up in the working directory, then in search folders.

The plugin API resolves files this way (:meth:`PostprocessContext.find`, option values
of type ``Path``), and so do the config readers above it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .errors import SiaynError


def resolve_file(value: str | os.PathLike[str], search_dirs: Sequence[Path], *, what: str) -> Path:
    """Find a file named in a config: as a path (absolute, or relative to the working
    directory), else inside each of ``search_dirs`` in order."""
    candidate = expand_user(value)
    if _exists(candidate):
        return candidate
    if not candidate.is_absolute():
        for directory in search_dirs:
            if _exists(directory / candidate):
                return directory / candidate
    places = ", ".join(str(d) for d in search_dirs) or "the working directory"
    raise SiaynError(f"{what} not found: {value!s} (looked in the working directory and {places})")


def expand_user(path: str | os.PathLike[str]) -> Path:
    """``Path(path).expanduser()``, or the path as written when ``~user`` names no one."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        return Path(path)


def _exists(path: Path) -> bool:
    """``path.exists()``, False where the name cannot even be looked up (too long, say)."""
    try:
        return path.exists()
    except OSError:
        return False
