"""``siayn plugins list`` and ``siayn components list``."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from .common import load_host, plugin_option
from ..host.registry import KINDS


@click.group()
def plugins() -> None:
    """Inspect the installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@plugin_option
def list_plugins(as_json: bool, plugins: tuple[str, ...]) -> None:
    """Every plugin: distribution, version, hooks, components, and its load error if any."""
    host = load_host(plugins)
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in host.plugins], indent=2))
        return
    table = Table(title="SIAYN plugins")
    for column in ("plugin", "package", "version", "hooks", "components", "error"):
        table.add_column(column, overflow="fold")
    for info in host.plugins:
        components = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in info.components.items())
        table.add_row(
            info.name,
            info.package or "-",
            info.version or "-",
            "\n".join(info.hooks),
            components,
            f"[red]{info.error}[/red]" if info.error else "",
        )
    Console().print(table)


@click.group()
def components() -> None:
    """Inspect the registered components."""


@components.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only components of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@plugin_option
def list_components(kind: str | None, as_json: bool, plugins: tuple[str, ...]) -> None:
    """Every component: kind, name, aliases, plugin, description and options."""
    host = load_host(plugins)
    found = host.registry.components(kind)
    if as_json:
        click.echo(json.dumps([component.as_dict() for component in found], indent=2))
        return
    table = Table(title="SIAYN components")
    for column in ("kind", "name", "aliases", "plugin", "description", "options"):
        table.add_column(column, overflow="fold")
    for component in found:
        options = "\n".join(
            f"{spec.name}: {spec.type} = {spec.default!r}" for spec in component.options()
        )
        table.add_row(
            component.kind,
            component.name,
            ", ".join(component.aliases),
            component.plugin,
            component.description,
            options,
        )
    Console().print(table)
