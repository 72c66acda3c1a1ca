"""Seconds per frame of a stylized clip, before and after a change, in one run.

    python -m benchmarks.video_frames --old ../old --output benchmarks/results/video_frames.json

The clip is docs/video.md's: the bundled photo panned 3 px per frame into 24 frames at
128x96 px, The Starry Night, VGG16 with its ImageNet weights, 40 steps for a shot's first
frame and 20 for each later one, seed 0. Each side runs ``siayn video``'s engine call
(``stylize_clip``) in its own process with its own tree on ``PYTHONPATH`` (the older tree's
flat module layout included), one after the other, and reports the clip's seconds, the
seconds per frame and how often the weights file was loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Loaded by file in the measured process, beside either tree's own benchmarks package.
REPO = Path(__file__).resolve().parents[1]
FRAMES, SIZE, STEPS, PAN_PX = 24, 128, 40, 3


def measure(frames: int, size: int, steps: int, threads: int) -> dict[str, Any]:
    """Stylize the panned clip with the tree on ``sys.path``; its timings."""
    import time

    import torch
    from PIL import Image

    import siayn_core
    from siayn_core.video import stylize_clip

    try:  # the layer subpackages
        from siayn_core.config.build import build_options
        from siayn_core.io.clips import read_clip
        from siayn_core.io.resources import examples_dir
        from siayn_core.video.options import VideoOptions
    except ImportError:  # the flat layout before them
        from siayn_core.config_build import build_options  # type: ignore[no-redef]
        from siayn_core.resources import examples_dir  # type: ignore[no-redef]
        from siayn_core.video_io import read_clip  # type: ignore[no-redef]
        from siayn_core.video_options import VideoOptions  # type: ignore[no-redef]

    torch.set_num_threads(threads)
    loads: list[str] = []
    torch_load = torch.load

    def counted_load(file: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(str(file))
        return torch_load(file, *args, **kwargs)

    torch.load = counted_load  # type: ignore[assignment]
    photo = Image.open(examples_dir() / "tubingen.jpg").convert("RGB")
    photo = photo.resize((size, round(size * photo.height / photo.width)), Image.Resampling.LANCZOS)
    style = examples_dir() / "starry_night.jpg"
    registry = siayn_core.load_plugins().registry
    options = build_options({"num_steps": steps, "size": size, "min_size": None}, where="benchmarks.video_frames")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "clip"
        folder.mkdir()
        for index in range(frames):
            shift = (1, 0, index * PAN_PX, 0, 1, index * PAN_PX // 2)
            photo.transform(photo.size, Image.Transform.AFFINE, shift, Image.Resampling.BILINEAR).save(
                folder / f"f{index:03d}.png")
        started = time.perf_counter()
        done = stylize_clip(read_clip(folder), [style], options, VideoOptions(), Path(scratch) / "out.mp4",
                            registry=registry, device="cpu", seed=0)
        seconds = time.perf_counter() - started
    assert done.frames == frames
    return {"frames": frames, "seconds": round(seconds, 2), "seconds_per_frame": round(seconds / frames, 3),
            "weight_loads": sum(path.endswith(".pth") for path in loads), "siayn": siayn_core.__file__}


def side(tree: Path, threads: int, weights: Path) -> dict[str, Any]:
    """:func:`measure` in a process of its own with ``tree`` first on ``PYTHONPATH``."""
    home = Path(tempfile.mkdtemp()) / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    (home / "hub" / "checkpoints" / weights.name).symlink_to(weights)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(tree / "plugins")]), TORCH_HOME=str(home))
    code = ("import importlib.util, json, sys; "
            f"spec = importlib.util.spec_from_file_location('video_frames', {str(Path(__file__).resolve())!r}); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            f"print(json.dumps(module.measure({FRAMES}, {SIZE}, {STEPS}, {threads})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=home, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{tree}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Old, then new; write both to ``--output`` and print the comparison."""
    from .before_after import commit_of
    from .common import DEFAULT_WEIGHTS, conditions

    parser = argparse.ArgumentParser(prog="python -m benchmarks.video_frames",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="the older checkout")
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--weights", type=Path, default=None, help="VGG16 weights, for both sides")
    args = parser.parse_args(argv)
    weights = (args.weights or DEFAULT_WEIGHTS).resolve()
    old = side(args.old.resolve(), args.threads, weights)
    new = side(REPO, args.threads, weights)
    result = {"conditions": conditions(args.threads),
              "clip": {"frames": FRAMES, "size": SIZE, "steps_first": STEPS, "steps_later": STEPS // 2,
                       "pan_px_per_frame": PAN_PX, "style": "starry_night.jpg", "backbone": "vgg16 (IMAGENET1K_V1)"},
              "old": {"commit": commit_of(args.old), **old}, "new": {"commit": commit_of(REPO), **new},
              "ratio_new_to_old": round(new["seconds"] / old["seconds"], 3)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    for name in ("old", "new"):
        print(f"{name} {result[name]['commit']}: {result[name]['seconds_per_frame']} s per frame, "
              f"{result[name]['weight_loads']} weight loads")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
