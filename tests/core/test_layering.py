"""Dependencies point one way: spicegen <- veriloga <- testbenches <- fitting, also inside functions.

Nothing in the package loads code by file path (that breaks an installed wheel and hides a
dependency from this test); the one sanctioned loader is :func:`spicegen.plugins.load_file`, for
a user's own files.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LAYERS = ("spicegen", "veriloga", "testbenches", "fitting")
ROOT = Path(__file__).resolve().parents[2]
PATH_LOADERS = {"spec_from_file_location", "SourceFileLoader", "run_path", "load_source"}
SANCTIONED_LOADER = Path("spicegen/plugins.py")


def _imported(node: ast.AST, module: str) -> list[str]:
    """Absolute module names an import node brings in (relative imports resolved against ``module``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if not node.level:
            return [node.module or ""]
        base = module.split(".")[: -node.level]
        return [".".join([*base, node.module] if node.module else base)]
    return []


def violations(root: Path) -> list[str]:
    """Every upward import (at any depth: module level or inside a function) and every path loader
    call in the layer packages under ``root``."""
    found = []
    for rank, layer in enumerate(LAYERS):
        above = set(LAYERS[rank + 1:])
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(), str(rel))):
                found += [f"{rel}:{node.lineno} imports {name} (a layer above {layer})"
                          for name in _imported(node, module) if name.split(".")[0] in above]
                if rel != SANCTIONED_LOADER and isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name in PATH_LOADERS:
                        found.append(f"{rel}:{node.lineno} loads code by path ({name}); import it as a module "
                                     "or read package data with importlib.resources")
    return found


def test_no_upward_import_and_no_path_loading_in_the_package():
    assert violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for layer in LAYERS:
        (tmp_path / layer).mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize("files,expected", [
    ({"spicegen/cli.py": "def run():\n    from testbenches.core import x\n"}, "spicegen/cli.py:2 imports testbenches.core"),
    ({"testbenches/reram/a.py": "def f():\n    import fitting.reram.stats\n"}, "imports fitting.reram.stats"),
    ({"veriloga/a.py": "class A:\n    def f(self):\n        from fitting import export\n"}, "imports fitting"),
    ({"testbenches/reram/a.py": "def f():\n    from ...fitting import b\n"}, "imports fitting"),
    ({"testbenches/x.py": "import importlib.util\nspec = importlib.util.spec_from_file_location('m', 'p.py')\n"},
     "loads code by path (spec_from_file_location)"),
])
def test_the_layering_check_catches_function_level_upward_imports_and_path_loading(tmp_path, files, expected):
    """The test of the test: a planted violation is reported, with file and line."""
    found = violations(_tree(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


def test_the_layering_check_accepts_downward_and_sibling_imports(tmp_path):
    files = {"fitting/mdwmtj/a.py": "def f():\n    from testbenches.mdwmtj import mac\n    from ..surrogate import S\n",
             "testbenches/reram/b.py": "from spicegen.study import Study\nfrom .cell import run\n"}
    assert violations(_tree(tmp_path, files)) == []


@pytest.mark.parametrize("statement,forbidden", [
    ("import spicegen.cli, spicegen.netlist, spicegen.numpy_code, spicegen.study",
     ("veriloga", "testbenches", "fitting")),
    ("import veriloga", ("testbenches", "fitting")),
])
def test_import_does_not_pull_upper_layers(statement, forbidden):
    code = (f"import sys; {statement}; from spicegen import registry; registry(); "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]; assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
