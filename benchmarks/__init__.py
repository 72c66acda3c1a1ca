"""SIAYN's benchmarks, run from the repository root: ``python -m benchmarks.run``."""
