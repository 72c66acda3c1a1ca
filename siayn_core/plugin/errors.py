"""The error type users see, and the "did you mean" helper used to build its messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SiaynError(Exception):
    """A problem with the user's input, config or environment.

    The CLI prints its message as one line on stderr and exits with code 2; anything
    else that escapes a command is an internal error (exit code 1).
    """


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its type's name when it has none), for a
    one-line report of a library's multi-line error."""
    text = str(error).strip().splitlines()
    return text[0].strip() if text else type(error).__name__


class PluginError(SiaynError):
    """A plugin could not be loaded, or two plugins claim the same component name."""


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most similar to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1, cutoff=0.6)
    if not matches:
        return None
    by_lower = {k.lower(): k for k in known}
    return by_lower[matches[0]]


def unknown_name_message(
    what: str, name: str, known: Iterable[str], *, owner: str | None = None
) -> str:
    """``unknown backbone 'vgg91' (did you mean 'vgg19'?); known: vgg16, vgg19``.

    :param owner: appended as ``for <owner>``, e.g. ``run 'test1' in cfg.yaml``.
    """
    known = sorted(known)
    message = f"unknown {what} {name!r}" + (f" for {owner}" if owner else "")
    suggestion = closest(name, known)
    if suggestion is not None:
        message += f" (did you mean {suggestion!r}?)"
    return message + "; known: " + (", ".join(known) if known else "none")
