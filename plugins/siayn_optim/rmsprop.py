"""RMSprop that can keep its parameters in a box, as Adam does (:mod:`siayn_optim.adam`).

STROTSS optimizes its Laplacian pyramid with RMSprop. Like Adam it carries nothing from one stage
of a multi-scale run to the next: its running mean of squared gradients is per parameter, of
another size there, and its step is already in the parameters' units.
"""

from __future__ import annotations

import torch

from .box import BoxedSteps


class ProjectedRMSprop(BoxedSteps, torch.optim.RMSprop):
    """``torch.optim.RMSprop`` whose steps, after :meth:`keep_in_box`, are projected onto a box."""
