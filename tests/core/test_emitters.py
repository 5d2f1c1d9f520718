"""Printers and emitted files: exact text, compile cleanly, numpy module imports only numpy."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from spicegen import registry
from veriloga.emit import LIBRARY_DIR, render, write_library
from spicegen.numpy_code import format_numpy_module, load_numpy_module
from spicegen.printing import spice_expr
from veriloga import compile_source, format_module, va_expr

DEVICES = sorted(registry())
x, y = sp.symbols("x y", real=True)

PRINTED = [
    # expression, Verilog-A, ngspice
    (sp.log(x), "ln(x)", "ln(x)"),
    (x / 2, "0.5*x", "0.5*x"),
    (sp.Rational(1, 3) * y, "0.3333333333333333*y", "0.3333333333333333*y"),
    (x**2, "(x*x)", "(x*x)"),
    (x**-2, "(1.0/(x*x))", "(2^64/((x*x)*2^64))"),
    (-2 * x / (x + y), "-2.0*x/(x + y)", "-2.0*x*2^64/((x + y)*2^64)"),
    (x**7, "pow(x, 7.0)", "pow(x, 7.0)"),
    (sp.sqrt(x), "sqrt(x)", "sqrt(x)"),
    (sp.Abs(x), "abs(x)", "abs(x)"),
    (sp.Max(x, y, 0), "max(max(0.0, x), y)", "max(max(0.0, x), y)"),
    (sp.Piecewise((x, x > 0), (0.1 * x, True)), "((x > 0.0) ? (x) : (0.1*x))", "((x > 0.0) ? (x) : (0.1*x))"),
    (sp.pi * x, "3.141592653589793*x", "3.141592653589793*x"),
    (sp.Float(1e-12) * x, "1e-12*x", "1e-12*x"),
]


@pytest.mark.parametrize("expr,va,spice", PRINTED)
def test_expression_printing(expr, va, spice):
    assert va_expr(expr) == va
    assert spice_expr(expr) == spice


@pytest.mark.parametrize("printer", [va_expr, spice_expr])
@pytest.mark.parametrize("bad", [sp.gamma(x), sp.erf(x), sp.Function("f")(x), sp.Integral(x, x)])
def test_unsupported_constructs_raise_and_name_themselves(printer, bad):
    with pytest.raises(Exception, match="Unsupported by"):
        printer(bad)


@pytest.mark.parametrize("name", DEVICES)
def test_library_files_equal_fresh_emission(name, update_golden):
    for fmt, suffix in (("veriloga", ".va"), ("spice", ".cir")):
        path = LIBRARY_DIR / f"{name}{suffix}"
        if update_golden:
            write_library(LIBRARY_DIR)
        assert path.exists(), f"{path} missing: run 'spicegen emit --all'"
        assert path.read_text() == render(name, fmt), f"{path} is stale: run 'spicegen emit --all'"


def test_library_has_no_stale_files():
    emitted = {p.stem for p in LIBRARY_DIR.glob("*.va")}
    assert emitted == set(DEVICES)


@pytest.mark.openvaf
@pytest.mark.parametrize("name", DEVICES)
def test_library_compiles_without_warnings(name, tmp_path):
    osdi = compile_source((LIBRARY_DIR / f"{name}.va").read_text(), name, directory=tmp_path)
    assert osdi.stat().st_size > 1000


@pytest.mark.openvaf
def test_compile_error_carries_compiler_output(tmp_path):
    from veriloga import CompileError

    with pytest.raises(CompileError, match="openvaf-r failed"):
        compile_source("module broken(a); electrical a; analog I(a) <+ ; endmodule\n", "broken", directory=tmp_path)


@pytest.mark.parametrize("name", DEVICES)
def test_numpy_module_imports_only_numpy(name, tmp_path):
    path = tmp_path / f"{name}_np.py"
    path.write_text(format_numpy_module(registry()[name]))
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import {name}_np as m; "
            "bad = [k for k in sys.modules if k.split('.')[0] in ('sympy', 'spicegen', 'scipy', 'lmfit')]; "
            "assert not bad, bad; print(sorted(m.PARAMS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_numpy_module_matches_hand_computed_memristor():
    ev = load_numpy_module(registry()["sinh_memristor"]).evaluate
    v = np.linspace(-1, 1, 5)
    res = ev({"p": v, "n": 0.0}, {"w": 0.4}, i0=2e-6)
    np.testing.assert_allclose(res["currents"]["p"], 2e-6 * (0.05 + 0.4) * np.sinh(3 * v), rtol=1e-15)
    np.testing.assert_allclose(res["currents"]["n"], -res["currents"]["p"])


def test_numpy_module_solves_internal_node():
    ev = load_numpy_module(registry()["diode_rs"]).evaluate
    res = ev({"a": 0.8, "c": 0.0})
    i, vi = float(res["currents"]["a"]), float(res["internal"]["ai"])
    vt = 1.380649e-23 * 300.15 / 1.602176634e-19
    assert np.isclose(i, (0.8 - vi) / 10.0, rtol=1e-12)
    assert np.isclose(i, 1e-14 * np.expm1(vi / vt), rtol=1e-9)


def test_numpy_module_rejects_unknown_parameter():
    ev = load_numpy_module(registry()["diode_rs"]).evaluate
    with pytest.raises(KeyError, match="unknown parameter"):
        ev({"a": 0.1, "c": 0.0}, rs_typo=3.0)


def test_write_library_writes_va_and_cir(tmp_path):
    paths = write_library(tmp_path)
    assert {p.suffix for p in paths} == {".va", ".cir"}
    assert len(paths) == 2 * len(DEVICES)


def _compile_in_worker(args):
    source, folder = args
    return str(compile_source(source, "race", directory=Path(folder)))


@pytest.mark.openvaf
def test_concurrent_compiles_of_one_module_share_the_cached_result(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    source = (LIBRARY_DIR / "sinh_memristor.va").read_text()
    with ProcessPoolExecutor(2) as pool:
        paths = list(pool.map(_compile_in_worker, [(source, str(tmp_path))] * 4))
    assert len(set(paths)) == 1 and Path(paths[0]).stat().st_size > 1000
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.va"))
