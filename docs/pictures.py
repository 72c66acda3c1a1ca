"""Make the pictures of docs/stylize.md's controls from the bundled example images.

    TORCH_HOME=... python docs/pictures.py [--steps 100] [--size 256] [--only NAME ...]

Needs the real VGG16 weights in TORCH_HOME's cache. Writes ``docs/images/controls/`` (the
masks the region pictures use, then each picture) and prints each run's seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from siayn_core import stylize
from siayn_core.io.resources import examples_dir

OUT = Path(__file__).resolve().parent / "images" / "controls"
MASKS = OUT / "masks"
PHOTO = examples_dir() / "tubingen.jpg"
STARRY, WAVE = examples_dir() / "starry_night.jpg", examples_dir() / "great_wave.jpg"

#: Picture name -> its style images and the settings it shows, on the bundled photo.
CONTROLS: dict[str, tuple[list[Path], dict[str, Any]]] = {
    "color-none": ([STARRY], {}),
    "color-luminance": ([STARRY], {"color_control": "luminance"}),
    "color-match": ([STARRY], {"color_control": "match"}),
    "regions-halves": ([STARRY, WAVE], {"style_masks": [str(MASKS / "left.png"), str(MASKS / "right.png")]}),
    "regions-auto": ([STARRY, WAVE], {"style_masks": "auto"}),
    "regions-keep": ([STARRY], {"content_mask": str(MASKS / "left.png")}),
    "scale-0.5": ([STARRY], {"style_scale": 0.5}),
    "scale-2": ([STARRY], {"style_scale": 2.0}),
    "fine-style": ([STARRY], {"fine_style": str(WAVE)}),
}


def write_masks() -> None:
    """Left and right halves of the photo, white where a style applies."""
    MASKS.mkdir(parents=True, exist_ok=True)
    width, height = Image.open(PHOTO).size
    left = Image.fromarray(np.tile(np.where(np.arange(width) < width // 2, 255, 0), (height, 1)).astype(np.uint8), "L")
    left.save(MASKS / "left.png")
    Image.eval(left, lambda value: 255 - value).save(MASKS / "right.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--only", nargs="*", choices=sorted(CONTROLS), help="make only these pictures")
    args = parser.parse_args()
    write_masks()
    for name in args.only or CONTROLS:
        styles, settings = CONTROLS[name]
        started = time.perf_counter()
        image = stylize(PHOTO, styles, size=args.size, num_steps=args.steps, seed=0, **settings)
        image.save(OUT / f"{name}.jpg", quality=88)
        print(f"{name}: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
