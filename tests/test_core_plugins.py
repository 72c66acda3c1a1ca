"""The plugin manager, the registry and the two list commands."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import siayn_core
from siayn_core import PluginError, SiaynError, load_plugins
from siayn_core.cli import main

from .conftest import REPO

BUILT_IN = {"vgg", "timm", "losses", "initialisers", "optimizers", "parametrizations", "postprocessors"}

GREETER = """
from dataclasses import dataclass
from siayn_core import option

@dataclass(frozen=True)
class GreetOptions:
    word: str = option("hello", help="what to say")
    times: int = option(1, help="how often", minimum=1)

def greeter(options: GreetOptions):
    return lambda image, context: (options.word, options.times)

@hookimpl
def register_postprocessors(register):
    register("greet", greeter, aliases=("hello",), description="Says hello.")
"""


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.stdout, result.stderr


def test_built_in_plugins_load_from_entry_points() -> None:
    host = load_plugins()
    names = {info.name for info in host.plugins}
    assert BUILT_IN <= names
    for info in host.plugins:
        if info.name in BUILT_IN:
            assert info.package == "siayn"
            assert info.version == siayn_core.__version__
            assert info.error is None


def test_plugin_module_registers_components_with_options(make_plugin) -> None:
    module = make_plugin(GREETER)
    host = load_plugins([module])
    component = host.registry.get("postprocessor", "HELLO")  # alias, any case
    assert component.name == "greet" and component.plugin == module
    assert [spec.name for spec in component.options()] == ["word", "times"]
    assert component.create({"word": "hi", "times": "3"})(None, None) == ("hi", 3)
    info = next(i for i in host.plugins if i.name == module)
    assert info.hooks == ["register_postprocessors"]
    assert info.components == {"postprocessor": ["greet"]}


def test_name_argument_sets_the_first_option(make_plugin) -> None:
    host = load_plugins([make_plugin(GREETER)])
    assert host.registry.create("postprocessor", "greet:bonjour")(None, None) == ("bonjour", 1)


def test_options_are_validated(make_plugin) -> None:
    host = load_plugins([make_plugin(GREETER)])
    with pytest.raises(SiaynError, match=r"unknown option 'wrod'.*did you mean 'word'"):
        host.registry.create("postprocessor", "greet", {"wrod": "x"})
    with pytest.raises(SiaynError, match=r"'times'.*whole number"):
        host.registry.create("postprocessor", "greet", {"times": "many"})
    with pytest.raises(SiaynError, match=r"'times'.*at least 1"):
        host.registry.create("postprocessor", "greet", {"times": 0})


def test_unknown_component_suggests_the_closest_name(make_plugin) -> None:
    host = load_plugins([make_plugin(GREETER)])
    with pytest.raises(SiaynError) as error:
        host.registry.get("postprocessor", "gret")
    assert "unknown postprocessor 'gret'" in str(error.value)
    assert "did you mean 'greet'?" in str(error.value)
    assert "known:" in str(error.value) and "greet" in str(error.value)


def test_blocking_with_no_prefix_and_environment(make_plugin, monkeypatch) -> None:
    module = make_plugin(GREETER)
    host = load_plugins([module, f"no:{module}", "no:losses"])
    assert {"losses", module}.isdisjoint(info.name for info in host.plugins)

    monkeypatch.setenv("SIAYN_DISABLE_PLUGINS", "vgg, timm")
    assert {"vgg", "timm"}.isdisjoint(info.name for info in load_plugins().plugins)

    monkeypatch.delenv("SIAYN_DISABLE_PLUGINS")
    monkeypatch.setenv("SIAYN_LOAD_PLUGINS", "losses")
    assert [info.name for info in load_plugins().plugins] == ["losses"]


def test_collision_names_both_plugins_and_how_to_block(make_plugin) -> None:
    first = make_plugin(GREETER)
    second = make_plugin(
        """
        @hookimpl
        def register_postprocessors(register):
            register("other", lambda: None, aliases=("greet",))
        """
    )
    with pytest.raises(PluginError) as error:
        load_plugins([first, second])
    message = str(error.value)
    assert "'greet'" in message and first in message and second in message
    assert f"--plugin no:{second}" in message


def test_named_module_that_cannot_be_imported_is_an_error(make_plugin) -> None:
    broken = make_plugin("raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError, match=rf"--plugin {broken}: the module cannot be imported: RuntimeError: boom"):
        load_plugins([broken])


def test_cli_plugin_that_does_not_exist_exits_2_and_writes_nothing(tmp_path) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("stylize", "c.jpg", "s.jpg", "-o", str(out), "--plugin", "no_such_module_xyz")
    assert code == 2
    assert stderr.count("\n") == 1 and "no_such_module_xyz" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_raising_hook_is_reported_and_its_components_dropped(make_plugin) -> None:
    broken = make_plugin(
        """
        @hookimpl
        def register_losses(register):
            register("half-done", lambda: None)
            raise ValueError("hook failed")
        """
    )
    host = load_plugins([broken], on_error=lambda info: None)
    info = next(i for i in host.plugins if i.name == broken)
    assert info.error == "ValueError: hook failed"
    assert "half-done" not in host.registry.names("loss")


def test_invalid_registration_is_a_plugin_error(make_plugin) -> None:
    broken = make_plugin(
        """
        @hookimpl
        def register_losses(register):
            register("Bad Name", lambda: None)
        """
    )
    host = load_plugins([broken], on_error=lambda info: None)
    assert "invalid component name 'Bad Name'" in next(i for i in host.plugins if i.name == broken).error


def test_strict_mode_makes_load_errors_fatal(make_plugin, monkeypatch) -> None:
    broken = make_plugin("import a_module_that_does_not_exist\n")
    monkeypatch.setenv("SIAYN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=rf"--plugin {broken}: the module cannot be imported: ModuleNotFoundError"):
        load_plugins([broken])
    code, _, stderr = run_cli("plugins", "list", "--plugin", broken)
    assert code == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_plugins_list_json(make_plugin) -> None:
    module = make_plugin(GREETER)
    broken = make_plugin(
        """
        @hookimpl
        def register_losses(register):
            raise ImportError('missing dependency')
        """
    )
    code, stdout, stderr = run_cli("plugins", "list", "--json", "--plugin", module, "--plugin", broken)
    assert code == 0
    entries = {entry["name"]: entry for entry in json.loads(stdout)}
    assert set(entries[module]) == {"name", "package", "version", "hooks", "components", "error"}
    assert entries[module]["components"] == {"postprocessor": ["greet"]}
    assert entries[broken]["error"] == "ImportError: missing dependency"
    assert f"plugin '{broken}' failed to load and was skipped" in stderr
    assert BUILT_IN <= set(entries)


def test_plugins_list_table(make_plugin) -> None:
    module = make_plugin(GREETER)
    code, stdout, _ = run_cli("plugins", "list", "--plugin", module)
    assert code == 0
    assert "register_postprocessors" in stdout and "greet" in stdout


def test_components_list_json_and_kind_filter(make_plugin) -> None:
    module = make_plugin(GREETER)
    code, stdout, _ = run_cli("components", "list", "--json", "--kind", "postprocessor", "--plugin", module)
    assert code == 0
    entries = json.loads(stdout)
    assert {entry["kind"] for entry in entries} == {"postprocessor"}
    greet = next(entry for entry in entries if entry["name"] == "greet")
    assert {"kind", "name", "aliases", "plugin", "description"} <= set(greet)
    assert greet["aliases"] == ["hello"] and greet["plugin"] == module
    assert greet["options"][0] == {
        "name": "word", "type": "str", "default": "hello", "help": "what to say",
        "choices": None, "minimum": None, "maximum": None,
    }
    code, stdout, _ = run_cli("components", "list", "--plugin", module)
    assert code == 0 and "Says hello." in stdout and "word: str = 'hello'" in stdout


def test_unknown_kind_is_a_usage_error() -> None:
    code, _, stderr = run_cli("components", "list", "--kind", "backbones")
    assert code == 2 and "backbones" in stderr


def test_version_and_help() -> None:
    code, stdout, _ = run_cli("--version")
    assert code == 0 and siayn_core.__version__ in stdout
    code, stdout, _ = run_cli("--help")
    assert code == 0 and "plugins" in stdout and "components" in stdout


def test_cheap_imports_stay_free_of_torch() -> None:
    """`siayn --help` and `plugins list` must not pay for importing torch."""
    script = (
        "import sys, siayn_core.plugin.hookspecs, siayn_core\n"
        "from siayn_core.host.plugins import load_plugins\n"
        "load_plugins()\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'timm', 'cv2') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == ""


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_built_in_plugins_use_only_the_public_api() -> None:
    plugin_files = sorted((REPO / "plugins").rglob("*.py"))
    plugin_files += sorted((REPO / "docs" / "examples").rglob("*.py"))
    assert plugin_files
    own_packages = {path.name for path in (REPO / "plugins").iterdir() if path.is_dir()}
    for path in plugin_files:
        package = path.relative_to(REPO).parts[1]
        for module, names in _imports(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(REPO)} imports {module}"
            if top == "siayn_core":
                assert module == "siayn_core", f"{where}: use names exported by siayn_core"
                assert set(names) <= set(siayn_core.__all__), f"{where}: {names} are not public"
            assert top not in own_packages - {package}, f"{where}: plugins must not import each other"
