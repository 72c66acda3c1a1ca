"""Peak memory: peak RSS (and CUDA max allocated on a GPU) of a short run at 512, 1024 and
2048 px, each size in a fresh interpreter (``python -m benchmarks.memory --child ...``,
which prints one JSON line) so the peaks do not mix."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from siayn_core.cli.heap import pad_heap_for_runs
from .common import LAYERS, REPO, Session, memory_mb, options, registry, table


def child(arch: str, size: int, steps: int, tile: int | None, device: str, threads: int) -> dict[str, Any]:
    """Run ``steps`` steps at ``size`` px on random images in this process and return its
    peak memory; meant for a fresh interpreter, whose peak is this run's alone."""
    import torch
    from PIL import Image

    from siayn_core.engine import stylize

    torch.set_num_threads(threads)
    reg = registry()
    run_options = options(backbone=arch, backbone_options={"weights": "none"}, min_size=None, num_steps=steps,
                          tile_size=tile, style_reference=None, **LAYERS)
    generator = torch.Generator().manual_seed(0)

    def image() -> Image.Image:
        array = (torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8).numpy()
        return Image.fromarray(array, "RGB")

    before = memory_mb("VmHWM")
    started = time.perf_counter()
    result = stylize(image(), [image()], run_options, registry=reg, device=device, seed=0)
    peak = memory_mb("VmHWM")
    cuda = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return {"peak_rss_mb": peak, "rss_before_run_mb": before, "cuda_max_allocated_mb": cuda / 2**20 if cuda else None,
            "seconds": time.perf_counter() - started, "steps": result.steps}


def measure_memory(arch: str, size: int, steps: int, tile: int | None, device: str, threads: int) -> dict[str, Any]:
    """Peak memory of a ``steps``-step run at ``size`` px, in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks.memory", "--child", "--arch", arch, "--size", str(size),
               "--steps", str(steps), "--device", device, "--threads", str(threads)]
    if tile is not None:
        command += ["--tile", str(tile)]
    # From the repository root, where ``-m benchmarks.memory`` is found.
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if completed.returncode != 0:
        return {"arch": arch, "size": size, "tile_size": tile, "error": completed.stderr.strip().splitlines()[-1:]}
    return {"arch": arch, "size": size, "tile_size": tile, **json.loads(completed.stdout.strip().splitlines()[-1])}


def run(session: Session) -> None:
    """The section: VGG19 at 512 and 1024 px (quick), or up to 2048 px with and without tiles."""
    session.results["memory"] = []
    plan = [("vgg19", 512, 2, 1024), ("vgg19", 1024, 2, 1024)] if session.args.quick else [
        ("vgg16", 512, 3, 1024), ("vgg19", 512, 3, 1024), ("vgg19", 1024, 2, 1024), ("vgg19", 2048, 1, 1024),
        ("vgg19", 2048, 1, None)]
    for arch, size, steps, tile in plan:
        session.log(f"memory: {arch} at {size} px, tile_size {tile}")
        session.results["memory"].append(measure_memory(arch, size, steps, tile, session.args.device,
                                                        session.threads))
        session.save()


def report(rows: list[dict[str, Any]]) -> None:
    """Print the section's table."""
    table("Peak memory (fresh process per size)", ["backbone @ px", "tiles", "peak RSS MB", "CUDA max MB", "s"],
          [[f"{r['arch']} @ {r['size']}", str(r.get("tile_size")), f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r
            else f"error: {r.get('error')}", f"{r['cuda_max_allocated_mb']:.0f}" if r.get("cuda_max_allocated_mb")
            else "-", f"{r.get('seconds', 0):.1f}"] for r in rows])


def main(argv: list[str] | None = None) -> int:
    """The child's command line: one run, its peak memory printed as a JSON line."""
    parser = argparse.ArgumentParser(description="One run of the memory section (started by benchmarks.run).")
    parser.add_argument("--child", action="store_true", required=True, help="run one measurement and print JSON")
    parser.add_argument("--arch", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--tile", type=int, default=None, help="tile_size (default: no tiles)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    pad_heap_for_runs()  # as `siayn` does, so the runs measured are the command's
    print(json.dumps(child(args.arch, args.size, args.steps, args.tile, args.device, args.threads)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
