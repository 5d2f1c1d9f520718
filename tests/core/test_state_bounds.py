"""State bounds that name parameters, and an initial value exactly at a bound, in every target."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from spicegen import Check, Device, Equations, Param, Sine, State
from spicegen.device import build_model
from spicegen.naming import ngspice_reads, ngspice_substitutes
from spicegen.netlist import format_instance, format_subckt
from spicegen.ngspice import SimError, run_netlist
from spicegen.numpy_code import load_numpy_module
from spicegen.testbench import Circuit
from testbenches.core.equivalence import check_device
from veriloga import compile_model, compile_source, format_module
from veriloga.vacask import format_instance as vacask_instance
from veriloga.vacask import run_vacask


class GapCell(Device):
    """Filament gap between parameter bounds, moved by a thermally activated rate."""

    name = "gap_cell"
    ports = ("p", "n")
    params = (
        Param("i0", 1e-4, "A", "current prefactor", (0.0, 1.0)),
        Param("g_len", 0.25, "nm", "tunnelling length", (0.01, 10.0)),
        Param("v0", 0.3, "V", "conduction non-linearity", (0.01, 10.0)),
        Param("gap_min", 0.2, "nm", "smallest gap", (0.0, 10.0)),
        Param("gap_range", 1.5, "nm", "largest minus smallest gap", (0.01, 10.0)),
        Param("k", 1e3, "nm/s", "gap speed", (0.0, 1e9)),
        Param("m", 20.0, "", "drive ideality", (1.0, 1e3)),
    )
    # one end a parameter's name, the other an expression of parameters
    states = (State("gap", 1.0, bounds=("gap_min", sp.Symbol("gap_min") + sp.Symbol("gap_range")), unit="nm"),)
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(1.0, 1e3)}, tstop=2e-3)

    def equations(self, s):
        v = s.V("p", "n")
        return Equations(currents={("p", "n"): s.i0 * sp.exp(-s.gap / s.g_len) * sp.sinh(v / s.v0)},
                         rates={"gap": -s.k * sp.sinh(v / (s.m * s.vt))})


def device(bounds, initial=0.5, params=(Param("lo", 0.1), Param("hi", 0.7)), name="bounded"):
    attrs = {"name": name, "ports": ("p", "n"), "params": params, "states": (State("w", initial, bounds),),
             "equations": lambda self, s: Equations({("p", "n"): s.w * s.V("p", "n")}, {"w": s.V("p", "n")})}
    return build_model(type("Bounded", (Device,), attrs))


def test_bounds_name_parameters_in_every_rendering():
    model = build_model(GapCell)
    va = format_module(model)
    assert "parameter real gap0 = 1.0 from [gap_min:gap_min + gap_range];" in va
    assert "max(V(gap), gap_min)" in va and "$vt" in va
    assert "max(v(gap), gap_min)" in format_subckt(model)
    assert model.param("gap0").bounds == (-np.inf, np.inf)  # the parameter ends are checked per instance
    module = load_numpy_module(model)
    far = module.evaluate({"p": -0.5, "n": 0.0}, {"gap": 50.0}, gap_range=0.8)
    at_max = module.evaluate({"p": -0.5, "n": 0.0}, {"gap": 1.0}, gap_range=0.8)
    assert far["currents"]["p"] == at_max["currents"]["p"]  # clamped at gap_min + gap_range = 1.0
    assert far["rates"]["gap"] < 0 < module.evaluate({"p": -0.5, "n": 0.0}, {"gap": 0.9}, gap_range=0.8)["rates"]["gap"]


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.vacask
def test_device_with_parameter_bounds_passes_the_equivalence_check():
    report = check_device(build_model(GapCell), points=16, seed=3)
    assert report.passed, report.format_table()
    assert {("dc", "numpy~vacask"), ("tran", "twin~osdi"), ("tran", "numpy-ode~vacask")} <= set(report.worst())


def test_a_bound_naming_an_unknown_parameter_lists_the_parameters():
    with pytest.raises(ValueError, match=r"name \['gmax'\], which is not a declared parameter; the parameters "
                                         r"are \['lo', 'hi'\]"):
        device(("lo", "gmax"))
    with pytest.raises(ValueError, match=r"\['t_ox'\].*the parameters are \['lo', 'hi'\]"):
        device((0.0, sp.Symbol("t_ox") / 2))


def test_parameter_bounds_are_checked_at_the_defaults():
    with pytest.raises(ValueError, match=r"bounds \[hi, lo\] of state 'w' evaluate to \[0.7, 0.1\] at the "
                                         r"parameters' defaults; they must satisfy lower < upper"):
        device(("hi", "lo"))
    with pytest.raises(ValueError, match=r"initial value 0.9 of state 'w' .* outside its bounds \[lo, hi\] = "
                                         r"\[0.1, 0.7\] at the parameters' defaults"):
        device(("lo", "hi"), initial=0.9)
    with pytest.raises(ValueError, match="must be a number, the name of a parameter or a sympy expression"):
        State("w", 0.5, (0.0, [1.0]))


def test_instance_values_are_checked_against_the_bounds_they_give():
    model = device(("lo", "hi"))
    assert model.checked_params({"w0": 0.7})["w0"] == 0.7  # at the bound: legitimate
    with pytest.raises(ValueError, match=r"initial value 0.05 of state 'w' \(parameter 'w0'\) lies outside its "
                                         r"bounds \[lo, hi\] = \[0.1, 0.7\] for this instance's parameters; pass a "
                                         r"'w0' inside them"):
        format_instance(model, "x1", ["a", "0"], {"w0": 0.05})
    with pytest.raises(ValueError, match=r"evaluate to \[0.1, 0.05\] for this instance's parameters"):
        format_instance(model, "x1", ["a", "0"], {"hi": 0.05, "w0": 0.07})


def test_the_bound_parameters_are_written_next_to_the_initial_value():
    """ngspice reads '0.7' as 0.7000000000000001: gap0 and the bound's parameter must share that reading."""
    model = device(("lo", "hi"))
    assert format_instance(model, "x1", ["a", "0"], {"w0": 0.7}) == ["Xx1 a 0 bounded hi=0.7 lo=0.1 w0=0.7"]
    assert format_instance(model, "x1", ["a", "0"], {"lo": 0.2}) == ["Xx1 a 0 bounded lo=0.2"]


def test_an_emitted_range_holds_its_ends_as_ngspice_reads_them():
    assert ngspice_reads("0.7") > 0.7 and ngspice_reads("1.2") > 1.2 and ngspice_reads("0.3") > 0.3
    assert ngspice_reads("1e-09") == 1e-9
    va = format_module(device((0.3, 0.7), name="const_bounds"))
    assert "parameter real w0 = 0.5 from [0.3:0.7000000000000001];" in va  # both readings of 0.3 lie above it


def _run_at_the_bounds(model, values):
    """DC of one OSDI and one twin instance with ``values`` in ngspice, and the OSDI one in VACASK."""
    osdi = str(compile_model(model))
    lines = [f"* {model.name} at its bounds", format_subckt(model)]
    for flavor in ("osdi", "twin"):
        lines += format_instance(model, flavor, [f"p_{flavor}", "0"], values, flavor)
        lines.append(f"V{flavor} p_{flavor} 0 0.2")
    ngspice = run_netlist("\n".join(lines + [".op", ".end"]), osdi=[osdi])
    vacask = run_vacask("\n".join(["at the bounds", "ground 0", "model vsource vsource",
                                   *vacask_instance(model, "d1", ["p", "0"], values),
                                   "s1 (p 0) vsource dc=0.2", "control", "  analysis op1 op", "endc"]), osdi=[osdi])
    return ngspice["nosdi#w"][0], ngspice["xtwin.w"][0], vacask["d1:w"][0]


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.vacask
@pytest.mark.parametrize("bounds,values,expected", [
    ((0.3, 0.7), {"w0": 0.7, "freeze": 1.0}, 0.7),  # ngspice reads '0.7' one ulp above the value
    ((0.3, 0.7), {"w0": 0.3, "freeze": 1.0}, 0.3),
    (("lo", "hi"), {"w0": 0.7, "freeze": 1.0}, 0.7),  # the bound at its default, the value on the card
    (("lo", "hi"), {"hi": 1.2, "w0": 1.2, "freeze": 1.0}, 1.2),  # '1.2' reads one ulp above too
])
def test_an_initial_value_at_its_bound_runs_in_ngspice_osdi_twin_and_vacask(bounds, values, expected):
    model = device(bounds, name="at_bound_" + ("params" if isinstance(bounds[0], str) else "numbers"))
    osdi, twin, vacask = _run_at_the_bounds(model, values)
    assert osdi == pytest.approx(expected, rel=1e-12)
    assert twin == pytest.approx(expected, rel=1e-12)
    assert vacask == pytest.approx(expected, rel=1e-12)


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.parametrize("value", [0.1, 1.7])
def test_an_initial_value_at_its_bound_through_a_parameter_substitution_runs_in_ngspice(value):
    """A testbench sets w0 through '{slot}': ngspice reads {0.1} as 0.09999999999999999, {1.7} one ulp above."""
    assert ngspice_substitutes(value) != value
    model = device((0.1, 1.7), name="at_bound_slot")
    netlist = (f"* slot\n.param slot={value!r}\nV1 p 0 0.2\nN1 p 0 m1\n.model m1 at_bound_slot w0={{slot}} freeze=1\n"
               ".op\n.end")
    assert run_netlist(netlist, osdi=[str(compile_model(model))])["n1#w"][0] == pytest.approx(value, rel=1e-15)


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.parametrize("value", [0.1, 1.7])
def test_a_settable_initial_value_at_a_parameter_bound_runs_in_a_testbench(value):
    """The OSDI N line holds the slot's number (alter sets it per run) and the card the bounds' parameters
    as numbers, so ngspice reads them the same way."""
    model = device(("lo", "hi"), params=(Param("lo", 0.1), Param("hi", 1.7)), name="at_bound_settable")
    c = Circuit("settable initial value at its bound")
    c.device(model, "m1", ("p", "0"), settable=("w0",), flavor="osdi", osdi=str(compile_model(model)),
             values={"freeze": 1.0})
    c.element("V1 p 0 0.2")
    c.analysis(".op")
    text = c.format([slot.with_nominal(value) if slot.name == "m1__w0" else slot for slot in c.slots])
    assert ".model m_m1 at_bound_settable hi=1.7 lo=0.1\n" in text and f"m_m1 freeze=1.0 w0={value!r}\n" in text
    assert run_netlist(text, osdi=list(c.osdi))["nm1#w"][0] == pytest.approx(value, rel=1e-15)


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_an_osdi_range_refusal_says_which_parameter_and_how_to_fix_it(tmp_path):
    source = format_module(device((0.3, 0.7), name="refused"))
    osdi = compile_source(source, "refused", directory=tmp_path)
    netlist = "* hand-written card\nV1 p 0 0.2\nN1 p 0 m1\n.model m1 refused w0=0.8\n.op\n.end"
    with pytest.raises(SimError) as caught:
        run_netlist(netlist, osdi=[str(osdi)])
    assert caught.value.reason == "Parameter w0 is out of bounds!"
    text = str(caught.value)
    assert "pass a value inside the range" in text and "add the .model line" not in text
