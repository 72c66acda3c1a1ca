"""Judged quality and time against L-BFGS's history size, at equal steps, on every bundled pair.

    python -m benchmarks.history_judged --output benchmarks/results/history_judged_xeon.json

The defaults at ``--steps`` steps and 256 px, once per ``--history`` size
(``opt_options.history_size``), judged as :mod:`benchmarks.sweep` says; the JSON holds each
run's measures and seconds and each size's mean and largest change from 100 pairs'.
"""

from __future__ import annotations

import sys

from .sweep import arguments, sweep


def main(argv: list[str] | None = None) -> int:
    """Every pair at every history size."""
    parser = arguments("python -m benchmarks.history_judged", (__doc__ or "").split("\n\n")[0], "history",
                       [100, 20], "the history sizes")
    parser.add_argument("--steps", type=int, default=300, help="steps of every run")
    args = parser.parse_args(argv)
    sizes = sorted(args.history, reverse=True)
    return sweep(args, "history_sizes", "history", sizes,
                 lambda history: ({"opt_options": {"history_size": history}}, args.steps), reference=sizes[0])


if __name__ == "__main__":
    sys.exit(main())
