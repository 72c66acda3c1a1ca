"""How the backbone runs: memory format, mixed precision, optional torch.compile.

:func:`accelerate` wraps any feature extractor a backbone plugin returns; the losses still
receive float32 features keyed by layer name, so nothing else needs to know. channels_last
is faster for VGG on the CPU (docs/performance.md), so ``auto`` turns it on for nn.Module
extractors on the CPU and CUDA. ``precision: auto`` runs the backbone under bfloat16
autocast on CUDA devices that support it and on CPUs that compute bfloat16 natively
(:func:`cpu_computes_bfloat16`), float32 elsewhere; there its convolutions keep bfloat16
weights and compute their ReLUs as they write (:mod:`.fusion`), and the first one reads the
image at float32 precision (:mod:`.image_precision`).
"""

from __future__ import annotations

import contextlib
import functools
from copy import deepcopy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from ..plugin.errors import SiaynError
from .fusion import fuse_convolutions_with_relus
from .image_precision import read_image_in_full

#: What the ``precision`` key accepts.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_computes_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX tiles) and torch's
    oneDNN backend, which runs the backbone's convolutions in bfloat16, is there to use it.

    Elsewhere bfloat16 on the CPU is emulated with float32 arithmetic and conversions, which
    makes it slower than float32. The answer is the hardware's, asked once per process.
    """
    # torch asks the CPU only through private functions: a torch without them counts as no.
    checks = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    native = any(check() for check in checks if check is not None)
    return native and torch.backends.mkldnn.is_available()


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype the backbone runs in under autocast, or None for float32.

    ``auto`` picks bfloat16 on CUDA devices that support it and on CPUs that compute it
    natively (:func:`cpu_computes_bfloat16`), float32 everywhere else. ``bfloat16`` runs
    bfloat16 on any CPU (slowly where it is emulated); ``float16`` is for CUDA only, and on
    MPS, where autocast is incomplete, every choice means float32.
    """
    precision = (precision or "auto").lower()
    if precision not in PRECISIONS:
        raise SiaynError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "float32":
        return None
    if device.type == "cpu":
        if precision == "bfloat16" or (precision == "auto" and cpu_computes_bfloat16()):
            return torch.bfloat16
        return None
    if device.type != "cuda":
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if precision == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise SiaynError("precision 'bfloat16' is not supported by this GPU; use float16 or float32")
    return _DTYPES[precision]


def precision_name(dtype: torch.dtype | None) -> str:
    """``"bfloat16"``, ``"float16"`` or, for None (no autocast), ``"float32"``."""
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


class AcceleratedExtractor:
    """A feature extractor run in channels_last and/or under autocast, returning float32.

    Squared differences are computed by the losses in float32 from the features this returns:
    in float16 a Gram sum over a large image overflows. Only ``bfloat16_layers``, which every
    loss reading them takes in bfloat16 (:func:`bfloat16_layers`), stay in bfloat16.
    """

    def __init__(
        self,
        extractor: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
        *,
        channels_last: bool,
        dtype: torch.dtype | None,
        device: torch.device,
        bfloat16_layers: frozenset[str] = frozenset(),
    ) -> None:
        self.extractor = extractor
        self.channels_last = channels_last
        self.dtype = dtype
        self.device = device
        self.bfloat16_layers = bfloat16_layers

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
            name: value if value.dtype == torch.float32 or name in self.bfloat16_layers else value.float()
            for name, value in features.items()
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
    bfloat16_layers: frozenset[str] = frozenset(),
) -> Any:
    """``extractor`` prepared to run fast on ``device``.

    :param channels_last: NHWC memory format for the network and its input; None: auto.
    :param precision: ``auto``, ``float32``, ``bfloat16`` or ``float16`` (CUDA only): see
        :func:`autocast_dtype`.
    :param compile: wrap an nn.Module's forward with ``torch.compile`` (each new image size
        compiles again, so it pays off only for long runs; off by default).
    :param bfloat16_layers: layers whose features stay in bfloat16 when the backbone runs in
        it (:func:`bfloat16_layers`); every other layer's features are float32.
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
    kept = bfloat16_layers if dtype == torch.bfloat16 else frozenset()
    if dtype is not None and isinstance(extractor, torch.nn.Module) and not compile:
        extractor = with_weights_in(extractor, dtype)
        if dtype == torch.bfloat16 and device.type == "cpu" and cpu_computes_bfloat16():
            fuse_convolutions_with_relus(extractor)
        read_image_in_full(extractor, dtype)
    return AcceleratedExtractor(extractor, channels_last=last, dtype=dtype, device=device, bfloat16_layers=kept)


#: The layers whose every weight autocast casts to its lower precision before use.
_AUTOCAST_WEIGHTED = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)


def with_weights_in(extractor: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of ``extractor`` whose convolutions and linear layers hold their weights in
    ``dtype``: autocast would cast them to it at every forward, each time anew (frozen weights
    are not in its cache), which is what they compute with either way.

    Only those exact classes are cast; a subclass may use its weights in other ways. The
    backbone's own modules, which other runs share, stay as they are.
    """
    copy = deepcopy(extractor)
    for module in copy.modules():
        if type(module) in _AUTOCAST_WEIGHTED:
            module.to(dtype)
    return copy


def bfloat16_layers(readers: Mapping[str, Iterable[object]]) -> frozenset[str]:
    """The layers whose every reader, of the losses in ``readers`` (``{layer: losses}``),
    declares ``takes_bfloat16 = True``: those losses compute from bfloat16 features
    themselves (the Gram loss's products run there at several times float32's speed), so
    casting the features to float32 and their gradients back would be wasted passes."""
    return frozenset(layer for layer, losses in readers.items()
                     if all(getattr(loss, "takes_bfloat16", False) for loss in losses))


def backbone_precision(extractor: Any) -> str:
    """The precision ``extractor`` (as :func:`accelerate` returned it) runs the backbone in."""
    return precision_name(extractor.dtype if isinstance(extractor, AcceleratedExtractor) else None)
