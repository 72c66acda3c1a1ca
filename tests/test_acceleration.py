"""How the backbone runs: memory format, precision; and the heap padding of the C library, which
only the command line makes."""

from __future__ import annotations

import os
import platform
import sys

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from siayn_core import SiaynError, stylize
from siayn_core.cli import heap, main
from siayn_core.cli.heap import pad_heap_growth
from siayn_core.engine.acceleration import accelerate, autocast_dtype, use_channels_last


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


@pytest.fixture
def heap_padding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each padding of the heap instead of making it; the variable for children is unset."""
    calls: list[str] = []
    monkeypatch.setattr(heap, "pad_heap_growth", lambda: calls.append("padded") or True)
    monkeypatch.delenv(heap.TOP_PAD_VARIABLE, raising=False)
    return calls


def test_a_library_call_changes_nothing_process_wide(heap_padding: list[str]) -> None:
    image = Image.new("RGB", (24, 24), "white")
    stylize(image, Image.new("RGB", (24, 24), "navy"), num_steps=1, device="cpu", seed=0,
            backbone_options={"weights": "none"})
    assert heap_padding == [] and heap.TOP_PAD_VARIABLE not in os.environ


def test_the_command_pads_its_heap_and_its_workers(heap_padding: list[str]) -> None:
    result = CliRunner().invoke(main, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    assert heap_padding == ["padded"] and os.environ[heap.TOP_PAD_VARIABLE] == str(heap.HEAP_TOP_PAD)


def test_the_command_keeps_a_padding_the_user_chose(heap_padding: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(heap.TOP_PAD_VARIABLE, "4096")
    assert CliRunner().invoke(main, ["plugins", "list"]).exit_code == 0
    assert heap_padding == ["padded"] and os.environ[heap.TOP_PAD_VARIABLE] == "4096"
