"""Judged quality and engine time of the defaults against one setting's values, on every
bundled pair: what :mod:`benchmarks.step_budget` and :mod:`benchmarks.history_judged` share.

Each content/style pair of ``../shared/data/images`` is stylized with the defaults (VGG16 with
its ImageNet weights, seed 0) once per value, every value a run of its own, and judged by the
measures of :mod:`benchmarks.judged`. The result holds each run's measures and seconds and
each value's mean and largest change from the reference value's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from .common import conditions, registry, write_json
from .judged import Judge, add_pair_arguments, judged_run, pairs_environment

MEASURES = ("style", "content", "colour")

#: A value's run: ``value -> (settings over the defaults, steps)``.
RunOf = Callable[[int], tuple[dict[str, Any], int]]


def arguments(prog: str, description: str, values: str, defaults: Sequence[int], help: str) -> argparse.ArgumentParser:
    """The options every sweep takes, and ``--<values>``: the values swept."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_pair_arguments(parser)
    parser.add_argument(f"--{values}", type=int, nargs="+", default=list(defaults), help=help)
    return parser


def sweep(args: argparse.Namespace, key: str, label: str, values: Sequence[int], run_of: RunOf,
          reference: int) -> int:
    """Run every pair at every value (``key`` in the JSON; ``label`` in the lines printed),
    writing ``args.output`` after each pair; print a line per run and the mean changes from
    ``reference``'s runs. Returns the exit code."""
    from siayn_core.io.images import output_size, read_image

    environment = pairs_environment(args)
    if environment is None:
        return 2
    home, pairs = environment
    result: dict[str, Any] = {"conditions": conditions(args.threads), "size": args.size, key: list(values),
                              "pairs": []}
    with home:
        reg = registry()
        for content_path, style_path in pairs:
            content, style = read_image(content_path), read_image(style_path)
            judge = Judge(reg, content, style, output_size(content.size, longer_side=args.size, scale=1.0))
            runs = {}
            for value in values:
                settings, steps = run_of(value)
                run = judged_run(content, style, settings, size=args.size, steps=steps, budget=None, judge=judge,
                                 every=10**9, reg=reg, device="cpu")
                run.pop("image")
                run.pop("curve")
                runs[str(value)] = run
                print(f"{style_path.stem}, {label} {value}: {run['seconds']:.1f} s, style {run['style']:.4f}, "
                      f"content {run['content']:.4f}", flush=True)
            result["pairs"].append({"content": content_path.name, "style": style_path.name, "runs": runs})
            write_json(args.output, result)
    base = str(reference)

    def changes(value: int) -> list[dict[str, float]]:
        return [{measure: pair["runs"][str(value)][measure] / pair["runs"][base][measure] - 1 for measure in MEASURES}
                for pair in result["pairs"]]

    result[f"mean_change_from_{reference}"] = {
        str(value): {measure: sum(change[measure] for change in changes(value)) / len(pairs) for measure in MEASURES}
        for value in values}
    result[f"largest_change_from_{reference}"] = {
        str(value): {measure: max(abs(change[measure]) for change in changes(value)) for measure in MEASURES}
        for value in values}
    result["mean_seconds"] = {str(value): sum(pair["runs"][str(value)]["seconds"] for pair in result["pairs"])
                              / len(pairs) for value in values}
    write_json(args.output, result)
    print(f"mean change from {label} {reference}: {result[f'mean_change_from_{reference}']}; "
          f"mean seconds: {result['mean_seconds']}; wrote {args.output}")
    return 0
