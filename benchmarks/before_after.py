"""Time to quality and step overhead before and after a change: an older checkout's quality
(and, with ``--overhead``, overhead) sections and this tree's, one after the other in one run.

    python -m benchmarks.before_after --old ../old --output benchmarks/results/before_after/x.json

Each side runs ``python -m benchmarks.run --only quality --quick`` in its own tree and process,
with that tree and its ``plugins/`` on PYTHONPATH: its own single-scale baseline, which sets the
target (so that both sides' multi-scale runs are timed in a process equally warmed up), then the
multi-scale run to that target. With ``--overhead``, each side then times its own
engine step against the bare backbone pass (``--only overhead --quick``). The comparison means most when the change leaves the baseline
alone: the output says whether the two targets are the same number. The JSON holds both sides'
results, their commits and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .common import DEFAULT_WEIGHTS, REPO, conditions


def commit_of(tree: Path) -> str:
    """The commit checked out in ``tree`` (``unknown`` outside git)."""
    found = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


def overhead_in(tree: Path, output: Path, threads: int) -> list[dict[str, Any]]:
    """Run the overhead section of the benchmark in ``tree``; its ``overhead`` rows."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(tree / "plugins")]))
    command = [sys.executable, "-m", "benchmarks.run", "--only", "overhead", "--quick", "--threads", str(threads),
               "--output", str(output)]
    subprocess.run(command, cwd=tree, env=env, check=True)
    return json.loads(output.read_text())["overhead"]


def overhead_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each size's engine step and its overhead over the bare pass in the same format."""
    return [{"arch": row["arch"], "size": row["size"], "engine_step_s": round(row["engine_step_s"], 4),
             "bare_s": round(row.get("bare_same_format_s", row["bare_channels_last_s"]), 4),
             "overhead": round(row["overhead_vs_same_format"], 4)} for row in rows]


def quality_in(tree: Path, output: Path, size: int, steps: int, threads: int, weights: Path) -> dict[str, Any]:
    """Run the quality section of the benchmark in ``tree``; its ``quality`` result."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(tree / "plugins")]))
    command = [sys.executable, "-m", "benchmarks.run", "--only", "quality", "--quick", "--quality-size", str(size),
               "--quality-steps", str(steps), "--threads", str(threads), "--weights", str(weights),
               "--output", str(output)]
    subprocess.run(command, cwd=tree, env=env, check=True)
    quality = json.loads(output.read_text())["quality"]
    if "skipped" in quality:
        raise SystemExit(f"{tree}: time to quality skipped ({quality['skipped']})")
    return quality


def summary(side: dict[str, Any]) -> dict[str, Any]:
    """The numbers the table shows for one side."""
    multi = side["multi_scale"]
    return {"target": side["target_objective"], "step_at_target": multi["step_at_target"],
            "seconds_to_target": multi["seconds_to_target"], "cpu_seconds_to_target": multi["cpu_seconds_to_target"],
            "final_objective": multi["final_objective"], "stages": multi["stages"]}


def main(argv: list[str] | None = None) -> int:
    """Old, then new; write both to ``--output`` and print the comparison."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.before_after",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="the older checkout (its own benchmarks/run.py)")
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--size", type=int, default=256, help="long side of the images")
    parser.add_argument("--steps", type=int, default=100, help="steps of the baseline and of the multi-scale runs")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="VGG16 weights, for both sides")
    parser.add_argument("--overhead", action="store_true", help="also the step overhead section, old then new")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        old_json, new_json = Path(folder) / "old.json", Path(folder) / "new.json"
        old = quality_in(args.old.resolve(), old_json, args.size, args.steps, args.threads, args.weights.resolve())
        new = quality_in(REPO, new_json, args.size, args.steps, args.threads, args.weights.resolve())
        if args.overhead:
            old_overhead = overhead_in(args.old.resolve(), Path(folder) / "old_overhead.json", args.threads)
            new_overhead = overhead_in(REPO, Path(folder) / "new_overhead.json", args.threads)
    result = {"conditions": conditions(args.threads), "size": args.size, "steps": args.steps,
              "old": {"commit": commit_of(args.old), **old}, "new": {"commit": commit_of(REPO), **new},
              "summary": {"old": summary(old), "new": summary(new),
                          "same_target": old["target_objective"] == new["target_objective"]}}
    if args.overhead:
        result["old"]["overhead"], result["new"]["overhead"] = old_overhead, new_overhead
        result["summary"]["overhead"] = {"old": overhead_summary(old_overhead), "new": overhead_summary(new_overhead)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"targets (single scale, {args.steps} steps, clamped): old {old['target_objective']!r}, "
          f"new {new['target_objective']!r}")
    for name in ("old", "new"):
        side = result["summary"][name]
        print(f"{name} {result[name]['commit']}: target at step {side['step_at_target']}, "
              f"{side['seconds_to_target']} s ({side['cpu_seconds_to_target']} CPU s), "
              f"final {side['final_objective']:.6g}")
    if args.overhead:
        for before, after in zip(result["summary"]["overhead"]["old"], result["summary"]["overhead"]["new"]):
            print(f"{after['arch']} {after['size']} px step: old {before['engine_step_s']} s "
                  f"(+{before['overhead']:.1%} over bare), new {after['engine_step_s']} s (+{after['overhead']:.1%})")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
