"""Adam that can keep its parameters in a box: the projected gradient, then a clamp after each step.

Adam carries nothing from one stage of a multi-scale run to the next: its moments are per pixel,
of another size there, and its step length ``lr`` is already in pixel units, so a fresh Adam's
first step at a new size is as long as its last at the old one.
"""

from __future__ import annotations

import torch

from .box import BoxedSteps


class ProjectedAdam(BoxedSteps, torch.optim.Adam):
    """``torch.optim.Adam`` whose steps, after :meth:`keep_in_box`, are projected onto a box."""
