"""Settings into a run: the schema (:class:`StylizeOptions`), YAML files, ``--set``,
the checks a command makes before it runs, and each component's options."""
