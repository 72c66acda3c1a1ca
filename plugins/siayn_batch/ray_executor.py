"""The ``ray`` executor: one Ray task per run, each with its CPU and GPU request; a task
whose worker dies is run again by Ray (``max_retries``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from siayn_core import Job, JobOutcome, SiaynError, first_line, run_job

#: Ray's retries of a task whose worker process died; a run's own errors are never retried by Ray.
WORKER_RETRIES = 1


class RayExecutor:
    """Runs each job as a Ray task, on the cluster at ``address`` or a local Ray runtime."""

    def __init__(self, address: str | None = None, *, workers: int | None = None, cpus_per_run: float = 1.0,
                 gpus_per_run: float = 0.0) -> None:
        self.address = address
        self.workers = workers
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise SiaynError('the ray executor needs Ray: pip install "siayn[ray]"') from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, num_cpus=None if self.address else self.workers,
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as error:
                raise SiaynError(f"cannot start or join Ray at {self.address or 'a local runtime'}: "
                                 f"{first_line(error)}") from None
        return ray

    def run(self, jobs: Sequence[Job], report: Callable[[JobOutcome], None]) -> None:
        """Submit every job as a task and report each outcome as its task ends."""
        ray = self._ray()
        task = ray.remote(run_job).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run,
                                           max_retries=WORKER_RETRIES, name="siayn-run")
        threads = max(1, int(self.cpus_per_run)) if self.cpus_per_run else None
        refs = {task.remote(job.with_threads(threads)): job for job in jobs}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as error:
                        outcome = JobOutcome.failed(refs[ref], f"Ray lost the run: {first_line(error)}")
                    report(outcome)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
