"""Generated code that no device text can break or hijack.

Every piece of user text (docstring, module, description, unit) reaches Python, Verilog-A and
SPICE only through one escaping function per target, expressions are never parsed from
strings, reserved names of each target are refused at registration, and no printer emits a
non-finite or complex number. Hostile payloads below try to create a canary file; it must
never appear.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from spicegen import Device, Equations, Param, State
from spicegen.device import Pwl, Sine, build_model
from spicegen.naming import (NGSPICE_RESERVED, PYTHON_RESERVED, VERILOGA_RESERVED, comment_text, python_docstring,
                             verilog_string)
from spicegen.netlist import format_instance, format_subckt
from spicegen.ngspice import run_netlist
from spicegen.numpy_code import NumpyExprPrinter, format_numpy_module, load_numpy_module
from spicegen.printing import spice_expr
from veriloga import compile_source, format_module, va_expr

# one name per user, not per process: test ids must be the same in every pytest-xdist worker
CANARY = Path(tempfile.gettempdir()) / f"spicegen-codegen-canary-{os.getuid()}"
PAYLOADS = (
    '"""', "'''", "\\", "\\U", "\\x", "\\N{", "\n", "\r", "\x00", "\u2028", "Ω µ é", "\ud800", "*)", "(*", '"',
    "*/", "//", "`define", "$finish;", "endmodule", "\n.control\nshell touch {canary}\n.endc\n",
    f'"""\nopen({str(CANARY)!r}, "w")\n"""', f"\nopen({str(CANARY)!r}, 'w')\n",
    f'", units="" *) parameter real evil = 1; (*desc="', "\n.end\n", "\\\n", "+ x",
)


@pytest.fixture(autouse=True)
def no_canary():
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "generated code executed an injected payload"


def device(doc=None, params=(Param("g", 1e-3, "S", bounds=(0, 1)),), states=(), current=None, rates=None, name="dut",
           ports=("p", "n"), module=None):
    """A device class built without registering it (the global registry stays untouched)."""
    def equations(self, s):
        v = s.V(ports[0], ports[1])
        return Equations({(ports[0], ports[1]): current(s, v) if current else getattr(s, params[0].name) * v},
                         rates=rates(s, v) if rates else {})

    attrs = {"ports": ports, "params": params, "states": states, "name": name, "__doc__": doc,
             "equations": equations}
    if module is not None:
        attrs["__module__"] = module
    return type("Dut", (Device,), attrs)


def import_in_subprocess(source: str, folder: Path, code: str) -> dict:
    """Write ``source`` as ``generated_np.py``, import it in a fresh Python and run ``code`` (prints JSON)."""
    (folder / "generated_np.py").write_text(source, encoding="utf-8")
    script = f"import json, sys; sys.path.insert(0, {str(folder)!r}); import generated_np as m; {code}"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


VA_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def decode_verilog_string(body: str) -> str:
    """Value of a Verilog string literal's body (the inverse of :func:`verilog_string`)."""
    named = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}
    out, k = bytearray(), 0
    while k < len(body):
        if body[k] != "\\":
            out += body[k].encode()
            k += 1
        elif body[k + 1] in named:
            out += named[body[k + 1]].encode()
            k += 2
        else:
            out.append(int(body[k + 1:k + 4], 8))
            k += 4
    return out.decode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- the failures as reported


def test_docstring_with_triple_quotes_stays_a_docstring(tmp_path):
    payload = f'ends early """; open({str(CANARY)!r}, "w"); """'
    model = build_model(device(doc=payload))
    module = load_numpy_module(model)
    assert module.__doc__.splitlines()[0] == f"dut: {payload}"
    doc = import_in_subprocess(format_numpy_module(model), tmp_path, "print(json.dumps(m.__doc__))")
    assert doc.splitlines()[0] == f"dut: {payload}"


@pytest.mark.parametrize("text", ["C:\\Users\\x", "\\N{bad}", "trailing \\", "x\\", "é Ω 😀", "\\x4"])
def test_backslashes_and_non_ascii_in_docstring_import(text):
    module = load_numpy_module(build_model(device(doc=text)))
    assert module.__doc__.splitlines()[0] == f"dut: {text}"


def test_current_given_as_a_string_is_refused_unevaluated():
    payload = f"__import__('pathlib').Path({str(CANARY)!r}).touch() or 1"
    with pytest.raises(ValueError, match="is the string .*strings are not evaluated"):
        build_model(device(current=lambda s, v: payload))
    with pytest.raises(ValueError, match="is the string"):
        build_model(device(states=(State("w", 0.5, bounds=(0, 1)),), rates=lambda s, v: {"w": payload}))


@pytest.mark.parametrize("printer", [va_expr, spice_expr, NumpyExprPrinter().doprint])
def test_printers_refuse_strings(printer):
    with pytest.raises(ValueError, match="got the string"):
        printer(f"__import__('pathlib').Path({str(CANARY)!r}).touch()")


@pytest.mark.parametrize("word", ["numpy", "env", "np", "math", "inf", "PARAMS", "evaluate"])
def test_names_the_numpy_module_uses_are_refused(word):
    with pytest.raises(ValueError, match=f"parameter name '{word}' is a reserved word in (Python|Verilog-A)"):
        Param(word, 1.0)


@pytest.mark.parametrize("word,target", [("C", "ngspice model type"), ("NPN", "ngspice model type"),
                                         ("d_and", "ngspice model type"), ("Q", "disciplines.vams"),
                                         ("electrical_", None), ("Flux", "disciplines.vams")])
def test_device_names_that_clash_with_a_simulator_global_are_refused(word, target):
    if target is None:
        assert build_model(device(name=word)).name == word
        return
    with pytest.raises(ValueError, match=f"device name '{word}' is .*{target}"):
        build_model(device(name=word))


@pytest.mark.parametrize("word", ["T", "V_p_n", "voltages"])
def test_names_of_the_equations_namespace_are_refused(word):
    with pytest.raises(ValueError, match="reserved by the equations namespace"):
        build_model(device(params=(Param(word, 1.0, bounds=(0, 2)),)))


def test_branches_that_would_share_a_voltage_symbol_are_refused():
    cls = device(ports=("p_n", "x", "p", "n_x"),
                 current=lambda s, v: s.g * (s.V("p_n", "x") + s.V("p", "n_x")))
    with pytest.raises(ValueError, match="would share the symbol V_p_n_x"):
        build_model(cls)


def test_a_branch_that_would_alias_a_state_node_is_refused():
    cls = device(ports=("a", "b"), params=(Param("g", 1e-3, bounds=(0, 1)),),
                 states=(State("a_b", 0.5, bounds=(0, 1)),), rates=lambda s, v: {"a_b": v})
    with pytest.raises(ValueError, match="would share the symbol V_a_b with the node of state 'a_b'"):
        build_model(cls)


@pytest.mark.parametrize("make", [lambda bad: Sine(bad, 1e3), lambda bad: Pwl(((0.0, 0.0), (1e-6, bad)))])
@pytest.mark.parametrize("bad", ["1)\n.control\nshell touch x\n.endc", float("nan"), float("inf")])
def test_stimuli_accept_only_finite_numbers(make, bad):
    with pytest.raises(ValueError, match="must be (a number|finite)"):
        make(bad)


@pytest.mark.parametrize("printer", [va_expr, spice_expr, NumpyExprPrinter().doprint])
@pytest.mark.parametrize("bad", [sp.erf(sp.Symbol("x")), sp.Function("f")(sp.Symbol("x")),
                                 sp.Integral(sp.Symbol("x"), sp.Symbol("x"))])
def test_unsupported_constructs_are_value_errors_with_the_expression(printer, bad):
    with pytest.raises(ValueError, match=r"Unsupported by .* in .*(erf|f)\(x\)|Unsupported by .*Integral"):
        printer(bad)


def test_numpy_printer_emits_only_numpy():
    x = sp.Symbol("x")
    with pytest.raises(ValueError, match="math.erf .*imports only numpy"):
        NumpyExprPrinter().doprint(sp.erf(x))
    assert NumpyExprPrinter().doprint(sp.Abs(x) + sp.exp(x)) == "numpy.exp(x) + abs(x)"


def test_device_using_a_function_numpy_lacks_is_refused_when_rendered():
    model = build_model(device(current=lambda s, v: s.g * sp.erf(v)))
    with pytest.raises(ValueError, match="math.erf"):
        format_numpy_module(model)


x = sp.Symbol("x")
NON_FINITE = [(sp.nan, "nan"), (sp.oo + x, "oo"), (x - sp.oo, "-oo"), (sp.zoo * x, "zoo"), (sp.I * x, "I"),
              (sp.Float("nan") * x, "nan"), (sp.Float("inf") + x, "oo"), (sp.Integer(10) ** 400 * x, "1000")]


@pytest.mark.parametrize("printer", [va_expr, spice_expr, NumpyExprPrinter().doprint])
@pytest.mark.parametrize("expr,atom", NON_FINITE)
def test_printers_refuse_non_finite_numbers_naming_the_expression(printer, expr, atom):
    with pytest.raises(ValueError, match=rf"{re.escape(atom)}.* in .*is not a finite real number"):
        printer(expr)


@pytest.mark.parametrize("expr,atom", NON_FINITE)
def test_non_finite_numbers_are_refused_at_registration(expr, atom):
    with pytest.raises(ValueError, match=r"device 'dut': current \('p', 'n'\): .*not a finite real number"):
        build_model(device(current=lambda s, v: s.g * v + expr.subs(x, v)))


@pytest.mark.openvaf
def test_desc_ending_in_backslash_keeps_the_verilog_string_closed(tmp_path):
    params = (Param("g", 1e-3, "Ω\\", "ends in \\", bounds=(0, 1)),)
    states = (State("w", 0.5, bounds=(0, 1), unit="m Ω endmodule \\"),)
    model = build_model(device(params=params, states=states, rates=lambda s, v: {"w": v}))
    source = format_module(model)
    line = next(t for t in source.splitlines() if "parameter real g " in t)
    desc, unit = (decode_verilog_string(m) for m in VA_STRING.findall(line))
    assert (desc, unit) == ("ends in \\", "Ω\\")
    assert source.count("parameter real") == len(model.params)
    assert compile_source(source, "dut", directory=tmp_path).stat().st_size > 1000


# ---------------------------------------------------------------- the escaping functions


@pytest.mark.parametrize("text", PAYLOADS)
def test_python_docstring_round_trips_every_payload(text):
    literal = python_docstring(text, "second", text)
    assert literal.isascii()
    assert ast.literal_eval(literal) == f"{text}\nsecond\n{text}"


@pytest.mark.parametrize("text", PAYLOADS)
def test_verilog_string_round_trips_every_payload(text):
    literal = verilog_string(text)
    assert literal.isascii() and "\n" not in literal
    assert VA_STRING.fullmatch(literal)
    assert decode_verilog_string(literal[1:-1]) == text


@pytest.mark.parametrize("text", PAYLOADS)
def test_comment_text_is_one_printable_ascii_line(text):
    assert all(" " <= c <= "~" for c in comment_text(text))


# ---------------------------------------------------------------- property test

RESERVED = sorted(VERILOGA_RESERVED | NGSPICE_RESERVED | PYTHON_RESERVED | {"T", "V_x", "voltages", "lambda"})


def mostly(usual, unusual, weight: int = 6):
    """``usual`` in ``weight`` of ``weight + 1`` draws, else ``unusual``."""
    return st.integers(0, weight).flatmap(lambda k: usual if k else unusual)


identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)
names = mostly(identifiers, st.one_of(st.sampled_from(RESERVED), st.text(max_size=6)), weight=15)
texts = st.one_of(st.text(max_size=12), st.lists(st.sampled_from(PAYLOADS), max_size=3).map("".join),
                  st.tuples(st.text(max_size=4), st.sampled_from(PAYLOADS)).map("".join))
moderate = st.floats(-1e30, 1e30, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-30)
numbers = mostly(moderate, st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                     st.sampled_from([5e-324, 1e-300, 1e300, -0.0])))
# Param itself refuses quotes, '*' and line breaks in a description or unit
attribute_texts = texts.map(lambda t: re.sub(r'["*\n\r]', "", t))


@st.composite
def definitions(draw, names=names, numbers=numbers, attribute_texts=mostly(attribute_texts, texts), strings=True):
    """A device definition: names, texts and numbers from hostile generators (may be refused)."""
    n_params = draw(st.integers(1, 3))
    return {
        "name": draw(names), "ports": (draw(names), draw(names)), "doc": draw(st.one_of(st.none(), texts)),
        "module": draw(texts), "coefficient": draw(numbers),
        "params": [(draw(names), draw(numbers), draw(attribute_texts), draw(attribute_texts)) for _ in range(n_params)],
        "state": draw(st.one_of(st.none(), st.tuples(names, texts, texts))),
        "string_current": strings and draw(st.integers(0, 9)) == 0,
    }


def build(definition: dict):
    """Build the device of ``definition``; a refusal must be a ValueError with a message."""
    try:
        params = tuple(Param(n, d, unit, desc, bounds=(-abs(d) - 1.0, abs(d) + 1.0)) if isinstance(d, float)
                       and np.isfinite(d) and abs(d) < 1e300 else Param(n, d, unit, desc)
                       for n, d, unit, desc in definition["params"])
        states = ()
        if definition["state"]:
            state_name, unit, desc = definition["state"]
            states = (State(state_name, 0.5, bounds=(0, 1), unit=unit, desc=desc),)
        coefficient, string_current = definition["coefficient"], definition["string_current"]

        def current(s, v):
            return f"open({str(CANARY)!r}, 'w')" if string_current else sp.Float(coefficient) * getattr(
                s, params[0].name) * v

        cls = device(doc=definition["doc"], params=params, states=states, current=current, name=definition["name"],
                     ports=definition["ports"], module=definition["module"],
                     rates=(lambda s, v: {states[0].name: v}) if states else None)
        return build_model(cls)
    except ValueError as exc:
        assert str(exc).strip(), "a refusal must carry a message"
        return None


def check_renderings(model) -> tuple[str, str, str]:
    """Emit all renderings; check the text structure and the numpy module in this process."""
    va, spice, numpy_source = format_module(model), format_subckt(model), format_numpy_module(model)
    assert va.isascii() and spice.isascii() and numpy_source.isascii()
    code = "\n".join(VA_STRING.sub('""', line).split("//")[0] for line in va.splitlines())
    assert code.count("parameter real") == len(model.params) and code.count("endmodule") == 1
    instance = sum(p.per_instance for p in model.params)  # <state>0 and freeze: type="instance"
    assert code.count('(*desc="", units=""*)') == len(model.params) - instance
    assert code.count('(*desc="", units="", type=""*)') == instance
    lines = spice.splitlines()
    assert [line[:2] for line in lines[:3]] == ["* ", "* ", ".s"] and lines[-1] == f".ends {model.name}"
    assert all(line[0] in "BCVF" for line in lines[3:-1])
    module = load_numpy_module(model)
    assert module.__doc__.splitlines()[0] == f"{model.name}: {model.doc}"
    assert sorted(module.PARAMS) == sorted(p.name for p in model.params)
    return va, spice, numpy_source


# derandomize: the suite sees the same examples every run; raise max_examples (and drop it) to explore
@settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(definitions())
def test_any_definition_is_refused_with_a_message_or_renders_safely(definition):
    model = build(definition)
    event("accepted" if model is not None else "refused")
    if model is not None:
        check_renderings(model)
    assert not CANARY.exists()


@pytest.mark.openvaf
@pytest.mark.ngspice
@settings(max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(definitions(names=identifiers, numbers=moderate, attribute_texts=attribute_texts, strings=False)
       .filter(lambda d: build(d) is not None))
def test_accepted_definitions_import_compile_and_simulate_alike(definition):
    model = build(definition)
    va, spice, numpy_source = check_renderings(model)
    with tempfile.TemporaryDirectory(prefix="spicegen-codegen-") as tmp:
        folder = Path(tmp)
        port = model.ports[0]
        result = import_in_subprocess(numpy_source, folder, "print(json.dumps([m.__doc__, float(m.evaluate("
                                      f"{{{port!r}: 0.3, {model.ports[1]!r}: 0.0}})['currents'][{port!r}])]))")
        assert result[0].splitlines()[0] == f"{model.name}: {model.doc}"
        osdi = compile_source(va, model.name, directory=folder)
        for flavor in ("twin", "osdi"):
            deck = [f"{model.name} {flavor}", *([spice] if flavor == "twin" else []),
                    *format_instance(model, "d1", ("a", "0"), flavor=flavor), "Va a 0 0.3", ".op", ".end"]
            simulated = -run_netlist("\n".join(deck), osdi=[osdi] if flavor == "osdi" else ())["i(va)"][0]
            assert np.isclose(simulated, result[1], rtol=1e-9, atol=1e-15, equal_nan=True), (flavor, simulated)
    assert not CANARY.exists()
