"""The docs keep up with the code: every hook and every component kind is documented."""

from __future__ import annotations

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
