"""Judged quality against the step budget of the default run, on every bundled pair.

    python -m benchmarks.step_budget --output benchmarks/results/step_budget_xeon.json

Each content/style pair of ``../shared/data/images`` is stylized with the defaults (VGG16 with
its ImageNet weights, 256 px, seed 0, ``precision: auto``) at each ``--steps`` budget, every
budget a run of its own (the multi-scale stages follow ``num_steps``), and judged by the
measures of :mod:`benchmarks.judged`. The JSON holds each run's measures and seconds and each
budget's mean change from the largest budget.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .common import DEFAULT_WEIGHTS, conditions, registry, with_weights, write_json
from .judged import IMAGES, Judge, bundled_pairs, judged_run

MEASURES = ("style", "content", "colour")


def main(argv: list[str] | None = None) -> int:
    """Every pair at every budget; write the JSON and print a line per budget."""
    import torch

    from siayn_core.io.images import output_size, read_image

    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_budget",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--size", type=int, default=256, help="long side of the results")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 150, 200, 300], help="the step budgets")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="VGG16 weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    home = with_weights(args.weights)
    pairs = bundled_pairs()
    if home is None or not pairs:
        print(f"needs the VGG16 weights ({args.weights}) and the images in {IMAGES}", file=sys.stderr)
        return 2
    budgets = sorted(args.steps)
    result: dict[str, Any] = {"conditions": conditions(args.threads), "size": args.size, "budgets": budgets,
                              "pairs": []}
    with home:
        reg = registry()
        for content_path, style_path in pairs:
            content, style = read_image(content_path), read_image(style_path)
            judge = Judge(reg, content, style, output_size(content.size, longer_side=args.size, scale=1.0))
            runs = {}
            for steps in budgets:
                run = judged_run(content, style, {}, size=args.size, steps=steps, budget=None, judge=judge,
                                 every=10**9, reg=reg, device="cpu")
                run.pop("image")
                run.pop("curve")
                runs[str(steps)] = run
                print(f"{style_path.stem} {steps} steps: {run['seconds']:.1f} s, style {run['style']:.4f}, "
                      f"content {run['content']:.4f}", flush=True)
            result["pairs"].append({"content": content_path.name, "style": style_path.name, "runs": runs})
            write_json(args.output, result)
    largest = str(budgets[-1])
    result["mean_change_from_largest"] = {
        str(steps): {measure: sum(pair["runs"][str(steps)][measure] / pair["runs"][largest][measure] - 1
                                  for pair in result["pairs"]) / len(result["pairs"]) for measure in MEASURES}
        for steps in budgets
    }
    result["mean_seconds"] = {str(steps): sum(pair["runs"][str(steps)]["seconds"] for pair in result["pairs"])
                              / len(result["pairs"]) for steps in budgets}
    write_json(args.output, result)
    print(f"mean change from {largest} steps: {result['mean_change_from_largest']}; "
          f"mean seconds: {result['mean_seconds']}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
