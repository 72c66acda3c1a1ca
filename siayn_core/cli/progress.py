"""The progress bars of the commands, drawn with rich on stderr: a stylize run's steps
(:class:`ProgressBar`) and a count of finished items such as a batch's runs (:class:`CountBar`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..engine.outcomes import loss_names

if TYPE_CHECKING:
    from ..engine.outcomes import Iterate


class _RichBar:
    """A started-on-enter, stopped-on-exit rich progress display on stderr with one task."""

    def __init__(self, columns: list[Any], description: str, total: int | None, **fields: Any) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.progress = Progress(*columns, console=Console(stderr=True))
        self.task = self.progress.add_task(description, total=total, **fields)

    def __enter__(self) -> Any:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


class ProgressBar(_RichBar):
    """A rich progress bar on stderr showing the step, the losses, it/s and the ETA."""

    def __init__(self, description: str, num_steps: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
        from rich.text import Text

        class SpeedColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(f"{task.speed:.2f} it/s" if task.speed else "- it/s")

        columns = [TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                   TextColumn("{task.fields[losses]}"), SpeedColumn(), TimeRemainingColumn()]
        super().__init__(columns, description, num_steps, losses="")

    def __call__(self, iterate: Iterate) -> None:
        self.progress.update(self.task, completed=iterate.step, total=iterate.num_steps,
                             losses=losses_text(iterate.losses))


def losses_text(losses: Mapping[str, float]) -> str:
    """A step's losses as the progress bar shows them: ``total 12.5 content 2 style 10 tv 0.5``."""
    return " ".join(f"{name} {losses[name]:.3g}" for name in loss_names(losses))


class CountBar(_RichBar):
    """A rich progress bar on stderr over ``total`` items, with a note (say, failures) and the ETA."""

    def __init__(self, description: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(bar_width=30), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), TimeRemainingColumn()]
        super().__init__(columns, description, total, note="")

    def advance(self, count: int = 1, note: str = "") -> None:
        """``count`` more items are finished; ``note`` replaces the note."""
        self.progress.update(self.task, advance=count, note=note)

    def update(self, completed: int, note: str = "") -> None:
        """``completed`` items are finished in all; ``note`` replaces the note."""
        self.progress.update(self.task, completed=completed, note=note)
