"""The named terms of an objective and the one place they add up to its total.

An objective evaluates to a mapping from term name to a weighted scalar tensor: the built-in
``content``, ``style``, ``tv`` and, for a clip's frame, ``temporal``, plus any term a plugin
loss names (see :class:`~siayn_core.plugin.protocols.Loss`). :func:`weighted` is where a
loss's value is multiplied by its weight and named, :func:`add_terms` gathers the terms of
several layers, styles or tiles, and :func:`total_loss` sums a mapping into the loss that
is minimized. A step's record is ``{"step", "total", **terms}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..plugin.errors import SiaynError

#: The terms of the objective itself, always reported (0 where unused, except ``temporal``,
#: which only a clip's frames have).
BUILT_IN_TERMS = ("content", "style", "tv", "temporal")
#: Names a plugin loss may not give a term of its own: they are the record's other keys.
RESERVED_NAMES = ("step", "total", *BUILT_IN_TERMS)

Terms = dict[str, torch.Tensor]


def weighted(slot: str, weight: float, value: torch.Tensor | Mapping[str, torch.Tensor]) -> Terms:
    """The terms of a loss's ``value`` in ``slot`` (``content``, ``style``, ``tv`` or
    ``temporal``), each times ``weight``: a tensor is the slot's own term; a mapping's parts
    keep their names.

    :raises SiaynError: for a part named like another built-in term or a record key.
    """
    if not isinstance(value, Mapping):
        return {slot: weight * value}
    for name in value:
        if not isinstance(name, str) or not name or (name in RESERVED_NAMES and name != slot):
            raise SiaynError(
                f"the {slot} loss returned a term named {name!r}: a loss's terms need names of their own, "
                f"other than {', '.join(name for name in RESERVED_NAMES if name != slot)}"
            )
    return {name: weight * part for name, part in value.items()}


def add_terms(into: Terms, terms: Mapping[str, torch.Tensor]) -> Terms:
    """Add ``terms`` to ``into`` by name (a new name is appended) and return ``into``."""
    for name, value in terms.items():
        into[name] = into[name] + value if name in into else value
    return into


def total_loss(terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The objective's value: the sum of its weighted terms, in their order."""
    values = iter(terms.values())
    try:
        total = next(values)
    except StopIteration:
        raise ValueError("an objective needs at least one term") from None
    for value in values:
        total = total + value
    return total


def detached(terms: Mapping[str, torch.Tensor]) -> Terms:
    """``terms`` without their graphs, for adding up values that no gradient flows through."""
    return {name: value.detach() for name, value in terms.items()}


def stacked(total: torch.Tensor, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``[total, *terms]`` detached in one tensor, so that a step's record leaves the device
    in one transfer (:func:`record_of`)."""
    return torch.stack([total.detach().float(), *(value.detach().float() for value in terms.values())])


def record_of(names: Sequence[str], values: torch.Tensor) -> dict[str, float]:
    """``{"total", **terms}`` from the :func:`stacked` ``values`` of the terms ``names``."""
    total, *parts = values.tolist()
    return {"total": total, **dict(zip(names, parts))}
