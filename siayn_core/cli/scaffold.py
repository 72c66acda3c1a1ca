"""``siayn plugins new``: start a plugin package from a working example."""

from __future__ import annotations

from pathlib import Path

import click

from ..host.scaffold import PROTOCOL_FOR_KIND


@click.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(sorted(PROTOCOL_FOR_KIND)), default="postprocessor", show_default=True,
              help="The kind of component the package's example is.")
@click.option("--directory", "-d", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Where the package's folder NAME/ is made.")
def new(name: str, kind: str, directory: Path) -> None:
    """Write NAME/: a plugin package whose KIND component is called NAME, ready for
    `pip install ./NAME` (a pyproject with the entry point, the component, a test, a README)."""
    from ..host.scaffold import new_plugin

    folder = new_plugin(name, kind, directory)
    click.echo(str(folder))
    click.echo(f"next: pip install ./{folder.name} && siayn plugins list", err=True)
