"""bfloat16 against float32 at equal steps, judged independently, on every bundled pair.

    python -m benchmarks.precision_judged --output benchmarks/results/precision_judged_xeon.json

Each content/style pair of ``../shared/data/images`` is stylized with the defaults (VGG16 with
its ImageNet weights, ``--steps`` steps at ``--size`` px, seed 0) twice: with the backbone in
float32 and in bfloat16. Both results are judged by the measures of :mod:`benchmarks.judged`
(relative Gram distance at relu1_2 ... relu4_3, relative feature distance at relu3_3, colour
histogram distance), which run in float32 whatever precision made the picture; the JSON holds
each run's measures, seconds and the relative difference of bfloat16 from float32.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .common import DEFAULT_WEIGHTS, conditions, registry, with_weights, write_json
from .judged import IMAGES, Judge, bundled_pairs, judged_run

PRECISIONS = ("float32", "bfloat16")


def measure_pair(content_path: Path, style_path: Path, *, size: int, steps: int, reg: Any) -> dict[str, Any]:
    """Both precisions on one pair, judged at the end and every 50 steps."""
    from siayn_core.io.images import output_size, read_image

    content, style = read_image(content_path), read_image(style_path)
    judge = Judge(reg, content, style, output_size(content.size, longer_side=size, scale=1.0))
    runs = {}
    for precision in PRECISIONS:
        run = judged_run(content, style, {"precision": precision}, size=size, steps=steps, budget=None, judge=judge,
                         every=50, reg=reg, device="cpu")
        run.pop("image")
        runs[precision] = run
    float32, bfloat16 = runs["float32"], runs["bfloat16"]
    change = {measure: (bfloat16[measure] - float32[measure]) / float32[measure]
              for measure in ("style", "content", "colour")}
    return {"content": content_path.name, "style": style_path.name, "runs": runs, "bfloat16_change": change}


def main(argv: list[str] | None = None) -> int:
    """Every pair, both precisions; write the JSON and print a line per pair."""
    import torch

    parser = argparse.ArgumentParser(prog="python -m benchmarks.precision_judged",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--size", type=int, default=256, help="long side of the results")
    parser.add_argument("--steps", type=int, default=300, help="steps of every run")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="VGG16 weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    home = with_weights(args.weights)
    pairs = bundled_pairs()
    if home is None or not pairs:
        print(f"needs the VGG16 weights ({args.weights}) and the images in {IMAGES}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"conditions": conditions(args.threads), "size": args.size, "steps": args.steps,
                              "pairs": []}
    with home:
        reg = registry()
        for content, style in pairs:
            pair = measure_pair(content, style, size=args.size, steps=args.steps, reg=reg)
            result["pairs"].append(pair)
            write_json(args.output, result)
            runs, change = pair["runs"], pair["bfloat16_change"]
            print(f"{style.stem}: float32 {runs['float32']['seconds']:.1f} s, bfloat16 "
                  f"{runs['bfloat16']['seconds']:.1f} s; bfloat16 style {change['style']:+.2%}, "
                  f"content {change['content']:+.2%}, colour {change['colour']:+.2%}", flush=True)
    changes = [pair["bfloat16_change"] for pair in result["pairs"]]
    result["largest_change"] = {measure: max(abs(change[measure]) for change in changes)
                                for measure in ("style", "content", "colour")}
    write_json(args.output, result)
    print(f"largest |change|: {result['largest_change']}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
