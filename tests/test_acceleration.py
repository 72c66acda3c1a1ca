"""How the backbone runs: memory format, precision, and the heap padding of the C library."""

from __future__ import annotations

import platform
import sys

import pytest
import torch

from siayn_core import SiaynError
from siayn_core.engine.acceleration import accelerate, autocast_dtype, pad_heap_growth, use_channels_last


def test_reduced_precision_is_for_cuda_only() -> None:
    cpu = torch.device("cpu")
    assert all(autocast_dtype(name, cpu) is None for name in ("auto", "float32", "bfloat16", "float16"))
    with pytest.raises(SiaynError, match="unknown precision"):
        autocast_dtype("float8", cpu)


def test_channels_last_is_automatic_for_modules_on_the_cpu() -> None:
    module, cpu = torch.nn.Conv2d(3, 4, 3), torch.device("cpu")
    assert use_channels_last(None, module, cpu) and not use_channels_last(False, module, cpu)
    assert not use_channels_last(None, lambda image: {}, cpu)  # not a module: left as it is

    class Extractor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"conv": self.conv(image)}

    wrapped = accelerate(Extractor(), cpu)
    features = wrapped(torch.rand(1, 3, 8, 8))
    assert wrapped.channels_last and features["conv"].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs Linux with glibc"
)
def test_the_heap_is_padded_once_on_glibc() -> None:
    assert pad_heap_growth() is True
    assert pad_heap_growth() is True  # cached: the setting is made once per process
