"""The progress bar of ``siayn stylize``: a stylize callback drawing on stderr."""

from __future__ import annotations

from typing import Any

from ..engine import Iterate


class ProgressBar:
    """A rich progress bar on stderr showing the step, the losses, it/s and the ETA."""

    def __init__(self, description: str, num_steps: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class SpeedColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(f"{task.speed:.2f} it/s" if task.speed else "- it/s")

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            SpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task(description, total=num_steps, losses="")

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, iterate: Iterate) -> None:
        losses = iterate.losses
        text = " ".join(f"{key} {losses[key]:.3g}" for key in ("total", "content", "style", "tv"))
        self.progress.update(self.task, completed=iterate.step, total=iterate.num_steps, losses=text)
