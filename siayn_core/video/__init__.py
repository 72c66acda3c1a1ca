"""Stylized clips without flicker: shots, optical flow, the clip's options and its run.

``stylize_clip`` is imported on first use, so that the light modules of this package load without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["stylize_clip"]


def __getattr__(name: str) -> Any:
    if name == "stylize_clip":
        from .clip import stylize_clip

        return stylize_clip
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
