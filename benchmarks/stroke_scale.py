"""Stroke size at 512 px and at 4096 px: does a large output keep the strokes of a small one?

    python -m benchmarks.stroke_scale [--sizes 512 4096] [--stage-steps 100 50 25]
        [--style-reference 512|none] [--keep DIR]

Run from the repository root. Stylizes the 1024x768 test photo in The Starry Night (real
VGG16, seed 0) at each output size (the longer side, in px) with the default multi-scale
schedule from 128 px (``--stage-steps`` giving each stage's steps: the first stages' for a
smaller output, or for the stages up to ``--style-reference``), and measures the stroke width relative to the
width of the result (:func:`benchmarks.measures.stroke_width`) and of the change it painted
onto the photo (:func:`benchmarks.measures.painted_stroke_width`). Writes
``stroke_scale.json`` (and each result, downscaled to 1024 px) into ``--output``, and each
full-size result as PNG into ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    sys.exit("run it from the repository root as: python -m benchmarks.stroke_scale")

from siayn_core.cli.heap import pad_heap_for_runs  # noqa: E402
from .common import DEFAULT_WEIGHTS, REPO, RESULTS, conditions, options, registry, with_weights, write_json  # noqa: E402

IMAGES = REPO.parent / "shared" / "data" / "images"


def main(argv: list[str] | None = None) -> int:
    """Run each size, measure its strokes and write ``stroke_scale.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stroke_scale",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--stage-steps", type=int, nargs="+", default=None,
                        help="each stage's steps (default: the default schedule of num_steps 300)")
    parser.add_argument("--style-reference", type=lambda text: None if text == "none" else int(text), default=512)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--content", type=Path, default=IMAGES / "content" / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=IMAGES / "style" / "starry_night.jpg")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--output", type=Path, default=RESULTS / "stroke_scale")
    args = parser.parse_args(argv)
    pad_heap_for_runs()  # as `siayn` does, so the runs measured are the command's

    import torch
    from PIL import Image

    from siayn_core.engine import stylize
    from siayn_core.io.images import output_size, read_image, resize, to_pil, to_tensor, write_image
    from benchmarks.measures import painted_stroke_width, stroke_width
    from siayn_core.engine.schedule import reference_size, stage_sizes

    home = with_weights(args.weights)
    if home is None:
        sys.exit(f"needs the real VGG16 weights at {args.weights}")
    reg = registry()
    content, style = read_image(args.content), read_image(args.style)
    args.output.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for size in args.sizes:
        defaults = options(size=size)
        target = output_size(content.size, longer_side=size, scale=1.0)
        optimized = reference_size(target, args.style_reference) or target
        stages = len(stage_sizes(optimized, defaults.min_size, scale_factor=defaults.scale_factor))
        settings = {"size": size, "stage_steps": args.stage_steps[:stages] if args.stage_steps else None,
                    "seed": 0, "style_reference": args.style_reference}
        started = time.perf_counter()
        result = stylize(content, [style], options(**settings), registry=reg, device="cpu", seed=0)
        seconds = time.perf_counter() - started
        image = to_pil(result.image)
        photo = to_tensor(resize(content, image.size))
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            image.save(args.keep / f"starry_{size}.png")
        image.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
        write_image(image, args.output / f"starry_{size}.jpg")
        run = {**settings, "output_size": list(result.image.shape[-1:-3:-1]), "seconds": round(seconds, 1),
               "stroke_width": round(stroke_width(result.image), 5),
               "painted_stroke_width": round(painted_stroke_width(result.image, photo), 5)}
        runs.append(run)
        print(json.dumps(run), flush=True)
    first = runs[0]
    summary = {"content": args.content.name, "style": args.style.name, "weights": "imagenet (real VGG16)",
               "conditions": conditions(torch.get_num_threads()), "runs": runs,
               "ratio_to_first": {measure: [round(run[measure] / first[measure], 3) for run in runs]
                                  for measure in ("stroke_width", "painted_stroke_width")}}
    write_json(args.output / "stroke_scale.json", summary)
    print(json.dumps(summary["ratio_to_first"]), flush=True)
    home.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
