"""Keep the optimized image inside ``[0, 1]`` while it is optimized (projected steps).

The original SIAYN optimizes an unconstrained image and clamps it only when saving. Late in a run many
pixels drift outside ``[0, 1]``: the optimizer's loss keeps falling, but the image a user
gets, clamped, scores up to a quarter worse than the loss says, and steps are spent on
values that are thrown away. With ``keep_in_range`` every step is instead a projected one,
so the image optimized is the image saved.

:func:`keep_in_box` first asks the optimizer to project its own steps
(:class:`~siayn_core.plugin.protocols.ProjectingOptimizer`): only the optimizer knows how to make
its model learn from the projected step. Where it cannot, :class:`BoxProjection` does what needs
no knowledge of the optimizer: before the optimizer sees the gradient, the components that
push a pixel already on a bound further out are zeroed (the projected gradient), and after
the step the image is clamped to ``[0, 1]``.

Both put the optimizer's parameters in the box, which is right only where they are the pixels.
An image of another :class:`~siayn_core.plugin.protocols.Parametrization` (a Laplacian pyramid's
bands, which are signed) keeps its rendered image in range itself: :class:`RenderedProjection`
calls its ``project`` after every step, and the optimizer gets no box.
"""

from __future__ import annotations

import torch

from ..plugin.protocols import ParametrizedImage, ProjectingOptimizer


class BoxProjection:
    """Projected steps for one image tensor ``image`` done around any optimizer (see the module).

    Call :meth:`clamp` once before the first step, :meth:`project_gradient` after
    ``backward()`` in the closure and :meth:`after_step` after each ``optimizer.step``.
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

    def after_step(self) -> None:
        """Clamp the image the step left."""
        self.clamp()


class RenderedProjection:
    """Projected steps of a parametrized image that keeps its rendering in the box itself.

    Called like :class:`BoxProjection`: the gradient is left as it is (a bound on the image is
    no bound on any one parameter), and after each step the image's ``project`` moves its
    parameters so that its rendering is back in the box.
    """

    def __init__(self, image: ParametrizedImage, low: float = 0.0, high: float = 1.0) -> None:
        self.image = image
        self.low = low
        self.high = high

    def project_gradient(self) -> None:
        """Nothing: the parameters themselves are not bounded."""

    @torch.no_grad()
    def after_step(self) -> None:
        """Bring the rendered image back into the box."""
        self.image.project(self.low, self.high)


def keep_in_box(
    optimizer: torch.optim.Optimizer,
    image: torch.Tensor | ParametrizedImage,
    low: float = 0.0,
    high: float = 1.0,
) -> BoxProjection | RenderedProjection | None:
    """Make every step of ``optimizer`` on ``image`` a projected one, with ``image`` moved into
    ``[low, high]`` now: None where the optimizer does so itself, else the projection the caller
    applies around its steps.

    :param image: the pixels optimized, or a parametrized image: one that projects itself gets a
        :class:`RenderedProjection`, and one whose parameters are its pixels is boxed as they are.
    """
    if not isinstance(image, torch.Tensor):
        if image.project(low, high):
            return RenderedProjection(image, low, high)
        [image] = image.parameters()
    if isinstance(optimizer, ProjectingOptimizer) and optimizer.keep_in_box(low, high):
        return None
    box = BoxProjection(image, low, high)
    box.clamp()
    return box
