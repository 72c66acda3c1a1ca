"""Runs that do not end normally: Ctrl-C / SIGTERM (saved, marked, exit 130, resumable),
kill -9 (no partial file), and a diverging loss (the last finite image kept, exit 2).

Real subprocesses get SIGINT and SIGTERM after their first saved frame; images are 32x24,
the backbone is randomly initialised.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from siayn_core.cli import main
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.engine.loop import DivergedError, Iterate
from siayn_core.host.registry import Registry

STEM = "content!-!style"
TINY = ["--set", "backbone_options.weights=none", "--set", "scaler=1", "--set", "style_layers=[relu1_1, relu2_1]",
        "--set", "content_layers=[relu2_1]", "--set", "init_method=random", "--quiet"]


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(content)
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(style)
    return content, style


def siayn(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def start_run(images: tuple[Path, Path], out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "siayn_core", "stylize", *map(str, images), "-o", str(out), *TINY,
               "--set", "save_every=1", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_frames(process: subprocess.Popen[str], frames: Path, count: int = 1, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while len(list(frames.glob("frame_*.png"))) < count:
        if process.poll() is not None:
            pytest.fail(f"the run ended before its first frame: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no frame was saved in time")
        time.sleep(0.05)


def complete_files(folder: Path) -> list[Path]:
    """Every visible file under ``folder``, each checked to be complete."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text())
        else:
            with Image.open(path) as image:
                image.load()  # raises on a truncated file
    return files


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_marks_and_exits_130_then_resume_finishes(
    images: tuple[Path, Path], tmp_path: Path, signal_number: signal.Signals
) -> None:
    out = tmp_path / "out"
    run_dir = out / "default"
    process = start_run(images, out, "--set", "num_steps=100000", "--set", "opt=adam")
    wait_for_frames(process, run_dir / "frames")
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"interrupted by {signal_number.name}" in stderr and f"--resume {run_dir}" in stderr
    assert stdout.strip() == str(run_dir / f"{STEM}.png")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["interrupted"] is True and record["stopped"] is True and record["kind"] == "stylize"
    steps = record["steps"]
    assert 1 <= steps < 100000 and len(record["losses"]) == steps
    assert Image.open(run_dir / f"{STEM}.png").size == (32, 24)
    assert all(Path(p).is_absolute() for p in [record["config"]["content"], *record["config"]["style"]])
    complete_files(out)

    # Resume: the remaining steps run on from the saved image, in the same folder.
    code, stdout, stderr = siayn("stylize", "--resume", run_dir, "--set", f"num_steps={steps + 3}", "--quiet")
    assert code == 0, stderr
    assert stdout.strip() == str(run_dir / f"{STEM}.png")
    resumed = json.loads((run_dir / "run.json").read_text())
    assert "interrupted" not in resumed and resumed["stopped"] is False
    assert resumed["resumed_from"] == steps and resumed["steps"] == steps + 3
    assert [r["step"] for r in resumed["losses"]] == list(range(1, steps + 4))
    assert resumed["seed"] == record["seed"] and resumed["config"]["opt"] == "adam"
    frame_steps = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "frames").glob("frame_*.png"))
    assert frame_steps[-4:] == list(range(steps, steps + 4))  # the frames run on
    assert sorted(p.name for p in out.iterdir()) == ["default"]


def test_resume_refuses_what_it_cannot_do(images: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, stderr = siayn("stylize", *images, "-o", out, *TINY, "--set", "num_steps=2")
    assert code == 0, stderr
    run_dir = out / "default"
    for args, message in [
        ([run_dir], "has taken all its 2 steps: nothing to resume"),
        ([tmp_path / "nowhere"], "folder not found"),
        ([images[0]], "not a folder"),
        ([tmp_path], "no run.json in"),
        ([run_dir, "-o", out], "drop --output"),
        ([run_dir, "--set", "num_stepz=5"], "did you mean 'num_steps'?"),
    ]:
        code, stdout, stderr = siayn("stylize", "--resume", *args)
        assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    (run_dir / "run.json").write_text("{ not json")
    code, _, stderr = siayn("stylize", "--resume", run_dir)
    assert code == 2 and "cannot read" in stderr


def test_resume_continues_the_multi_scale_schedule(registry: Registry, images: tuple[Path, Path]) -> None:
    """Stopped in the second of three stages, a resumed run starts at that stage's size and
    numbers its steps on."""
    options = build_options({
        "style": ["style.png"], "backbone_options": {"weights": "none"}, "style_layers": ["relu1_1"],
        "content_layers": ["relu1_1"], "min_size": 16, "stage_steps": [2, 3, 2], "scale_factor": 1.25,
        "init_method": "random", "seed": 3,
    }, where="test")
    content, style = (Image.open(path).convert("RGB").resize((40, 30)) for path in images)
    seen: list[Iterate] = []

    def stop_at_four(iterate: Iterate) -> bool:
        seen.append(iterate)
        return iterate.step == 4

    first = stylize(content, [style], options, registry=registry, device="cpu", callback=stop_at_four)
    assert first.stopped and first.steps == 4 and first.image.shape[-2:] == (30, 40)
    stage_two = tuple(seen[-1].image.shape[-2:])
    seen.clear()
    saved = Image.fromarray((first.image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    rest = stylize(content, [style], options, registry=registry, device="cpu", callback=seen.append,
                   start=saved, steps_done=4)
    assert [i.step for i in seen] == [5, 6, 7] and {i.num_steps for i in seen} == {7}
    assert tuple(seen[0].image.shape[-2:]) == stage_two and tuple(seen[-1].image.shape[-2:]) == (30, 40)
    assert [r["step"] for r in rest.losses] == [5, 6, 7] and not rest.stopped


def test_kill_9_leaves_no_partial_file(images: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = start_run(images, out, "--set", "num_steps=100000", "--set", "opt=adam")
    wait_for_frames(process, out / "default" / "frames", count=3)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    files = complete_files(out)
    assert len(files) >= 3 and all(p.parent.name == "frames" for p in files)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_diverging_loss_keeps_the_last_finite_image(images: tuple[Path, Path], tmp_path: Path, optimizer: str) -> None:
    out = tmp_path / "out"
    # Unconstrained steps (the seed's): projected ones keep even this image in [0, 1].
    code, stdout, stderr = siayn("stylize", *images, "-o", out, *TINY, "--set", "num_steps=50",
                                 "--set", f"opt={optimizer}", "--set", "lr=1e30", "--set", "keep_in_range=false")
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert "diverged" in stderr and "lower lr (now 1e+30)" in stderr and "switch optimizer" in stderr
    run_dir = out / "default"
    assert "kept the image of step" in stderr and str(run_dir / f"{STEM}.png") in stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["diverged"] is True and "diverged" in record["error"]
    assert record["steps"] >= 1 and all(np.isfinite(r["total"]) for r in record["losses"])
    pixels = np.asarray(Image.open(run_dir / f"{STEM}.png"))
    assert pixels.shape == (24, 32, 3)
    # The run can go on from there with a sane learning rate.
    code, _, stderr = siayn("stylize", "--resume", run_dir, "--set", "lr=0.01", "--set", "keep_in_range=true", "--quiet",
                            "--set", f"num_steps={record['steps'] + 2}")
    assert code == 0, stderr


def test_divergence_at_the_first_step_keeps_nothing(registry: Registry, images: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, stderr = siayn("stylize", *images, "-o", out, *TINY, "--set", "num_steps=5", "--set", "style_weight=1e300",
                            "--set", "content_weight=1e300")
    assert code == 2 and "the loss became" in stderr and "step 1" in stderr, stderr
    assert [p for p in out.rglob("*") if p.is_file()] == []
    options = build_options({"style": ["s"], "backbone_options": {"weights": "none"}, "style_weight": 1e300,
                             "content_weight": 1e300, "num_steps": 3}, where="test")
    content = Image.open(images[0])
    with pytest.raises(DivergedError) as error:
        stylize(content, [content], options, registry=registry, device="cpu", seed=1)
    assert error.value.result is None and error.value.step == 1
