"""Quality at equal time, judged independently: the defaults, one change to them at a time
(``recipe: original`` is the original SIAYN's weights and style sizing), and the classic
recipe, on every content/style pair of ``../shared/data/images``.

The defaults run ``--judged-steps`` steps (60; 40 with ``--quick``, on two pairs) at
``--judged-size`` px (256, the longer side);
the time they take is every other variant's budget (a callback stops it there; single-scale
runs get steps enough to fill it). Each result is judged by measures the runs do not optimize
(lower is better), with the real VGG16 weights:

- **style**: the relative Gram distance ``|G(x) - G(s)| / |G(s)|`` averaged over relu1_2,
  relu2_2, relu3_3 and relu4_3 (the losses use relu1_1 ... relu5_1), the style image at the
  output's short side with its own aspect ratio, whatever the variant fed its loss;
- **content**: ``|F(x) - F(p)| / |F(p)|`` at relu3_3 (the content loss uses relu4_2);
- **colour**: the Bhattacharyya distance between the 3-D colour histograms of the result and
  the style (OpenCV, 8 bins a channel).

Also the seconds each variant needs to get its style measure down to the classic recipe's at
the end of the budget (judged every few steps, judging time left out). The measures share
the losses' network, so they see what VGG16 sees: textures and colours at its receptive
fields, not composition, and a variant that games VGG16's features would still score well.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import DEFAULT_WEIGHTS, LAYERS, REPO, Session, options, parse_settings, registry, table, with_weights

if TYPE_CHECKING:
    import torch
    from PIL import Image

IMAGES = REPO.parent / "shared" / "data" / "images"
STYLE_JUDGE_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
CONTENT_JUDGE_LAYER = "relu3_3"
#: The recipe of the classic tools: one scale, unconstrained pixels, Gram matrices normalized
#: by C*H*W compared by their mean squared difference with weight 1e6 against relu4_2's mean
#: squared difference with weight 1, no TV, the style at the output's short side.
CLASSIC: dict[str, Any] = {
    "min_size": None, "keep_in_range": False, "style_weight": 1e6, "content_weight": 1.0, "tv_weight": None,
    "style_loss_options": {"reduction": "mean"}, "style_resize": "short-side",
}
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "classic recipe": CLASSIC,
    "recipe: original": {"recipe": "original"},
    "style_resize: stretch": {"style_resize": "stretch"},
    "tv_weight: 1e-2": {"tv_weight": 1e-2},
    "style_loss: w2": {"style_loss": "w2", "style_weight": 1e5, "content_weight": 1e3},
    "average: 0.9": {"average": 0.9},
    "single scale": {"min_size": None},
}


class Judge:
    """The independent measures of results made from one content/style pair."""

    def __init__(self, reg: Any, content: Image.Image, style: Image.Image, size: tuple[int, int]) -> None:
        import torch

        from siayn_core.io.images import resize, scaled_size, to_tensor

        self.extractor = reg.create("backbone", "vgg16").extractor([*STYLE_JUDGE_LAYERS, CONTENT_JUDGE_LAYER])
        self.gram = reg.create("loss", "gram")
        style_image = resize(style, scaled_size(style.size, min(size) / min(style.size)))
        with torch.no_grad():
            style_features = self.extractor(to_tensor(style_image))
            self.style_grams = {layer: self.gram.target(style_features[layer]) for layer in STYLE_JUDGE_LAYERS}
            self.content_features = self.extractor(to_tensor(resize(content, size)))[CONTENT_JUDGE_LAYER]
        self.style_histogram = _histogram(style_image)
        self.size = size

    def __call__(self, image: torch.Tensor) -> dict[str, float]:
        """``style``, ``content`` and ``colour`` distances of ``image`` (``(1, 3, H, W)`` in [0, 1]),
        a coarse stage's image upsampled to the output size first."""
        import cv2
        import torch

        from siayn_core.io.images import to_pil
        from siayn_core.engine.schedule import upsample

        image = upsample(image, self.size)
        with torch.no_grad():
            features = self.extractor(image.clamp(0, 1))
            style = sum(
                float((self.gram.target(features[layer]) - target).norm() / target.norm())
                for layer, target in self.style_grams.items()
            ) / len(self.style_grams)
            content = float((features[CONTENT_JUDGE_LAYER] - self.content_features).norm()
                            / self.content_features.norm())
        colour = cv2.compareHist(_histogram(to_pil(image.clamp(0, 1))), self.style_histogram, cv2.HISTCMP_BHATTACHARYYA)
        return {"style": style, "content": content, "colour": float(colour)}


def _histogram(image: Image.Image) -> Any:
    import cv2
    import numpy as np

    pixels = np.asarray(image.convert("RGB"))
    histogram = cv2.calcHist([pixels], [0, 1, 2], None, [8, 8, 8], [0, 256, 0, 256, 0, 256])
    return cv2.normalize(histogram, histogram).flatten()


def judged_run(content: Image.Image, style: Image.Image, settings: dict[str, Any], *, size: int, steps: int,
               budget: float | None, judge: Judge, every: int, reg: Any, device: str) -> dict[str, Any]:
    """One variant, stopped at ``budget`` seconds (judging time left out), judged every
    ``every`` steps and at its end."""
    from siayn_core.engine import stylize

    curve: list[dict[str, Any]] = []
    excluded = 0.0

    def checkpoint(iterate: Any) -> bool:
        nonlocal excluded
        seconds = iterate.elapsed - excluded
        if iterate.step % every == 0:
            started = time.perf_counter()
            curve.append({"step": iterate.step, "seconds": seconds, **judge(iterate.image)})
            excluded += time.perf_counter() - started
        return budget is not None and seconds >= budget

    base = {"backbone": "vgg16", "size": size, **LAYERS, **settings}
    single_scale = options(**base).min_size is None
    run_steps = steps * 20 if single_scale and budget is not None else steps
    run_options = options(**base, num_steps=run_steps)
    result = stylize(content, [style], run_options, registry=reg, device=device, seed=0, callback=checkpoint)
    final = judge(result.image)
    return {"settings": settings, "steps": result.steps, "seconds": result.seconds - excluded, **final,
            "curve": curve, "image": result.image}


def measure_pair(content_path: Path, style_path: Path, variants: dict[str, dict[str, Any]], *, size: int, steps: int,
                 reg: Any, device: str, log: Any, pictures: Path | None) -> dict[str, Any]:
    """Every variant on one pair: the defaults first (their time is the budget), and the
    classic recipe among them (its style distance is the threshold)."""
    from siayn_core.io.images import output_size, read_image, to_pil

    content, style = read_image(content_path), read_image(style_path)
    out_size = output_size(content.size, longer_side=size, scale=1.0)
    judge = Judge(reg, content, style, out_size)
    runs: dict[str, dict[str, Any]] = {}
    budget: float | None = None
    for name, settings in variants.items():
        run = judged_run(content, style, settings, size=size, steps=steps, budget=budget, judge=judge, every=10,
                         reg=reg, device=device)
        if budget is None:
            budget = run["seconds"]
        image = run.pop("image")
        if pictures is not None:
            pictures.mkdir(parents=True, exist_ok=True)
            to_pil(image).save(pictures / f"{content_path.stem}-{style_path.stem}-{_slug(name)}.jpg", quality=88)
        runs[name] = run
        log(f"  {style_path.stem}: {name}: {run['steps']} steps in {run['seconds']:.1f} s, style {run['style']:.3f}, "
            f"content {run['content']:.3f}, colour {run['colour']:.3f}")
    threshold = runs["classic recipe"]["style"]
    for run in runs.values():
        reached = next((point for point in run["curve"] if point["style"] <= threshold), None)
        run["seconds_to_classic_style"] = reached["seconds"] if reached else None
    return {"content": content_path.name, "style": style_path.name, "size": list(out_size),
            "budget_seconds": budget, "runs": runs}


def chosen_variants(names: list[str] | None, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The defaults and the classic recipe, then the named variants (all without names) and,
    with ``--set``, the defaults changed by those settings."""
    unknown = set(names or ()) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown judged variant(s) {', '.join(sorted(unknown))}; known: {', '.join(VARIANTS)}")
    chosen = {name: VARIANTS[name] for name in ("defaults", "classic recipe")}
    chosen.update({name: value for name, value in VARIANTS.items() if names is None or name in names})
    if settings:
        chosen["--set " + " ".join(f"{key}={value}" for key, value in settings.items())] = settings
    return chosen


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def add_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every script that judges runs on the bundled pairs."""
    parser.add_argument("--output", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--size", type=int, default=256, help="long side of the results")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="VGG16 weights")


def pairs_environment(args: argparse.Namespace) -> tuple[tempfile.TemporaryDirectory[str], list[tuple[Path, Path]]] | None:
    """Set torch's threads and make a TORCH_HOME with the VGG16 weights for runs on the bundled
    pairs: that home and the pairs, or None after saying what is missing. The heap is padded as
    ``siayn`` pads it, so the runs measured are the command's."""
    import torch

    from siayn_core.cli.heap import pad_heap_for_runs

    pad_heap_for_runs()
    torch.set_num_threads(args.threads)
    home = with_weights(args.weights)
    pairs = bundled_pairs()
    if home is None or not pairs:
        print(f"needs the VGG16 weights ({args.weights}) and the images in {IMAGES}", file=sys.stderr)
        return None
    return home, pairs


def bundled_pairs() -> list[tuple[Path, Path]]:
    """Every content/style pair of ``../shared/data/images``, in name order."""
    styles = sorted((IMAGES / "style").glob("*.jpg"))
    return [(content, style) for content in sorted((IMAGES / "content").glob("*.jpg")) for style in styles]


def run(session: Session) -> None:
    """The section, or a ``skipped`` note without the VGG16 weights or the image folders."""
    args = session.args
    pairs = bundled_pairs()
    home = with_weights(args.weights)
    if home is None or not pairs:
        session.results["judged"] = {"skipped": f"needs the VGG16 weights ({args.weights}) and {IMAGES}"}
        session.save()
        return
    if args.quick:
        pairs = pairs[:2]
    variants = chosen_variants(args.judged_variants, parse_settings(args.settings))
    steps = args.judged_steps or (40 if args.quick else 60)
    pictures = session.output.parent / f"{session.output.stem}_pictures"
    with home:
        reg = registry()
        session.log(f"judged: {len(pairs)} pairs x {len(variants)} variants at {args.judged_size} px")
        results = []
        for content, style in pairs:
            results.append(measure_pair(content, style, variants, size=args.judged_size, steps=steps, reg=reg,
                                        device=args.device, log=session.log, pictures=pictures))
            session.results["judged"] = {"steps": steps, "pairs": results, "pictures": str(pictures)}
            session.save()


def report(result: dict[str, Any]) -> None:
    """Print one table per pair and the mean over pairs."""
    if "skipped" in result:
        print(f"judged quality: skipped ({result['skipped']})")
        return
    columns = ["variant", "steps", "seconds", "style", "content", "colour", "s to classic style"]
    for pair in result["pairs"]:
        rows = [[name, str(run["steps"]), f"{run['seconds']:.1f}", f"{run['style']:.3f}", f"{run['content']:.3f}",
                 f"{run['colour']:.3f}",
                 "-" if run["seconds_to_classic_style"] is None else f"{run['seconds_to_classic_style']:.1f}"]
                for name, run in pair["runs"].items()]
        table(f"{pair['content']} / {pair['style']}: {pair['size'][0]}x{pair['size'][1]}, "
              f"budget {pair['budget_seconds']:.1f} s", columns, rows)
    names = list(result["pairs"][0]["runs"])
    means = [[name, *(f"{sum(p['runs'][name][key] for p in result['pairs']) / len(result['pairs']):.3f}"
                      for key in ("style", "content", "colour"))] for name in names]
    table(f"mean over {len(result['pairs'])} pairs (lower is better)", ["variant", "style", "content", "colour"], means)
