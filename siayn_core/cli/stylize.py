"""``siayn stylize``: run the stylize config's runs (the original SIAYN's format), or stylize the
images named on the command line with the default config's settings."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import load_host, plugin_option
from ..config.loader import DEFAULT_PHOTO_SIZE
from ..io.resources import STYLIZE_CONFIG_NAME
from ..engine.devices import DEVICES
from ..config.checks import check_writable_dir, pixel_limit
from ..runs.interrupts import StopOnSignal
from .common import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from ..config.schema import RunSpec
    from ..host.registry import Registry
    from ..runs.folder import ResumePoint


@click.command()
@click.argument("images", nargs=-1, metavar="[CONTENT STYLE...]")
@click.option(
    "--config", "-c", "config_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help=f"Stylize config (YAML, named runs). Default: {STYLIZE_CONFIG_NAME}, on the bundled images.",
)
@click.option("--run", "-r", "run_names", multiple=True, metavar="NAME", help="Only this run (repeatable).")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
    metavar="DIR", help="Results go to DIR/<run>/.",
)
@click.option(
    "--size", type=click.IntRange(min=16), default=None, metavar="PX",
    help="Longer side of the output in px (same as --set size=PX). Default for CONTENT STYLE: "
    f"the photo's own size, capped at {DEFAULT_PHOTO_SIZE} px (its run time: docs/stylize.md#defaults).",
)
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a key in every selected run, e.g. --set num_steps=50 or "
    "--set backbone_options.weights=none (repeatable).",
)
@click.option(
    "--post", "post_steps", multiple=True, metavar="NAME",
    help="Apply postprocessor NAME to every result, after the run's own postprocess list (repeatable).",
)
@click.option(
    "--device", type=click.Choice(DEVICES, case_sensitive=False), default="auto", show_default=True,
    help="auto picks cuda, then mps, then cpu.",
)
@click.option("--seed", type=int, default=None, help="Random seed (overrides the config's); repeats a CPU run exactly.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier result of the same run instead of writing <run>-2.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the result paths.")
@click.option(
    "--max-pixels", type=int, default=None, metavar="N",
    help="Open input images of up to N pixels (default: Pillow's limit, about 89 million; "
    "also SIAYN_MAX_IMAGE_PIXELS). Raise it only for files you trust.",
)
@click.option(
    "--resume", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
    help="Go on with a run stopped by Ctrl-C, SIGTERM or a diverging loss, from the image and "
    "run.json in RUN_DIR (e.g. output/default); --set changes a setting for the remaining steps.",
)
@plugin_option
@click.pass_context
def stylize(
    ctx: click.Context,
    images: tuple[str, ...],
    config_path: Path | None,
    run_names: tuple[str, ...],
    output: Path,
    size: int | None,
    overrides: tuple[str, ...],
    post_steps: tuple[str, ...],
    device: str,
    seed: int | None,
    overwrite: bool,
    quiet: bool,
    max_pixels: int | None,
    resume: Path | None,
    plugins: tuple[str, ...],
) -> None:
    """Paint a photo in the style of one or more paintings.

    With no arguments, runs every run of the config (the default config stylizes the bundled
    example photo). CONTENT STYLE... replace the content and style images of every run, e.g.
    `siayn stylize photo.jpg starry.jpg wave.jpg -o out/` blends two styles.

    Each run writes DIR/<run>/<content>!-!<style>.png and run.json; an existing result is
    kept and the new one goes to DIR/<run>-2/ (unless --overwrite).
    """
    from ..config.files import parse_overrides
    from ..config.loader import load_stylize_runs
    from ..plugin.errors import SiaynError

    overrides = parse_overrides(overrides)
    if size is not None:
        overrides["size"] = size
    if resume is not None:
        flags = {"config_path": "--config", "run_names": "--run", "output": "--output", "post_steps": "--post",
                 "overwrite": "--overwrite"}
        given = [flag for name, flag in flags.items()
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if images or given:
            unwanted = ", ".join(["images" if images else "", *given]).strip(", ")
            raise SiaynError(
                f"--resume goes on with the run in {resume} as it was configured, in its own folder; "
                f"drop {unwanted} (--set changes a setting)"
            )
        with pixel_limit(max_pixels):
            resume_run(resume, overrides, plugins=plugins, device=device, seed=seed, quiet=quiet)
        return
    if len(images) == 1:
        raise SiaynError("give a content image and at least one style image (CONTENT STYLE...), or none")
    with pixel_limit(max_pixels):
        # Everything that can be checked is checked before a folder is made or a run starts.
        check_writable_dir(output)
        host = load_host(plugins)
        specs = load_stylize_runs(
            config_path,
            run_names,
            overrides,
            content=images[0] if images else None,
            styles=images[1:],
            postprocess=post_steps,
            registry=host.registry,
        )
        run_all(specs, registry=host.registry, output=output, device=device, seed=seed, quiet=quiet,
                overwrite=overwrite)


def resume_run(run_dir: Path, overrides: Mapping[str, Any], *, plugins: Sequence[str], device: str, seed: int | None,
               quiet: bool) -> None:
    """``--resume``: check everything, then go on with the stopped run in ``run_dir``."""
    from ..runs.folder import load_resume_point

    host = load_host(plugins)
    point = load_resume_point(run_dir, registry=host.registry, overrides=overrides)
    check_writable_dir(run_dir, what="run folder")
    run_all([point.spec], registry=host.registry, output=run_dir.parent, device=device, seed=seed, quiet=quiet,
            overwrite=False, resume=point)


def run_all(specs: Sequence[RunSpec], *, registry: Registry, output: Path, device: str, seed: int | None,
            quiet: bool, overwrite: bool, resume: ResumePoint | None = None) -> None:
    """Run ``specs`` in order, printing each result's paths; the first Ctrl-C or SIGTERM
    stops the current run after its step, saves it (run.json marked interrupted) and exits 130."""
    from ..engine.outcomes import chain
    from ..engine.painter import Painters
    from ..runs.folder import run_stylize
    from ..runs.record import mark_record
    from .progress import ProgressBar

    painters = Painters(registry, device)
    with StopOnSignal() as interrupt:
        for spec in specs:
            if interrupt.triggered:
                break
            if not quiet:
                painter = painters.for_options(spec.options)  # run_stylize below reuses it
                click.echo(size_line(spec, precision=painter.precision, device=str(painter.device)), err=True)
            with ExitStack() as stack:
                progress = None if quiet else stack.enter_context(ProgressBar(spec.name, spec.options.num_steps))
                result = run_stylize(
                    spec,
                    registry=registry,
                    output_dir=output,
                    device=device,
                    seed=seed,
                    overwrite=overwrite,
                    callback=chain([progress, interrupt]),
                    resume=resume,
                    painters=painters,
                )
            click.echo(str(result.image))
            for path in result.processed:
                click.echo(str(path))
            if interrupt.triggered and result.result.stopped:
                mark_record(result.metadata, interrupted=True)
                click.echo(
                    f"siayn: interrupted by {interrupt.signal_name} after step {result.result.steps} of "
                    f"{spec.options.num_steps}; saved {result.image}; continue with: "
                    f"siayn stylize --resume {result.run_dir}",
                    err=True,
                )
                sys.exit(EXIT_INTERRUPTED)
    if interrupt.triggered:
        click.echo(f"siayn: interrupted by {interrupt.signal_name}", err=True)
        sys.exit(EXIT_INTERRUPTED)


def size_line(spec: RunSpec, *, precision: str, device: str) -> str:
    """``siayn: run 'default': 256x192 px output from the 512x384 px tubingen.jpg ...``,
    ending with the ``precision`` the backbone runs in on ``device``."""
    from ..config.schema import RECIPE_SUMMARIES
    from ..engine.schedule import reference_size

    options = spec.options
    assert spec.pictures is not None
    content_size = spec.pictures.content.size
    width, height = spec.size
    line = (f"siayn: run {spec.name!r}: {width}x{height} px output from the "
            f"{content_size[0]}x{content_size[1]} px {spec.content.name}")
    if spec.capped:
        line += f" (capped at the default {DEFAULT_PHOTO_SIZE} px; --size PX for another size)"
    reference = reference_size((width, height), options.style_reference)
    if reference is not None:
        line += (f"; optimized at {reference[0]}x{reference[1]} px and carried up, so the strokes keep their "
                 f"size (style_reference: null optimizes every size)")
    if options.recipe != "siayn":
        line += f"; recipe: {options.recipe} ({RECIPE_SUMMARIES[options.recipe]}, docs/config.md)"
    return line + f"; backbone in {precision} on {device}"
