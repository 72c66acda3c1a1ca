"""``siayn plugins new``: a ready plugin package for one component kind, written from the
templates in :mod:`siayn_core.templates`: a pyproject with the entry point, a module with a
working example component, a test of it and a README."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from ..plugin.errors import SiaynError
from ..plugin.hookspecs import HOOK_FOR_KIND

#: The kinds ``siayn plugins new`` has an example for, and the protocol each follows.
PROTOCOL_FOR_KIND = {
    "postprocessor": "Postprocessor",
    "loss": "Loss",
    "backbone": "Backbone",
    "initialiser": "Initialiser",
    "optimizer": "OptimizerFactory",
}

#: How a user tries the component once installed, per kind (the README's middle part).
USAGE = {
    "postprocessor": "Then `siayn stylize --post $name`, or a postprocessing config's "
                     "`postprocess: [{name: $name, strength: 0.8}]` for `siayn postprocess`.",
    "loss": "Then `siayn stylize --set content_loss=$name`.",
    "backbone": "Then `siayn stylize --set backbone=$name --set 'content_layers=[relu2]' "
                "--set 'style_layers=[relu1, relu2, relu3]'`.",
    "initialiser": "Then `siayn stylize --set init_method=$name`.",
    "optimizer": "Then `siayn stylize --set opt=$name`.",
}

_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


def new_plugin(name: str, kind: str, parent: Path) -> Path:
    """Write the plugin package ``parent/name/`` whose ``kind`` component is called ``name``.

    :raises SiaynError: for a name that is not a lowercase identifier, a kind with no
        example, or a folder that already exists (nothing is written then).
    """
    if not _NAME.fullmatch(name):
        raise SiaynError(f"plugin name {name!r}: use lowercase letters, digits, '-' or '_', starting with a letter")
    if kind not in PROTOCOL_FOR_KIND:
        raise SiaynError(f"--kind {kind!r}: choose one of {', '.join(PROTOCOL_FOR_KIND)}")
    folder = parent / name
    if folder.exists():
        raise SiaynError(f"{folder} exists: choose another name or folder, so that nothing is overwritten")
    module = f"siayn_{name.replace('-', '_')}"
    values = {"name": name, "kind": kind, "module": module, "dist": f"siayn-{name.replace('_', '-')}",
              "hook": HOOK_FOR_KIND[kind], "protocol": PROTOCOL_FOR_KIND[kind],
              "Class": "".join(part.capitalize() for part in re.split(r"[-_]", name))}
    values["usage"] = Template(USAGE[kind]).substitute(values)
    files = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        f"{module}/__init__.py": f"{kind}.py.tmpl",
        f"tests/test_{module}.py": f"{kind}_test.py.tmpl",
    }
    texts = {path: Template(_template(source)).substitute(values) for path, source in files.items()}
    from ..io.images import write_text

    for path, text in texts.items():
        write_text(text, folder / path)
    return folder


def _template(name: str) -> str:
    return resources.files("siayn_core.templates").joinpath(name).read_text(encoding="utf-8")
