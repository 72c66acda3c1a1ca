"""The core's shape: imports that flow one way, down the layers, no built-in plugin named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import REPO

CORE = Path(__file__).resolve().parents[1] / "siayn_core"
BUILT_IN = {"siayn_vgg", "siayn_timm", "siayn_losses", "siayn_init", "siayn_optim", "siayn_param", "siayn_post",
            "siayn_batch"}

# siayn_core's subpackages, bottom to top: a module imports only from its own layer or a lower one.
# The GUI sits below the CLI: ``siayn gui`` (cli/gui.py) starts it, and the GUI never imports the CLI.
LAYERS = ("plugin", "io", "host", "postprocess", "config", "engine", "runs", "batch", "video", "gui", "cli")
# The files ``siayn plugins new`` writes (no code), read by host/scaffold.py.
LAYER_OF_PACKAGE = {**{layer: layer for layer in LAYERS}, "templates": "host"}


def module_name(path: Path, root: Path = CORE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    """A core module's layer, counted from the bottom; the package root, ``api`` and
    ``__main__`` are the top."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("api", "__main__"):
        return len(LAYERS)
    return LAYERS.index(LAYER_OF_PACKAGE[parts[1]])


def root_names(root: Path) -> dict[str, str | None]:
    """Each name the package root offers -> the module it comes from: its lazy table
    (``_LAZY``) and its own imports; ``None`` for a name the root defines itself."""
    package = root.name
    names: dict[str, str | None] = {}
    for node in ast.parse((root / "__init__.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            names.update({alias.asname or alias.name: f"{package}.{node.module}" for alias in node.names})
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and any(
                isinstance(target, ast.Name) and target.id == "_LAZY"
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])):
            names.update({name: package + module for name, module in ast.literal_eval(node.value).items()})
    return names


def imports_of(path: Path, root: Path = CORE) -> set[str]:
    """The modules one file imports: at the top, inside functions, under TYPE_CHECKING, or
    with ``importlib.import_module("literal")``.

    Python runs the package root before any of its modules, so a name imported from the root
    counts as an import of the module it comes from; the root's own constants
    (``__version__``) import nothing.
    """
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    offered = root_names(root)
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == root.name:
                targets.update(module for alias in node.names
                               if (module := offered.get(alias.name, f"{target}.{alias.name}")))
                continue
            targets.add(target)
            targets.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            literal = node.args[0].value
            targets.add(package + literal if literal.startswith(".") else literal)
    return targets


def core_imports(root: Path = CORE) -> dict[str, set[str]]:
    """Each core module -> the core modules and built-in plugins it imports."""
    graph = {module_name(path, root): imports_of(path, root) for path in root.rglob("*.py")}
    return {name: {t for t in targets if t in graph or t.split(".")[0] in BUILT_IN} for name, targets in graph.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``"importer -> imported"`` for each import of a core module from a higher layer."""
    return sorted(f"{source} -> {target}" for source, targets in graph.items() for target in targets
                  if target.split(".")[0] == "siayn_core" and rank(target) > rank(source))


@pytest.mark.parametrize(("source", "target", "upward"), [
    ("siayn_core.plugin.options", "siayn_core.config.files", True),
    ("siayn_core.io.clips", "siayn_core.postprocess.chain", True),
    ("siayn_core.engine.loop", "siayn_core.runs.folder", True),
    ("siayn_core.gui.runner", "siayn_core.cli.common", True),
    ("siayn_core.cli.group", "siayn_core.api", True),
    ("siayn_core.host.scaffold", "siayn_core.config.schema", True),
    ("siayn_core.cli.gui", "siayn_core.gui", False),
    ("siayn_core.engine.loop", "siayn_core.engine.objective", False),
    ("siayn_core.video.clip", "siayn_core.io.images", False),
    ("siayn_core.api", "siayn_core.cli.group", False),
    ("siayn_core", "siayn_core.batch.jobs", False),
])
def test_the_layer_rule_on_one_import(source: str, target: str, upward: bool) -> None:
    assert upward_imports({source: {target}}) == ([f"{source} -> {target}"] if upward else [])


@pytest.mark.parametrize("code", [
    "from ..config import build\n",
    "from ..config.build import helper\n",
    "import siayn_core.config.build\n",
    "def later():\n    from ..config.build import helper\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from siayn_core.config.build import Helper\n",
    "import importlib\nbuild = importlib.import_module('siayn_core.config.build')\n",
    "from .. import helper\n",
])
def test_every_form_of_an_upward_import_is_found(tmp_path: Path, code: str) -> None:
    root = tmp_path / "siayn_core"
    for package in (root, root / "plugin", root / "config"):
        package.mkdir()
        (package / "__init__.py").write_text('"""A package."""\n')
    (root / "__init__.py").write_text('__version__ = "0"\n_LAZY: dict[str, str] = {"helper": ".config.build"}\n')
    (root / "config" / "build.py").write_text("def helper() -> None: ...\n")
    (root / "plugin" / "options.py").write_text(code)
    upward = upward_imports(core_imports(root))
    assert upward and all(line.startswith("siayn_core.plugin.options -> siayn_core.config") for line in upward)
    # The same code one layer up imports from its own layer.
    (root / "plugin" / "options.py").unlink()
    (root / "config" / "options.py").write_text(code)
    assert upward_imports(core_imports(root)) == []


def test_names_imported_from_the_package_root_are_traced_to_their_modules() -> None:
    names = root_names(CORE)
    assert names["stylize"] == "siayn_core.api"
    assert names["SiaynError"] == "siayn_core.plugin.errors"
    assert "__version__" not in names


def test_every_subpackage_of_the_core_has_a_layer() -> None:
    packages = {path.parent.name for path in CORE.glob("*/__init__.py")}
    assert packages == set(LAYER_OF_PACKAGE)


def test_every_core_import_goes_to_its_own_layer_or_below() -> None:
    assert upward_imports(core_imports()) == []


def test_the_core_imports_no_built_in_plugin() -> None:
    named = {name: {t for t in targets if t.split(".")[0] in BUILT_IN} for name, targets in core_imports().items()}
    assert not {name: targets for name, targets in named.items() if targets}


def test_no_import_circle_among_core_modules() -> None:
    # The package's own __init__ re-exports (lazily) and is left out, as every module imports it.
    graph = {name: {t for t in targets if t != "siayn_core"} for name, targets in core_imports().items()
             if name != "siayn_core"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for target in graph.get(start, ()):
            if target == goal or (target not in seen and not seen.add(target) and reaches(target, goal, seen)):
                return True
        return False

    circles = sorted(name for name in graph if reaches(name, name, set()))
    assert not circles


def documented_modules() -> set[str]:
    """The ``.py`` files named in the first column of docs/architecture.md's tables."""
    cells = [line.split("|")[1] for line in (REPO / "docs" / "architecture.md").read_text().splitlines()
             if line.startswith("|")]
    return {name for cell in cells for name in re.findall(r"`([\w/]+\.py)`", cell)}


def core_modules() -> set[str]:
    """Every code file of siayn_core, relative to it; a package's ``__init__.py`` only when it
    holds more than its docstring."""
    return {path.relative_to(CORE).as_posix() for path in CORE.rglob("*.py")
            if path.name != "__init__.py" or len(ast.parse(path.read_text()).body) > 1}


def test_docs_architecture_names_every_core_module() -> None:
    assert not core_modules() - documented_modules()
    assert not documented_modules() - core_modules()


def string_constants(path: Path) -> set[str]:
    """The string literals of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_the_core_names_no_built_in_postprocessor_or_format_key() -> None:
    import dataclasses

    from siayn_core import StylizeOptions, load_plugins
    from siayn_core.runs.postprocess_configs import ChainOptions
    from siayn_core.video.options import VideoOptions

    registry = load_plugins().registry
    built_in = [c for c in registry.components() if c.kind in ("postprocessor", "postprocess-format")
                and c.factory.__module__.split(".")[0] in BUILT_IN]
    # Keys the core reads itself, and words it uses in their plain sense (a file's path, a run's source).
    own = {f.name for options in (ChainOptions, StylizeOptions, VideoOptions) for f in dataclasses.fields(options)}
    own |= {"path", "source"}
    names = {name for c in built_in for name in (c.name, *c.aliases)}
    names |= {spec.name for c in built_in if c.kind == "postprocess-format" for spec in c.options()} - own
    assert {"denoise", "gif", "original", "use_denoise", "p3", "img_path"} <= names
    # The core's own choices may share a word with a component: the 'original' recipe is not the format.
    names -= {choice for f in dataclasses.fields(StylizeOptions) for choice in f.metadata.get("choices") or ()}
    named = {module_name(p): found for p in CORE.rglob("*.py") if (found := string_constants(p) & names)}
    assert not named
