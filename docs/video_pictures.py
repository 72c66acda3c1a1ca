"""Make docs/video.md's pictures and numbers: the bundled photo panned into a clip, stylized
with ``siayn video``'s temporal consistency and, for comparison, frame by frame on its own.

    TORCH_HOME=... python docs/video_pictures.py [--frames 24] [--size 128] [--steps 40]

Needs the real VGG16 weights in TORCH_HOME's cache. Writes ``docs/images/video/``: the two
clips as GIFs, a strip of their first frames and ``flicker.json`` (the mean warped difference
between consecutive frames of each, the seconds and the machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from siayn_core import load_plugins
from siayn_core.config.build import build_options
from siayn_core.engine import stylize
from siayn_core.io.images import read_image, to_pil
from siayn_core.io.resources import examples_dir
from siayn_core.video.clip import VideoOptions, stylize_clip
from siayn_core.io.clips import read_clip
from siayn_core.video.shots import flicker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, from a script run
from benchmarks.common import conditions  # noqa: E402

OUT = Path(__file__).resolve().parent / "images" / "video"
STYLE = examples_dir() / "starry_night.jpg"


def panned_clip(count: int, width: int, step: int) -> list[Image.Image]:
    """The bundled photo panned ``step`` px right and half that down per frame."""
    height = width * 3 // 4
    photo = read_image(examples_dir() / "tubingen.jpg").resize((width + step * count, height + step * count // 2))
    return [photo.crop((step * i, step * i // 2, step * i + width, step * i // 2 + height)) for i in range(count)]


def save_gif(frames: list[Image.Image], target: Path, fps: float = 8.0) -> None:
    frames[0].save(target, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)


def strip(rows: list[list[Image.Image]], count: int) -> Image.Image:
    """The first ``count`` frames of each row side by side, rows one above the other."""
    width, height = rows[0][0].size
    sheet = Image.new("RGB", (width * count, height * len(rows)), "white")
    for row, frames in enumerate(rows):
        for column, frame in enumerate(frames[:count]):
            sheet.paste(frame, (column * width, row * height))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--step-px", type=int, default=3, help="the pan per frame in px")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    registry = load_plugins().registry
    frames = panned_clip(args.frames, args.size, args.step_px)
    first = build_options({"num_steps": args.steps, "size": args.size, "min_size": None}, where="docs/video_pictures.py")
    later = build_options({"num_steps": args.steps // 2, "size": args.size, "min_size": None},
                          where="docs/video_pictures.py")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "clip"
        folder.mkdir()
        for index, frame in enumerate(frames):
            frame.save(folder / f"f{index:03d}.png")
        started = time.perf_counter()
        done = stylize_clip(read_clip(folder), [STYLE], first, VideoOptions(), Path(scratch) / "out.mp4",
                            registry=registry, device="cpu", seed=0)
        temporal_seconds = time.perf_counter() - started
        temporal = [read_image(path) for path in sorted((done.frames_dir / "frames").glob("frame_*.png"))]
    style = read_image(STYLE)
    started = time.perf_counter()
    alone = [to_pil(stylize(frame, [style], first if index == 0 else later, registry=registry, device="cpu",
                            seed=index).image) for index, frame in enumerate(frames)]
    alone_seconds = time.perf_counter() - started
    save_gif(temporal, OUT / "temporal.gif")
    save_gif(alone, OUT / "independent.gif")
    strip([frames, alone, temporal], 6).save(OUT / "strip.jpg", quality=88)
    numbers = {
        "frames": args.frames, "size": list(temporal[0].size), "steps_first": args.steps, "steps_later": args.steps // 2,
        "pan_px_per_frame": args.step_px, "style": STYLE.name, "backbone": "vgg16 (IMAGENET1K_V1)",
        "flicker_temporal": round(flicker(frames, temporal), 3), "flicker_independent": round(flicker(frames, alone), 3),
        "seconds_temporal": round(temporal_seconds, 1), "seconds_independent": round(alone_seconds, 1),
        "machine": conditions(torch.get_num_threads()),
        "torch": torch.__version__,
    }
    numbers["flicker_ratio"] = round(numbers["flicker_temporal"] / numbers["flicker_independent"], 3)
    (OUT / "flicker.json").write_text(json.dumps(numbers, indent=2) + "\n")
    print(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
