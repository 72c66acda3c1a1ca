"""Keep the optimized image inside ``[0, 1]`` while it is optimized (projected steps).

The original SIAYN optimizes an unconstrained image and clamps it only when saving. Late in a run many
pixels drift outside ``[0, 1]``: the optimizer's loss keeps falling, but the image a user
gets, clamped, scores up to a quarter worse than the loss says, and steps are spent on
values that are thrown away. :class:`BoxProjection` instead makes every step a projected
one, so the image optimized is the image saved:

- before the optimizer sees the gradient, the components that push a pixel already on a
  bound further out are zeroed (the projected gradient);
- after the step the image is clamped to ``[0, 1]``;
- for ``torch.optim.LBFGS`` the step it records for its curvature model is replaced by the
  step actually taken, so that its pairs ``(s, y)`` describe the points the gradients were
  evaluated at.
"""

from __future__ import annotations

import torch


class BoxProjection:
    """Projected optimization steps for one image tensor ``image`` (see the module).

    Call :meth:`clamp` once before the first step, :meth:`project_gradient` after
    ``backward()`` in the closure and :meth:`after_step` after each ``optimizer.step``,
    passing the image as it was evaluated (before the step).
    """

    def __init__(self, image: torch.Tensor, low: float = 0.0, high: float = 1.0) -> None:
        self.image = image
        self.low = low
        self.high = high

    @torch.no_grad()
    def clamp(self) -> None:
        """Move every pixel into the box."""
        self.image.clamp_(self.low, self.high)

    @torch.no_grad()
    def project_gradient(self) -> None:
        """Zero the gradient where descent would push a pixel on a bound out of the box."""
        grad = self.image.grad
        if grad is None:
            return
        image = self.image
        outward = ((image <= self.low) & (grad > 0)) | ((image >= self.high) & (grad < 0))
        grad.masked_fill_(outward, 0.0)

    @torch.no_grad()
    def after_step(self, optimizer: torch.optim.Optimizer, before: torch.Tensor) -> None:
        """Clamp the image; tell L-BFGS the step it really took (``image - before``)."""
        self.clamp()
        if not isinstance(optimizer, torch.optim.LBFGS):
            return
        state = optimizer.state.get(self.image)
        if not state or "d" not in state:
            return
        length = state.get("t")  # a tensor after the first step, the lr (a number) after the others
        if not isinstance(length, (int, float, torch.Tensor)) or float(length) == 0.0:
            return
        # torch's LBFGS takes its next pair's s as d * t: make that the projected step.
        state["d"] = (self.image - before).reshape(-1).div_(float(length))
