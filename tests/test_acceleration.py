"""How the backbone runs: memory format, precision; and the heap padding of the C library, which
only the command line makes."""

from __future__ import annotations

import math
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
from siayn_core.config.build import build_options
from siayn_core.engine import acceleration
from siayn_core.engine.acceleration import accelerate, autocast_dtype, use_channels_last
from siayn_core.engine.painter import Painter
from siayn_core.host.registry import Registry


@pytest.fixture(params=[False, True], ids=["emulated", "native"])
def native_bfloat16(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """A CPU that computes bfloat16 natively (True) or emulates it (False), whatever this one does."""
    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: request.param)
    return request.param


def test_the_cpu_runs_bfloat16_where_it_computes_it_natively(native_bfloat16: bool) -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) == (torch.bfloat16 if native_bfloat16 else None)
    assert autocast_dtype("float32", cpu) is None
    assert autocast_dtype("bfloat16", cpu) == torch.bfloat16  # asked for: run, even where it is slow
    assert autocast_dtype("float16", cpu) is None
    assert autocast_dtype("bfloat16", torch.device("mps")) is None
    with pytest.raises(SiaynError, match="unknown precision"):
        autocast_dtype("float8", cpu)


def test_native_bfloat16_is_the_hardwares_answer(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    request.addfinalizer(acceleration.cpu_computes_bfloat16.cache_clear)  # no patched answer stays cached
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert acceleration.cpu_computes_bfloat16() == (native and torch.backends.mkldnn.is_available())
    for name, answer in (("_is_avx512_bf16_supported", True), ("_is_amx_tile_supported", False)):
        monkeypatch.setattr(torch.cpu, name, lambda answer=answer: answer)
    acceleration.cpu_computes_bfloat16.cache_clear()
    assert acceleration.cpu_computes_bfloat16() == torch.backends.mkldnn.is_available()
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name)  # a torch without the private checks: no
    acceleration.cpu_computes_bfloat16.cache_clear()
    assert acceleration.cpu_computes_bfloat16() is False


def first_conv_dtypes(painter: Painter) -> list[torch.dtype]:
    """The dtypes the backbone's first convolution will compute in, recorded by a forward hook."""
    seen: list[torch.dtype] = []
    conv = next(module for module in painter.components["backbone"].modules() if isinstance(module, torch.nn.Conv2d))
    conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    return seen


def test_auto_runs_the_backbone_in_bfloat16_and_keeps_only_the_gram_layers_in_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: True)
    options = build_options({"backbone_options": {"weights": "none"}, "num_steps": 3}, where="test")
    painter = Painter(options, registry, "cpu")
    seen = first_conv_dtypes(painter)
    features = painter.components["backbone"](torch.rand(1, 3, 32, 32))
    assert painter.precision == "bfloat16" and seen == [torch.bfloat16]
    # The Gram loss takes bfloat16 features; the content loss reads float32 ones.
    style_only = set(options.style_layers) - set(options.content_layers)
    assert {name for name, value in features.items() if value.dtype == torch.bfloat16} == style_only
    assert {features[name].dtype for name in options.content_layers} == {torch.float32}
    result = painter.paint(Image.new("RGB", (24, 24), "white"), [Image.new("RGB", (24, 24), "navy")], options,
                           seed=0)
    assert result.precision == "bfloat16" and result.image.dtype == torch.float32
    assert all(math.isfinite(record["total"]) for record in result.losses)


def test_auto_without_native_bfloat16_is_exactly_float32(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: False)
    content, style = Image.new("RGB", (32, 24), "white"), Image.new("RGB", (24, 24), "navy")
    results = []
    for precision in ("auto", "float32"):
        options = build_options({"backbone_options": {"weights": "none"}, "num_steps": 3, "precision": precision},
                                where="test")
        painter = Painter(options, registry, "cpu")
        seen = first_conv_dtypes(painter)
        results.append(painter.paint(content, [style], options, seed=1))
        assert painter.precision == "float32" and set(seen) == {torch.float32}
    assert [result.precision for result in results] == ["float32", "float32"]
    assert torch.equal(results[0].image, results[1].image) and results[0].losses == results[1].losses


def test_float32_is_forced_and_bfloat16_is_run_whatever_the_cpu(
    registry: Registry, native_bfloat16: bool
) -> None:
    for precision in ("float32", "bfloat16"):
        options = build_options({"backbone_options": {"weights": "none"}, "precision": precision}, where="test")
        painter = Painter(options, registry, "cpu")
        seen = first_conv_dtypes(painter)
        painter.components["backbone"](torch.rand(1, 3, 16, 16))
        assert painter.precision == precision and seen == [getattr(torch, precision)]


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


def test_a_layer_stays_in_bfloat16_only_where_every_loss_reading_it_takes_bfloat16() -> None:
    class Takes:
        takes_bfloat16 = True

    class Float32Only:
        pass

    readers = {"relu1_1": [Takes()], "relu4_2": [Takes(), Float32Only()], "relu5_1": [Float32Only()]}
    assert acceleration.bfloat16_layers(readers) == frozenset({"relu1_1"})


def test_float32_features_everywhere_for_a_style_loss_that_does_not_take_bfloat16(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(acceleration, "cpu_computes_bfloat16", lambda: True)
    options = build_options({"backbone_options": {"weights": "none"}, "style_loss": "w2"}, where="test")
    painter = Painter(options, registry, "cpu")
    features = painter.components["backbone"](torch.rand(1, 3, 32, 32))
    assert {value.dtype for value in features.values()} == {torch.float32}
