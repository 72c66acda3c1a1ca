"""Variants: the bare VGG16 forward+backward in each memory format and with torch.compile,
to justify the defaults. Each variant is the extractor the engine builds with that setting
(``channels_last``, ``compile``), in float32."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from .common import LAYERS, Session, bare_pass, deepest_layer, options, table

if TYPE_CHECKING:
    from siayn_core import Registry


def measure_variants(size: int, repeats: int, device: str, compile_too: bool,
                     reg: Registry) -> dict[str, Any]:
    """Median seconds of a bare VGG16 forward+backward: contiguous, channels_last and
    (optionally) channels_last with torch.compile, alternating so that load hits all alike."""
    import torch

    from siayn_core.engine.objective import build_components

    torch_device = torch.device(device)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(torch_device)
    layer = deepest_layer(reg, "vgg16", LAYERS["content_layers"] + LAYERS["style_layers"])

    def extractor(**settings: Any) -> Any:
        torch.manual_seed(0)
        run_options = options(backbone="vgg16", backbone_options={"weights": "none"}, min_size=None,
                              precision="float32", **LAYERS, **settings)
        return build_components(run_options, reg, torch_device)[0]["backbone"]

    variants: dict[str, tuple[Any, bool]] = {
        "contiguous": (extractor(channels_last=False), False),
        "channels_last": (extractor(channels_last=True), True),
    }
    result: dict[str, Any] = {"size": size}
    if compile_too:
        compiled = extractor(channels_last=True, compile=True)
        started = time.perf_counter()
        bare_pass(compiled, image, layer, True)
        result["compile_first_pass_s"] = time.perf_counter() - started
        variants["channels_last+compile"] = (compiled, True)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for net, last in variants.values():
        bare_pass(net, image, layer, last)  # warm-up
    for repeat in range(repeats):
        names = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        for name in names:
            net, last = variants[name]
            times[name].append(bare_pass(net, image, layer, last))
    result.update({f"{name}_s": statistics.median(values) for name, values in times.items()})
    return result


def run(session: Session) -> None:
    """The section: at 256 px (quick, no compile) or 512 px."""
    quick = session.args.quick
    session.log("variants: memory format and torch.compile")
    session.results["variants"] = measure_variants(256 if quick else 512, 3 if quick else 5, session.args.device,
                                                   not quick, session.registry)
    session.save()


def report(result: dict[str, Any]) -> None:
    """Print the section's table."""
    rows = [[name.removesuffix("_s"), f"{value:.3f}"] for name, value in result.items() if name.endswith("_s")]
    table(f"Bare VGG16 forward+backward at {result['size']} px (median s)", ["variant", "seconds"], rows)
