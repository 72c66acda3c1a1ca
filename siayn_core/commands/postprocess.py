"""``siayn postprocess``: run the postprocessing config (the seed's format)."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import load_host, plugin_option
from ..configfile import parse_overrides
from ..postprocess import DEFAULT_CONFIG_NAME, load_postprocess_runs, run_postprocess


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help=f"Postprocessing config (YAML, named runs). Default: {DEFAULT_CONFIG_NAME}, on the bundled images.",
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
@plugin_option
def postprocess(
    config_path: Path | None,
    run_names: tuple[str, ...],
    overrides: tuple[str, ...],
    output: Path | None,
    quiet: bool,
    plugins: tuple[str, ...],
) -> None:
    """Denoise, mask, match histograms, make masks and GIFs as a config file says.

    Each result is written next to its input with the step in its name
    (x.denoise.png, x.mask.png, frog.mask-create.png); existing files are never
    overwritten (x.denoise-2.png).
    """
    host = load_host(plugins)
    runs = load_postprocess_runs(
        config_path, run_names, parse_overrides(overrides), registry=host.registry, output=output
    )
    for run in runs:

        def report(name: str, path: Path, run_name: str = run.name) -> None:
            if not quiet:
                click.echo(f"{run_name}: {name} -> {path}")

        run_postprocess(run, registry=host.registry, on_written=report)
