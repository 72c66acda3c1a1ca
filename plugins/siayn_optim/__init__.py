"""Built-in optimizers: ``adam``, ``rmsprop`` and ``lbfgs`` (also spelled ``lfbgs``, as the original
SIAYN's configs do).

Each evaluates the objective exactly once per ``step(closure)``, so ``num_steps`` means the same
amount of work for any of them, and each keeps the image in ``[0, 1]`` itself when asked
(``keep_in_box``); ``lbfgs`` also hands its step scale from one stage of a multi-scale run to
the next (``next_stage``). torch is imported inside the factories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from siayn_core import hookimpl, option


@dataclass(frozen=True)
class AdamOptions:
    """Options of the ``adam`` optimizer."""

    lr: float = option(0.02, help="learning rate: roughly the pixel change per step (pixels are in [0, 1])", minimum=0.0)
    beta1: float = option(0.9, help="decay of the gradient's running mean", minimum=0.0, maximum=1.0)
    beta2: float = option(0.999, help="decay of the squared gradient's running mean", minimum=0.0, maximum=1.0)


@dataclass(frozen=True)
class RMSpropOptions:
    """Options of the ``rmsprop`` optimizer."""

    lr: float = option(0.01, help="learning rate: roughly the change of each parameter per step", minimum=0.0)
    alpha: float = option(0.99, help="decay of the squared gradient's running mean", minimum=0.0, maximum=1.0)
    eps: float = option(1e-8, help="added to the root mean square before dividing by it", minimum=0.0)


@dataclass(frozen=True)
class LBFGSOptions:
    """Options of the ``lbfgs`` optimizer."""

    lr: float = option(1.0, help="step length along the quasi-Newton direction (1 is the usual choice)", minimum=0.0)
    history_size: int = option(20, help="number of past steps used to estimate the curvature", minimum=1)


def make_adam(options: AdamOptions) -> Callable[[Sequence[Any]], Any]:
    """Build the ``adam`` optimizer factory: its optimizers can keep the image in a box."""

    def build(params: Sequence[Any]) -> Any:
        from .adam import ProjectedAdam

        return ProjectedAdam(params, lr=options.lr, betas=(options.beta1, options.beta2))

    return build


def make_rmsprop(options: RMSpropOptions) -> Callable[[Sequence[Any]], Any]:
    """Build the ``rmsprop`` optimizer factory: its optimizers can keep the image in a box."""

    def build(params: Sequence[Any]) -> Any:
        from .rmsprop import ProjectedRMSprop

        return ProjectedRMSprop(params, lr=options.lr, alpha=options.alpha, eps=options.eps)

    return build


class LBFGSFactory:
    """The ``lbfgs`` optimizer factory: SIAYN's own L-BFGS (:mod:`siayn_optim.lbfgs`), which can
    keep the image in a box and, stage to stage, hands on its step scale."""

    def __init__(self, options: LBFGSOptions) -> None:
        self.options = options

    def __call__(self, params: Sequence[Any]) -> Any:
        """A fresh L-BFGS over ``params``."""
        from .lbfgs import ProjectedLBFGS

        return ProjectedLBFGS(params, lr=self.options.lr, history_size=self.options.history_size)

    def next_stage(self, previous: Any, params: Sequence[Any]) -> Any:
        """An L-BFGS over ``params`` that starts with ``previous``'s step scale, where it has one.

        Only the scale carries: the previous stage's curvature pairs are vectors of another
        size, learnt on another objective (the targets change with the size) around an image
        the new stage has since given the photo's fine detail.
        """
        from .lbfgs import ProjectedLBFGS

        optimizer = self(params)
        carry = previous.stage_carry() if isinstance(previous, ProjectedLBFGS) else None
        if carry is not None:
            optimizer.start_from(carry)
        return optimizer


def make_lbfgs(options: LBFGSOptions) -> LBFGSFactory:
    """Build the ``lbfgs`` optimizer factory."""
    return LBFGSFactory(options)


@hookimpl
def register_optimizers(register):  # type: ignore[no-untyped-def]
    register("adam", make_adam, description="Adam: first-order, robust, needs more steps.")
    register("rmsprop", make_rmsprop, description="RMSprop: first-order, as STROTSS optimizes its pyramid.")
    register(
        "lbfgs",
        make_lbfgs,
        aliases=("lfbgs", "l-bfgs"),
        description="L-BFGS: quasi-Newton, the usual choice for style transfer.",
    )
