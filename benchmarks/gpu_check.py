"""A check of SIAYN on a CUDA GPU in under five minutes: the device tests, the step times, one JSON.

    python -m benchmarks.gpu_check                 # on a machine with CUDA
    python -m benchmarks.gpu_check --dry-run-cpu   # the same steps on the CPU, tiny and short

Run from the repository root. It

1. runs the device tests (``tests/test_device.py``) with pytest in a subprocess and records
   how many passed, failed and skipped, and each failure's first line;
2. times the defaults (their multi-scale schedule) at 512 px for 500 steps with VGG16 and
   VGG19, each in bfloat16 and in float32: seconds per step in the output-size stage (the
   median), the whole run, and the peak CUDA memory allocated. VGG16 loads the ImageNet
   weights from ``--weights`` or the torch hub cache, VGG19 from the hub cache; a backbone
   without its file runs with random weights (the same FLOPs), and the JSON says so. Each
   run, loading its backbone included, stops after ``--time-cap`` seconds (40), and the
   tests after ``--tests-timeout`` (100): the check keeps to five minutes on a slower card
   too, and the JSON records the cap and the steps each run took;
3. writes one JSON (``--output``, default ``benchmarks/results/gpu_check_<gpu>.json``) with
   the card, driver, CUDA and torch versions, and prints a table.

Exit status: 0; 1 when a device test failed or a timed run stopped with an error (the JSON
is written all the same); 2 where CUDA is not available, unless ``--dry-run-cpu``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if __name__ == "__main__" and not __package__:
    # Run as a file, the package's relative imports below cannot work.
    sys.exit("run the check from the repository root as: python -m benchmarks.gpu_check")

from siayn_core.cli.heap import pad_heap_for_runs  # noqa: E402

from .common import DEFAULT_WEIGHTS, REPO, RESULTS, conditions, options, registry, sync, table, write_json  # noqa: E402

if TYPE_CHECKING:
    from siayn_core import Registry
    from siayn_core.engine.loop import Iterate

#: The test files the check runs: tests that run on a CUDA device, and skip elsewhere.
DEVICE_TESTS = ("tests/test_device.py",)
BACKBONES = ("vgg16", "vgg19")
PRECISIONS = ("bfloat16", "float32")
#: The photo and painting every timed run stylizes.
CONTENT, STYLE = "tubingen.jpg", "starry_night.jpg"


@dataclass(frozen=True)
class Plan:
    """What the check runs: on the GPU, or the same code path on the CPU in miniature."""

    device: str
    size: int
    steps: int
    time_cap_s: float
    tests_timeout_s: float
    #: Settings over the defaults; the dry run's lower ``min_size`` keeps two stages at its tiny size.
    settings: dict[str, Any]


def plan_for(args: argparse.Namespace) -> Plan:
    """The GPU plan, or the dry run's tiny one on the CPU."""
    if args.dry_run_cpu:
        return Plan(device="cpu", size=48, steps=4, time_cap_s=args.time_cap, tests_timeout_s=args.tests_timeout,
                    settings={"min_size": 24})
    return Plan(device="cuda", size=args.size, steps=args.steps, time_cap_s=args.time_cap,
                tests_timeout_s=args.tests_timeout, settings={})


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dry-run-cpu", action="store_true",
                        help="run every part on the CPU with tiny images and few steps, to try the check without a GPU")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                        help="VGG16 weights (default: ../shared/weights, else the torch hub cache)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file to write (default: benchmarks/results/gpu_check_<gpu>.json)")
    parser.add_argument("--size", type=int, default=512, help="long side of the timed runs' images in px (on the GPU)")
    parser.add_argument("--steps", type=int, default=500,
                        help="steps of each timed run, over all its stages (on the GPU)")
    parser.add_argument("--time-cap", type=float, default=40.0,
                        help="seconds after which a timed run stops, whatever steps it has left")
    parser.add_argument("--tests", action="append", default=None, metavar="FILE",
                        help=f"a test file to run (repeatable; default: {', '.join(DEVICE_TESTS)})")
    parser.add_argument("--tests-timeout", type=float, default=100.0, help="seconds the device tests may take")
    return parser


def slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``: a name for a file."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def driver_version() -> str | None:
    """The NVIDIA driver's version from ``nvidia-smi``, or None where it cannot be asked."""
    try:
        completed = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.strip().splitlines()
    return lines[0].strip() if completed.returncode == 0 and lines else None


def gpu_description() -> dict[str, Any] | None:
    """The card and the versions of the software that drives it, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    properties = torch.cuda.get_device_properties(0)
    return {
        "name": properties.name,
        "compute_capability": f"{properties.major}.{properties.minor}",
        "memory_mb": properties.total_memory / 2**20,
        "count": torch.cuda.device_count(),
        "driver": driver_version(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "torch": torch.__version__,
        "bfloat16_supported": torch.cuda.is_bf16_supported(),
    }


def first_line(text: str | None) -> str:
    """The first non-blank line of ``text`` (empty when there is none)."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def read_junit(report: Path) -> dict[str, Any]:
    """Counts, failures' first lines and skip reasons from pytest's JUnit XML report."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[dict[str, str]] = []
    skip_reasons: dict[str, int] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        test = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
        elif outcome.tag == "skipped":
            counts["skipped"] += 1
            reason = first_line(outcome.get("message"))
            skip_reasons[reason] = skip_reasons.get(reason, 0) + 1
        else:
            counts["failed" if outcome.tag == "failure" else "errors"] += 1
            failures.append({"test": test, "kind": outcome.tag,
                             "first_line": first_line(outcome.get("message")) or first_line(outcome.text)})
    return {**counts, "failures": failures, "skip_reasons": skip_reasons}


def run_device_tests(files: list[str], timeout: float) -> dict[str, Any]:
    """Run ``files`` with pytest in a subprocess from the repository root and read its report."""
    with tempfile.TemporaryDirectory(prefix="siayn-gpu-check-") as folder:
        report = Path(folder) / "report.xml"
        command = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        started = time.perf_counter()
        try:
            completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"files": files, "seconds": time.perf_counter() - started, "ok": False,
                    "error": f"the tests took longer than {timeout:g} s and were stopped"}
        result: dict[str, Any] = {"files": files, "seconds": time.perf_counter() - started,
                                  "pytest_exit_code": completed.returncode}
        if not report.is_file():  # pytest could not start or collect: its own words say why
            output = (completed.stderr or completed.stdout).strip().splitlines()
            return {**result, "ok": False, "error": output[-1] if output else "pytest wrote no report"}
        result.update(read_junit(report))
    result["ok"] = completed.returncode == 0 and not result["failed"] and not result["errors"]
    return result


def hub_checkpoint(arch: str) -> Path:
    """Where torchvision keeps ``arch``'s ImageNet weights in the torch hub cache."""
    import torch
    from torchvision import models

    url = {"vgg16": models.VGG16_Weights.IMAGENET1K_V1, "vgg19": models.VGG19_Weights.IMAGENET1K_V1}[arch].url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def weights_for(arch: str, vgg16_file: Path | None) -> tuple[str, str]:
    """The backbone's ``weights`` option for ``arch`` (a file, or ``none``) and what it is."""
    candidates = ([vgg16_file] if arch == "vgg16" and vgg16_file is not None else []) + [hub_checkpoint(arch)]
    for path in candidates:
        if path.is_file():
            return str(path), f"ImageNet weights from {path}"
    return "none", f"random weights: no {arch} weights file at {' or '.join(map(str, candidates))}"


def final_stage_steps(timestamps: dict[int, float], first_step: int) -> list[float]:
    """Seconds of each step of the output-size stage after its first (whose time includes
    resizing the images and computing the stage's targets)."""
    return [timestamps[step] - timestamps[step - 1] for step in sorted(timestamps)
            if step > first_step and step - 1 in timestamps]


def timed_run(arch: str, precision: str, plan: Plan, vgg16_file: Path | None, reg: Registry) -> dict[str, Any]:
    """One run of the defaults with ``arch`` in ``precision``, stopped at the plan's time cap."""
    import torch

    from siayn_core.engine.painter import Painter, stages_for
    from siayn_core.io.images import output_size, read_image
    from siayn_core.io.resources import examples_dir

    weights, source = weights_for(arch, vgg16_file)
    result: dict[str, Any] = {"arch": arch, "precision": precision, "size": plan.size, "steps_planned": plan.steps,
                              "weights": "imagenet" if weights != "none" else "random", "weights_source": source,
                              "time_cap_s": plan.time_cap_s}
    content, style = read_image(examples_dir() / CONTENT), read_image(examples_dir() / STYLE)
    run_options = options(size=plan.size, num_steps=plan.steps, backbone=arch, precision=precision,
                          backbone_options={"weights": weights}, **plan.settings)
    stages = [stage for stage in stages_for(run_options, output_size(content.size, longer_side=plan.size, scale=1.0))
              if stage.steps]
    final = stages[-1]
    result["stages"] = [{"size": list(stage.size), "steps": stage.steps} for stage in stages]
    cuda = plan.device == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timestamps: dict[int, float] = {}
    sync()
    started = time.perf_counter()

    def clock(iterate: Iterate) -> bool:
        sync()
        timestamps[iterate.step] = time.perf_counter()
        return timestamps[iterate.step] - started > plan.time_cap_s

    try:
        painter = Painter(run_options, reg, plan.device)
        result["backbone_seconds"] = time.perf_counter() - started  # building it, with loading its weights
        dtype = getattr(painter.components["backbone"], "dtype", None)
        result["autocast_dtype"] = str(dtype).removeprefix("torch.") if dtype is not None else None
        outcome = painter.paint(content, [style], run_options, seed=0, callback=clock)
        sync()
        result.update(seconds=time.perf_counter() - started, steps=outcome.steps, stopped_at_cap=outcome.stopped,
                      final_loss=outcome.losses[-1]["total"] if outcome.losses else None)
    except Exception as error:  # a benchmark reports a failed run and goes on to the next
        result.update(error=f"{type(error).__name__}: {first_line(str(error))}", steps=len(timestamps))
    per_step = final_stage_steps(timestamps, final.first_step)
    result.update(final_stage_size=list(final.size), final_stage_steps_timed=len(per_step),
                  final_stage_step_s=statistics.median(per_step) if per_step else None,
                  final_stage_step_mean_s=statistics.mean(per_step) if per_step else None)
    if timestamps and 1 in timestamps:
        result["first_step_s"] = timestamps[1] - started
    result["peak_cuda_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    result["peak_cuda_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20 if cuda else None
    return result


def exit_status(results: dict[str, Any]) -> int:
    """1 when a device test failed or a timed run stopped with an error, else 0."""
    return 1 if not results["tests"]["ok"] or any("error" in run for run in results["runs"]) else 0


def report(results: dict[str, Any]) -> None:
    """Print the tests' outcome and the timed runs' table."""
    tests = results["tests"]
    if "error" in tests:
        print(f"device tests: {tests['error']}")
    else:
        print(f"device tests: {tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
              f"{tests['skipped']} skipped ({tests['seconds']:.0f} s)")
    for failure in tests.get("failures", []):
        print(f"  {failure['kind']}: {failure['test']}: {failure['first_line']}")
    for reason, count in tests.get("skip_reasons", {}).items():
        print(f"  skipped {count}: {reason}")

    def number(value: float | None, form: str) -> str:
        return "-" if value is None else format(value, form)

    gpu = results["gpu"]["name"] if results.get("gpu") else results["device"]
    table(f"{results['size']} px, {results['steps']} steps on {gpu} (s/step: median of the output-size stage)",
          ["backbone", "precision", "weights", "steps", "s/step", "run s", "peak MB", "note"],
          [[run["arch"], run["precision"], run["weights"], f"{run['steps']}/{run['steps_planned']}",
            number(run.get("final_stage_step_s"), ".4f"), number(run.get("seconds"), ".1f"),
            number(run.get("peak_cuda_allocated_mb"), ".0f"),
            run.get("error") or ("stopped at the time cap" if run.get("stopped_at_cap") else "")]
           for run in results["runs"]])


def main(argv: list[str] | None = None) -> int:
    """Run the device tests and the timed runs, saving the JSON after each part."""
    args = parser().parse_args(argv)
    import torch

    if not args.dry_run_cpu and not torch.cuda.is_available():
        print(f"{parser().prog}: CUDA is not available here (torch {torch.__version__}); "
              "run it on a CUDA machine, or try it on the CPU with --dry-run-cpu", file=sys.stderr)
        return 2
    pad_heap_for_runs()  # as `siayn` does, so the runs measured are the command's
    plan = plan_for(args)
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    gpu = gpu_description() if plan.device == "cuda" else None
    output = args.output or RESULTS / (f"gpu_check_{slug(gpu['name'])}.json" if gpu else "gpu_check_dry_run_cpu.json")
    started = time.perf_counter()
    results: dict[str, Any] = {"mode": "dry-run-cpu" if args.dry_run_cpu else "gpu", "device": plan.device,
                               "gpu": gpu, "conditions": conditions(threads), "size": plan.size,
                               "steps": plan.steps, "time_cap_s": plan.time_cap_s, "runs": []}
    print(f"device tests: {' '.join(args.tests or DEVICE_TESTS)}", flush=True)
    results["tests"] = run_device_tests(list(args.tests or DEVICE_TESTS), plan.tests_timeout_s)
    write_json(output, results)
    reg = registry()
    for arch in BACKBONES:
        for precision in PRECISIONS:
            print(f"timing {arch} in {precision} on {plan.device}", flush=True)
            results["runs"].append(timed_run(arch, precision, plan, args.weights, reg))
            results["seconds"] = time.perf_counter() - started
            write_json(output, results)
    report(results)
    print(f"wrote {output}")
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
