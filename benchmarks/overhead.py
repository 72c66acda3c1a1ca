"""Step overhead: our mean optimization step (the engine's own loop: L-BFGS, every loss,
callbacks) against a bare forward+backward of the same truncated backbone on the same image
with requires_grad on the input only.

The two alternate step by step in one process (a bare pass runs inside the engine's
callback and is not counted as engine time), so load from other processes hits both alike;
medians are reported. Random weights: the FLOPs are the same as with trained ones.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from .common import LAYERS, Session, bare_pass, deepest_layer, options, sync, table

if TYPE_CHECKING:
    import torch

    from siayn_core import Registry
    from siayn_core.engine.loop import Iterate


def measure_overhead(arch: str, size: int, steps: int, device: str, reg: Registry) -> dict[str, Any]:
    """Engine steps and bare passes, alternating, on a ``size`` x ``size`` image."""
    import torch

    from siayn_core.engine.loop import optimize_at_size
    from siayn_core.engine.objective import Objective, build_components

    generator = torch.Generator().manual_seed(0)
    settings: dict[str, Any] = {"backbone": arch, "backbone_options": {"weights": "none"}, "min_size": None, **LAYERS}
    torch_device = torch.device(device)
    torch.manual_seed(0)
    opts = options(**settings)
    components, _ = build_components(opts, reg, torch_device)
    extractors: dict[str, Any] = {}
    for name, last in (("contiguous", False), ("channels_last", True)):
        # The same seed gives the engine's weights; float32 as the bare network always ran.
        torch.manual_seed(0)
        built, _ = build_components(options(**settings, channels_last=last, precision="float32"), reg, torch_device)
        extractors[name] = built["backbone"]
    layer = deepest_layer(reg, arch, LAYERS["content_layers"] + LAYERS["style_layers"])

    content = torch.rand(1, 3, size, size, generator=generator).to(torch_device)
    style = torch.rand(1, 3, size, size, generator=generator).to(torch_device)
    objective = Objective(opts, components, 1)
    bare: dict[str, list[float]] = {"contiguous": [], "channels_last": []}
    engine_times: list[float] = []
    state = {"last": 0.0, "order": 0}

    def between_steps(iterate: Iterate) -> None:
        now = time.perf_counter()
        if iterate.step > 1:
            engine_times.append(now - state["last"])
        # Alternate which bare variant runs first, so neither always follows the engine.
        order = ("contiguous", "channels_last") if state["order"] % 2 == 0 else ("channels_last", "contiguous")
        state["order"] += 1
        for name in order:
            bare[name].append(bare_pass(extractors[name], content, layer, name == "channels_last"))
        state["last"] = time.perf_counter()

    state["last"] = time.perf_counter()
    optimize_at_size(content.clone(), content, [style], objective, components["opt"], num_steps=steps + 1,
                     callback=between_steps)
    warm = slice(1, None)  # the first timings include allocator warm-up
    ours = statistics.median(engine_times[warm])
    result: dict[str, Any] = {
        "arch": arch,
        "size": size,
        "steps": len(engine_times),
        "engine_step_s": ours,
        "engine_step_mean_s": statistics.mean(engine_times[warm]),
        "bare_channels_last_s": statistics.median(bare["channels_last"][1:]),
        "bare_contiguous_s": statistics.median(bare["contiguous"][1:]),
    }
    result["overhead_vs_same_format"] = ours / result["bare_channels_last_s"] - 1.0
    result["overhead_vs_contiguous"] = ours / result["bare_contiguous_s"] - 1.0
    result["gram_products_s"] = style_loss_time(components["backbone"], components["style_loss"], content,
                                                LAYERS["style_layers"])
    result["gram_s"] = min(result["gram_products_s"].values())
    result["gram_share_of_bare"] = result["gram_s"] / result["bare_channels_last_s"]
    return result


def style_loss_time(extractor: Any, loss: Any, image: torch.Tensor, layers: list[str],
                    repeats: int = 3) -> dict[str, float]:
    """Median seconds of the run's own style loss, forward and backward to the features, over
    ``layers`` in one step: what the style terms add on top of the bare pass. Measured through
    the Loss protocol, so it is whatever product the loss plugin chooses."""
    import torch

    with torch.no_grad():
        features = extractor(image)
        maps = [features[name].detach() for name in layers]
        targets = [loss.target(feature) for feature in maps]

    def once() -> float:
        inputs = [feature.clone().requires_grad_(True) for feature in maps]
        started = time.perf_counter()
        for feature, target in zip(inputs, targets):
            loss(feature, target).backward()
        sync()
        return time.perf_counter() - started

    once()  # warm-up: a loss may pick its fastest product on the first call at a size
    return {"loss": statistics.median(once() for _ in range(repeats))}


def run(session: Session) -> None:
    """The section: VGG16 and VGG19 at 256 (and 512) px, saved after each."""
    quick = session.args.quick
    session.results["overhead"] = []
    for arch in ("vgg16", "vgg19"):
        for size in (256,) if quick else (256, 512):
            session.log(f"overhead: {arch} at {size} px")
            session.results["overhead"].append(
                measure_overhead(arch, size, 4 if quick else 12, session.args.device, session.registry))
            session.save()


def report(rows: list[dict[str, Any]]) -> None:
    """Print the section's table."""
    table("Step overhead (median s per step; engine vs bare forward+backward, interleaved)",
          ["backbone @ px", "engine step", "bare (channels_last)", "bare (contiguous)", "overhead", "vs contiguous",
           "style loss alone", "the rest"],
          [[f"{r['arch']} @ {r['size']}", f"{r['engine_step_s']:.3f}", f"{r['bare_channels_last_s']:.3f}",
            f"{r['bare_contiguous_s']:.3f}", f"{100 * r['overhead_vs_same_format']:+.1f}%",
            f"{100 * r['overhead_vs_contiguous']:+.1f}%", f"{100 * r['gram_share_of_bare']:+.1f}%",
            f"{100 * (r['overhead_vs_same_format'] - r['gram_share_of_bare']):+.1f}%"]
           for r in rows])
