"""What every ``siayn`` command shares: exit codes, the one-line error, the ``--plugin`` option
and plugin loading, and the group that turns exceptions into exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from ..plugin.errors import SiaynError
from ..host.plugins import PluginHost, PluginInfo, load_plugins

#: Exit codes: 0 success, 2 bad usage/config/input (one line on stderr), 1 internal error,
#: 130 interrupted (128 + SIGINT, whichever signal stopped the run).
EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    """Print one clear line on stderr and exit with the usage/config error code."""
    click.echo(f"siayn: error: {one_line(message)}", err=True)
    sys.exit(EXIT_USAGE)


def one_line(message: str) -> str:
    """``message`` with line breaks (say, from a file name) escaped, so it stays one line."""
    return message.strip().replace("\r", "\\r").replace("\n", "\\n")


class SiaynGroup(click.Group):
    """Turns SiaynError into one line and exit code 2, anything unexpected into exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SiaynError as error:
            fail(str(error))
        except KeyboardInterrupt:
            click.echo("siayn: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as error:
            if os.environ.get("SIAYN_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"siayn: internal error: {type(error).__name__}: {one_line(str(error))} "
                "(set SIAYN_DEBUG=1 for the traceback)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)


def plugin_option(function: F) -> F:
    """Add the repeatable ``--plugin MODULE`` / ``--plugin no:NAME`` option."""
    return click.option(
        "--plugin",
        "plugins",
        multiple=True,
        metavar="MODULE|no:NAME",
        help="Load an extra plugin module for this command, or block a plugin with no:NAME.",
    )(function)


def warn_plugin_error(info: PluginInfo) -> None:
    """Say on stderr that an installed plugin failed to load and was skipped."""
    click.echo(f"siayn: warning: plugin {info.name!r} failed to load and was skipped: {info.error}", err=True)


def load_host(plugin_specs: Sequence[str]) -> PluginHost:
    """Load plugins for a command, warning on stderr about any that were skipped."""
    return load_plugins(plugin_specs, on_error=warn_plugin_error)
