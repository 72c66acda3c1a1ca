"""What a run hands back: the :class:`Iterate` a callback sees after each step, the
:class:`StylizeResult` of a run, and :class:`DivergedError` for a run whose loss stopped
being finite. :func:`siayn_core.engine.painter.stylize` makes them; runs, the CLI and the GUI read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..plugin.errors import SiaynError

if TYPE_CHECKING:
    import torch

    from ..config.schema import StylizeOptions


@dataclass(frozen=True)
class Iterate:
    """What a callback receives after each optimization step.

    :param step: the step just taken, from 1 to ``num_steps``.
    :param losses: ``total`` and the objective's weighted terms by name (``content``,
        ``style``, ``tv``, ``temporal`` for a clip's frame, and any a plugin loss adds;
        ``total`` is their sum) as evaluated during this step.
    :param image: the image after this step: detached, ``(1, 3, H, W)``, clamped to ``[0, 1]``.
    :param elapsed: seconds since the run started (including setup).
    """

    step: int
    num_steps: int
    losses: dict[str, float]
    image: torch.Tensor
    elapsed: float


#: A callback may return True to stop the run early (the current image is kept).
Callback = Callable[[Iterate], "bool | None"]


@dataclass
class StylizeResult:
    """The outcome of :func:`stylize`.

    :param image: ``(1, 3, H, W)`` on the CPU, clamped to ``[0, 1]``.
    :param losses: one ``{"step", "total", **terms}`` record per step (see :attr:`Iterate.losses`).
    :param steps: the steps actually taken (fewer than ``num_steps`` when stopped).
    :param stopped: True when a callback stopped the run.
    :param seed: the seed the run used (drawn at random when none was given).
    :param components: for each component key (``backbone``, ``opt``...), the component's
        name, plugin and options as used.
    :param precision: what the backbone ran in: ``float32``, or ``bfloat16``/``float16``
        under autocast (the losses compare in float32 either way).
    """

    image: torch.Tensor
    losses: list[dict[str, float]]
    steps: int
    seconds: float
    device: str
    stopped: bool
    seed: int = 0
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    precision: str = "float32"

class DivergedError(SiaynError):
    """The loss became NaN or infinite: the optimization diverged.

    :param result: the run up to its last step with a finite loss, holding the image that
        step evaluated (None when even the first step's loss was not finite).
    """

    def __init__(
        self, message: str, result: StylizeResult | None = None, *, loss: float = math.nan, step: int = 0
    ) -> None:
        super().__init__(message)
        self.result = result
        self.loss = loss
        self.step = step


def loss_names(losses: Mapping[str, float]) -> list[str]:
    """The losses a step's record or :attr:`Iterate.losses` holds, ``total`` first: every key but ``step``."""
    return [name for name in losses if name != "step"]


def divergence_message(total: float, step: int, options: StylizeOptions | None = None) -> str:
    """What went wrong and what to change."""
    lr = f"lr (now {options.lr:g})" if options is not None and options.lr is not None else "lr"
    return (
        f"the loss became {total} at step {step}: the optimization diverged; lower {lr} or the style/"
        "content weights, or switch optimizer (--set opt=lbfgs, or opt=adam with lr 0.02)"
    )


def chain(callbacks: Sequence[Callback | None]) -> Callback:
    """One callback calling each of ``callbacks`` (None entries skipped); True from any stops the run."""
    active = [callback for callback in callbacks if callback is not None]

    def call_all(iterate: Iterate) -> bool:
        stop = False
        for callback in active:
            stop = bool(callback(iterate)) or stop
        return stop

    return call_all
