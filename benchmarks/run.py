"""SIAYN's performance benchmark: step overhead, time to quality, peak memory.

    python benchmarks/run.py            # the full benchmark (about an hour on a 2-core CPU)
    python benchmarks/run.py --quick    # a few minutes: fewer sizes and steps

Prints tables and writes every number to a JSON file (``--output``, default
``benchmarks/results/<full|quick>.json``). Sections (``--only`` picks some):

overhead  Our mean optimization step (the engine's own loop: L-BFGS, every loss, callbacks)
          against a bare forward+backward of the same truncated backbone on the same image
          with requires_grad on the input only. The two alternate step by step in one process
          (a bare pass runs inside the engine's callback and is not counted as engine time),
          so load from other processes hits both alike; medians are reported. Random weights:
          the FLOPs are the same as with trained ones.
variants  Bare forward+backward with the memory formats and torch.compile, to justify the
          defaults.
quality   Time to quality at 512 px: a single-scale L-BFGS run of 300 steps (the original
          SIAYN's recipe) sets the target, the value of the full-resolution objective it
          reaches (on its clamped image, as a user gets it); then the default multi-scale run, whose image is upscaled to full size and
          evaluated with that same objective after every stage and every few steps of the
          last stage (evaluation time excluded). Uses the real VGG16 weights from
          ``../shared/weights`` (or ``--weights``) through a temporary TORCH_HOME; random
          weights would make the comparison meaningless, so the section is skipped without.
memory    Peak RSS (and CUDA max allocated on a GPU) of a short run at 512, 1024 and 2048 px,
          each size in a fresh subprocess so the peaks do not mix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = REPO.parent / "shared" / "weights" / "vgg16-397923af.pth"
#: The original recipe the time-to-quality section measures against: one stage at the output
#: size, the image unconstrained during the optimization and clamped only when saved.
SEED_RECIPE = {"min_size": None, "keep_in_range": False}
LAYERS = {"content_layers": ["relu4_2"], "style_layers": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]}


def _torch() -> Any:
    import torch

    return torch


def conditions(threads: int) -> dict[str, Any]:
    """The machine and its load, recorded next to the numbers."""
    torch = _torch()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def registry() -> Any:
    from siayn_core import load_plugins

    return load_plugins().registry


def options(**settings: Any) -> Any:
    from siayn_core.config import build_options

    return build_options(settings, where="benchmark")


# --------------------------------------------------------------------------- overhead


def bare_pass(network: Any, image: Any, normalize: Callable[[Any], Any], channels_last: bool) -> float:
    """Seconds of one forward+backward of ``network`` with requires_grad on the input only."""
    torch = _torch()
    x = image.detach().clone()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    started = time.perf_counter()
    network(normalize(x)).sum().backward()
    _sync()
    return time.perf_counter() - started


def _sync() -> None:
    torch = _torch()
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def measure_overhead(arch: str, size: int, steps: int, device: str, reg: Any) -> dict[str, Any]:
    """Engine steps and bare passes, alternating, on a ``size`` x ``size`` image."""
    import copy

    torch = _torch()
    from siayn_core.engine import optimize_at_size
    from siayn_core.objective import Objective, build_components

    generator = torch.Generator().manual_seed(0)
    opts = options(backbone=arch, backbone_options={"weights": "none"}, min_size=None, **LAYERS)
    torch_device = torch.device(device)
    torch.manual_seed(0)
    components, _ = build_components(opts, reg, torch_device)
    extractor = components["backbone"]
    inner = getattr(extractor, "extractor", extractor)  # the plugin's own module
    network = copy.deepcopy(inner.features).to(torch_device)  # the same truncated layers
    network_last = copy.deepcopy(network).to(memory_format=torch.channels_last)
    mean, std = inner.mean.to(torch_device), inner.std.to(torch_device)

    def normalize(x: Any) -> Any:
        return (x - mean) / std

    content = torch.rand(1, 3, size, size, generator=generator).to(torch_device)
    style = torch.rand(1, 3, size, size, generator=generator).to(torch_device)
    objective = Objective(opts, components, 1)
    bare: dict[str, list[float]] = {"contiguous": [], "channels_last": []}
    engine_times: list[float] = []
    state = {"last": 0.0, "order": 0}

    def between_steps(iterate: Any) -> None:
        now = time.perf_counter()
        if iterate.step > 1:
            engine_times.append(now - state["last"])
        # Alternate which bare variant runs first, so neither always follows the engine.
        order = ("contiguous", "channels_last") if state["order"] % 2 == 0 else ("channels_last", "contiguous")
        state["order"] += 1
        for name in order:
            bare[name].append(bare_pass(network_last if name == "channels_last" else network, content, normalize,
                                        name == "channels_last"))
        state["last"] = time.perf_counter()

    start = content.clone()
    state["last"] = time.perf_counter()
    optimize_at_size(start, content, [style], objective, components["opt"], num_steps=steps + 1,
                     callback=between_steps)
    warm = slice(1, None)  # the first timings include allocator warm-up
    ours = statistics.median(engine_times[warm])
    result = {
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
    result["gram_products_s"] = gram_floor(extractor, content, LAYERS["style_layers"])
    result["gram_s"] = min(result["gram_products_s"].values())
    result["gram_share_of_bare"] = result["gram_s"] / result["bare_channels_last_s"]
    return result


def gram_floor(extractor: Any, image: Any, layers: list[str], repeats: int = 3) -> dict[str, float]:
    """Seconds of the style layers' Gram matrix products alone in one step: ``F F^T``
    forward and ``F^T S`` backward per layer, on the extractor's own features, computed two
    ways: as BLAS matrix products (``bmm``) and, for channels-last features on the CPU, as
    oneDNN's 1x1 convolution and its weight gradient. The faster one is the floor: no
    engine can take less than that on top of the bare pass."""
    torch = _torch()
    from torch.nn.functional import conv2d
    from torch.nn.grad import conv2d_weight

    def by_bmm(feature: Any, matrix: Any) -> None:
        flat = feature.reshape(1, feature.shape[1], -1)
        torch.bmm(flat, flat.transpose(1, 2))
        torch.bmm(flat.transpose(1, 2), matrix.unsqueeze(0))

    def by_onednn(feature: Any, matrix: Any) -> None:
        channels = feature.shape[1]
        conv2d_weight(feature, (channels, channels, 1, 1), feature)
        conv2d(feature, matrix.view(channels, channels, 1, 1))

    ways = {"bmm": by_bmm}
    with torch.no_grad():
        features = extractor(image)
        maps = [features[layer] for layer in layers]
        if maps[0].device.type == "cpu" and maps[0].is_contiguous(memory_format=torch.channels_last):
            ways["onednn"] = by_onednn
        symmetric = [torch.rand(m.shape[1], m.shape[1], device=m.device) for m in maps]
        result = {}
        for name, products in ways.items():
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                for feature, matrix in zip(maps, symmetric):
                    products(feature, matrix)
                _sync()
                times.append(time.perf_counter() - started)
            result[name] = statistics.median(times)
    return result


# --------------------------------------------------------------------------- variants


def _vgg_network(arch: str, device: Any) -> tuple[Any, Any, Any]:
    reg = registry()
    backbone = reg.create("backbone", arch, {"weights": "none"})
    extractor = backbone.extractor(LAYERS["content_layers"] + LAYERS["style_layers"])
    return extractor.features.to(device), extractor.mean.to(device), extractor.std.to(device)


def measure_variants(size: int, repeats: int, device: str, compile_too: bool) -> dict[str, Any]:
    """Bare VGG16 forward+backward: contiguous, channels_last, and (optionally) torch.compile."""
    import copy

    torch = _torch()
    torch_device = torch.device(device)
    network, mean, std = _vgg_network("vgg16", torch_device)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(torch_device)

    def normalize(x: Any) -> Any:
        return (x - mean) / std

    variants: dict[str, tuple[Any, bool]] = {
        "contiguous": (network, False),
        "channels_last": (copy.deepcopy(network).to(memory_format=torch.channels_last), True),
    }
    result: dict[str, Any] = {"size": size}
    if compile_too:
        compiled = torch.compile(copy.deepcopy(network).to(memory_format=torch.channels_last), dynamic=False)
        started = time.perf_counter()
        bare_pass(compiled, image, normalize, True)
        result["compile_first_pass_s"] = time.perf_counter() - started
        variants["channels_last+compile"] = (compiled, True)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, (net, last) in variants.items():
        bare_pass(net, image, normalize, last)  # warm-up
    for repeat in range(repeats):
        names = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        for name in names:
            net, last = variants[name]
            times[name].append(bare_pass(net, image, normalize, last))
    result.update({f"{name}_s": statistics.median(values) for name, values in times.items()})
    return result


# --------------------------------------------------------------------------- quality


def with_weights(weights: Path) -> tempfile.TemporaryDirectory[str] | None:
    """A temporary TORCH_HOME holding the VGG16 weights where torchvision looks for them."""
    if not weights.is_file():
        return None
    home = tempfile.TemporaryDirectory(prefix="siayn-bench-torch-")
    checkpoints = Path(home.name) / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    target = checkpoints / "vgg16-397923af.pth"
    try:
        target.symlink_to(weights.resolve())
    except OSError:
        shutil.copy2(weights, target)
    os.environ["TORCH_HOME"] = home.name
    return home


class JudgedRun:
    """The curve of a run judged by ``evaluate`` at chosen steps: wall and CPU seconds from
    the start of ``stylize``, with the time spent judging left out."""

    def __init__(self, evaluate: Callable[[Any], float]) -> None:
        self.evaluate = evaluate
        self.curve: list[dict[str, Any]] = []
        self.cpu_start = time.process_time()
        self.excluded_wall = 0.0
        self.excluded_cpu = 0.0

    def cpu_seconds(self) -> float:
        """CPU seconds of the run so far, judging left out."""
        return time.process_time() - self.cpu_start - self.excluded_cpu

    def judge(self, iterate: Any, **extra: Any) -> dict[str, Any]:
        """Record the objective of ``iterate.image`` on the curve and return the point."""
        point = {"step": iterate.step, "seconds": iterate.elapsed - self.excluded_wall,
                 "cpu_seconds": self.cpu_seconds(), **extra}
        wall, cpu = time.perf_counter(), time.process_time()
        point["objective"] = self.evaluate(iterate.image)
        self.excluded_wall += time.perf_counter() - wall
        self.excluded_cpu += time.process_time() - cpu
        self.curve.append(point)
        return point


def measure_quality(baseline_steps: int, num_steps: int, every: int, device: str, reg: Any,
                    log: Callable[[str], None], long_side: int = 512, settings: dict[str, Any] | None = None,
                    baseline: dict[str, Any] | None = None, attribute: bool = False) -> dict[str, Any]:
    """Time to reach the single-scale run's objective, single scale against multi-scale.

    Times are wall seconds and this process's CPU seconds (less sensitive to other
    processes on a shared machine), both from the start of ``stylize``. ``baseline``
    reuses the single-scale part of an earlier result (marked as such in the output).
    ``attribute`` also times a projected single-scale run, to tell the schedule's share
    of the speed-up from the projection's.
    """
    torch = _torch()
    from siayn_core.config import examples_dir
    from siayn_core.engine import stages_for, stylize
    from siayn_core.objective import Objective, build_components
    from siayn_core.image_io import read_image, resize, scaled_size, to_tensor
    from siayn_core.schedule import upsample

    content = read_image(examples_dir() / "tubingen.jpg")
    style = read_image(examples_dir() / "starry_night.jpg")
    size = scaled_size(content.size, long_side / max(content.size))
    base = {"backbone": "vgg16", "scaler": long_side / max(content.size), "seed": 0, **LAYERS}

    # The full-resolution objective both runs are judged by.
    judge_options = options(**base, min_size=None)
    torch_device = torch.device(device)
    components, _ = build_components(judge_options, reg, torch_device)
    judge = Objective(judge_options, components, 1)
    judge.set_targets(to_tensor(resize(content, size)).to(torch_device), [to_tensor(resize(style, size)).to(torch_device)])

    def evaluate(image: Any) -> float:
        with torch.no_grad():
            total, _ = judge(upsample(image.to(torch_device), size))
        return float(total)

    if baseline is not None:
        single_part = dict(baseline["single_scale"], reused_from_an_earlier_run=True)
        target = baseline["target_objective"]
    else:
        # Single scale, judged like the multi-scale run: the objective of the image a user
        # would get (clamped to [0, 1]) every few steps, evaluation time excluded.
        single_run = JudgedRun(evaluate)

        def record_single(iterate: Any) -> None:
            if iterate.step % every and iterate.step != baseline_steps:
                return
            point = single_run.judge(iterate, loss_before_step=iterate.losses["total"])
            if iterate.step % 25 == 0:
                log(f"  single scale step {iterate.step}: {point['objective']:.4g} at {point['seconds']:.0f} s")

        single = stylize(content, [style], options(**base, **SEED_RECIPE, num_steps=baseline_steps), registry=reg,
                         device=device, seed=0, callback=record_single)
        single_final = evaluate(single.image)
        curve = single_run.curve
        target = min(point["objective"] for point in curve)
        first = next(point for point in curve if point["objective"] <= target)
        single_part = {"steps": baseline_steps, "seconds_to_target": first["seconds"],
                       "cpu_seconds_to_target": first["cpu_seconds"], "step_at_target": first["step"],
                       "seconds_total": single.seconds - single_run.excluded_wall, "final_objective": single_final,
                       "curve": curve}

    def run_to_target(label: str, run_settings: dict[str, Any]) -> dict[str, Any]:
        """A run evaluated at every stage's end and every few steps of its last stage
        (evaluation time excluded), stopped once it reaches the target."""
        run_options = options(**base, num_steps=num_steps, **run_settings)
        stages = stages_for(run_options, size)
        ends = {stage.last_step for stage in stages}
        final = stages[-1]
        run = JudgedRun(evaluate)

        def checkpoint(iterate: Any) -> bool:
            if iterate.step in ends or (iterate.step >= final.first_step and (iterate.step - final.first_step) % every == 0):
                point = run.judge(iterate, size=list(iterate.image.shape[-2:])[::-1])
                log(f"  {label} step {iterate.step} at {point['size']}: {point['objective']:.4g} "
                    f"at {point['seconds']:.0f} s")
                return point["objective"] <= target  # reached: no need to go on
            return False

        result = stylize(content, [style], run_options, registry=reg, device=device, seed=0, callback=checkpoint)
        cpu_total = run.cpu_seconds()
        final_objective = evaluate(result.image)
        curve = run.curve
        curve.append({"step": result.steps + 1, "seconds": result.seconds - run.excluded_wall, "cpu_seconds": cpu_total,
                      "objective": final_objective, "size": list(size)})
        reached = next((point for point in curve if point["objective"] <= target), None)
        return {"steps": num_steps, "settings": run_settings,
                "stages": [[*stage.size, stage.steps] for stage in stages],
                "seconds_total": result.seconds - run.excluded_wall, "cpu_seconds_total": cpu_total,
                "final_objective": final_objective,
                "seconds_to_target": reached["seconds"] if reached else None,
                "cpu_seconds_to_target": reached["cpu_seconds"] if reached else None,
                "step_at_target": reached["step"] if reached else None,
                "speedup": single_part["seconds_to_target"] / reached["seconds"] if reached else None,
                "speedup_cpu": (single_part["cpu_seconds_to_target"] / reached["cpu_seconds"]
                                if reached and single_part.get("cpu_seconds_to_target") else None),
                "curve": curve}

    multi = run_to_target("multi-scale", dict(settings or {}))
    result = {
        "size": list(size),
        "target_objective": target,
        "single_scale": single_part,
        "multi_scale": multi,
        "speedup": multi["speedup"],
        "speedup_cpu": multi["speedup_cpu"],
        "weights": "imagenet (real VGG16)",
    }
    if attribute:
        # How much of the speed-up projected steps alone give: single scale, but projected.
        result["single_scale_projected"] = run_to_target("single scale, projected", {"min_size": None})
    return result


# --------------------------------------------------------------------------- memory


MEMORY_CHILD = """
import json, resource, sys, time, torch
def peak_rss_mb():
    # VmHWM is this process's own peak; ru_maxrss keeps the parent's across fork and exec.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from siayn_core import load_plugins
from siayn_core.config import build_options
from siayn_core.engine import stylize
from PIL import Image
torch.set_num_threads({threads})
arch, size, steps, tile, device = {arch!r}, {size}, {steps}, {tile!r}, {device!r}
reg = load_plugins().registry
options = build_options({{"backbone": arch, "backbone_options": {{"weights": "none"}}, "min_size": None,
                          "num_steps": steps, "tile_size": tile, "style_layers": {style_layers!r},
                          "content_layers": {content_layers!r}}}, where="memory")
generator = torch.Generator().manual_seed(0)
def image():
    array = (torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8).numpy()
    return Image.fromarray(array, "RGB")
before = peak_rss_mb()
started = time.perf_counter()
result = stylize(image(), [image()], options, registry=reg, device=device, seed=0)
peak = peak_rss_mb()
cuda = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
print(json.dumps({{"peak_rss_mb": peak, "rss_before_run_mb": before, "cuda_max_allocated_mb":
                  cuda / 2**20 if cuda else None, "seconds": time.perf_counter() - started, "steps": result.steps}}))
"""


def measure_memory(arch: str, size: int, steps: int, tile: int | None, device: str, threads: int) -> dict[str, Any]:
    """Peak memory of a ``steps``-step run at ``size`` px, in a fresh interpreter."""
    code = MEMORY_CHILD.format(threads=threads, arch=arch, size=size, steps=steps, tile=tile, device=device,
                               style_layers=LAYERS["style_layers"], content_layers=LAYERS["content_layers"])
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"arch": arch, "size": size, "tile_size": tile, "error": completed.stderr.strip().splitlines()[-1:]}
    return {"arch": arch, "size": size, "tile_size": tile, **json.loads(completed.stdout.strip().splitlines()[-1])}


# --------------------------------------------------------------------------- report


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title)
    for column in columns:
        view.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        view.add_row(*row)
    Console(width=160).print(view)


def report(results: dict[str, Any]) -> None:
    if results.get("overhead"):
        table("Step overhead (median s per step; engine vs bare forward+backward, interleaved)",
              ["backbone @ px", "engine step", "bare (channels_last)", "bare (contiguous)", "overhead", "vs contiguous",
               "Gram products alone", "the rest"],
              [[f"{r['arch']} @ {r['size']}", f"{r['engine_step_s']:.3f}", f"{r['bare_channels_last_s']:.3f}",
                f"{r['bare_contiguous_s']:.3f}", f"{100 * r['overhead_vs_same_format']:+.1f}%",
                f"{100 * r['overhead_vs_contiguous']:+.1f}%", f"{100 * r['gram_share_of_bare']:+.1f}%",
                f"{100 * (r['overhead_vs_same_format'] - r['gram_share_of_bare']):+.1f}%"]
               for r in results["overhead"]])
    if results.get("variants"):
        v = results["variants"]
        rows = [[name.removesuffix("_s"), f"{value:.3f}"] for name, value in v.items() if name.endswith("_s")]
        table(f"Bare VGG16 forward+backward at {v['size']} px (median s)", ["variant", "seconds"], rows)
    q = results.get("quality")
    if q and "skipped" not in q:
        single = q["single_scale"]
        runs = [("multi-scale (the defaults)", q["multi_scale"])]
        if q.get("single_scale_projected"):
            runs.append(("single scale, projected steps", q["single_scale_projected"]))

        def speedup(run: dict[str, Any]) -> str:
            return f"{run['speedup']:.2f}x / {run['speedup_cpu']:.2f}x" if run.get("speedup") else "-"

        table(f"Time to quality at {q['size'][0]}x{q['size'][1]} (target: objective {q['target_objective']:.4g})",
              ["run", "steps", "seconds to target", "final objective", "speed-up (wall / CPU)"],
              [["single scale, unconstrained (the seed's L-BFGS)", str(single["steps"]),
                f"{single['seconds_to_target']:.1f}", f"{single['final_objective']:.4g}", "1x"]]
              + [[name, str(run["steps"]), f"{run['seconds_to_target']:.1f}" if run["seconds_to_target"] else
                  "not reached", f"{run['final_objective']:.4g}", speedup(run)] for name, run in runs])
    elif q:
        print(f"time to quality: skipped ({q['skipped']})")
    if results.get("memory"):
        table("Peak memory (fresh process per size)", ["backbone @ px", "tiles", "peak RSS MB", "CUDA max MB", "s"],
              [[f"{r['arch']} @ {r['size']}", str(r.get("tile_size")), f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r
                else f"error: {r.get('error')}", f"{r['cuda_max_allocated_mb']:.0f}" if r.get("cuda_max_allocated_mb")
                else "-", f"{r.get('seconds', 0):.1f}"] for r in results["memory"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short version: fewer sizes and steps")
    parser.add_argument("--only", action="append", choices=("overhead", "variants", "quality", "memory"),
                        help="run only this section (repeatable)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="VGG16 weights for the quality section")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--baseline-from", type=Path, default=None,
                        help="reuse the single-scale part of this earlier result JSON (quality section)")
    parser.add_argument("--quality-size", type=int, default=512, help="long side of the time-to-quality images")
    parser.add_argument("--quality-steps", type=int, default=None, help="steps of the single-scale baseline")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a multi-scale setting for the time-to-quality run (default: the defaults)")
    args = parser.parse_args(argv)
    torch = _torch()
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    sections = args.only or ["overhead", "variants", "quality", "memory"]
    output = args.output or REPO / "benchmarks" / "results" / f"{'quick' if args.quick else 'full'}.json"
    results: dict[str, Any] = {"mode": "quick" if args.quick else "full", "conditions": conditions(threads)}

    def log(text: str) -> None:
        print(text, flush=True)

    def save() -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        results["conditions"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        output.write_text(json.dumps(results, indent=2) + "\n")

    reg = registry()
    if "overhead" in sections:
        results["overhead"] = []
        sizes = (256,) if args.quick else (256, 512)
        for arch in ("vgg16", "vgg19"):
            for size in sizes:
                log(f"overhead: {arch} at {size} px")
                results["overhead"].append(measure_overhead(arch, size, 4 if args.quick else 12, args.device, reg))
                save()
    if "variants" in sections:
        log("variants: memory format and torch.compile")
        results["variants"] = measure_variants(256 if args.quick else 512, 3 if args.quick else 5, args.device,
                                                    compile_too=not args.quick)
        save()
    if "quality" in sections:
        home = with_weights(args.weights)
        if home is None:
            results["quality"] = {"skipped": f"no VGG16 weights at {args.weights}"}
        else:
            with home:
                reg = registry()
                log("quality: single scale, then multi-scale")
                from siayn_core.configfile import parse_overrides

                steps = args.quality_steps or (60 if args.quick else 300)
                baseline = json.loads(args.baseline_from.read_text())["quality"] if args.baseline_from else None
                results["quality"] = measure_quality(steps, steps, 5, args.device, reg, log, args.quality_size,
                                                     parse_overrides(args.settings), baseline,
                                                     attribute=not args.quick)
        save()
    if "memory" in sections:
        results["memory"] = []
        plan = [("vgg19", 512, 2, 1024), ("vgg19", 1024, 2, 1024)] if args.quick else [
            ("vgg16", 512, 3, 1024), ("vgg19", 512, 3, 1024), ("vgg19", 1024, 2, 1024), ("vgg19", 2048, 1, 1024),
            ("vgg19", 2048, 1, None)]
        for arch, size, steps, tile in plan:
            log(f"memory: {arch} at {size} px, tile_size {tile}")
            results["memory"].append(measure_memory(arch, size, steps, tile, args.device, threads))
            save()
    save()
    report(results)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
