"""The engine: the objective over one backbone pass, the optimization loop, multi-scale
stages, tiles, guides, colour control and the temporal term. No files, no CLI.

``stylize`` is imported on first use, so that the light modules of this package load without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["stylize"]


def __getattr__(name: str) -> Any:
    if name == "stylize":
        from .painter import stylize

        return stylize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
