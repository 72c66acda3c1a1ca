"""The ``siayn`` click group, with the commands of :mod:`siayn_core.cli` added to it.

Exit codes: 0 success, 2 bad usage/config/input (one line on stderr), 1 internal error,
130 interrupted. Starting, the command pads the C library's heap for its runs
(:mod:`.heap`), a process-wide setting the library itself never makes.
"""

from __future__ import annotations

import click

from .. import __version__
from .common import SiaynGroup
from .heap import pad_heap_for_runs

@click.group(cls=SiaynGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="siayn")
def main() -> None:
    """SIAYN - Style Is All You Need: neural style transfer by image optimization.

    Every backbone, loss, initialiser, optimizer, parametrization and postprocessor
    is a plugin; see `siayn plugins list` and `siayn components list`.
    """
    pad_heap_for_runs()


def _add_commands() -> None:
    from .batch import batch
    from .gui import gui
    from .listing import components, plugins
    from .postprocess import postprocess
    from .scaffold import new
    from .stylize import stylize
    from .video import video

    plugins.add_command(new)
    main.add_command(batch)
    main.add_command(plugins)
    main.add_command(components)
    main.add_command(gui)
    main.add_command(postprocess)
    main.add_command(stylize)
    main.add_command(video)


_add_commands()
