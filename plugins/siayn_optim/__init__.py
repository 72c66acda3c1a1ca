"""Built-in optimizers: ``adam`` and ``lbfgs`` (also spelled ``lfbgs``, as the original SIAYN's configs do).

Both evaluate the objective exactly once per ``step(closure)``, so ``num_steps`` means the same
amount of work for either. torch is imported inside the factories.
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
class LBFGSOptions:
    """Options of the ``lbfgs`` optimizer."""

    lr: float = option(1.0, help="step length along the quasi-Newton direction (1 is the usual choice)", minimum=0.0)
    history_size: int = option(100, help="number of past steps used to estimate the curvature", minimum=1)


def make_adam(options: AdamOptions) -> Callable[[Sequence[Any]], Any]:
    """Build the ``adam`` optimizer factory."""

    def build(params: Sequence[Any]) -> Any:
        import torch

        return torch.optim.Adam(params, lr=options.lr, betas=(options.beta1, options.beta2))

    return build


def make_lbfgs(options: LBFGSOptions) -> Callable[[Sequence[Any]], Any]:
    """Build the ``lbfgs`` optimizer factory."""

    def build(params: Sequence[Any]) -> Any:
        import torch

        # max_iter=1: one objective evaluation per step() call. torch keeps the curvature
        # history in the optimizer state across calls, so successive steps form one L-BFGS
        # run. Tolerances of 0 keep it from stopping on its own: num_steps decides.
        return torch.optim.LBFGS(
            params,
            lr=options.lr,
            max_iter=1,
            history_size=options.history_size,
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )

    return build


@hookimpl
def register_optimizers(register):  # type: ignore[no-untyped-def]
    register("adam", make_adam, description="Adam: first-order, robust, needs more steps.")
    register(
        "lbfgs",
        make_lbfgs,
        aliases=("lfbgs", "l-bfgs"),
        description="L-BFGS: quasi-Newton, the usual choice for style transfer.",
    )
