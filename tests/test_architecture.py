"""The core's shape: small modules, imports that flow one way, no built-in plugin named."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "siayn_core"
BUILT_IN = {"siayn_vgg", "siayn_timm", "siayn_losses", "siayn_init", "siayn_optim", "siayn_post", "siayn_batch"}


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_imports() -> dict[str, set[str]]:
    """Each core module -> the modules it imports (top level, lazily in functions, or for typing)."""
    graph: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                targets.add(target)
                targets.update(f"{target}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = targets
    return {name: {t for t in targets if t in graph or t.split(".")[0] in BUILT_IN} for name, targets in graph.items()}


def test_no_core_module_is_longer_than_400_lines() -> None:
    long = {module_name(p): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long


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
