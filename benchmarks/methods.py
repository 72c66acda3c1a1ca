"""Feature matching against statistics: the defaults (Gram matrices), ``style_loss:
sliced-wasserstein``, ``recipe: strotss`` and ``recipe: nnst`` at equal wall time on every
bundled pair, judged independently, with their pictures.

    python -m benchmarks.methods --output benchmarks/results/methods_20s_xeon.json \\
        --pictures docs/images/methods/20s
    python -m benchmarks.methods --output benchmarks/results/methods_60s_xeon.json \\
        --pictures docs/images/methods/60s --seconds 60 \\
        --calibration benchmarks/results/methods_20s_xeon.json
    python -m benchmarks.methods --no-grid --time-512 --output benchmarks/results/recipes_512_xeon.json

Each content/style pair of ``../shared/data/images`` is stylized at ``--size`` px (seed 0, real
VGG16 weights) by each method. The defaults run first, with their own steps; every other
method gets the number of steps that fits the defaults' time on the first pair (timed by one
run of the method with its own steps there), the same on every pair. With ``--seconds`` every
method, the defaults too, gets the steps that fit that many seconds instead; ``--calibration``
takes the timed runs of an earlier result's JSON rather than timing them again.

Each result is judged by :class:`benchmarks.judged.Judge` (style Gram distance, content
feature distance, colour histogram distance; lower is better) and by one measure none of the
methods optimizes: the structural similarity (SSIM, scikit-image) of the result's grey levels
with the photo's (higher keeps more of the photo's structure). ``--pictures`` saves every
result as a JPEG named ``<style>-<method>.jpg``, and the painting at the same size as
``<style>-painting.jpg``. ``--time-512`` also times one run of the defaults and of each recipe
with its own steps at 512 px on the first pair.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import conditions, registry, write_json
from .judged import Judge, add_pair_arguments, pairs_environment

#: Each method's settings over the defaults. The sliced Wasserstein loss's weight makes its
#: starting style loss on the bundled pairs weigh what the defaults' Gram loss does.
METHODS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sliced-wasserstein": {"style_loss": "sliced-wasserstein", "style_weight": 50.0},
    "strotss": {"recipe": "strotss"},
    "nnst": {"recipe": "nnst"},
}


def run_method(content: Any, style: Any, settings: dict[str, Any], *, size: int, steps: int | None,
               reg: Any) -> tuple[Any, float, int]:
    """One run: its image, engine seconds and steps."""
    from siayn_core.config.build import build_options
    from siayn_core.engine import stylize

    values = {"backbone": "vgg16", "size": size, **settings, **({} if steps is None else {"num_steps": steps})}
    result = stylize(content, [style], build_options(values, where="benchmark"), registry=reg, device="cpu", seed=0)
    return result.image, result.seconds, result.steps


def calibration(name: str, settings: dict[str, Any], earlier: dict[str, Any], content: Any, style: Any, *,
                size: int, reg: Any) -> dict[str, Any]:
    """The method's own steps and the seconds one run of them took: ``earlier``'s timing of
    ``name``, or a run timed now."""
    if name in earlier:
        return dict(earlier[name])
    steps = own_steps(settings)
    _, seconds, _ = run_method(content, style, settings, size=size, steps=steps, reg=reg)
    return {"own_steps": steps, "seconds": seconds}


def own_steps(settings: dict[str, Any]) -> int:
    """The number of steps a method runs when it is not told."""
    from siayn_core.config.build import build_options

    return build_options({"backbone": "vgg16", **settings}, where="benchmark").num_steps


def structure(image: Any, photo: Any) -> float:
    """SSIM of the grey levels of ``image`` (``(1, 3, H, W)``) and ``photo`` (PIL, the same size)."""
    import numpy as np
    from skimage.metrics import structural_similarity

    from siayn_core.io.images import to_pil

    grey = np.asarray(to_pil(image.clamp(0, 1)).convert("L"), dtype=np.float64) / 255
    reference = np.asarray(photo.convert("L"), dtype=np.float64) / 255
    return float(structural_similarity(grey, reference, data_range=1.0))


#: The methods a ``--time-512`` run times: the defaults and the recipes measured against them.
TIMED_AT_512 = ("defaults", "strotss", "nnst")

#: What is averaged over the pairs.
MEASURES = ("seconds", "style", "content", "colour", "ssim")


def main(argv: list[str] | None = None) -> int:
    """Every pair, every method; write the JSON (after each pair) and the pictures."""
    from siayn_core.io.images import read_image

    parser = argparse.ArgumentParser(prog="python -m benchmarks.methods", description=(__doc__ or "").split("\n\n")[0])
    add_pair_arguments(parser)
    parser.add_argument("--pictures", type=Path, help="folder for the results' JPEGs")
    parser.add_argument("--grid", action=argparse.BooleanOptionalAction, default=True,
                        help="run the grid of pairs and methods (--no-grid: only --time-512)")
    parser.add_argument("--time-512", action="store_true",
                        help="also time the defaults' and each recipe's own steps at 512 px")
    parser.add_argument("--seconds", type=float, help="the wall time every method gets (default: the defaults' own)")
    parser.add_argument("--calibration", type=Path, help="an earlier result's JSON whose timed runs to reuse")
    args = parser.parse_args(argv)
    environment = pairs_environment(args)
    if environment is None:
        return 2
    home, pairs = environment
    result: dict[str, Any] = {"conditions": conditions(args.threads), "size": args.size, "methods": METHODS,
                              "seconds": args.seconds}
    with home:
        reg = registry()
        if args.grid:
            earlier = json.loads(args.calibration.read_text())["calibration"] if args.calibration else {}
            grid(result, pairs, args, earlier, reg)
            print(f"means: {result['means']}")
        if args.time_512:
            content, style = (read_image(path) for path in pairs[0])
            timed = {name: run_method(content, style, METHODS[name], size=512, steps=None, reg=reg)
                     for name in TIMED_AT_512}
            result["at_512"] = {name: {"seconds": seconds, "steps": ran,
                                       "against_defaults": seconds / timed["defaults"][1]}
                                for name, (_, seconds, ran) in timed.items()}
            print(f"at 512 px: {result['at_512']}")
        write_json(args.output, result)
    print(f"wrote {args.output}")
    return 0


def grid(result: dict[str, Any], pairs: list[tuple[Path, Path]], args: argparse.Namespace,
         earlier: dict[str, Any], reg: Any) -> None:
    """Every method on every pair into ``result`` (written after each pair), then the means."""
    from siayn_core.io.images import output_size, read_image, resize, to_pil

    if args.pictures:
        args.pictures.mkdir(parents=True, exist_ok=True)
    result.update(steps={}, pairs=[])
    for index, (content_path, style_path) in enumerate(pairs):
        content, style = read_image(content_path), read_image(style_path)
        size = output_size(content.size, longer_side=args.size, scale=1.0)
        judge = Judge(reg, content, style, size)
        photo = resize(content, size)
        if args.pictures:
            painting = resize(style, output_size(style.size, longer_side=args.size, scale=1.0))
            painting.save(args.pictures / f"{style_path.stem}-painting.jpg", quality=88)
        runs: dict[str, Any] = {}
        for name, settings in METHODS.items():
            if index == 0 and (name != "defaults" or args.seconds):
                # Calibrate: this method's own steps, then as many as fit the time.
                timed = calibration(name, settings, earlier, content, style, size=args.size, reg=reg)
                budget = args.seconds or runs["defaults"]["seconds"]
                result["steps"][name] = max(1, round(timed["own_steps"] * budget / timed["seconds"]))
                result.setdefault("calibration", {})[name] = timed
            image, seconds, ran = run_method(content, style, settings, size=args.size,
                                             steps=result["steps"].get(name), reg=reg)
            if name == "defaults":
                result["steps"][name] = ran
            runs[name] = {"steps": ran, "seconds": seconds, **judge(image), "ssim": structure(image, photo)}
            if args.pictures:
                to_pil(image.clamp(0, 1)).save(args.pictures / f"{style_path.stem}-{name}.jpg", quality=88)
            print(f"{style_path.stem}, {name}: {ran} steps in {seconds:.1f} s, style {runs[name]['style']:.4f}, "
                  f"content {runs[name]['content']:.4f}, colour {runs[name]['colour']:.4f}, "
                  f"ssim {runs[name]['ssim']:.4f}", flush=True)
        result["pairs"].append({"content": content_path.name, "style": style_path.name, "runs": runs})
        write_json(args.output, result)
    result["means"] = {name: {measure: sum(pair["runs"][name][measure] for pair in result["pairs"])
                              / len(result["pairs"]) for measure in MEASURES} for name in METHODS}


if __name__ == "__main__":
    sys.exit(main())
