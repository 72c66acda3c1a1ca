"""The ``siayn`` subcommands, one module per command group."""
