"""JSON files: the one way the core writes its records (``run.json``, ``batch.json``, a
shot's record), indented and ending in a newline, atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .images import write_text


def write_json(data: Any, target: str | os.PathLike[str]) -> Path:
    """Write ``data`` as indented JSON (UTF-8, one newline at the end) atomically: a reader
    sees the old file or the new one, never half of one."""
    return write_text(json.dumps(data, indent=2) + "\n", target)
