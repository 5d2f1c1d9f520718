"""Dependencies point one way: spicegen <- veriloga <- testbenches <- fitting."""
from __future__ import annotations

import subprocess
import sys

import pytest

CASES = {
    "spicegen": ("import spicegen.cli, spicegen.netlist, spicegen.numpy_code", ("veriloga", "testbenches", "fitting")),
    "veriloga": ("import veriloga", ("testbenches", "fitting")),
}


@pytest.mark.parametrize("package", CASES)
def test_import_does_not_pull_upper_layers(package):
    statement, forbidden = CASES[package]
    code = (f"import sys; {statement}; from spicegen import registry; registry(); "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {forbidden!r}]; assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_testbenches_never_import_fitting():
    """Function-level imports too: the fitting layer sits above the testbenches it fits."""
    import ast
    from pathlib import Path

    bad = []
    for path in sorted(Path(__file__).resolve().parents[2].joinpath("testbenches").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == "fitting"]
    assert not bad, bad
