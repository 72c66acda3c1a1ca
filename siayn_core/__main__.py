"""``python -m siayn_core`` runs the ``siayn`` command."""

from .cli import main

main()
