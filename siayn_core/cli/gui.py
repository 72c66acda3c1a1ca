"""``siayn gui``: the web GUI (needs ``pip install "siayn[gui]"``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..engine.devices import DEVICES
from .common import load_host, plugin_option
from ..plugin.errors import SiaynError



@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 opens the GUI to your network (it has no login).")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--output", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
    help="Folder for the runs (DIR/gui, DIR/gui-2...). Default: a new temporary folder.",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where the optimization runs.")
@click.option("--quiet", is_flag=True, help="Print only the address.")
@plugin_option
def gui(host: str, port: int, output: Path | None, device: str, quiet: bool, plugins: tuple[str, ...]) -> None:
    """Open the web GUI: upload a photo and paintings, set every option, watch the image
    form, stop when you like it, postprocess and download the result with its run.json.

    It listens on 127.0.0.1 unless --host says otherwise, never creates a public share
    link and sends no analytics.
    """
    from ..gui import require_gradio, serve

    require_gradio()
    host_plugins = load_host(plugins)
    if output is None:
        output = Path(tempfile.mkdtemp(prefix="siayn-gui-"))
    output.mkdir(parents=True, exist_ok=True)
    if not quiet:
        click.echo(f"siayn gui: results go to {output}", err=True)
    try:
        serve(host_plugins.registry, host=host, port=port, output_dir=output, device=device, quiet=quiet)
    except OSError as error:
        reason = f"port {port} is in use; choose another with --port" if "empty port" in str(error) else str(error)
        raise SiaynError(f"cannot serve the GUI on {host}:{port}: {reason}") from None
