"""Step overhead: our mean optimization step (the engine's own loop: L-BFGS, every loss,
callbacks) against a bare forward+backward of the same truncated backbone on the same image
with requires_grad on the input only: contiguous and channels_last in float32, and
channels_last under bfloat16 autocast (features cast to float32 before the loss), each the
backbone's stock layers (no convolution fused with its ReLU).

The engine runs in the ``precision`` asked for (``--precision``, by default the defaults'
``auto``); its overhead is over the bare pass in its own format and precision. Its steps are
timed once the optimizer's history is full (an L-BFGS's ``history_size`` steps, untimed,
come first), as they are through most of a run. The engine
and the bare passes alternate step by step in one process (a bare pass runs inside the
engine's callback and is not counted as engine time), so load from other processes hits
them alike; medians are reported. Random weights: the FLOPs are the same as with trained ones.
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


#: The bare passes: each one's memory format (channels_last or not) and precision.
BARE_PASSES = {"contiguous": (False, "float32"), "channels_last": (True, "float32"),
               "channels_last_bfloat16": (True, "bfloat16")}


def measure_overhead(arch: str, size: int, steps: int, device: str, reg: Registry,
                     precision: str = "auto") -> dict[str, Any]:
    """Engine steps (in ``precision``) and bare passes, alternating, on a ``size`` x ``size`` image."""
    import torch

    from siayn_core.engine.acceleration import backbone_precision
    from siayn_core.engine.loop import optimize_at_size
    from siayn_core.engine.objective import Objective, build_components

    generator = torch.Generator().manual_seed(0)
    settings: dict[str, Any] = {"backbone": arch, "backbone_options": {"weights": "none"}, "min_size": None, **LAYERS}
    torch_device = torch.device(device)
    torch.manual_seed(0)
    opts = options(**settings, precision=precision)
    components, _ = build_components(opts, reg, torch_device)
    ran = backbone_precision(components["backbone"])
    extractors: dict[str, Any] = {}
    for name, (last, bare_precision) in BARE_PASSES.items():
        torch.manual_seed(0)  # the same seed gives the engine's weights
        built, _ = build_components(options(**settings, channels_last=last, precision="float32"), reg,
                                    torch_device)
        extractors[name] = stock_pass(built["backbone"], bare_precision, torch_device)
    layer = deepest_layer(reg, arch, LAYERS["content_layers"] + LAYERS["style_layers"])

    content = torch.rand(1, 3, size, size, generator=generator).to(torch_device)
    style = torch.rand(1, 3, size, size, generator=generator).to(torch_device)
    objective = Objective(opts, components, 1)
    bare: dict[str, list[float]] = {name: [] for name in BARE_PASSES}
    engine_times: list[float] = []
    state = {"last": 0.0, "order": 0}
    history = history_size(components["opt"])

    def between_steps(iterate: Iterate) -> None:
        now = time.perf_counter()
        if iterate.step <= history:
            state["last"] = time.perf_counter()
            return
        if iterate.step > history + 1:
            engine_times.append(now - state["last"])
        # Rotate which bare variant runs first, so none always follows the engine.
        names = list(BARE_PASSES)
        shift = state["order"] % len(names)
        state["order"] += 1
        for name in names[shift:] + names[:shift]:
            bare[name].append(bare_pass(extractors[name], content, layer, BARE_PASSES[name][0]))
        state["last"] = time.perf_counter()

    state["last"] = time.perf_counter()
    optimize_at_size(content.clone(), content, [style], objective, components["opt"], num_steps=history + steps + 1,
                     callback=between_steps)
    warm = slice(1, None)  # the first timings include allocator warm-up
    ours = statistics.median(engine_times[warm])
    result: dict[str, Any] = {
        "arch": arch,
        "size": size,
        "steps": len(engine_times),
        "engine_step_s": ours,
        "engine_step_mean_s": statistics.mean(engine_times[warm]),
        "engine_precision": ran,
        "history_size": history,
        **{f"bare_{name}_s": statistics.median(times[1:]) for name, times in bare.items()},
    }
    same = "channels_last" if ran == "float32" else f"channels_last_{ran}"
    result["bare_same_format_s"] = result.get(f"bare_{same}_s", result["bare_channels_last_s"])
    result["overhead_vs_same_format"] = ours / result["bare_same_format_s"] - 1.0
    result["overhead_vs_float32"] = ours / result["bare_channels_last_s"] - 1.0
    result["overhead_vs_contiguous"] = ours / result["bare_contiguous_s"] - 1.0
    result["gram_products_s"] = style_loss_time(components["backbone"], components["style_loss"], content,
                                                LAYERS["style_layers"])
    result["gram_s"] = min(result["gram_products_s"].values())
    result["gram_share_of_bare"] = result["gram_s"] / result["bare_same_format_s"]
    return result


def stock_pass(extractor: Any, precision: str, device: torch.device) -> Any:
    """``extractor`` (float32, in its memory format) run under autocast in ``precision``, with
    its layers as the backbone made them: the convolutions hold their weights in that
    precision, as autocast would cast them, but none is fused with its ReLU."""
    from siayn_core.engine.acceleration import AcceleratedExtractor, autocast_dtype, with_weights_in

    dtype = autocast_dtype(precision, device)
    if dtype is None:
        return extractor
    inner = extractor.extractor if isinstance(extractor, AcceleratedExtractor) else extractor
    last = isinstance(extractor, AcceleratedExtractor) and extractor.channels_last
    return AcceleratedExtractor(with_weights_in(inner, dtype), channels_last=last, dtype=dtype, device=device)


def history_size(optimizer_factory: Any) -> int:
    """The number of curvature pairs the run's optimizer keeps (0 for one without a history)."""
    return int(getattr(getattr(optimizer_factory, "options", None), "history_size", 0))


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
    """The section: VGG16 and VGG19 (or ``--arch``) at 256 (and 512) px, saved after each."""
    quick = session.args.quick
    session.results["overhead"] = []
    for arch in session.args.arch or ("vgg16", "vgg19"):
        for size in (256,) if quick else (256, 512):
            session.log(f"overhead: {arch} at {size} px, precision {session.args.precision}")
            session.results["overhead"].append(
                measure_overhead(arch, size, 4 if quick else 12, session.args.device, session.registry,
                                 session.args.precision))
            session.save()


def report(rows: list[dict[str, Any]]) -> None:
    """Print the section's table."""
    table("Step overhead (median s per step; engine vs bare forward+backward, interleaved)",
          ["backbone @ px", "engine step", "bare (channels_last)", "bare (contiguous)", "bare (bfloat16)",
           "overhead", "vs contiguous", "style loss alone", "the rest"],
          [[f"{r['arch']} @ {r['size']}", f"{r['engine_step_s']:.3f} ({r.get('engine_precision', 'float32')})",
            f"{r['bare_channels_last_s']:.3f}", f"{r['bare_contiguous_s']:.3f}",
            f"{r['bare_channels_last_bfloat16_s']:.3f}" if "bare_channels_last_bfloat16_s" in r else "-",
            f"{100 * r['overhead_vs_same_format']:+.1f}%",
            f"{100 * r['overhead_vs_contiguous']:+.1f}%", f"{100 * r['gram_share_of_bare']:+.1f}%",
            f"{100 * (r['overhead_vs_same_format'] - r['gram_share_of_bare']):+.1f}%"]
           for r in rows])
