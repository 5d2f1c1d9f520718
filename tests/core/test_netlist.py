"""Netlist writing: user text never reaches a netlist unchecked; charges render in both simulators."""
from __future__ import annotations

import numpy as np
import pytest

from spicegen import Device, Equations, Param, get_device
from spicegen.device import build_model
from spicegen.netlist import check_node, format_instance, format_subckt
from spicegen.ngspice import run_netlist
from testbenches.core.equivalence import TRAN_OPTIONS, TRAN_SIM_TOL
from veriloga import compile_model

MEMRISTOR = get_device("sinh_memristor")


@pytest.mark.parametrize("node", ["a\n.control", "a b", "x;shell", "", "a$b", "n{1}"])
def test_bad_node_names_are_refused(node):
    with pytest.raises(ValueError, match="not allowed in a netlist"):
        format_instance(MEMRISTOR, "m1", [node, "0"])


@pytest.mark.parametrize("value", ["1\n.control\nshell rm -rf /\n.endc", "shell ls", float("nan")])
def test_bad_parameter_values_are_refused(value):
    with pytest.raises(ValueError):
        format_instance(MEMRISTOR, "m1", ["a", "0"], {"i0": value})


def test_unknown_parameter_and_bad_instance_name():
    with pytest.raises(KeyError, match="has no parameter 'i00'"):
        format_instance(MEMRISTOR, "m1", ["a", "0"], {"i00": 1e-6})
    with pytest.raises(ValueError, match="not a valid identifier"):
        format_instance(MEMRISTOR, "m1\n.control", ["a", "0"])


def test_wrong_number_of_nodes():
    with pytest.raises(ValueError, match=r"has ports \('p', 'n'\); got 3 nodes"):
        format_instance(MEMRISTOR, "m1", ["a", "b", "c"])


def test_instance_lines_exact():
    assert format_instance(MEMRISTOR, "m1", ["a", "0"], {"w0": 0.5, "i0": 2e-6}) == ["Xm1 a 0 sinh_memristor i0=2e-06 w0=0.5"]
    assert format_instance(MEMRISTOR, "m1", ["a", "0"], {"w0": 0.5}, "osdi") == [
        ".model m_m1 sinh_memristor", "Nm1 a 0 m_m1 w0=0.5"]
    # instance parameters (w0, freeze, the d2d i0) on the N line, model parameters on a card of its own
    assert format_instance(MEMRISTOR, "m1", ["a", "0"], {"w0": 0.5, "i0": 2e-6, "a": 2.0}, "osdi", shared=True) == [
        ".model m_m1 sinh_memristor a=2.0", "Nm1 a 0 m_m1 i0=2e-06 w0=0.5"]
    assert format_instance(MEMRISTOR, "m1", ["a", "0"], {"w0": 0.5, "freeze": 1}, "osdi", shared=True) == [
        "Nm1 a 0 sinh_memristor freeze=1.0 w0=0.5"]


def test_check_node_accepts_hierarchical_names():
    assert check_node("x1.n2") == "x1.n2"


class NonlinearCapacitor(Device):
    """Test device: conductance plus a non-linear charge."""

    name = "qcap_test"
    ports = ("p", "n")
    params = (Param("c0", 1e-9, "F", "capacitance", (0.0, 1.0)), Param("g", 1e-4, "S", "conductance", (0.0, 1.0)))

    def equations(self, s):
        v = s.V("p", "n")
        return Equations(currents={("p", "n"): s.g * v}, charges={("p", "n"): s.c0 * (v + v**3 / 3)})


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_charges_agree_between_twin_and_osdi(tmp_path):
    model = build_model(NonlinearCapacitor)
    osdi = compile_model(model, directory=tmp_path)
    lines = ["* charge check", format_subckt(model), TRAN_OPTIONS]
    for flavor in ("twin", "osdi"):
        lines += format_instance(model, flavor, [f"{flavor}_p", "0"], {}, flavor)
        lines.append(f"V{flavor} {flavor}_p 0 SIN(0 1 100k)")
    lines += [".tran 10n 20u 0 10n", ".end"]
    result = run_netlist("\n".join(lines), osdi=[osdi])
    t, v = result["time"], result["v(twin_p)"]
    twin, osd = -result["vtwin#branch"], -result["vosdi#branch"]
    assert np.max(np.abs(osd - twin)) <= TRAN_SIM_TOL * np.max(np.abs(twin))
    expected = 1e-4 * v + 1e-9 * (1 + v**2) * 2 * np.pi * 1e5 * np.cos(2 * np.pi * 1e5 * t)
    inner = slice(5, -5)  # the first steps carry the integrator's start-up error
    assert np.max(np.abs(twin[inner] - expected[inner])) < 2e-3 * np.max(np.abs(expected))
