"""Ctrl-C and SIGTERM during a run: stop after the current step and save, instead of dying.

:class:`StopOnSignal` is both a context manager that installs the signal handlers and a
stylize callback (see :data:`siayn_core.engine.loop.Callback`) that asks the run to stop once a
signal arrived; the run then keeps its current image, and the command writes it with
``run.json`` marked ``"interrupted": true`` and exits with code 130. A second signal stops
at once (``KeyboardInterrupt``), without waiting for the step to end.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any


class StopOnSignal:
    """Turn the first SIGINT or SIGTERM into a request to stop after the current step.

    Used as ``with StopOnSignal() as stop: run_stylize(..., callback=stop)``; ``after`` names
    the unit of work the message promises to finish (a step, a clip's frame). Handlers are
    only installed in the main thread (Python delivers signals there); elsewhere the object
    is an inert callback.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM), *,
                 after: str = "step") -> None:
        self.signals = signals
        self.after = after
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = number
        sys.stderr.write(
            f"\nsiayn: {self.signal_name} received: stopping after the current {self.after} and saving "
            "(send it again to quit at once)\n"
        )
        sys.stderr.flush()

    @property
    def triggered(self) -> bool:
        """Whether a signal arrived."""
        return self.received is not None

    @property
    def signal_name(self) -> str:
        """``SIGINT`` or ``SIGTERM`` (empty before any signal)."""
        return signal.Signals(self.received).name if self.received is not None else ""

    def __call__(self, iterate: object = None) -> bool:
        """The stylize callback: True (stop) once a signal arrived."""
        return self.received is not None
