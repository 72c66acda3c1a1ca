"""The hooks a SIAYN plugin implements: one per component kind.

Every hook receives a ``register`` callback, so one plugin can register many components
and SIAYN records which plugin registered each one::

    from siayn_core import hookimpl

    @hookimpl
    def register_postprocessors(register):
        register("sepia", make_sepia, aliases=("old-photo",), description="Warm brown tones.")

A factory is a callable. When its first parameter is annotated with a dataclass whose
fields are declared with :func:`siayn_core.option`, those fields are the component's
options: the YAML loader, the CLI, ``siayn components list`` and the GUI all read them
from there. The factory returns the object described by the kind's protocol in
:mod:`siayn_core.plugin.protocols`.

This module imports neither torch nor any plugin, so importing it is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pluggy

PROJECT_NAME = "siayn"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback every hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        aliases: tuple[str, ...] = (),
        description: str = "",
    ) -> None:
        """Register ``factory`` under ``name`` (and ``aliases``) for this hook's kind.

        :param name: the name users select the component by (case-insensitive).
        :param factory: builds the component; see the module docstring for options.
        :param aliases: other accepted names, e.g. a spelling used by old configs.
        :param description: one line shown in ``siayn components list`` and the GUI.
        """


@hookspec
def register_backbones(register: Register) -> None:
    """Register feature extractors (factories returning :class:`~siayn_core.plugin.protocols.Backbone`).

    :param register: ``register("vgg19", factory, aliases=(...), description=...)``.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register losses (factories returning :class:`~siayn_core.plugin.protocols.Loss`).

    :param register: ``register("gram", factory, description=...)``.
    """


@hookspec
def register_initialisers(register: Register) -> None:
    """Register ways to build the starting image (factories returning
    :class:`~siayn_core.plugin.protocols.Initialiser`).

    :param register: ``register("random", factory, description=...)``.
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizers (factories returning :class:`~siayn_core.plugin.protocols.OptimizerFactory`).

    :param register: ``register("lbfgs", factory, aliases=("lfbgs",), description=...)``.
    """


@hookspec
def register_parametrizations(register: Register) -> None:
    """Register ways to represent the generated image for the optimizer (factories returning
    :class:`~siayn_core.plugin.protocols.Parametrization`): its pixels, a Laplacian pyramid...

    :param register: ``register("laplacian", factory, description=...)``.
    """


@hookspec
def register_postprocessors(register: Register) -> None:
    """Register image postprocessors (factories returning
    :class:`~siayn_core.plugin.protocols.Postprocessor`).

    :param register: ``register("denoise", factory, description=...)``.
    """


@hookspec
def register_maskers(register: Register) -> None:
    """Register ways to find a photo's foreground for ``style_masks: auto`` (factories
    returning :class:`~siayn_core.plugin.protocols.Masker`).

    :param register: ``register("grabcut", factory, description=...)``.
    """


@hookspec
def register_postprocess_formats(register: Register) -> None:
    """Register keys for ``siayn postprocess`` configs (factories returning
    :class:`~siayn_core.plugin.protocols.PostprocessFormat`), such as the original SIAYN's.

    :param register: ``register("original", factory, description=...)``.
    """


@hookspec
def register_executors(register: Register) -> None:
    """Register ways to run the jobs of ``siayn batch`` (factories returning
    :class:`~siayn_core.batch.jobs.Executor`): here, in worker processes, on a cluster.

    :param register: ``register("ray", factory, description=...)``.
    """


#: Component kind -> the hook that registers components of that kind.
HOOK_FOR_KIND: dict[str, str] = {
    "backbone": "register_backbones",
    "loss": "register_losses",
    "initialiser": "register_initialisers",
    "optimizer": "register_optimizers",
    "parametrization": "register_parametrizations",
    "postprocessor": "register_postprocessors",
    "masker": "register_maskers",
    "postprocess-format": "register_postprocess_formats",
    "executor": "register_executors",
}
