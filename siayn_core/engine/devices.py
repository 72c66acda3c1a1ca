"""The devices a run can use: one list of names, and one place that turns a name into a device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    import torch

#: What ``--device`` accepts; ``auto`` picks cuda, then mps, then cpu.
DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; an unavailable device is a SiaynError."""
    import torch

    name = (name or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps and mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available else "cpu"
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise SiaynError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise SiaynError("device 'cuda' requested but CUDA is not available; use --device auto or cpu")
    if kind == "mps" and not mps_available:
        raise SiaynError("device 'mps' requested but MPS is not available; use --device auto or cpu")
    return torch.device(name)
