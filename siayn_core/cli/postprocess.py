"""``siayn postprocess``: run the postprocessing config (the original SIAYN's format)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import load_host, plugin_option
from ..config.files import parse_overrides
from ..config.checks import check_images, check_writable_dir, pixel_limit
from ..runs.postprocess_configs import load_postprocess_runs, run_postprocess
from ..io.resources import POSTPROCESS_CONFIG_NAME


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help=f"Postprocessing config (YAML, named runs). Default: {POSTPROCESS_CONFIG_NAME}, on the bundled images.",
)
@click.option("--run", "run_names", multiple=True, metavar="NAME", help="Only this run (repeatable).")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a key in every selected run, e.g. --set p5=10 (repeatable).",
)
@click.option(
    "--output", type=click.Path(path_type=Path), default=None, metavar="DIR",
    help="Write every result into DIR instead of next to its input.",
)
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option(
    "--max-pixels", type=int, default=None, metavar="N",
    help="Open input images of up to N pixels (default: Pillow's limit, about 89 million; "
    "also SIAYN_MAX_IMAGE_PIXELS). Raise it only for files you trust.",
)
@plugin_option
def postprocess(
    config_path: Path | None,
    run_names: tuple[str, ...],
    overrides: tuple[str, ...],
    output: Path | None,
    quiet: bool,
    max_pixels: int | None,
    plugins: tuple[str, ...],
) -> None:
    """Denoise, mask, match histograms, make masks and GIFs as a config file says.

    Each result is written next to its input with the step in its name
    (x.denoise.png, x.mask.png, frog.mask-create.png); existing files are never
    overwritten (x.denoise-2.png).
    """
    with pixel_limit(max_pixels):
        if output is not None:
            check_writable_dir(output)
        host = load_host(plugins)
        runs = load_postprocess_runs(
            config_path, run_names, parse_overrides(overrides), registry=host.registry, output=output
        )
        # Inputs are read and output folders checked before the first file is written.
        for run in runs:
            for job in run.jobs:
                if job.input.is_file():
                    check_images([job.input])
                folder = job.context.output_dir or job.output_dir or (
                    job.input if job.input.is_dir() else job.input.parent
                )
                check_writable_dir(folder)
        for run in runs:

            def report(name: str, path: Path, run_name: str = run.name) -> None:
                if not quiet:
                    click.echo(f"{run_name}: {name} -> {path}")

            run_postprocess(run, registry=host.registry, on_written=report)
