"""Static checks over siayn_core/ and plugins/: safe loading, atomic writes; and that
docs/errors.md matches the messages in the code."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

import pytest

from .conftest import REPO

SOURCE_ROOTS = [REPO / "siayn_core", REPO / "plugins", REPO / "docs" / "examples"]
ERRORS_DOC = REPO / "docs" / "errors.md"

#: The only places that import a module by a name known at run time, and where the name comes from.
DYNAMIC_IMPORTS = {
    "siayn_core/host/plugins.py": "modules the user names (--plugin, SIAYN_LOAD_PLUGINS)",
    "siayn_core/__init__.py": "the fixed _LAZY table of siayn_core's own modules",
    "siayn_core/gui/__init__.py": "the literal 'gradio'",
}


def python_files() -> Iterator[tuple[str, ast.Module]]:
    for root in SOURCE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            yield path.relative_to(REPO).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def dotted(node: ast.AST) -> str:
    """``torch.hub.load`` for the expression ``torch.hub.load``; '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)


def calls() -> Iterator[tuple[str, ast.Call, list[ast.AST]]]:
    """Every call in the sources, with the chain of nodes around it (outermost first)."""
    for name, tree in python_files():
        stack: list[tuple[ast.AST, list[ast.AST]]] = [(tree, [])]
        while stack:
            node, parents = stack.pop()
            if isinstance(node, ast.Call):
                yield name, node, parents
            for child in ast.iter_child_nodes(node):
                stack.append((child, [*parents, node]))


def test_there_are_sources_to_check() -> None:
    names = [name for name, _ in python_files()]
    assert "siayn_core/engine/loop.py" in names and any(n.startswith("plugins/siayn_vgg/") for n in names)


def reads_weights(function: str) -> bool:
    """Whether a call deserializes tensors from a file (and so must pass weights_only=True)."""
    last = function.rsplit(".", 1)[-1]
    return last in {"load_state_dict_from_url", "get_state_dict", "load_checkpoint"} or function in {
        "torch.load", "timm.models.load_state_dict", "timm.models.load_checkpoint"
    }


def test_weights_load_only_with_weights_only() -> None:
    unsafe, checked = [], 0
    for name, call, _ in calls():
        function = dotted(call.func)
        if function == "torch.hub.load":
            unsafe.append(f"{name}:{call.lineno} torch.hub.load runs code from a repository")
        elif reads_weights(function):
            checked += 1
            if not keyword_is_true(call, "weights_only"):
                unsafe.append(f"{name}:{call.lineno} {function}(...) without weights_only=True")
    assert unsafe == []
    assert checked >= 3  # VGG (file and torchvision cache), timm, segmentation


def test_no_unsafe_deserialization_or_code_execution() -> None:
    found = []
    for name, tree in python_files():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    if module.split(".")[0] in {"pickle", "cPickle", "dill", "marshal", "shelve", "joblib"}:
                        found.append(f"{name}:{node.lineno} imports {module}")
            elif isinstance(node, ast.Call):
                function = dotted(node.func)
                if function in {"eval", "exec", "compile", "__import__", "os.system", "os.popen"}:
                    found.append(f"{name}:{node.lineno} calls {function}")
                elif function.startswith("yaml.") and function not in {"yaml.safe_load", "yaml.safe_dump",
                                                                       "yaml.safe_load_all", "yaml.dump"}:
                    found.append(f"{name}:{node.lineno} calls {function} (only yaml.safe_load reads YAML)")
                elif function.startswith("subprocess.") and any(
                    k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords
                ):
                    found.append(f"{name}:{node.lineno} runs a shell")
            elif isinstance(node, ast.Attribute) and dotted(node) in {"yaml.Loader", "yaml.UnsafeLoader",
                                                                      "yaml.FullLoader"}:
                found.append(f"{name}:{node.lineno} uses {dotted(node)}")
    assert found == []


def test_modules_are_imported_by_name_only_where_the_user_names_them() -> None:
    places = {name for name, call, _ in calls() if dotted(call.func) in {"importlib.import_module", "import_module"}}
    assert places <= set(DYNAMIC_IMPORTS), places - set(DYNAMIC_IMPORTS)


def _inside_atomic_path(parents: list[ast.AST]) -> bool:
    for node in parents:
        if isinstance(node, ast.With):
            for item in node.items:
                if isinstance(item.context_expr, ast.Call) and dotted(item.context_expr.func).endswith("atomic_path"):
                    return True
    return False


def _is_write(call: ast.Call) -> str | None:
    function = dotted(call.func)
    attribute = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if attribute in {"save", "write_text", "write_bytes", "imwrite", "savefig", "to_csv", "tofile"}:
        if function in {"torch.save", "np.save", "numpy.save"} or attribute != "save" or call.args:
            return f".{attribute}(...)"
    if function in {"json.dump", "torch.save", "np.save", "numpy.save", "cv2.imwrite", "shutil.copy",
                    "shutil.copyfile", "shutil.copy2", "shutil.move"}:
        return function
    if function == "open" or attribute == "open":
        modes = [a.value for a in call.args[1:2] if isinstance(a, ast.Constant)]
        modes += [k.value.value for k in call.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
        if any(isinstance(m, str) and set(m) & set("wax+") for m in modes):
            return f"open(..., {modes[0]!r})"
    return None


def test_every_file_is_written_through_atomic_path() -> None:
    """Images, JSON, GIFs and frames go through image_io.write_image/write_text/atomic_path,
    which write a temporary file and rename it into place."""
    direct = []
    for name, call, parents in calls():
        write = _is_write(call)
        if write and not _inside_atomic_path(parents):
            direct.append(f"{name}:{call.lineno} {write}")
    assert direct == []


def test_json_files_are_written_by_write_json_only() -> None:
    """Every record (run.json, batch.json, a shot's record) goes through io/json_files.write_json:
    one layout and one atomic write."""
    found = []
    for name, call, _ in calls():
        function = call.func.attr if isinstance(call.func, ast.Attribute) else dotted(call.func)
        dumps = [inner for arg in call.args for inner in ast.walk(arg)
                 if isinstance(inner, ast.Call) and dotted(inner.func) == "json.dumps"]
        if function in {"write_text", "write"} and dumps and name != "siayn_core/io/json_files.py":
            found.append(f"{name}:{call.lineno}")
    assert found == []


# --- docs/errors.md ------------------------------------------------------------------------


def documented_messages() -> list[str]:
    """The message fragments docs/errors.md quotes in its tables' first column."""
    text = ERRORS_DOC.read_text(encoding="utf-8")
    return re.findall(r"^\| `([^`]+)`", text, flags=re.MULTILINE)


def code_text() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8") for root in SOURCE_ROOTS[:2] for path in sorted(root.rglob("*.py"))
    )


def test_errors_doc_exists_and_names_the_exit_codes() -> None:
    text = ERRORS_DOC.read_text(encoding="utf-8")
    for code in ("0", "1", "2", "130"):
        assert re.search(rf"\|\s*{code}\s*\|", text), f"exit code {code} is not in docs/errors.md"
    assert len(documented_messages()) >= 25


@pytest.mark.parametrize("message", documented_messages() if ERRORS_DOC.exists() else [])
def test_each_documented_message_is_in_the_code(message: str) -> None:
    """Each quoted fragment (with ``...`` standing for the variable parts) appears in the code."""
    source = code_text()
    parts = [part.strip() for part in message.split("...") if part.strip()]
    assert parts and all(part in source for part in parts), f"docs/errors.md quotes {message!r}, not found in the code"
