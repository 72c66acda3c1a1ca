"""The docs keep up with the code: every hook and every component kind is documented."""

from __future__ import annotations

from siayn_core.hookspecs import HOOK_FOR_KIND

from .conftest import REPO


def test_every_hook_is_documented() -> None:
    guide = (REPO / "docs" / "plugins.md").read_text()
    for hook in HOOK_FOR_KIND.values():
        assert f"### {hook}" in guide, f"docs/plugins.md has no section for {hook}"


def test_readme_has_both_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "<!-- setup:install -->" in readme and "<!-- setup:test -->" in readme
