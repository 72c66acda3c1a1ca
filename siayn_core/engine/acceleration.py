"""How the backbone runs: memory format, mixed precision on CUDA, optional torch.compile.

:func:`accelerate` wraps any feature extractor a backbone plugin returns; the losses still
receive float32 features keyed by layer name, so nothing else needs to know. channels_last
is faster for VGG on the CPU (docs/performance.md), so ``auto`` turns it on for nn.Module
extractors on the CPU and CUDA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..plugin.errors import SiaynError

#: What the ``precision`` key accepts.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the backbone runs in under autocast, or None for float32.

    ``auto`` picks bfloat16 on CUDA devices that support it and float32 everywhere else;
    reduced precision is only used on CUDA (on the CPU it is slower than float32 here, and
    on MPS autocast is incomplete), so elsewhere any choice means float32.
    """
    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise SiaynError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if device.type != "cuda" or precision == "float32":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if precision == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise SiaynError("precision 'bfloat16' is not supported by this GPU; use float16 or float32")
    return _DTYPES[precision]


class AcceleratedExtractor:
    """A feature extractor run in channels_last and/or under autocast, returning float32.

    Gram matrices and squared differences are computed by the losses in float32 from the
    features this returns: in float16 a Gram sum over a large image overflows.
    """

    def __init__(
        self,
        extractor: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
        *,
        channels_last: bool,
        dtype: torch.dtype | None,
        device: torch.device,
    ) -> None:
        self.extractor = extractor
        self.channels_last = channels_last
        self.dtype = dtype
        self.device = device

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        context = (
            torch.autocast(device_type=self.device.type, dtype=self.dtype)
            if self.dtype is not None
            else contextlib.nullcontext()
        )
        with context:
            features = self.extractor(image)
        return {
            name: value.float() if value.dtype != torch.float32 else value for name, value in features.items()
        }

    def __getattr__(self, name: str) -> Any:
        # Anything else (layers, mean, ...) is the wrapped extractor's.
        return getattr(self.__dict__["extractor"], name)


def use_channels_last(setting: bool | None, extractor: object, device: torch.device) -> bool:
    """Whether to run ``extractor`` in channels_last: ``setting``, or with None (auto) for
    nn.Module extractors on the CPU and CUDA (not MPS, where it is not reliably faster)."""
    if setting is not None:
        return bool(setting) and isinstance(extractor, torch.nn.Module)
    return isinstance(extractor, torch.nn.Module) and device.type in ("cpu", "cuda")


def accelerate(
    extractor: Any,
    device: torch.device,
    *,
    channels_last: bool | None = None,
    precision: str = "auto",
    compile: bool = False,
) -> Any:
    """``extractor`` prepared to run fast on ``device``.

    :param channels_last: NHWC memory format for the network and its input; None: auto.
    :param precision: ``auto``, ``float32``, ``bfloat16`` or ``float16`` (CUDA only).
    :param compile: wrap an nn.Module's forward with ``torch.compile`` (each new image size
        compiles again, so it pays off only for long runs; off by default).
    """
    dtype = autocast_dtype(precision, device)
    last = use_channels_last(channels_last, extractor, device)
    if last:
        extractor = extractor.to(memory_format=torch.channels_last)
    if compile and isinstance(extractor, torch.nn.Module):
        try:
            extractor = torch.compile(extractor, dynamic=False)
        except Exception as error:  # pragma: no cover - depends on the platform's compiler
            raise SiaynError(f"torch.compile is not available here ({error}); set compile: false") from None
    if not last and dtype is None and extractor is not None and not compile:
        return extractor
    return AcceleratedExtractor(extractor, channels_last=last, dtype=dtype, device=device)
