"""Make the gallery of the docs site: the bundled photo in each bundled painting (and both
blended), under each control, small; and ``gallery.md``, the page that shows them.

    TORCH_HOME=... python docs/gallery.py [--size 128] [--steps 100]

Needs the real VGG16 weights in TORCH_HOME's cache. Writes ``docs/images/gallery/`` and
``docs/gallery.md`` (with each picture's seconds) again from scratch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from siayn_core import stylize
from siayn_core.io.resources import examples_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks package, from a script run
from benchmarks.common import conditions  # noqa: E402

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "images" / "gallery"
PHOTO = examples_dir() / "tubingen.jpg"

#: Row label -> the style images.
STYLES: dict[str, list[Path]] = {
    "The Starry Night": [examples_dir() / "starry_night.jpg"],
    "The Great Wave": [examples_dir() / "great_wave.jpg"],
    "Both, blended": [examples_dir() / "starry_night.jpg", examples_dir() / "great_wave.jpg"],
}

#: Column label -> the settings it shows (see stylize.md for each).
CONTROLS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "color_control: luminance": {"color_control": "luminance"},
    "color_control: match": {"color_control": "match"},
    "style_scale: 0.5": {"style_scale": 0.5},
    "style_scale: 2": {"style_scale": 2.0},
}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-").replace("--", "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    rows = ["| | " + " | ".join(f"`{label}`" if ":" in label else label for label in CONTROLS) + " |",
            "| --- |" + " --- |" * len(CONTROLS)]
    for style_label, styles in STYLES.items():
        cells = []
        for control_label, settings in CONTROLS.items():
            name = f"{slug(style_label)}_{slug(control_label)}.jpg"
            started = time.perf_counter()
            stylize(PHOTO, styles, size=args.size, num_steps=args.steps, seed=0, **settings).save(OUT / name, quality=90)
            seconds[name] = round(time.perf_counter() - started, 1)
            print(f"{name}: {seconds[name]} s", flush=True)
            cells.append(f"![{style_label}, {control_label}](images/gallery/{name})")
        rows.append(f"| {style_label} | " + " | ".join(cells) + " |")
    machine = conditions(torch.get_num_threads())
    record = {"size": args.size, "steps": args.steps, "backbone": "vgg16 (IMAGENET1K_V1)", "seconds": seconds,
              "machine": machine}
    (OUT / "gallery.json").write_text(json.dumps(record, indent=2) + "\n")
    total = sum(seconds.values())
    page = [
        "# Gallery", "",
        "The bundled photo (Tübingen) in each bundled painting and in both blended, under each control "
        "of [stylize.md](stylize.md): colour kept from the photo (`color_control`) and stroke size "
        f"(`style_scale`). {args.size} px, {args.steps} steps, the real VGG16 weights, seed 0.", "",
        *rows, "",
        f"Made by `TORCH_HOME=... python docs/gallery.py` in {total:.0f} s ({min(seconds.values())} to "
        f"{max(seconds.values())} s a picture) on {machine['cpu']} ({machine['torch_threads']} torch threads); the times are in "
        "[images/gallery/gallery.json](images/gallery/gallery.json). Run it again after a change to see "
        "what the change does.", "",
    ]
    (DOCS / "gallery.md").write_text("\n".join(page))


if __name__ == "__main__":
    main()
