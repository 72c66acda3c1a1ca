"""Built-in batch executors: ``local`` (this machine, one run after another or in worker
processes) and ``ray`` (one Ray task per run, on a local Ray runtime or a cluster).

Ray is an optional dependency (``pip install "siayn[ray]"``); it is imported only when a
``ray`` executor runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siayn_core import hookimpl, option


@dataclass(frozen=True)
class LocalOptions:
    """Options of the ``local`` executor."""

    workers: int = option(1, help="runs at once, each in its own worker process (1: one after another here)",
                          minimum=1)


@dataclass(frozen=True)
class RayOptions:
    """Options of the ``ray`` executor."""

    address: str | None = option(None, help="the Ray cluster to join, e.g. ray://head:10001 or auto; "
                                 "null: start a local Ray runtime")
    workers: int | None = option(None, help="CPUs of the local Ray runtime (null: all of this machine's)",
                                 minimum=1)
    cpus_per_run: float = option(1.0, help="CPUs Ray reserves for each run (its torch threads)", minimum=0.0)
    gpus_per_run: float = option(0.0, help="GPUs Ray reserves for each run (fractions share a GPU)", minimum=0.0)


def make_local(options: LocalOptions) -> Any:
    """Build the ``local`` executor."""
    from .local import LocalExecutor

    return LocalExecutor(workers=options.workers)


def make_ray(options: RayOptions) -> Any:
    """Build the ``ray`` executor."""
    from .ray_executor import RayExecutor

    return RayExecutor(options.address, workers=options.workers, cpus_per_run=options.cpus_per_run,
                       gpus_per_run=options.gpus_per_run)


@hookimpl
def register_executors(register: Any) -> None:
    """Register ``local`` and ``ray``."""
    register("local", make_local, description="This machine: one run after another, or N worker processes.")
    register("ray", make_ray, description="One Ray task per run, on a local Ray runtime or a cluster (siayn[ray]).")
