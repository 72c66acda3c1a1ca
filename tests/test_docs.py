"""The docs keep up with the code: every hook and every component kind is documented, and
every module path the API reference names imports."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from siayn_core import hookspecs
from siayn_core.plugin.hookspecs import HOOK_FOR_KIND

from .conftest import REPO


def test_every_hook_is_documented_and_has_a_test_of_its_own() -> None:
    hooks = [name for name, value in vars(hookspecs).items() if hasattr(value, f"{hookspecs.PROJECT_NAME}_spec")]
    assert sorted(hooks) == sorted(HOOK_FOR_KIND.values())
    guide = (REPO / "docs" / "plugins.md").read_text()
    tests = (REPO / "tests" / "test_hooks.py").read_text()
    for hook in hooks:
        assert f"### {hook}" in guide, f"docs/plugins.md has no section for {hook}"
        assert f"def test_hook_{hook}(" in tests, f"tests/test_hooks.py has no test_hook_{hook}"


def test_readme_has_both_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "<!-- setup:install -->" in readme and "<!-- setup:test -->" in readme


# Module paths published before the core had layer subpackages, and what each is now.
PUBLISHED_PATHS = {
    "siayn_core.protocols": "siayn_core.plugin.protocols",
    "siayn_core.hookspecs": "siayn_core.plugin.hookspecs",
    "siayn_core.options": "siayn_core.plugin.options",
    "siayn_core.registry": "siayn_core.host.registry",
    "siayn_core.batch_jobs": "siayn_core.batch.jobs",
    "siayn_core.engine.stylize": "siayn_core.engine.painter.stylize",
    "siayn_core.video.stylize_clip": "siayn_core.video.clip.stylize_clip",
}


def resolve(path: str) -> Any:
    """The module or object a dotted path names: the longest prefix that imports as a
    module, then attributes, as mkdocstrings reads a ``:::`` line."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        module_path = ".".join(parts[:end])
        try:
            found = importlib.import_module(module_path)
        except ModuleNotFoundError as error:
            if error.name is None or not f"{module_path}.".startswith(f"{error.name}."):
                raise  # a module that exists failed to import one of its own dependencies
            continue
        for attribute in parts[end:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(path)


def api_reference_paths() -> list[str]:
    return re.findall(r"^::: (siayn_core\S*)$", (REPO / "docs" / "api.md").read_text(), flags=re.MULTILINE)


def test_the_api_reference_names_paths() -> None:
    assert len(api_reference_paths()) >= 8


@pytest.mark.parametrize("path", api_reference_paths())
def test_every_path_of_the_api_reference_imports(path: str) -> None:
    assert resolve(path) is not None


def dotted_paths_in_docs() -> list[str]:
    """Every ``siayn_core.a.b`` path the docs and the README name."""
    pages = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
    return sorted({path for page in pages for path in re.findall(r"(?<![\w.])(siayn_core(?:\.\w+)+)", page.read_text())})


@pytest.mark.parametrize("path", dotted_paths_in_docs())
def test_every_module_path_the_docs_name_imports(path: str) -> None:
    assert resolve(path) is not None


@pytest.mark.parametrize(("published", "now"), PUBLISHED_PATHS.items())
def test_every_published_module_path_still_imports(published: str, now: str) -> None:
    assert resolve(published) is resolve(now)


def test_resolve_fails_on_a_path_that_names_nothing() -> None:
    with pytest.raises(ModuleNotFoundError):
        resolve("no_such_package.module")
    with pytest.raises(AttributeError):
        resolve("siayn_core.no_such_module")
    with pytest.raises(AttributeError):
        resolve("siayn_core.plugin.options.no_such_name")
