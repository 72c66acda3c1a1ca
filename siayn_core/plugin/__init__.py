"""The plugin API: the hooks, the component protocols, typed component options, how a
named file is found, the errors users see and the frozen extractor base. Everything a
plugin imports lives here (and in :mod:`siayn_core.io`); it imports nothing else of the core."""
