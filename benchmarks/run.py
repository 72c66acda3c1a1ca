"""SIAYN's performance benchmark: step overhead, time to quality, peak memory.

    python -m benchmarks.run            # the full benchmark (about an hour on a 2-core CPU)
    python -m benchmarks.run --quick    # a few minutes: fewer sizes and steps

Run from the repository root. Prints tables and writes every number to a JSON file
(``--output``, default ``benchmarks/results/<full|quick>.json``). Sections (``--only``
picks some), one module each, whose docstrings say what is measured:

overhead  benchmarks/overhead.py: the engine's step against a bare forward+backward
variants  benchmarks/variants.py: memory formats and torch.compile
quality   benchmarks/quality.py: time to quality, single scale against multi-scale
judged    benchmarks/judged.py: quality at equal time by measures the runs do not optimize
memory    benchmarks/memory.py: peak memory at 512 to 2048 px, a fresh process per size

On a CUDA machine, ``python -m benchmarks.gpu_check`` is a check of five minutes: the device
tests and the defaults' step time in bfloat16 and float32 (benchmarks/gpu_check.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a file, the package's relative imports below cannot work.
    sys.exit("run the benchmark from the repository root as: python -m benchmarks.run [--quick]")

from . import judged, memory, overhead, quality, variants  # noqa: E402
from siayn_core.cli.heap import pad_heap_for_runs  # noqa: E402
from .common import DEFAULT_WEIGHTS, RESULTS, Session, conditions, registry  # noqa: E402

SECTIONS = {"overhead": overhead, "variants": variants, "quality": quality, "judged": judged, "memory": memory}


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short version: fewer sizes and steps")
    parser.add_argument("--only", action="append", choices=tuple(SECTIONS), help="run only this section (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="the engine's precision in the overhead section (default: auto, the defaults')")
    parser.add_argument("--arch", action="append", default=None, metavar="NAME",
                        help="a backbone of the overhead section (repeatable; default: vgg16 and vgg19)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="VGG16 weights for the quality section")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--baseline-from", type=Path, default=None,
                        help="reuse the single-scale part of this earlier result JSON (quality section)")
    parser.add_argument("--quality-size", type=int, default=512, help="long side of the time-to-quality images")
    parser.add_argument("--quality-steps", type=int, default=None, help="steps of the single-scale baseline")
    parser.add_argument("--judged-size", type=int, default=256, help="long side of the judged section's images")
    parser.add_argument("--judged-steps", type=int, default=None, help="steps of the defaults in the judged section")
    parser.add_argument("--judged-variant", dest="judged_variants", action="append", default=None, metavar="NAME",
                        help="only this variant of the judged section, besides the defaults and the classic recipe")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for the time-to-quality run (default: the defaults); in the judged "
                        "section, an extra variant: the defaults with these settings")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections in order, saving after each part, then print their tables."""
    args = parser().parse_args(argv)
    pad_heap_for_runs()  # as `siayn` does, so the runs measured are the command's
    import torch

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    mode = "quick" if args.quick else "full"
    session = Session(args=args, threads=threads, output=args.output or RESULTS / f"{mode}.json",
                      results={"mode": mode, "conditions": conditions(threads)}, registry=registry())
    for name, section in SECTIONS.items():
        if args.only is None or name in args.only:
            section.run(session)
    session.save()
    for name, section in SECTIONS.items():
        if session.results.get(name):
            section.report(session.results[name])
    print(f"wrote {session.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
