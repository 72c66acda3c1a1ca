"""Make the pictures of docs/stylize.md's controls from the bundled example images.

    TORCH_HOME=... python docs/pictures.py [--steps 100] [--size 256]

Needs the real VGG16 weights in TORCH_HOME's cache. Writes ``docs/images/controls/`` and
prints each run's seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from siayn_core import stylize
from siayn_core.resources import examples_dir

OUT = Path(__file__).resolve().parent / "images" / "controls"

#: Picture name -> the settings it shows, on the bundled photo as The Starry Night.
CONTROLS: dict[str, dict[str, Any]] = {
    "color-none": {},
    "color-luminance": {"color_control": "luminance"},
    "color-match": {"color_control": "match"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    photo, painting = examples_dir() / "tubingen.jpg", examples_dir() / "starry_night.jpg"
    for name, settings in CONTROLS.items():
        started = time.perf_counter()
        image = stylize(photo, painting, size=args.size, num_steps=args.steps, seed=0, **settings)
        image.save(OUT / f"{name}.jpg", quality=88)
        print(f"{name}: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
