"""Printers and emitted files: exact text, compile cleanly, numpy module imports only numpy."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from spicegen import Check, Device, Equations, Param, Sine, State, registry
from spicegen.device import build_model
from veriloga.compile import openvaf_command
from veriloga.emit import LIBRARY_DIR, render, write_library
from veriloga.module import MAX_LINE
from spicegen.numpy_code import NumpyExprPrinter, format_numpy_module, load_numpy_module
from spicegen.printing import spice_expr
from spicegen.subexpressions import common_subexpressions
from testbenches.core.equivalence import check_device
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
    (x**7, "pow(x, 7.0)", "(sgn(x)*pow(x, 7.0))"),
    (x**6, "pow(x, 6.0)", "pow(x, 6.0)"),
    (sp.sqrt(x), "sqrt(x)", "sqrt(x)"),
    (sp.Abs(x), "abs(x)", "abs(x)"),
    (sp.Max(x, y, 0), "max(max(0.0, x), y)", "max(max(0.0, x), y)"),
    (sp.Piecewise((x, x > 0), (0.1 * x, True)), "((x > 0.0) ? (x) : (0.1*x))", "((x > 0.0) ? (x) : (0.1*x))"),
    (sp.pi * x, "3.141592653589793*x", "3.141592653589793*x"),
    (sp.Float(1e-12) * x, "1e-12*x", "1e-12*x"),
    (sp.asin(x) + sp.acos(y), "acos(y) + asin(x)", "acos(y) + asin(x)"),
    (sp.asinh(x) * sp.atanh(y), "asinh(x)*atanh(y)", "asinh(x)*atanh(y)"),
]


@pytest.mark.parametrize("expr,va,spice", PRINTED)
def test_expression_printing(expr, va, spice):
    assert va_expr(expr) == va
    assert spice_expr(expr) == spice


@pytest.mark.ngspice
def test_odd_powers_of_negative_values_keep_their_sign_in_ngspice():
    """ngspice's ``pow(x, n)`` is ``pow(|x|, n)``: the printed twin must still give x**5 < 0 for x < 0."""
    from spicegen.ngspice import run_netlist

    powers = {"p5": x**5, "p6": x**6, "m7": x**-7, "p7": 2 * x**7}
    sources = [f"B{name} {name} 0 V={spice_expr(e.subs(x, sp.Symbol('vx')), {sp.Symbol('vx'): 'v(a)'})}\nR{name} {name} 0 1"
               for name, e in powers.items()]
    netlist = "\n".join(["powers", "V1 a 0 -1.5", *sources, ".op", ".end"])
    result = run_netlist(netlist)
    for name, e in powers.items():
        assert result[name][0] == pytest.approx(float(e.subs(x, -1.5)), rel=1e-10), name


@pytest.mark.parametrize("printer", [va_expr, spice_expr])
@pytest.mark.parametrize("bad", [sp.gamma(x), sp.erf(x), sp.Function("f")(x), sp.Integral(x, x)])
def test_unsupported_constructs_raise_and_name_themselves(printer, bad):
    with pytest.raises(Exception, match="Unsupported by"):
        printer(bad)


def test_numpy_printer_prints_a_condition_on_a_piecewise():
    """sympy writes ``Piecewise(...) < 1`` as an ITE of two conditions (a guarded exp of a clamped state does)."""
    expr = sp.Piecewise((sp.exp(x), sp.Piecewise((x, y > 0), (2 * x, True)) < 1), (0, True))
    assert expr.atoms(sp.ITE)
    values = {"x": np.array([0.3, 0.7, 0.3, 0.7]), "y": np.array([1.0, 1.0, -1.0, -1.0]), "numpy": np}
    printed = eval(NumpyExprPrinter().doprint(expr), values)  # noqa: S307 - code printed from our own expression
    np.testing.assert_allclose(printed, [np.exp(0.3), np.exp(0.7), np.exp(0.3), 0.0], rtol=1e-15)


def test_atan2_prints_in_verilog_a_and_is_refused_by_the_twin_with_a_rewrite():
    assert va_expr(sp.atan2(y, x)) == "atan2(y, x)"
    with pytest.raises(ValueError, match="no atan2.*atan and Piecewise"):
        spice_expr(sp.atan2(y, x))


class InverseFunctions(Device):
    """Every inverse trigonometric and hyperbolic function the twin and Verilog-A share."""

    ports = ("p", "n")
    params = (Param("g", 1e-3, "S", "conductance", (0.0, 1.0)),)
    check = Check(dc={"p": (-0.9, 0.9)}, tran={"p": Sine(0.9, 1e3)}, tstop=1e-3)

    def equations(self, s):
        v = s.V("p", "n")
        inverse = sp.asin(v) + sp.acos(v / 2) + sp.atan(v) + sp.asinh(v) + sp.acosh(2 + v) + sp.atanh(v / 2)
        return Equations(currents={("p", "n"): s.g * inverse})


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_inverse_functions_agree_in_numpy_twin_osdi_and_vacask():
    report = check_device(build_model(InverseFunctions), points=8, seed=2)
    assert report.passed, report.format_table()


@pytest.mark.parametrize("name", DEVICES)
def test_library_files_equal_fresh_emission(name, update_golden):
    for fmt, suffix in (("veriloga", ".va"), ("spice", ".cir")):
        path = LIBRARY_DIR / f"{name}{suffix}"
        if update_golden:
            write_library(LIBRARY_DIR)
        assert path.exists(), f"{path} missing: run 'spicegen emit --all'"
        assert path.read_text() == render(name, fmt), f"{path} is stale: run 'spicegen emit --all --update-package'"


def test_library_has_no_stale_files():
    emitted = {p.stem for p in LIBRARY_DIR.glob("*.va")}
    assert emitted == set(DEVICES)


@pytest.mark.openvaf
@pytest.mark.parametrize("name", DEVICES)
def test_library_compiles_without_warnings(name, tmp_path):
    osdi = compile_source((LIBRARY_DIR / f"{name}.va").read_text(), name, directory=tmp_path)
    assert osdi.stat().st_size > 1000


@pytest.mark.openvaf
@pytest.mark.parametrize("name", DEVICES)
def test_openvaf_says_nothing_but_finished(name, tmp_path):
    """openvaf-r's whole output for each library module is its one 'Finished building' line."""
    done = subprocess.run([openvaf_command(), str(LIBRARY_DIR / f"{name}.va"), "-o", str(tmp_path / "m.osdi")],
                          capture_output=True, text=True)
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr).strip()
    assert done.returncode == 0 and re.fullmatch(r"Finished building \S+ in [0-9.]+s", output), output


@pytest.mark.parametrize("name", DEVICES)
def test_library_modules_have_short_lines(name):
    lines = (LIBRARY_DIR / f"{name}.va").read_text().splitlines()
    longest = max(lines, key=len)
    assert len(longest) <= MAX_LINE, f"{len(longest)} characters: {longest[:120]} ..."


DECLARATION = re.compile(r"    real ([\w, \n]+);")
ASSIGNMENT = re.compile(r"(\w+) = (.*)", re.DOTALL)


@pytest.mark.parametrize("name", DEVICES)
def test_every_variable_is_assigned_once_before_its_first_use(name):
    """No value is carried between evaluations: each variable is set, unconditionally, before it is read."""
    source = (LIBRARY_DIR / f"{name}.va").read_text()
    body = source[source.index("analog begin"):source.index("endmodule")]
    declared = DECLARATION.search(body)
    variables = set(re.split(r"[,\s]+", declared.group(1).strip())) if declared else set()
    assigned: list[str] = []
    for statement in body[declared.end() if declared else 0:].split(";"):
        target = ASSIGNMENT.fullmatch(statement.strip())
        read = set(re.findall(r"\b\w+\b", target.group(2) if target else statement)) & variables
        assert read <= set(assigned), f"{sorted(read - set(assigned))} read before assigned: {statement.strip()[:120]}"
        if target:
            assert target.group(1) in variables - set(assigned), f"{target.group(1)} assigned twice or undeclared"
            assigned.append(target.group(1))
    assert set(assigned) == variables


@pytest.mark.parametrize("name", DEVICES)
def test_shared_subexpressions_equal_the_inlined_expressions(name):
    """The Verilog-A variables and what they feed reproduce the inlined expressions to rounding."""
    model = registry()[name]
    exprs = [*model.currents.values(), *model.charges.values(), *model.node_rates.values()]
    named = {f"{st.name}_val": model.state_value(st) for st in model.states if st.bounded} | dict(model.named)
    counter = iter(range(10**6))
    shared = common_subexpressions(exprs, named, lambda e: f"_t{next(counter)}")  # '_': no device name clashes
    free = sorted(set().union(*(e.free_symbols for e in exprs)), key=str)
    rng = np.random.default_rng(3)
    env = {s.name: np.full(200, model.defaults[s.name]) if s.name in model.defaults else rng.uniform(-0.6, 0.6, 200)
           for s in free} | {"T": np.full(200, 300.15), "numpy": np}
    direct = [_numpy_value(e, env) for e in exprs]
    for variable, expr in shared.variables:
        env[variable.name] = _numpy_value(expr, env)
    for expr, expected in zip(shared.exprs, direct):
        # regrouped products round differently in the last bit; where a current is a difference of two
        # near-equal exponentials that bit is amplified, so the floor is a fraction of full scale
        scale = np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)
        np.testing.assert_allclose(_numpy_value(expr, env), expected, rtol=1e-14, atol=5e-14 * scale)


def _numpy_value(expr, env):
    with np.errstate(all="ignore"):
        return eval(NumpyExprPrinter().doprint(expr), env)  # noqa: S307 - code printed from our own expression


class Tunnel(Device):
    """A tunnel junction whose author names its sub-expressions."""

    name = "tunnel_named"
    ports = ("p", "n")
    params = (Param("i0", 1e-6, "A", "scale", (0, 1)), Param("a", 3.0, "1/V", "slope", (0.1, 10)))
    states = (State("w", 0.5, (0, 1)),)

    def equations(self, s):
        v = s.V("p", "n")
        i_tunnel = s.i0 * sp.sinh(s.a * v)
        return Equations(currents={("p", "n"): (0.1 + s.w) * i_tunnel}, rates={"w": 1e3 * i_tunnel},
                         named={"i_tunnel": i_tunnel, "unused": s.a * s.i0 * v ** 3})


def test_named_subexpressions_become_variables_in_verilog_a_and_numpy(tmp_path):
    model = build_model(Tunnel)
    source = format_module(model)
    assert "    real w_val, i_tunnel, t0, t1;" in source
    assert "    i_tunnel = i0*sinh(V(p, n)*a);" in source
    assert "    I(p, n) <+ i_tunnel*(w_val + 0.1);" in source
    assert "unused" not in source
    numpy_source = format_numpy_module(model)
    assert "    i_tunnel = i0*numpy.sinh(_v_p_n*a)" in numpy_source and "unused" not in numpy_source
    res = load_numpy_module(model).evaluate({"p": 0.3, "n": 0.0}, {"w": 0.4})
    np.testing.assert_allclose(res["currents"]["p"], 0.5 * 1e-6 * np.sinh(0.9), rtol=1e-15)
    assert compile_source(source, model.name, directory=tmp_path).stat().st_size > 1000


@pytest.mark.parametrize("key,match", [
    ("a", r"named sub-expression 'a' clashes with the port, node, parameter or state 'a'"),
    ("W", r"named sub-expression 'W' clashes with the port, node, parameter or state 'w'"),
    ("w0", r"clashes with the port, node, parameter or state 'w0'"),
    ("P", r"clashes with the port, node, parameter or state 'p'"),
    ("module", r"named sub-expression of device 'bad_named' name 'module' is a reserved word in Verilog-A"),
    ("2x", r"is not a valid identifier"),
    ("V_p_n", r"would alias the equations namespace"),
])
def test_named_subexpression_names_are_checked(key, match):
    bad = type("BadNamed", (Tunnel,), {"name": "bad_named", "equations": lambda self, s: Equations(
        currents={("p", "n"): s.i0 * s.V("p", "n")}, rates={"w": s.a}, named={key: s.i0 * s.a})})
    with pytest.raises(ValueError, match=match):
        build_model(bad)


def test_a_named_subexpression_must_be_an_expression():
    bad = type("BadNamed", (Tunnel,), {"name": "bad_named", "equations": lambda self, s: Equations(
        currents={("p", "n"): s.i0 * s.V("p", "n")}, rates={"w": s.a}, named={"k": "i0*a"})})
    with pytest.raises(ValueError, match="named sub-expression k is the string"):
        build_model(bad)


def test_generated_names_avoid_every_device_name():
    """A parameter called t0 or equations pushes the generated variable and the block's scope aside."""
    clash = type("Clash", (Tunnel,), {"name": "clash", "params": (
        Param("t0", 1e-6, "A", "scale", (0, 1)), Param("equations", 3.0, "1/V", "slope", (0.1, 10))),
        "equations": lambda self, s: Equations(currents={("p", "n"): s.t0 * sp.exp(s.equations * s.V("p", "n")) ** 2
                                                         + sp.exp(s.equations * s.V("p", "n"))}, rates={"w": s.t0})})
    source = format_module(build_model(clash))
    assert "analog begin : equations_1" in source and "    real t1, t2;" in source and "    t0 =" not in source


@pytest.mark.openvaf
def test_generated_names_avoid_every_device_name_and_compile(tmp_path):
    clash = type("Clash", (Tunnel,), {"name": "clash", "params": (Param("t0", 1e-6, "A", "", (0, 1)),),
                                      "equations": lambda self, s: Equations(
        currents={("p", "n"): s.t0 * (s.V("p", "n") + 1) ** 2 * sp.sin(s.V("p", "n") + 1)}, rates={"w": s.t0})})
    source = format_module(build_model(clash))
    assert "    t1 = V(p, n) + 1.0;" in source
    assert compile_source(source, "clash", directory=tmp_path).stat().st_size > 1000


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
