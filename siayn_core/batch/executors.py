"""Running a batch: the jobs through an executor, ``batch.json`` (the only code that knows
the format), one retry of each failed run, resuming and the contact sheet.

``batch.json`` is rewritten (atomically) as each run ends: every run's inputs, status
(``pending``, ``done`` or ``failed``), attempts, seconds, output and one-line error. Running
the same batch again into the same folder skips the runs that are done and whose image is
still there, so nothing is computed twice and no finished result is overwritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .jobs import BatchJob, Executor, JobOutcome
from ..io.json_files import write_json
from ..plugin.errors import SiaynError

BATCH_FILE = "batch.json"
CONTACT_SHEET = "contact_sheet.png"
#: How often a failed run is tried in one ``siayn batch`` (the first try and one retry).
ATTEMPTS = 2


@dataclass(frozen=True)
class BatchReport:
    """What a batch did: the runs done now, skipped (done before) and failed (with errors)."""

    done: list[str]
    skipped: list[str]
    failed: dict[str, str]
    record: Path
    contact_sheet: Path | None


class BatchRecord:
    """``batch.json``, the only reader and writer of it: read back for resuming, updated as runs end.

    Its top level holds the batch's ``source`` and ``executor``, when it was ``updated`` and,
    once the batch ends, its ``contact_sheet``; ``runs`` lists each run's ``name``,
    ``content``, ``styles``, grid ``row`` and ``column``, ``status``, ``attempts``,
    ``seconds``, ``output``, ``run_dir``, ``error`` and ``seed``.
    """

    def __init__(self, output_dir: Path, jobs: Sequence[BatchJob], *, source: str, executor: str) -> None:
        self.path = output_dir / BATCH_FILE
        earlier = self._read_runs()
        self.runs: dict[str, dict[str, Any]] = {}
        for job in jobs:
            entry = earlier.get(job.name)
            if entry is None and (output_dir / job.name).exists():
                raise SiaynError(
                    f"{output_dir / job.name} exists and is not a run of the batch in {output_dir}: "
                    "choose another output folder (-o) so that it is not overwritten"
                )
            self.runs[job.name] = {**(entry or {"status": "pending", "attempts": 0}), "name": job.name,
                                   "content": str(job.spec.content), "styles": [str(path) for path in job.spec.styles],
                                   "row": job.row, "column": job.column}
        self.header = {"source": source, "executor": executor}

    def _read_runs(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(entry["name"]): dict(entry) for entry in data["runs"]}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SiaynError(f"cannot resume the batch: {self.path} is unreadable ({error}); "
                             "move it away to start the batch afresh") from None

    def is_done(self, job: BatchJob) -> bool:
        """The job finished in an earlier call and its image is still there."""
        entry = self.runs[job.name]
        return entry["status"] == "done" and bool(entry.get("output")) and Path(entry["output"]).is_file()

    def update(self, outcome: JobOutcome) -> None:
        """Record how a run ended, and write the file."""
        entry = self.runs[outcome.name]
        entry.update(status=outcome.status, attempts=entry.get("attempts", 0) + 1, seconds=outcome.seconds,
                     output=outcome.output, run_dir=outcome.run_dir, error=outcome.error, seed=outcome.seed)
        self.write()

    def write(self, **extra: Any) -> None:
        """Write ``batch.json`` atomically."""
        self.header.update(extra)
        data = {**self.header, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": list(self.runs.values())}
        write_json(data, self.path)


def run_batch(
    jobs: Sequence[BatchJob],
    executor: Executor,
    *,
    output_dir: Path,
    source: str,
    executor_name: str,
    on_outcome: Callable[[JobOutcome], None] | None = None,
) -> BatchReport:
    """Run the jobs not done before, each failed one once more, then draw the contact sheet.

    :param on_outcome: called in this process as each run ends (a progress bar), and first
        with a ``"skipped"`` outcome for each run done before.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    record = BatchRecord(output_dir, jobs, source=source, executor=executor_name)
    skipped = [job.name for job in jobs if record.is_done(job)]
    done_before = set(skipped)
    pending = [job for job in jobs if job.name not in done_before]
    for job in pending:
        record.runs[job.name]["status"] = "pending"
    record.write()
    if on_outcome is not None:
        for name in skipped:
            on_outcome(JobOutcome(name=name, status="skipped", seconds=0.0, output=record.runs[name]["output"]))
    done: list[str] = []

    def report(outcome: JobOutcome) -> None:
        record.update(outcome)
        if outcome.status == "done":
            done.append(outcome.name)
        if on_outcome is not None:
            on_outcome(outcome)

    for _ in range(ATTEMPTS):
        if not pending:
            break
        executor.run(pending, report)
        pending = [job for job in pending if record.runs[job.name]["status"] != "done"]
    sheet = _contact_sheet(record, jobs, output_dir)
    record.write(contact_sheet=str(sheet) if sheet else None)
    failed = {job.name: str(record.runs[job.name].get("error") or "did not finish") for job in pending}
    return BatchReport(done=done, skipped=skipped, failed=failed, record=record.path, contact_sheet=sheet)


def _contact_sheet(record: BatchRecord, jobs: Sequence[BatchJob], output_dir: Path) -> Path | None:
    from .contact_sheet import Cell, write_contact_sheet

    cells = [Cell(job.row, job.column, Path(record.runs[job.name]["output"]) if record.is_done(job) else None)
             for job in jobs]
    return write_contact_sheet(cells, output_dir / CONTACT_SHEET) if cells else None
