"""What the stylize and postprocess config formats share: a YAML file of named runs,
``--set KEY=VALUE`` overrides and ``--run NAME`` selection. Files a config names are found
with :func:`resolve_file` and :func:`expand_user`, which live in :mod:`siayn_core.plugin.paths`
(the plugin API resolves files the same way) and are imported here for the config readers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..plugin.errors import SiaynError, unknown_name_message
from ..plugin.paths import expand_user, resolve_file

__all__ = ["expand_user", "load_runs", "parse_overrides", "read_yaml", "resolve_file", "select_runs"]


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """A YAML file's data, or SiaynError saying in one line why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise SiaynError(f"config file not found: {path}" if not path.exists() else f"config is not a file: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SiaynError(f"YAML syntax error in {path}{where}: {error.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SiaynError(f"cannot read config {path}: {error}") from None
    return data


def load_runs(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read a config file: a mapping of run name -> mapping of keys (the original SIAYN's format)."""
    data = read_yaml(path)
    if not isinstance(data, Mapping) or not data:
        raise SiaynError(f"config {path} must map run names to settings, e.g. 'test1: {{...}}'")
    runs: dict[str, dict[str, Any]] = {}
    for name, settings in data.items():
        if settings is None:
            settings = {}
        if not isinstance(settings, Mapping):
            raise SiaynError(f"run {name!r} in {path} must be a mapping of settings, got {settings!r}")
        runs[str(name)] = dict(settings)
    return runs


def select_runs(
    runs: Mapping[str, dict[str, Any]], names: Sequence[str], *, source: str
) -> dict[str, dict[str, Any]]:
    """The runs named by ``--run`` (all runs when ``names`` is empty)."""
    if not names:
        return dict(runs)
    selected = {}
    for name in names:
        if name not in runs:
            raise SiaynError(unknown_name_message("run", name, runs, owner=source))
        selected[name] = runs[name]
    return selected


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["num_steps=50", "style=[a.jpg, b.jpg]"]`` -> ``{"num_steps": 50, "style": [...]}``.

    Values are read as YAML, the same way the config file is.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, separator, raw = item.partition("=")
        if not separator or not key.strip():
            raise SiaynError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            overrides[key.strip()] = raw
    return overrides
