"""``siayn batch``: many runs from a manifest, on this machine or a Ray cluster."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..engine.devices import DEVICES
from ..config.checks import check_writable_dir, pixel_limit
from .common import EXIT_USAGE, load_host, one_line, plugin_option
from .progress import CountBar

if TYPE_CHECKING:
    from ..batch.jobs import JobOutcome


@click.command()
@click.argument("manifest", type=click.Path(path_type=Path), metavar="MANIFEST")
@click.option("--executor", "-e", default="local", show_default=True, metavar="NAME",
              help="Where the runs go: local, ray, or a plugin's executor (siayn components list --kind executor).")
@click.option("--address", default=None, metavar="ADDR",
              help="The Ray cluster to join (ray executor), e.g. auto or ray://head:10001; default: a local Ray.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="local: N runs at once in worker processes; ray: the local Ray runtime's CPUs.")
@click.option("--gpus-per-run", type=click.FloatRange(min=0), default=None, metavar="G",
              help="GPUs Ray reserves for each run (ray executor; fractions share a GPU).")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=Path("batch"), show_default=True,
              metavar="DIR", help="Each run goes to DIR/<run>/; DIR/batch.json and DIR/contact_sheet.png.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a stylize option in every run, over the manifest and its grid (repeatable).")
@click.option("--device", type=click.Choice(DEVICES, case_sensitive=False), default="auto", show_default=True,
              help="auto picks cuda, then mps, then cpu, in each run's process.")
@click.option("--seed", type=int, default=None, help="Random seed of every run; repeats CPU runs exactly.")
@click.option("--threads-per-run", type=click.IntRange(min=1), default=None, metavar="T",
              help="torch's CPU threads in each run (default: the executor shares the cores out); "
              "the same T gives the same images bit for bit on every executor.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the result paths.")
@click.option("--max-pixels", type=int, default=None, metavar="N",
              help="Open input images of up to N pixels (default: Pillow's limit).")
@plugin_option
def batch(manifest: Path, executor: str, address: str | None, workers: int | None, gpus_per_run: float | None,
          output: Path, overrides: tuple[str, ...], device: str, seed: int | None, threads_per_run: int | None, quiet: bool,
          max_pixels: int | None, plugins: tuple[str, ...]) -> None:
    """Stylize many images: every photo in every style at every grid point of MANIFEST.

    MANIFEST is YAML with `contents:` and `styles:` (files, folders or globs), an optional
    `grid:` of option lists, and stylize options for every run; a stylize config of named
    runs works too. A failed run is retried once and never stops the others; running the
    same command again does only the runs not done yet. Exit code 2 when a run failed.
    """
    from ..batch.executors import run_batch
    from ..batch.manifest import load_manifest

    executor_options: dict[str, Any] = {key: value for key, value in
                                        (("address", address), ("workers", workers), ("gpus_per_run", gpus_per_run))
                                        if value is not None}
    output = output.absolute()  # batch.json's paths hold from any working directory
    with pixel_limit(max_pixels):
        check_writable_dir(output)
        host = load_host(plugins)
        runner = host.registry.create("executor", executor, executor_options)
        jobs = load_manifest(manifest, output_dir=output, overrides=overrides, registry=host.registry, seed=seed,
                             device=device, plugins=plugins, threads=threads_per_run)
        with ExitStack() as stack:
            bar = None if quiet else stack.enter_context(CountBar("batch", len(jobs)))
            result = run_batch(jobs, runner, output_dir=output, source=str(manifest), executor_name=executor,
                               on_outcome=_BatchReport(bar))
    click.echo(str(result.record))
    if result.contact_sheet:
        click.echo(str(result.contact_sheet))
    for name, error in result.failed.items():
        click.echo(f"siayn: error: run {name!r} failed: {one_line(error)}", err=True)
    if result.failed:
        click.echo(f"siayn: {len(result.failed)} of {len(jobs)} runs failed; run the same command again "
                   "to retry only those", err=True)
        sys.exit(EXIT_USAGE)


class _BatchReport:
    """Prints each finished run's image and moves the progress bar (none with ``--quiet``)."""

    def __init__(self, bar: CountBar | None) -> None:
        self.bar = bar
        self.failed = 0

    def __call__(self, outcome: JobOutcome) -> None:
        finished = outcome.status in ("done", "skipped")
        if finished:
            click.echo(outcome.output)
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.advance(1 if finished else 0, f"{self.failed} failed" if self.failed else "")
