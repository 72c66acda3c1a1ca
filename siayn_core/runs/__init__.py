"""A run's folder and ``run.json``, resuming, ``siayn postprocess`` configs and stopping on a signal."""
