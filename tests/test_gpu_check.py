"""``python -m benchmarks.gpu_check``: its dry run on the CPU goes through every part, it reads
pytest's outcome, and without CUDA it says so and exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from benchmarks.gpu_check import BACKBONES, PRECISIONS, exit_status, run_device_tests

from .conftest import REPO


def gpu_check(*args: str, torch_home: Path) -> subprocess.CompletedProcess[str]:
    """The check's command from the repository root, with an empty torch hub cache."""
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=300, env={**os.environ, "TORCH_HOME": str(torch_home)})


def test_the_dry_run_on_the_cpu_goes_through_every_part(tmp_path: Path) -> None:
    output = tmp_path / "check.json"
    completed = gpu_check("--dry-run-cpu", "--output", str(output), "--weights", str(tmp_path / "absent.pth"),
                          torch_home=tmp_path / "torch_home")
    assert completed.returncode == 0, completed.stderr
    assert f"wrote {output}" in completed.stdout and "s/step" in completed.stdout
    results = json.loads(output.read_text())
    assert results["mode"] == "dry-run-cpu" and results["device"] == "cpu" and results["gpu"] is None
    tests = results["tests"]
    assert tests["ok"] and tests["files"] == ["tests/test_device.py"] and tests["passed"] + tests["skipped"] > 0
    runs = results["runs"]
    assert [(run["arch"], run["precision"]) for run in runs] == [(a, p) for a in BACKBONES for p in PRECISIONS]
    for run in runs:
        assert "error" not in run and run["steps"] == run["steps_planned"] and not run["stopped_at_cap"]
        assert len(run["stages"]) == 2 and run["final_stage_size"] == run["stages"][-1]["size"]
        assert run["final_stage_steps_timed"] == run["stages"][-1]["steps"] - 1 and run["final_stage_step_s"] > 0
        assert run["weights"] == "random" and run["arch"] in run["weights_source"]
        if run["arch"] == "vgg16":
            assert str(tmp_path / "absent.pth") in run["weights_source"]
        assert run["peak_cuda_allocated_mb"] is None


def test_the_device_tests_outcome_is_read_from_pytest(tmp_path: Path) -> None:
    tests = tmp_path / "test_outcomes.py"
    tests.write_text(textwrap.dedent("""
        import pytest

        def test_passes():
            assert True

        def test_fails():
            assert 1 + 1 == 3, "one and one make two"

        @pytest.mark.skip(reason="not on this machine")
        def test_skipped():
            pass
    """))
    outcome = run_device_tests([str(tests)], timeout=120)
    assert (outcome["passed"], outcome["failed"], outcome["errors"], outcome["skipped"]) == (1, 1, 0, 1)
    assert not outcome["ok"] and outcome["skip_reasons"] == {"not on this machine": 1}
    [failure] = outcome["failures"]
    assert failure["test"].endswith("::test_fails") and failure["first_line"] == "AssertionError: one and one make two"
    assert exit_status({"tests": outcome, "runs": []}) == 1
    assert exit_status({"tests": {**outcome, "ok": True}, "runs": [{}]}) == 0
    assert exit_status({"tests": {**outcome, "ok": True}, "runs": [{"error": "OutOfMemoryError: ..."}]}) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_without_cuda_it_says_so_and_exits_2(tmp_path: Path) -> None:
    completed = gpu_check("--output", str(tmp_path / "check.json"), torch_home=tmp_path / "torch_home")
    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and "CUDA is not available" in completed.stderr
    assert not (tmp_path / "check.json").exists()
