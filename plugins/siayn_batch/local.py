"""The ``local`` executor: runs in this process, or in ``workers`` spawned processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from siayn_core import Job, JobOutcome, run_job


class LocalExecutor:
    """One run after another here, or ``workers`` at once in worker processes that share the
    CPU cores between them."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    def run(self, jobs: Sequence[Job], report: Callable[[JobOutcome], None]) -> None:
        """Run ``jobs``, reporting each outcome as it ends."""
        if self.workers == 1:
            for job in jobs:
                report(run_job(job))
            return
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        # spawn: a forked child would inherit torch's thread pools in an undefined state
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            futures: dict[Future[JobOutcome], Job] = {
                pool.submit(run_job, job.with_threads(threads)): job for job in jobs
            }
            for future in as_completed(futures):
                report(_outcome(future, futures[future]))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()


def _outcome(future: Future[JobOutcome], job: Job) -> JobOutcome:
    try:
        return future.result()
    except BrokenProcessPool:
        return JobOutcome.failed(job, "its worker process died (killed, or out of memory)")
