"""Make a very large stylized image (4096 px by default) with multi-scale and tiles.

    python -m benchmarks.large_image CONTENT STYLE [--scaler 4] [--stage-steps 100 50 25 8 3 2] [--set KEY=VALUE]

Run from the repository root. Logs every step (stage size, losses, seconds, resident
memory) and writes the result, a downscaled copy and a 1:1 crop (to look for seams) into
``--output`` (default ``benchmarks/results/large``), plus ``large.json`` with the timings
and the peak memory. Uses the real VGG16 weights from ``../shared/weights`` (or
``--weights``) through a temporary TORCH_HOME when the file exists.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __name__ == "__main__" and not __package__:
    # Run as a file, the package's relative imports below cannot work.
    sys.exit("run it from the repository root as: python -m benchmarks.large_image CONTENT STYLE")

from siayn_core.cli.heap import pad_heap_for_runs  # noqa: E402
from .common import (  # noqa: E402
    DEFAULT_WEIGHTS,
    RESULTS,
    memory_mb,
    options,
    parse_settings,
    registry,
    with_weights,
    write_json,
)

if TYPE_CHECKING:
    from siayn_core.engine.loop import Iterate


def main(argv: list[str] | None = None) -> int:
    """Make the image and write it, its copies and ``large.json``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large_image",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("content", type=Path)
    parser.add_argument("style", type=Path)
    parser.add_argument("--scaler", type=float, default=4.0)
    parser.add_argument("--stage-steps", type=int, nargs="+", default=[100, 50, 25, 8, 3, 2])
    parser.add_argument("--tile-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--output", type=Path, default=RESULTS / "large")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="any other stylize setting, as siayn stylize --set takes it")
    args = parser.parse_args(argv)
    pad_heap_for_runs()  # as `siayn` does, so the runs measured are the command's

    import torch
    from PIL import Image

    from siayn_core.engine import stylize
    from siayn_core.io.images import read_image, to_pil, write_image

    if args.threads:
        torch.set_num_threads(args.threads)
    home = with_weights(args.weights)
    reg = registry()
    settings: dict[str, Any] = {
        "scaler": args.scaler,
        "stage_steps": args.stage_steps,
        "tile_size": args.tile_size,
        "seed": 0,
        "style_reference": None,  # this benchmark measures optimizing every size, in tiles
        **({} if home else {"backbone_options": {"weights": "none"}}),
        **parse_settings(args.settings),  # last, so that --set overrides the flags
    }
    run_options = options(**settings)
    log_records: list[dict[str, Any]] = []
    previous = [time.perf_counter()]

    def log(iterate: Iterate) -> None:
        now = time.perf_counter()
        record = {
            "step": iterate.step,
            "size": [int(iterate.image.shape[-1]), int(iterate.image.shape[-2])],
            "seconds": round(iterate.elapsed, 1),
            "step_seconds": round(now - previous[0], 1),
            "rss_mb": round(memory_mb("VmRSS")),
            **{key: round(value, 2) for key, value in iterate.losses.items()},
        }
        previous[0] = now
        log_records.append(record)
        print(json.dumps(record), flush=True)

    content, style = read_image(args.content), read_image(args.style)
    started = time.perf_counter()
    result = stylize(content, [style], run_options, registry=reg, device="cpu", seed=0, callback=log)
    seconds = time.perf_counter() - started
    args.output.mkdir(parents=True, exist_ok=True)
    image = to_pil(result.image)
    full = write_image(image, args.output / "large.png")
    small = image.copy()
    small.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
    write_image(small, args.output / "large_1024.jpg")
    width, height = image.size
    crop = image.crop((width // 2 - 512, height // 2 - 384, width // 2 + 512, height // 2 + 384))
    write_image(crop, args.output / "large_crop.jpg")
    summary = {
        "size": list(image.size),
        "stage_steps": args.stage_steps,
        "tile_size": args.tile_size,
        "settings": args.settings,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "weights": "imagenet" if home else "random",
        "threads": torch.get_num_threads(),
        "output": str(full),
        "steps": log_records,
    }
    write_json(args.output / "large.json", summary)
    print(json.dumps({key: value for key, value in summary.items() if key != "steps"}), flush=True)
    if home:
        home.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
