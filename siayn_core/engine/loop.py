"""The optimization loop at one image size: style transfer by image optimization (Gatys et al. 2016).

:func:`optimize_at_size` takes a start image and the objective's targets and runs the
optimizer's steps, handing every step to the callback as an :class:`Iterate`. A whole run,
coarse to fine, is :class:`~siayn_core.engine.painter.Painter`'s (and
:func:`siayn_core.engine.stylize`'s).

Every component (backbone, losses, initialiser, optimizer, parametrization) comes from the
registry, so this module knows nothing about VGG, Gram matrices, L-BFGS or pyramids. The
optimizer moves the parameters of a :class:`~siayn_core.plugin.protocols.Parametrization`
(by default the pixels themselves); everything else sees the image they render.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch

from ..plugin.pixels import Pixels
from ..plugin.protocols import Parametrization, ParametrizedImage
from .bounds import keep_in_box
from .objective import Objective
from .outcomes import Callback, DivergedError, Iterate, StylizeResult, divergence_message
from .terms import record_of, stacked, total_loss

__all__ = ["DivergedError", "Iterate", "IterateAverage", "optimize_at_size"]


def optimize_at_size(
    start: torch.Tensor,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    objective: Objective,
    make_optimizer: Callable[[Sequence[torch.Tensor]], torch.optim.Optimizer],
    *,
    num_steps: int,
    callback: Callback | None = None,
    started: float | None = None,
    first_step: int = 1,
    total_steps: int | None = None,
    keep_in_range: bool = False,
    average: float = 0.0,
    guides: Sequence[torch.Tensor | None] | None = None,
    parametrization: Parametrization | None = None,
    stage: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, list[dict[str, float]], bool]:
    """Optimize ``start`` for ``num_steps`` steps at its own size.

    ``content`` and ``styles`` set the objective's targets (at the sizes given). A
    multi-scale schedule calls this once per size with the upsampled previous result as
    ``start``, numbering steps from ``first_step`` out of ``total_steps``.

    :param average: the decay of an exponential moving average of the iterates; when set,
        the average is what callbacks see and what is returned.
    :param guides: one per style, where it applies (see :meth:`Objective.set_targets`).
    :param parametrization: what the optimizer moves: ``start`` is encoded into its parameters,
        and the objective, the callbacks, the average and the result see the image they render
        (None: the pixels).
    :param stage: ``(index, count)`` of this size among a multi-scale run's stages with steps,
        for a loss whose target changes with the stage (``stage_targets``).
    :returns: the optimized (unclamped) image, the per-step loss records, and whether a
        callback stopped the run.
    """
    started = time.perf_counter() if started is None else started
    total_steps = num_steps if total_steps is None else total_steps
    objective.set_targets(content, styles, guides, start=start, stage=stage, steps=num_steps)
    encoded = (Pixels() if parametrization is None else parametrization).encode(start)
    optimizer = make_optimizer(list(encoded.parameters()))
    evaluated: list[tuple[list[str], torch.Tensor]] = []  # each evaluation's term names and stacked values
    # Two image buffers, swapped after every finite step, so that the last image whose loss was
    # finite is kept for a diverging run without allocating a copy per step.
    last_finite = start.detach().clone()
    being_evaluated = torch.empty_like(last_finite)
    # Projected steps: the parametrization's own, else the optimizer's, else the engine's clamping.
    box = keep_in_box(optimizer, encoded) if keep_in_range else None
    averaged = IterateAverage(average, rendered(encoded)) if average else None

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        image = encoded.render()
        terms = objective(image)
        total = total_loss(terms)
        total.backward()
        if box is not None:
            box.project_gradient()
        evaluated.append((list(terms), stacked(total, terms)))
        being_evaluated.copy_(image.detach())
        return total

    records: list[dict[str, float]] = []
    for step in range(first_step, first_step + num_steps):
        evaluated.clear()
        optimizer.step(closure)
        if box is not None:
            box.after_step()
        if len(evaluated) != 1:
            raise RuntimeError(
                f"optimizer {type(optimizer).__name__} evaluated the objective {len(evaluated)} times "
                "in one step; num_steps must count evaluations"
            )
        losses = record_of(*evaluated[0])
        total = losses["total"]
        if not math.isfinite(total):
            # The image the previous, finite step evaluated.
            partial = StylizeResult(last_finite, records, len(records), 0.0, "", True) if records else None
            raise DivergedError(divergence_message(total, step), partial, loss=total, step=step)
        last_finite, being_evaluated = being_evaluated, last_finite
        records.append({"step": step, **losses})
        current = rendered(encoded) if averaged is None else averaged.update(rendered(encoded))
        if callback is not None:
            iterate = Iterate(
                step=step,
                num_steps=total_steps,
                losses=losses,
                image=current.clamp(0.0, 1.0),
                elapsed=time.perf_counter() - started,
            )
            if callback(iterate):
                return current, records, True
    return (rendered(encoded) if averaged is None else averaged.value), records, False


def rendered(encoded: ParametrizedImage) -> torch.Tensor:
    """The image ``encoded`` renders now, without a graph (the pixels themselves, detached)."""
    with torch.no_grad():
        return encoded.render().detach()


class IterateAverage:
    """A bias-corrected exponential moving average of the optimized image."""

    def __init__(self, decay: float, start: torch.Tensor) -> None:
        self.decay = decay
        self.accumulated = torch.zeros_like(start)
        self.weight = 0.0
        self.value = start.clone()

    def update(self, image: torch.Tensor) -> torch.Tensor:
        """Add ``image``; return the average so far."""
        self.accumulated.mul_(self.decay).add_(image, alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)
        self.value = self.accumulated / self.weight
        return self.value
