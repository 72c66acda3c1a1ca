"""``siayn stylize``: run the stylize config's runs (the seed's format), or stylize the
images named on the command line with the default config's settings."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import load_host, plugin_option
from ..config import DEFAULT_CONFIG_NAME, DEVICES


@click.command()
@click.argument("images", nargs=-1, metavar="[CONTENT STYLE...]")
@click.option(
    "--config", "-c", "config_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help=f"Stylize config (YAML, named runs). Default: {DEFAULT_CONFIG_NAME}, on the bundled images.",
)
@click.option("--run", "-r", "run_names", multiple=True, metavar="NAME", help="Only this run (repeatable).")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), default=Path("output"), show_default=True,
    metavar="DIR", help="Results go to DIR/<run>/.",
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
@plugin_option
def stylize(
    images: tuple[str, ...],
    config_path: Path | None,
    run_names: tuple[str, ...],
    output: Path,
    overrides: tuple[str, ...],
    post_steps: tuple[str, ...],
    device: str,
    seed: int | None,
    overwrite: bool,
    quiet: bool,
    plugins: tuple[str, ...],
) -> None:
    """Paint a photo in the style of one or more paintings.

    With no arguments, runs every run of the config (the default config stylizes the bundled
    example photo). CONTENT STYLE... replace the content and style images of every run, e.g.
    `siayn stylize photo.jpg starry.jpg wave.jpg -o out/` blends two styles.

    Each run writes DIR/<run>/<content>!-!<style>.png and run.json; an existing result is
    kept and the new one goes to DIR/<run>-2/ (unless --overwrite).
    """
    from ..config import load_stylize_runs
    from ..engine import run_stylize
    from ..errors import SiaynError

    if len(images) == 1:
        raise SiaynError("give a content image and at least one style image (CONTENT STYLE...), or none")
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
    for spec in specs:
        result = run_stylize(
            spec,
            registry=host.registry,
            output_dir=output,
            device=device,
            seed=seed,
            quiet=quiet,
            overwrite=overwrite,
        )
        click.echo(str(result.image))
        for path in result.processed:
            click.echo(str(path))
