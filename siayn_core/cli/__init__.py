"""The ``siayn`` command: the click group (:mod:`.group`) and one module per command group."""

from .group import main

__all__ = ["main"]
