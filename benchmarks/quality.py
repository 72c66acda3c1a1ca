"""Time to quality at 512 px: a single-scale L-BFGS run of 300 steps (the original SIAYN's
recipe) sets the target, the value of the full-resolution objective it reaches (on its
clamped image, as a user gets it); then the default multi-scale run, whose image is
upscaled to full size and evaluated with that same objective after every stage and every
few steps of the last stage (evaluation time excluded).

Uses the real VGG16 weights from ``../shared/weights`` (or ``--weights``) through a
temporary TORCH_HOME; random weights would make the comparison meaningless, so the section
is skipped without.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from siayn_core.io.resources import examples_dir
from siayn_core.engine.schedule import upsample

from .common import LAYERS, Session, options, parse_settings, registry, table, with_weights

if TYPE_CHECKING:
    import torch

    from siayn_core import Registry
    from siayn_core.engine.loop import Iterate

#: The original recipe the section measures against: one stage at the output size, the
#: image unconstrained during the optimization and clamped only when saved.
SEED_RECIPE: dict[str, Any] = {"min_size": None, "keep_in_range": False}


class JudgedRun:
    """The curve of a run judged by ``evaluate`` at chosen steps: wall and CPU seconds from
    the start of ``stylize``, with the time spent judging left out."""

    def __init__(self, evaluate: Callable[[torch.Tensor], float]) -> None:
        self.evaluate = evaluate
        self.curve: list[dict[str, Any]] = []
        self.cpu_start = time.process_time()
        self.excluded_wall = 0.0
        self.excluded_cpu = 0.0

    def cpu_seconds(self) -> float:
        """CPU seconds of the run so far, judging left out."""
        return time.process_time() - self.cpu_start - self.excluded_cpu

    def judge(self, iterate: Iterate, **extra: Any) -> dict[str, Any]:
        """Record the objective of ``iterate.image`` on the curve and return the point."""
        point = {"step": iterate.step, "seconds": iterate.elapsed - self.excluded_wall,
                 "cpu_seconds": self.cpu_seconds(), **extra}
        wall, cpu = time.perf_counter(), time.process_time()
        point["objective"] = self.evaluate(iterate.image)
        self.excluded_wall += time.perf_counter() - wall
        self.excluded_cpu += time.process_time() - cpu
        self.curve.append(point)
        return point


def measure_quality(baseline_steps: int, num_steps: int, every: int, device: str, reg: Registry,
                    log: Callable[[str], None], long_side: int = 512, settings: dict[str, Any] | None = None,
                    baseline: dict[str, Any] | None = None, attribute: bool = False) -> dict[str, Any]:
    """Time to reach the single-scale run's objective, single scale against multi-scale.

    Times are wall seconds and this process's CPU seconds (less sensitive to other
    processes on a shared machine), both from the start of ``stylize``. ``baseline``
    reuses the single-scale part of an earlier result (marked as such in the output).
    ``attribute`` also times a projected single-scale run, to tell the schedule's share
    of the speed-up from the projection's.
    """
    import torch

    from siayn_core.engine.painter import stages_for, stylize
    from siayn_core.io.images import read_image, resize, scaled_size, to_tensor
    from siayn_core.engine.objective import Objective, build_components
    from siayn_core.engine.terms import total_loss

    content = read_image(examples_dir() / "tubingen.jpg")
    style = read_image(examples_dir() / "starry_night.jpg")
    size = scaled_size(content.size, long_side / max(content.size))
    base = {"backbone": "vgg16", "scaler": long_side / max(content.size), "seed": 0, **LAYERS}

    # The full-resolution objective both runs are judged by.
    judge_options = options(**base, min_size=None)
    torch_device = torch.device(device)
    components, _ = build_components(judge_options, reg, torch_device)
    judge = Objective(judge_options, components, 1)
    judge.set_targets(to_tensor(resize(content, size)).to(torch_device),
                      [to_tensor(resize(style, size)).to(torch_device)])

    def evaluate(image: torch.Tensor) -> float:
        with torch.no_grad():
            total = total_loss(judge(upsample(image.to(torch_device), size)))
        return float(total)

    if baseline is not None:
        single_part = dict(baseline["single_scale"], reused_from_an_earlier_run=True)
        target = baseline["target_objective"]
    else:
        # Single scale, judged like the multi-scale run: the objective of the image a user
        # would get (clamped to [0, 1]) every few steps, evaluation time excluded.
        single_run = JudgedRun(evaluate)

        def record_single(iterate: Iterate) -> None:
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

        def checkpoint(iterate: Iterate) -> bool:
            if iterate.step in ends or (iterate.step >= final.first_step
                                        and (iterate.step - final.first_step) % every == 0):
                point = run.judge(iterate, size=list(iterate.image.shape[-2:])[::-1])
                log(f"  {label} step {iterate.step} at {point['size']}: {point['objective']:.4g} "
                    f"at {point['seconds']:.0f} s")
                return point["objective"] <= target  # reached: no need to go on
            return False

        result = stylize(content, [style], run_options, registry=reg, device=device, seed=0, callback=checkpoint)
        cpu_total = run.cpu_seconds()
        final_objective = evaluate(result.image)
        curve = run.curve
        curve.append({"step": result.steps + 1, "seconds": result.seconds - run.excluded_wall,
                      "cpu_seconds": cpu_total, "objective": final_objective, "size": list(size)})
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


def run(session: Session) -> None:
    """The section, or a ``skipped`` note without the VGG16 weights."""
    args = session.args
    home = with_weights(args.weights)
    if home is None:
        session.results["quality"] = {"skipped": f"no VGG16 weights at {args.weights}"}
    else:
        with home:
            reg = registry()  # again: the backbone reads TORCH_HOME, now set
            session.log("quality: single scale, then multi-scale")
            steps = args.quality_steps or (60 if args.quick else 300)
            baseline = json.loads(args.baseline_from.read_text())["quality"] if args.baseline_from else None
            session.results["quality"] = measure_quality(steps, steps, 5, args.device, reg, session.log,
                                                         args.quality_size, parse_settings(args.settings), baseline,
                                                         attribute=not args.quick)
    session.save()


def report(result: dict[str, Any]) -> None:
    """Print the section's table, or why it was skipped."""
    if "skipped" in result:
        print(f"time to quality: skipped ({result['skipped']})")
        return
    single = result["single_scale"]
    runs = [("multi-scale (the defaults)", result["multi_scale"])]
    if result.get("single_scale_projected"):
        runs.append(("single scale, projected steps", result["single_scale_projected"]))

    def speedup(run: dict[str, Any]) -> str:
        return f"{run['speedup']:.2f}x / {run['speedup_cpu']:.2f}x" if run.get("speedup") else "-"

    width, height = result["size"]
    table(f"Time to quality at {width}x{height} (target: objective {result['target_objective']:.4g})",
          ["run", "steps", "seconds to target", "final objective", "speed-up (wall / CPU)"],
          [["single scale, unconstrained (the seed's L-BFGS)", str(single["steps"]),
            f"{single['seconds_to_target']:.1f}", f"{single['final_objective']:.4g}", "1x"]]
          + [[name, str(run["steps"]), f"{run['seconds_to_target']:.1f}" if run["seconds_to_target"] else
              "not reached", f"{run['final_objective']:.4g}", speedup(run)] for name, run in runs])
