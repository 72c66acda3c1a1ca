"""Runs on a CUDA GPU: a run on the device, its precisions, its agreement with the CPU, and
``--device cuda`` through the library call and the command line.

Every test skips where CUDA is not available; ``python -m benchmarks.gpu_check`` runs them on
a GPU. Runs use a randomly initialised backbone, a few steps and tiny images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import siayn_core
from siayn_core import Registry
from siayn_core.cli import main
from siayn_core.config.build import build_options
from siayn_core.config.schema import StylizeOptions
from siayn_core.engine.devices import resolve_device
from siayn_core.engine.outcomes import StylizeResult
from siayn_core.engine.painter import Painter
from siayn_core.io.images import read_image
from siayn_core.io.resources import examples_dir

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch.cuda.is_available() is False)")

RANDOM_WEIGHTS = {"backbone_options": {"weights": "none"}}


@pytest.fixture(scope="module")
def pictures() -> tuple[Image.Image, Image.Image]:
    """The example photo and painting, small."""
    content = read_image(examples_dir() / "tubingen.jpg").resize((64, 48), Image.Resampling.LANCZOS)
    style = read_image(examples_dir() / "starry_night.jpg").resize((64, 40), Image.Resampling.LANCZOS)
    return content, style


def small_options(**settings: object) -> StylizeOptions:
    """A four-step run in two stages (32 and 48 px short sides) with random weights."""
    return build_options({"num_steps": 4, "min_size": 32, **RANDOM_WEIGHTS, **settings}, where="test")


def paint(pictures: tuple[Image.Image, Image.Image], options: StylizeOptions, registry: Registry,
          device: str) -> tuple[Painter, StylizeResult]:
    """The painter built for ``options`` on ``device`` and its run's result."""
    painter = Painter(options, registry, device)
    content, style = pictures
    return painter, painter.paint(content, [style], options, seed=0)


def assert_finite_run_in_range(result: StylizeResult, steps: int) -> None:
    """Every step's loss is finite and the image lies in [0, 1]."""
    assert result.steps == steps and len(result.losses) == steps
    assert all(math.isfinite(value) for record in result.losses for value in record.values())
    assert torch.isfinite(result.image).all()
    assert 0.0 <= result.image.min().item() and result.image.max().item() <= 1.0


def test_auto_picks_cuda() -> None:
    assert resolve_device("auto").type == "cuda"


def test_a_run_on_the_device_is_finite_and_in_range(pictures, registry: Registry) -> None:
    painter, result = paint(pictures, small_options(), registry, "cuda")
    assert result.device.startswith("cuda")
    assert next(painter.components["backbone"].parameters()).is_cuda
    assert_finite_run_in_range(result, 4)
    assert tuple(result.image.shape) == (1, 3, 48, 64)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precisions_run(pictures, registry: Registry, precision: str) -> None:
    if precision == "bfloat16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU does not support bfloat16")
    painter, result = paint(pictures, small_options(precision=precision), registry, "cuda")
    assert painter.components["backbone"].dtype == getattr(torch, precision)
    assert_finite_run_in_range(result, 4)


@pytest.fixture
def without_tf32() -> Iterator[None]:
    """Full float32 convolutions and matrix products on the GPU for the test, restored after it."""
    # TF32 would round every convolution's inputs to 10 bits: a difference of precision, not of device.
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.usefixtures("without_tf32")
def test_float32_on_cuda_agrees_with_the_cpu(pictures, registry: Registry) -> None:
    options = small_options(num_steps=2, min_size=None, precision="float32")
    _, on_cpu = paint(pictures, options, registry, "cpu")
    _, on_cuda = paint(pictures, options, registry, "cuda")
    for cpu_record, cuda_record in zip(on_cpu.losses, on_cuda.losses, strict=True):
        assert cuda_record == pytest.approx(cpu_record, rel=1e-3)
    assert torch.allclose(on_cuda.image, on_cpu.image, atol=1e-3)


def test_the_library_call_takes_device_cuda(pictures) -> None:
    content, style = pictures
    image = siayn_core.stylize(content, style, device="cuda", num_steps=2, seed=0, **RANDOM_WEIGHTS)
    assert image.size == (64, 48)


def test_the_command_takes_device_cuda(tmp_path: Path, pictures) -> None:
    content, style = pictures
    content.save(tmp_path / "photo.png")
    style.save(tmp_path / "painting.png")
    result = CliRunner().invoke(main, [
        "stylize", str(tmp_path / "photo.png"), str(tmp_path / "painting.png"), "--device", "cuda",
        "-o", str(tmp_path / "out"), "--set", "num_steps=2", "--set", "backbone_options.weights=none", "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.loads(next((tmp_path / "out").rglob("run.json")).read_text())
    assert record["device"].startswith("cuda") and record["steps"] == 2
