"""bfloat16 against float32 at equal steps and at equal time, judged independently, on every
bundled pair.

    python -m benchmarks.precision_judged --output benchmarks/results/precision_judged_xeon.json

Each content/style pair of ``../shared/data/images`` is stylized with the defaults (VGG16 with
its ImageNet weights, ``--steps`` steps at ``--size`` px, seed 0) four times: with the backbone
in float32, in bfloat16, in float32 again with as many steps as fit in the bfloat16 run's time
(the whole multi-scale schedule, shortened), and in float32 with ``channels_last: false``: the
same arithmetic summed in another order, whose difference from the first run is how far
rounding alone moves a result. Every result is judged by the measures of
:mod:`benchmarks.judged` (relative Gram distance at relu1_2 ... relu4_3, relative feature
distance at relu3_3, colour histogram distance), which run in float32 whatever precision made
the picture, every ``--every`` steps too. The JSON holds each run's measures, seconds and
curve; bfloat16's relative difference from float32 at equal steps and at equal time; and each
precision's time to quality: the engine seconds until the judged style distance first comes
within ``--within`` of the float32 run's final one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import conditions, registry, write_json
from .judged import Judge, add_pair_arguments, judged_run, pairs_environment

PRECISIONS = ("float32", "bfloat16")
MEASURES = ("style", "content", "colour")


def measure_pair(content_path: Path, style_path: Path, *, size: int, steps: int, every: int, within: float,
                 reg: Any) -> dict[str, Any]:
    """Both precisions at ``steps``, float32 in another layout, then float32 in bfloat16's time,
    on one pair."""
    from siayn_core.io.images import output_size, read_image

    content, style = read_image(content_path), read_image(style_path)
    judge = Judge(reg, content, style, output_size(content.size, longer_side=size, scale=1.0))

    def run(precision: str, run_steps: int, **settings: Any) -> dict[str, Any]:
        result = judged_run(content, style, {"precision": precision, **settings}, size=size, steps=run_steps,
                            budget=None, judge=judge, every=every, reg=reg, device="cpu")
        result.pop("image")
        return result

    runs = {precision: run(precision, steps) for precision in PRECISIONS}
    float32, bfloat16 = runs["float32"], runs["bfloat16"]
    runs["float32_contiguous"] = other_order = run("float32", steps, channels_last=False)
    equal_time_steps = max(1, round(steps * bfloat16["seconds"] / float32["seconds"]))
    runs["float32_in_bfloat16_time"] = equal_time = run("float32", equal_time_steps)
    target = float32["style"] * (1 + within)
    return {
        "content": content_path.name, "style": style_path.name, "runs": runs,
        "bfloat16_change": change(bfloat16, float32),
        "float32_spread": change(other_order, float32),
        "equal_time": {"float32_steps": equal_time_steps, "bfloat16_change": change(bfloat16, equal_time)},
        "seconds_to_quality": {precision: seconds_to(runs[precision], target) for precision in PRECISIONS},
    }


def change(ours: dict[str, Any], reference: dict[str, Any]) -> dict[str, float]:
    """The relative difference of each measure of ``ours`` from ``reference``'s."""
    return {measure: (ours[measure] - reference[measure]) / reference[measure] for measure in MEASURES}


def seconds_to(run: dict[str, Any], style: float) -> float | None:
    """The engine seconds at which ``run``'s judged style distance is first at most ``style``."""
    points = [*run["curve"], {"seconds": run["seconds"], "style": run["style"]}]
    return next((point["seconds"] for point in points if point["style"] <= style), None)


def main(argv: list[str] | None = None) -> int:
    """Every pair, both precisions; write the JSON and print a line per pair."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision_judged",
                                     description=(__doc__ or "").split("\n\n")[0])
    add_pair_arguments(parser)
    parser.add_argument("--steps", type=int, default=300, help="steps of the equal-steps runs")
    parser.add_argument("--every", type=int, default=10, help="judge every N steps, for the time to quality")
    parser.add_argument("--within", type=float, default=0.02,
                        help="time to quality: style distance within this share of float32's final one")
    args = parser.parse_args(argv)
    environment = pairs_environment(args)
    if environment is None:
        return 2
    home, pairs = environment
    result: dict[str, Any] = {"conditions": conditions(args.threads), "size": args.size, "steps": args.steps,
                              "within": args.within, "pairs": []}
    with home:
        reg = registry()
        for content, style in pairs:
            pair = measure_pair(content, style, size=args.size, steps=args.steps, every=args.every,
                                within=args.within, reg=reg)
            result["pairs"].append(pair)
            write_json(args.output, result)
            runs, equal_steps, equal_time = pair["runs"], pair["bfloat16_change"], pair["equal_time"]
            print(f"{style.stem}: float32 {runs['float32']['seconds']:.1f} s, bfloat16 "
                  f"{runs['bfloat16']['seconds']:.1f} s; bfloat16 at equal steps: style {equal_steps['style']:+.2%}, "
                  f"content {equal_steps['content']:+.2%} (float32 in another layout: style "
                  f"{pair['float32_spread']['style']:+.2%}, content {pair['float32_spread']['content']:+.2%}); against float32's {equal_time['float32_steps']} steps "
                  f"in its time: style {equal_time['bfloat16_change']['style']:+.2%}, content "
                  f"{equal_time['bfloat16_change']['content']:+.2%}; to quality {pair['seconds_to_quality']}",
                  flush=True)
    pairs = result["pairs"]
    result["largest_change"] = {measure: max(abs(pair["bfloat16_change"][measure]) for pair in pairs)
                                for measure in MEASURES}
    result["largest_float32_spread"] = {measure: max(abs(pair["float32_spread"][measure]) for pair in pairs)
                                        for measure in MEASURES}
    result["mean_change_at_equal_time"] = {
        measure: sum(pair["equal_time"]["bfloat16_change"][measure] for pair in pairs) / len(pairs)
        for measure in MEASURES}
    write_json(args.output, result)
    print(f"largest |change| at equal steps: {result['largest_change']}; mean change at equal time: "
          f"{result['mean_change_at_equal_time']}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
