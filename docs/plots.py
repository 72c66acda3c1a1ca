"""Draw the figures of docs/performance.md from the benchmark results in benchmarks/results/.

    python docs/plots.py [--output docs/images/performance]

Every figure is drawn from the JSON files named in :data:`FIGURES` alone: step-time bars
(the engine's step against the bare backbone pass) from the overhead results, and the
full-resolution objective against wall seconds and against steps from the time-to-quality
results. Each names its machine (from the files' ``conditions``) in its title and its files
at its foot. The PNGs carry no timestamp or version, so drawing them again from the same
JSON with the same matplotlib gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed, or wanted, to draw them

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DEFAULT_OUTPUT = REPO / "docs" / "images" / "performance"

#: One look for every figure, whatever the user's matplotlibrc says.
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "legend.fontsize": 8,
}

#: The quality section's runs, in the order and with the names performance.md gives them.
QUALITY_RUNS: dict[str, str] = {
    "single_scale": "Single scale, unconstrained (the original recipe)",
    "multi_scale": "The defaults",
    "single_scale_projected": "Single scale, projected steps",
}
RUN_COLOURS: dict[str, str] = {"single_scale": "#7f7f7f", "multi_scale": "#1f77b4", "single_scale_projected": "#ff7f0e"}
SIDE_LINES: dict[str, str] = {"old": "--", "new": "-"}
#: The quality figures show objectives up to this multiple of the target: the approach to
#: the target, not the first steps' descent from hundreds of times it.
TOP_OVER_TARGET = 2.0


@dataclass(frozen=True)
class Source:
    """One benchmark result: its file under benchmarks/results/ and how the figure labels it."""

    path: str
    label: str = ""

    def load(self) -> dict[str, Any]:
        return json.loads((RESULTS / self.path).read_text(encoding="utf-8"))


def machine(conditions: dict[str, Any]) -> str:
    """The machine a result was measured on, as performance.md names it: "2-core AMD EPYC"."""
    cpu = conditions["cpu"].replace("(R)", "").replace(" Processor", "").strip()
    described = f"{conditions['cpu_count']}-core {cpu}, {conditions['torch_threads']} torch threads"
    if conditions.get("cuda"):
        described += f", {conditions['cuda']}"
    return described


def measured_on(results: Sequence[dict[str, Any]]) -> str:
    """The machines and days of several results, each named once."""
    machines = list(dict.fromkeys(machine(result["conditions"]) for result in results))
    days = list(dict.fromkeys(result["conditions"]["date"][:10] for result in results))
    return f"{'; '.join(machines)}, {', '.join(days)}"


def finish(figure: Figure, title: str, results: Sequence[dict[str, Any]], sources: Sequence[Source],
           foot: float = 0.04) -> None:
    """Title the figure with what it shows and where, and name its files at its foot, below
    the share ``foot`` of the figure's height that is kept free for them (and a legend)."""
    figure.suptitle(f"{title}\n{measured_on(results)}", fontsize=10)
    files = ", ".join(dict.fromkeys(f"benchmarks/results/{source.path}" for source in sources))
    figure.text(0.5, 0.01, f"Source: {files}", ha="center", va="bottom", fontsize=7, color="#555555")
    figure.tight_layout(rect=(0, foot, 1, 1))


def overhead_rows(result: dict[str, Any], side: str | None) -> list[dict[str, Any]]:
    """The overhead rows of a result: its own ``overhead`` list, or one side's of an old/new run."""
    return result[side]["overhead"] if side else result["overhead"]


def draw_overhead(sources: Sequence[Source], title: str, side_of: Sequence[str | None] | None = None) -> Figure:
    """Bars of the bare passes (light: float32; hatched: bfloat16, where measured) and the
    engine's step (dark) per backbone, one panel per size, one group per source; the engine's
    bar carries its overhead over the bare pass in its own precision."""
    results = [source.load() for source in sources]
    sides = list(side_of or [None] * len(sources))
    tables = [overhead_rows(result, side) for result, side in zip(results, sides)]
    sizes = sorted({row["size"] for table in tables for row in table})
    with_bfloat16 = any("bare_channels_last_bfloat16_s" in row for table in tables for row in table)
    bars = 3 if with_bfloat16 else 2
    figure, axes = plt.subplots(1, len(sizes), figsize=(max(7.0, 4.2 * len(sizes) + 0.6), 4.4), squeeze=False)
    group_width = 0.8 / len(sources)
    bar_width = group_width * 0.9 / bars
    for ax, size in zip(axes[0], sizes):
        arches = sorted({row["arch"] for table in tables for row in table if row["size"] == size})
        for index, (source, table) in enumerate(zip(sources, tables)):
            rows = {row["arch"]: row for row in table if row["size"] == size}
            for group, arch in enumerate(arches):
                row = rows[arch]
                left = group - 0.4 + index * group_width + bar_width / 2
                first = group == 0
                prefix = f"{source.label}: " if source.label else ""
                ax.bar(left, row["bare_channels_last_s"], bar_width, color=f"C{index}", alpha=0.3,
                       label=f"{prefix}bare pass, float32" if first else None)
                if with_bfloat16 and "bare_channels_last_bfloat16_s" in row:
                    ax.bar(left + bar_width, row["bare_channels_last_bfloat16_s"], bar_width, color=f"C{index}",
                           alpha=0.55, hatch="///", label=f"{prefix}bare pass, bfloat16" if first else None)
                engine = left + (bars - 1) * bar_width
                precision = row.get("engine_precision", "float32")
                ax.bar(engine, row["engine_step_s"], bar_width, color=f"C{index}",
                       label=f"{prefix}engine step" if first else None)
                ax.annotate(f"{row['overhead_vs_same_format']:+.0%}\nover {precision}",
                            (engine, row["engine_step_s"]), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(arches)), [arch.upper() for arch in arches])
        ax.set_title(f"{size} px")
        ax.set_ylabel("seconds per step (median)")
        ax.margins(y=0.18)
        ax.grid(axis="x", visible=False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.05), ncols=min(len(handles), 3),
                  fontsize=7)
    finish(figure, title, results, sources, foot=0.2)
    return figure


def quality_results(result: dict[str, Any], side: str | None) -> dict[str, Any]:
    """The time-to-quality results of a file: its ``quality`` section, or one side's of an old/new run."""
    return result[side] if side else result["quality"]


def draw_quality(sources: Sequence[Source], title: str, side_of: Sequence[str | None] | None = None) -> Figure:
    """The full-resolution objective of each run's clamped image against wall seconds (left)
    and steps (right), with each side's target and the point where each run reached it."""
    results = [source.load() for source in sources]
    sides = list(side_of or [None] * len(sources))
    figure, (by_time, by_step) = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    targets: list[float] = []
    for source, result, side in zip(sources, results, sides):
        quality = quality_results(result, side)
        target = quality["target_objective"]
        targets.append(target)
        line = SIDE_LINES.get(side or source.label, "-")
        for run, name in QUALITY_RUNS.items():
            if run not in quality:
                continue
            measured = quality[run]
            curve = measured["curve"]
            label = f"{name}{f' ({source.label})' if source.label else ''}"
            reached = measured["step_at_target"] is not None
            for ax, axis, at_target in ((by_time, "seconds", "seconds_to_target"), (by_step, "step", "step_at_target")):
                ax.plot([point[axis] for point in curve], [point["objective"] for point in curve], line,
                        color=RUN_COLOURS[run], linewidth=1.4)
                if reached:
                    ax.plot(measured[at_target], target, "o", color=RUN_COLOURS[run], markersize=4)
            outcome = (f"the target at {measured['seconds_to_target']:.1f} s, step {measured['step_at_target']}"
                       if reached else "not the target")
            by_time.plot([], [], line, color=RUN_COLOURS[run], label=f"{label}: {outcome}")
        for ax in (by_time, by_step):
            ax.axhline(target, color="black", linestyle=line, linewidth=0.8,
                       label=f"Target: {target:.5g}{f' ({source.label})' if source.label else ''}"
                       if ax is by_time else None)
    lowest = min(point["objective"] for result, side in zip(results, sides)
                 for run in QUALITY_RUNS if run in quality_results(result, side)
                 for point in quality_results(result, side)[run]["curve"])
    by_time.set_yscale("log")
    by_time.set_ylim(lowest * 0.98, max(targets) * TOP_OVER_TARGET)
    for set_formatter in (by_time.yaxis.set_major_formatter, by_time.yaxis.set_minor_formatter):
        set_formatter(FuncFormatter(lambda value, _: f"{value:.0f}" if value >= 1000 else f"{value:.4g}"))
    by_time.set_ylabel(f"objective, up to {TOP_OVER_TARGET:g}x the target (log scale)")
    by_time.set_xlabel("wall seconds from the start")
    by_step.set_xlabel("step")
    handles, labels = by_time.get_legend_handles_labels()
    columns = len(sources) if len(sources) > 1 else 2
    rows = -(-len(handles) // columns)
    figure.set_figheight(figure.get_figheight() + 0.17 * rows)
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.04), ncols=columns, fontsize=7)
    finish(figure, title, results, sources, foot=0.05 + 0.04 * rows)
    return figure


def draw_step_budget(source: Source, title: str) -> Figure:
    """Each pair's style (left) and content (right) distance against the engine seconds its
    step budgets took, one line per pair, each point labelled with its steps."""
    result = source.load()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    budgets = [str(steps) for steps in result["budgets"]]
    for pair in result["pairs"]:
        runs = [pair["runs"][steps] for steps in budgets]
        seconds = [run["seconds"] for run in runs]
        label = pair["style"].rsplit(".", 1)[0]
        for axis, measure in zip(axes, ("style", "content")):
            axis.plot(seconds, [run[measure] for run in runs], marker="o", markersize=3, label=label)
    for axis, measure in zip(axes, ("style", "content")):
        axis.set_xlabel(f"engine seconds ({', '.join(budgets)} steps)")
        axis.set_ylabel(f"{measure} distance (lower is better)")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    finish(figure, title, [result], [source])
    return figure


def draw_precision(source: Source, title: str) -> Figure:
    """Each pair's judged style distance against engine seconds in float32 (dashed) and
    bfloat16 (solid), with each precision's time to quality marked (left); bfloat16's change
    from float32 at equal steps and at equal time, per pair and measure (right)."""
    result = source.load()
    figure, (curves, changes) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.3, 1]})
    pairs = result["pairs"]
    for index, pair in enumerate(pairs):
        label = pair["style"].rsplit(".", 1)[0]
        quality = pair["runs"]["float32"]["style"] * (1 + result["within"])
        for precision, line in (("float32", "--"), ("bfloat16", "-")):
            run = pair["runs"][precision]
            points = [*run["curve"], {"seconds": run["seconds"], "style": run["style"]}]
            curves.plot([point["seconds"] for point in points], [point["style"] for point in points], line,
                        color=f"C{index}", linewidth=1.2, label=label if precision == "bfloat16" else None)
            reached = pair["seconds_to_quality"][precision]
            if reached is not None:
                curves.plot(reached, quality, "o", color=f"C{index}", markersize=3.5)
    curves.plot([], [], "--", color="black", label="float32")
    curves.plot([], [], "-", color="black", label="bfloat16")
    curves.set_xlabel("engine seconds")
    curves.set_ylabel("style distance (lower is better)")
    curves.set_title(f"dots: within {result['within']:.0%} of float32's final style distance")
    top = max(pair["runs"]["float32"]["style"] for pair in pairs) * 1.6
    curves.set_ylim(min(pair["runs"][p]["style"] for pair in pairs for p in ("float32", "bfloat16")) * 0.95, top)
    curves.legend(fontsize=6.5, ncols=2)
    kinds = [("equal steps", lambda pair: pair["bfloat16_change"]),
             ("equal time", lambda pair: pair["equal_time"]["bfloat16_change"])]
    if all("float32_spread" in pair for pair in pairs):
        # What rounding alone moves: float32 summed in another order, against float32.
        kinds.append(("float32 reordered", lambda pair: pair["float32_spread"]))
    measures = ("style", "content")
    width = 0.8 / (len(kinds) * len(measures))
    for slot, ((kind, changes_of), measure) in enumerate((k, m) for k in kinds for m in measures):
        values = [100 * changes_of(pair)[measure] for pair in pairs]
        changes.bar([index - 0.4 + (slot + 0.5) * width for index in range(len(pairs))], values, width,
                    label=f"{measure}, {kind}", color=f"C{slot}", alpha=1.0 if kind == "equal time" else 0.45)
    changes.axhline(0, color="black", linewidth=0.8)
    names = [pair["style"].rsplit(".", 1)[0].replace("_", " ").replace("-", " ") for pair in pairs]
    changes.set_xticks(range(len(pairs)), [name.replace(" ", "\n", 2) for name in names], fontsize=6)
    changes.set_ylabel("change from float32, % (below 0: better)")
    changes.legend(fontsize=7)
    changes.grid(axis="x", visible=False)
    finish(figure, title, [result], [source])
    return figure


@dataclass(frozen=True)
class Plot:
    """One figure: its file name and how to draw it."""

    name: str
    draw: Callable[[], Figure]


FIGURES: tuple[Plot, ...] = (
    Plot("quality_amd.png", lambda: draw_quality(
        [Source("quality_amd.json")], "Time to quality at 512x384 px, real VGG16, the defaults of 2026-12-03")),
    Plot("quality_512.png", lambda: draw_quality(
        [Source("full.json")], "Time to quality at 512x384 px, real VGG16, the defaults of 2026-12-02")),
    Plot("quality_512_evening.png", lambda: draw_quality(
        [Source("quality_memory_amd.json")], "Time to quality at 512x384 px, real VGG16, the defaults of 2026-12-02, that evening")),
    Plot("quality_1024.png", lambda: draw_quality(
        [Source("quality_1024.json")], "Time to quality at 1024x768 px, real VGG16")),
    Plot("overhead_amd.png", lambda: draw_overhead(
        [Source("overhead_amd_1.json", "run 1"), Source("overhead_amd_2.json", "run 2"),
         Source("overhead_amd_3.json", "run 3")],
        "Engine step against the bare forward+backward pass, three runs")),
    Plot("overhead_earlier.png", lambda: draw_overhead(
        [Source("full.json", "morning"), Source("overhead_repeat.json", "morning, repeat"),
         Source("overhead_amd_before_warmup.json", "evening")],
        "Engine step against the bare forward+backward pass, before the backward's warmed-up product choice")),
    Plot("overhead_xeon.png", lambda: draw_overhead(
        [Source("overhead_xeon.json", "run 1"), Source("overhead_xeon_repeat.json", "run 2")],
        "Engine step against the bare forward+backward pass, two runs")),
    Plot("overhead_reshaping.png", lambda: draw_overhead(
        [Source("before_after/overhead_old_c7e0100.json", "old c7e0100"),
         Source("before_after/overhead_new_b27a8d0.json", "new b27a8d0")],
        "Engine step against the bare pass, before and after the core's reshaping")),
    Plot("quality_reshaping.png", lambda: draw_quality(
        [Source("before_after/quality_old_c7e0100.json", "old"), Source("before_after/quality_new_b27a8d0.json", "new")],
        "Time to quality at 512x384 px, before (c7e0100, dashed) and after (b27a8d0) the core's reshaping")),
    Plot("quality_own_lbfgs.png", lambda: draw_quality(
        [Source("before_after/quality_own_lbfgs.json", "old"), Source("before_after/quality_own_lbfgs.json", "new")],
        "Time to quality at 256x192 px, before (d1242fd, dashed) and after (e85fa41) SIAYN's own L-BFGS",
        side_of=["old", "new"])),
    Plot("overhead_painter.png", lambda: draw_overhead(
        [Source("before_after/core_quality_overhead.json", "old d1242fd"),
         Source("before_after/core_quality_overhead.json", "new e09fc4f")],
        "Engine step against the bare pass, before and after\none resolver and the painter",
        side_of=["old", "new"])),
    Plot("quality_painter.png", lambda: draw_quality(
        [Source("before_after/core_quality_overhead.json", "old"), Source("before_after/core_quality_overhead.json", "new")],
        "Time to quality at 256x192 px, before (d1242fd, dashed) and after (e09fc4f) one resolver and the painter",
        side_of=["old", "new"])),
    Plot("overhead_bfloat16.png", lambda: draw_overhead(
        [Source("overhead_bf16_full_history_xeon.json", "bfloat16 run"),
         Source("overhead_f32_full_history_xeon.json", "float32 run")],
        "Engine step against the bare passes in float32 and bfloat16, L-BFGS history full")),
    Plot("precision.png", lambda: draw_precision(
        Source("precision_judged_xeon.json"),
        "bfloat16 against float32: the defaults at 256 px on every bundled pair, judged")),
    Plot("step_budget.png", lambda: draw_step_budget(
        Source("step_budget_xeon.json"), "The defaults at 100, 150, 200 and 300 steps, 256 px, bfloat16, judged")),
)


def write_figures(output: Path, names: Sequence[str] | None = None) -> list[Path]:
    """Draw the figures (all, or those named) into ``output``; return the files written."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(STYLE):
        for plot in FIGURES:
            if names and plot.name not in names:
                continue
            figure = plot.draw()
            path = output / plot.name
            figure.savefig(path, metadata={"Software": None})  # no matplotlib version in the file
            plt.close(figure)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the folder the PNGs go to")
    parser.add_argument("--only", nargs="*", choices=[plot.name for plot in FIGURES], help="draw only these figures")
    args = parser.parse_args()
    for path in write_figures(args.output, args.only):
        print(path)


if __name__ == "__main__":
    main()
