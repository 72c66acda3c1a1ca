"""Make the gallery of the docs site with the defaults at 512 px: the bundled photo in each
bundled painting (and both blended) under each colour control, and in The Starry Night at
three stroke sizes; and ``gallery.md``, the page that shows them (the site's lightbox enlarges
a picture on a click).

    TORCH_HOME=... python docs/gallery.py [--size 512] [--steps N] [--keep-existing]

Needs the real VGG16 weights in TORCH_HOME's cache. Writes ``docs/images/gallery/`` and
``docs/gallery.md`` (each picture's seconds in ``gallery.json``) again; with
``--keep-existing`` a picture already made at the same size and steps is kept.
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

#: Column label -> the colour settings every row shows (see stylize.md for each).
COLOUR_CONTROLS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "color_control: luminance": {"color_control": "luminance"},
    "color_control: match": {"color_control": "match"},
}

#: Column label -> the stroke sizes the first row's painting shows.
STROKE_CONTROLS: dict[str, dict[str, Any]] = {
    "style_scale: 0.5": {"style_scale": 0.5},
    "defaults (style_scale: 1)": {},
    "style_scale: 2": {"style_scale": 2.0},
}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-").replace("--", "-")


class Maker:
    """Makes (or keeps) each picture once, recording its seconds."""

    def __init__(self, size: int, steps: int | None, kept: dict[str, float]) -> None:
        self.size, self.steps, self.kept = size, steps, kept
        self.seconds: dict[str, float] = {}

    def cell(self, style_label: str, settings: dict[str, Any], name: str, alt: str) -> str:
        """The Markdown image of one picture, made unless kept."""
        if name not in self.seconds:
            if name in self.kept and (OUT / name).is_file():
                self.seconds[name] = self.kept[name]
            else:
                started = time.perf_counter()
                steps = {} if self.steps is None else {"num_steps": self.steps}
                stylize(PHOTO, STYLES[style_label], size=self.size, seed=0, **steps, **settings).save(
                    OUT / name, quality=90)
                self.seconds[name] = round(time.perf_counter() - started, 1)
            print(f"{name}: {self.seconds[name]} s", flush=True)
        return f"![{alt}](images/gallery/{name})"


def table(columns: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns), *("| " + " | ".join(row) + " |" for row in rows)]


def label(text: str) -> str:
    return f"`{text}`" if ":" in text and "(" not in text else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512, help="long side of the pictures")
    parser.add_argument("--steps", type=int, default=None, help="steps of each run (default: the defaults')")
    parser.add_argument("--keep-existing", action="store_true",
                        help="keep pictures gallery.json records at this size and steps")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    record_path = OUT / "gallery.json"
    kept: dict[str, float] = {}
    if args.keep_existing and record_path.is_file():
        previous = json.loads(record_path.read_text())
        if previous.get("size") == args.size and previous.get("steps") == (args.steps or "defaults"):
            kept = previous["seconds"]
    maker = Maker(args.size, args.steps, kept)
    colour_rows = [[style_label, *(maker.cell(style_label, settings, f"{slug(style_label)}_{slug(control)}.jpg",
                                              f"{style_label}, {control}")
                                   for control, settings in COLOUR_CONTROLS.items())]
                   for style_label in STYLES]
    first = next(iter(STYLES))
    stroke_row = [[first, *(maker.cell(first, settings, f"{slug(first)}_{slug(control.split(' (')[0])}.jpg",
                                       f"{first}, {control}")
                            for control, settings in STROKE_CONTROLS.items())]]
    machine = conditions(torch.get_num_threads())
    record = {"size": args.size, "steps": args.steps or "defaults", "backbone": "vgg16 (IMAGENET1K_V1)",
              "seconds": maker.seconds, "machine": machine}
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    steps = f"{args.steps} steps" if args.steps else "the default steps"
    page = [
        "# Gallery", "",
        f"The bundled photo (Tübingen) with the defaults at {args.size} px ({steps}, the real VGG16 weights, "
        "seed 0). Click a picture to see it at full size.", "",
        "## Colour", "",
        "Each bundled painting and both blended, with the painting's colours (the defaults) and with the "
        "photo's kept (`color_control`, see [stylize.md](stylize.md)).", "",
        *table(["", *(label(control) for control in COLOUR_CONTROLS)], colour_rows), "",
        "## Stroke size", "",
        f"{first} with its strokes at half, the same and twice the size (`style_scale`).", "",
        *table(["", *(label(control) for control in STROKE_CONTROLS)], stroke_row), "",
        f"Made by `TORCH_HOME=... python docs/gallery.py` on {machine['cpu']} ({machine['torch_threads']} torch "
        "threads); each picture's seconds and the machine's load are in "
        "[images/gallery/gallery.json](images/gallery/gallery.json). Run it again after a change to see "
        "what the change does.", "",
    ]
    (DOCS / "gallery.md").write_text("\n".join(page))


if __name__ == "__main__":
    main()
