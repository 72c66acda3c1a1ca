"""The work an executor runs: a picklable :class:`Job` (a batch's stylize run, a
:class:`BatchJob`, or a clip's shot), the :func:`run_job` that any process (this one, a
worker process, a Ray task) calls to run it, and the :class:`Executor` protocol an
executor plugin implements.

:func:`run_job` never raises for a failed run: a bad image, a diverged loss or any other
error becomes a ``"failed"`` :class:`JobOutcome` with a one-line message, so one run's
trouble never stops the others. Only the loss of the process itself (a killed worker) is
left to the executor.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..plugin.errors import SiaynError, first_line

if TYPE_CHECKING:
    from ..config.schema import RunSpec
    from ..engine.painter import Painters
    from ..host.registry import Registry


@runtime_checkable
class Job(Protocol):
    """A picklable piece of work: a ``name`` unique among its siblings, the ``--plugin`` specs
    its process loads, its CPU ``threads`` (None: the executor chooses), its ``device`` and what it does."""

    name: str
    plugins: tuple[str, ...]
    threads: int | None
    device: str

    def with_threads(self, threads: int | None) -> Job:
        """This job with ``threads`` CPU threads, unless its own number was chosen."""
        ...

    def execute(self, registry: Registry, painters: Painters) -> tuple[Path, Path, int | None]:
        """Do the work with the process's ``registry`` and its ``painters`` (built components
        kept from the process's earlier jobs): returns the main file written, the folder
        written and the seed used."""
        ...


@dataclass(frozen=True)
class BatchJob:
    """One run of a batch.

    :param name: the run's folder under ``output_dir``, unique in the batch.
    :param spec: the validated run.
    :param row: the contact sheet's row label (the photo).
    :param column: the contact sheet's column label (the style and grid values).
    :param plugins: the ``--plugin`` specs, so a worker process loads the same plugins.
    :param threads: torch's CPU threads for this run (the same number gives the same image
        bit for bit in any process); None lets the executor choose.
    """

    name: str
    spec: RunSpec
    output_dir: Path
    row: str
    column: str
    seed: int | None = None
    device: str = "auto"
    plugins: tuple[str, ...] = ()
    threads: int | None = None

    def with_threads(self, threads: int | None) -> BatchJob:
        """This job with ``threads`` CPU threads, unless the batch chose its number."""
        return self if self.threads is not None else replace(self, threads=threads)

    def execute(self, registry: Registry, painters: Painters) -> tuple[Path, Path, int | None]:
        """Run the stylize run, writing ``<output_dir>/<name>/`` as ``siayn stylize`` does; the
        folder is the batch's own, so a rerun of a failed job writes over its partial files."""
        from ..runs.folder import run_stylize

        output = run_stylize(self.spec, registry=registry, output_dir=self.output_dir, device=self.device,
                             seed=self.seed, overwrite=True, painters=painters)
        return output.image, output.run_dir, output.result.seed


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: ``status`` is ``"done"`` or ``"failed"`` (then ``error`` says why)."""

    name: str
    status: str
    seconds: float
    output: str | None = None
    run_dir: str | None = None
    error: str | None = None
    seed: int | None = None

    @classmethod
    def failed(cls, job: Job, error: str, seconds: float = 0.0) -> JobOutcome:
        """A failed outcome of ``job`` with a one-line ``error``."""
        return cls(name=job.name, status="failed", seconds=round(seconds, 3), error=error)


@runtime_checkable
class Executor(Protocol):
    """Runs the jobs of ``siayn batch``: in this process, in worker processes or on a cluster."""

    def run(self, jobs: Sequence[Job], report: Callable[[JobOutcome], None]) -> None:
        """Run every job with :func:`run_job`, in any order and any process, and call
        ``report`` in this process with each outcome as it ends. A job whose process was lost
        is reported with :meth:`JobOutcome.failed`; on KeyboardInterrupt, stop the running
        jobs and re-raise."""
        ...


@functools.lru_cache(maxsize=4)
def _registry(plugins: tuple[str, ...]) -> Registry:
    from ..host.plugins import load_plugins

    return load_plugins(plugins).registry


@functools.lru_cache(maxsize=4)
def _painters(plugins: tuple[str, ...], device: str) -> Painters:
    """A worker process's painters: its jobs with the same components and styles reuse them
    (:class:`~siayn_core.engine.painter.Painters` is safe to share between threads)."""
    from ..engine.painter import Painters

    return Painters(_registry(plugins), device)


def run_job(job: Job) -> JobOutcome:
    """Run ``job`` in this process: its failure, of any kind, is a ``"failed"`` outcome."""
    from ..engine.outcomes import DivergedError

    if job.threads is not None:
        import torch

        torch.set_num_threads(job.threads)
    start = time.perf_counter()
    try:
        output, folder, seed = job.execute(_registry(job.plugins), _painters(job.plugins, job.device))
    except (SiaynError, DivergedError) as error:
        return JobOutcome.failed(job, first_line(error), time.perf_counter() - start)
    except Exception as error:  # any job's bug is that job's failure, not the batch's
        return JobOutcome.failed(job, f"{type(error).__name__}: {first_line(error)}", time.perf_counter() - start)
    return JobOutcome(name=job.name, status="done", seconds=round(time.perf_counter() - start, 3),
                      output=str(output), run_dir=str(folder), seed=seed)

