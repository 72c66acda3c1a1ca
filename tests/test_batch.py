"""``siayn batch`` as a user runs it: a 2x2 batch (two photos x two styles, 64 px, random
weights) with each executor, bit for bit alike with --seed; faults, resuming and the sheet."""

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
from PIL import Image

from siayn_core.batch.contact_sheet import HEADER_HEIGHT, LABEL_WIDTH, TILE

STEPS = 4


def run_batch_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siayn_core", "batch", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def write_images(folder: Path, names: list[str], seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / name)


@pytest.fixture
def album(tmp_path: Path) -> Path:
    """A manifest of two photos (a folder) and two styles (a glob), 64 px, random weights."""
    write_images(tmp_path / "photos", ["a.png", "b.png"], 0)
    write_images(tmp_path / "paintings", ["x.png", "y.png"], 1)
    (tmp_path / "manifest.yaml").write_text(
        "contents: photos/\n"
        "styles: ['paintings/*.png']\n"
        f"num_steps: {STEPS}\nsize: 64\nmin_size: null\n"
        "backbone_options: {weights: none}\n"
    )
    return tmp_path


def results(folder: Path) -> dict[str, bytes]:
    record = json.loads((folder / "batch.json").read_text())
    assert all(run["status"] == "done" for run in record["runs"]), record
    return {run["name"]: np.asarray(Image.open(run["output"])).tobytes() for run in record["runs"]}


def test_local_workers_and_ray_give_the_same_images(album: Path) -> None:
    # torch splits CPU reductions by thread, so bit-for-bit needs the same threads per run
    outputs = {}
    for label, extra in (("local", []), ("workers", ["--workers", "2"]),
                         ("ray", ["--executor", "ray", "--workers", "2"])):
        done = run_batch_cli("manifest.yaml", "-o", label, "--seed", "3", "--threads-per-run", "1", "-q", *extra,
                             cwd=album)
        assert done.returncode == 0, done.stderr
        outputs[label] = results(album / label)
    assert sorted(outputs["local"]) == ["a__x", "a__y", "b__x", "b__y"]
    assert outputs["workers"] == outputs["local"]
    assert outputs["ray"] == outputs["local"]
    sheet = Image.open(album / "local" / "contact_sheet.png")
    assert sheet.size == (LABEL_WIDTH + 2 * TILE, HEADER_HEIGHT + 2 * TILE)  # one tile per run


def test_a_corrupt_image_fails_its_run_only_and_a_rerun_does_only_it(album: Path) -> None:
    (album / "photos" / "c.png").write_bytes(b"not a picture")
    first = run_batch_cli("manifest.yaml", "-o", "out", "--seed", "1", "-q", cwd=album)
    assert first.returncode == 2
    errors = [line for line in first.stderr.splitlines() if "error:" in line]
    assert len(errors) == 2 and "c__x" in errors[0] and "Traceback" not in first.stderr
    record = {run["name"]: run for run in json.loads((album / "out" / "batch.json").read_text())["runs"]}
    assert record["c__x"]["status"] == "failed" and record["c__x"]["attempts"] == 2
    assert "\n" not in record["c__x"]["error"] and "c.png" in record["c__x"]["error"]
    assert [name for name, run in record.items() if run["status"] == "done"] == ["a__x", "a__y", "b__x", "b__y"]
    done_before = {name: os.stat(run["output"]).st_mtime_ns for name, run in record.items() if run["output"]}

    write_images(album / "photos", ["c.png"], 2)  # mended
    second = run_batch_cli("manifest.yaml", "-o", "out", "--seed", "1", "-q", cwd=album)
    assert second.returncode == 0, second.stderr
    record = {run["name"]: run for run in json.loads((album / "out" / "batch.json").read_text())["runs"]}
    assert all(run["status"] == "done" for run in record.values())
    assert {name: os.stat(record[name]["output"]).st_mtime_ns for name in done_before} == done_before
    sheet = Image.open(album / "out" / "contact_sheet.png")
    assert sheet.size == (LABEL_WIDTH + 2 * TILE, HEADER_HEIGHT + 3 * TILE)


def test_a_grid_makes_the_product_of_its_lists(album: Path) -> None:
    manifest = album / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("photos/", "photos/a.png")
                        + "grid: {style_weight: [1.0e+3, 1.0e+5], tv_weight: [0, 1]}\n")
    done = run_batch_cli("manifest.yaml", "-o", "grid", "-q", "--set", "num_steps=2", cwd=album)
    assert done.returncode == 0, done.stderr
    runs = json.loads((album / "grid" / "batch.json").read_text())["runs"]
    assert len(runs) == 2 * 2 * 2
    configs = [json.loads((Path(run["run_dir"]) / "run.json").read_text())["config"] for run in runs]
    assert {(c["style_weight"], c["tv_weight"]) for c in configs} == {(1e3, 0), (1e3, 1), (1e5, 0), (1e5, 1)}
    assert {c["num_steps"] for c in configs} == {2}
    assert Image.open(album / "grid" / "contact_sheet.png").size == (LABEL_WIDTH + 8 * TILE, HEADER_HEIGHT + TILE)


def test_a_stylize_config_is_a_manifest(album: Path) -> None:
    (album / "runs.yaml").write_text(
        "one: {content: photos/a.png, style: [paintings/x.png], num_steps: 2, size: 64, min_size: null,"
        " backbone_options: {weights: none}}\n"
        "two: {content: photos/b.png, style: [paintings/x.png, paintings/y.png], num_steps: 2, size: 64,"
        " min_size: null, backbone_options: {weights: none}}\n"
    )
    done = run_batch_cli("runs.yaml", "-o", "cfg", "-q", cwd=album)
    assert done.returncode == 0, done.stderr
    assert [run["name"] for run in json.loads((album / "cfg" / "batch.json").read_text())["runs"]] == ["one", "two"]


@pytest.mark.parametrize(("text", "message"), [
    ("contents: photos/\n", "has no 'styles'"),
    ("contents: photos/\nstyles: nowhere/\n", "'nowhere/' in manifest"),
    ("contents: photos/\nstyles: paintings/\ngrid: {style_wieght: [1]}\n", "style_weight"),
    ("contents: photos/\nstyles: paintings/\ngrid: {style_weight: 3}\n", "non-empty list"),
    ("contents: photos/\nstyles: paintings/\nnum_stpes: 3\n", "num_steps"),
])
def test_a_bad_manifest_is_one_line_and_exit_2(album: Path, text: str, message: str) -> None:
    (album / "bad.yaml").write_text(text)
    done = run_batch_cli("bad.yaml", "-o", "bad", cwd=album)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (album / "bad").exists() or not any((album / "bad").iterdir())


def test_a_folder_not_from_the_batch_is_not_overwritten(album: Path) -> None:
    (album / "out" / "a__x").mkdir(parents=True)
    (album / "out" / "a__x" / "mine.png").write_bytes(b"keep")
    done = run_batch_cli("manifest.yaml", "-o", "out", "-q", cwd=album)
    assert done.returncode == 2 and "not a run of the batch" in done.stderr
    assert (album / "out" / "a__x" / "mine.png").read_bytes() == b"keep"


def ray_task_pids() -> list[int]:
    """The processes running a SIAYN run as a Ray task (Ray titles them ``ray::siayn-run``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"ray::siayn-run"):
                pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's worker processes through /proc")
def test_a_killed_ray_worker_still_completes_the_batch(album: Path) -> None:
    manifest = album / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace(f"num_steps: {STEPS}", "num_steps: 60"))
    batch = subprocess.Popen([sys.executable, "-m", "siayn_core", "batch", "manifest.yaml", "-o", "ray", "-q",
                              "--executor", "ray", "--workers", "2"], cwd=album, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline, killed = time.monotonic() + 120, None
    while killed is None and time.monotonic() < deadline and batch.poll() is None:
        pids = ray_task_pids()
        if pids:
            time.sleep(1.0)  # let the run get going before it is killed
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.2)
    stdout, stderr = batch.communicate(timeout=300)
    assert killed is not None, f"no Ray task was seen running: {stderr}"
    assert batch.returncode == 0, stderr
    runs = json.loads((album / "ray" / "batch.json").read_text())["runs"]
    assert len(runs) == 4 and all(run["status"] == "done" for run in runs)
    assert all(Path(run["output"]).is_file() for run in runs)
