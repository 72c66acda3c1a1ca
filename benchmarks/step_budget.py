"""Judged quality against the step budget of the default run, on every bundled pair.

    python -m benchmarks.step_budget --output benchmarks/results/step_budget_xeon.json

Each content/style pair of ``../shared/data/images`` is stylized with the defaults (VGG16 with
its ImageNet weights, 256 px, seed 0, ``precision: auto``) at each ``--steps`` budget, every
budget a run of its own (the multi-scale stages follow ``num_steps``), and judged by the
measures of :mod:`benchmarks.judged`. The JSON holds each run's measures and seconds and each
budget's mean and largest change from the largest budget (:mod:`benchmarks.sweep`).
"""

from __future__ import annotations

import sys

from .sweep import arguments, sweep


def main(argv: list[str] | None = None) -> int:
    """Every pair at every budget."""
    parser = arguments("python -m benchmarks.step_budget", (__doc__ or "").split("\n\n")[0], "steps",
                       [100, 150, 200, 300], "the step budgets")
    args = parser.parse_args(argv)
    budgets = sorted(args.steps)
    return sweep(args, "budgets", "steps", budgets, lambda steps: ({}, steps), reference=budgets[-1])


if __name__ == "__main__":
    sys.exit(main())
