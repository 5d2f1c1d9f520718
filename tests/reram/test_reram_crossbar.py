"""CMO/HfOx ReRAM crossbar solvers: the full array in ngspice and VACASK, the nodal solvers. Real ngspice 46, openvaf-r
and VACASK; no mocks. Non-idealities and the crossbar studies: ``test_crossbar_nonideal.py``."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from spicegen.naming import format_number
from spicegen.pdk import sky130_include
from testbenches.reram import cell
from testbenches.reram import crossbar as xb

#: Ideal array through ngspice vs W.T @ x (weight units): limited by the inversion of the read map.
IDEAL_ATOL = 1e-5


def _operands(m: int, n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (m, n)), rng.integers(-1, 2, (2, m)).astype(float)


@pytest.mark.ngspice
def test_ideal_array_equals_numpy_product():
    w, x = _operands(5, 4)  # non-square on purpose
    np.testing.assert_allclose(xb.analog_mvm(w, x, xb.IDEAL, solver="spice"), x @ w, atol=IDEAL_ATOL)
    np.testing.assert_allclose(xb.analog_mvm(w, x, xb.IDEAL), x @ w, atol=1e-12)


@pytest.mark.ngspice
def test_pulse_width_coded_inputs_through_ngspice():
    w, _ = _operands(3, 2)
    x = np.array([[0.5, -0.26, 1.0]])
    xbar = replace(xb.IDEAL, dac_bits=6)
    np.testing.assert_allclose(xb.analog_mvm(w, x, xbar, solver="spice"), xb.quantize(x, 6, 1.0) @ w, atol=IDEAL_ATOL)
    with pytest.raises(ValueError, match="must be -1, 0 or 1 .* got 0.5"):
        xb.analog_mvm(w, x, xb.IDEAL, solver="spice")


@pytest.mark.ngspice
@pytest.mark.parametrize("row_wires", [True, False])
def test_nodal_solver_matches_ngspice_with_wires(row_wires):
    """Row and column wires (sparse LU) and column wires alone (one ladder per column) against ngspice."""
    xbar = xb.Crossbar(r_wire=2.0, row_wires=row_wires)
    check = xb.solver_agreement(8, 2, np.random.default_rng(0), xbar=xbar)
    assert check["ir_effect_max"] > 2e-3  # the wires matter at this resistance
    assert check["max_rel_output"] < xb.SOLVER_RTOL


@pytest.mark.ngspice
def test_ir_drop_shrinks_output_monotonically():
    rng = np.random.default_rng(1)
    w, x = rng.uniform(0.2, 1, (6, 6)), np.ones((1, 6))
    g = xb.interleave(*xb.weight_conductances(w))
    r_values = (0.0, 1.0, 5.0, 20.0)
    y_np = np.array([xb.nodal_outputs(g, x, xb.Crossbar(r_wire=r))[0] for r in r_values])
    y_sp = np.array([xb.spice_outputs(g, x, xb.Crossbar(r_wire=r))[0] for r in r_values])
    for y in (y_np, y_sp):
        assert np.all(np.diff(np.abs(y), axis=0) < 0)


@pytest.mark.parametrize("weights, inputs, match", [
    (np.zeros((3, 2)), np.zeros((1, 2)), r"inputs of shape \(1, 2\) do not match weights of shape \(3, 2\)"),
    (np.full((2, 2), 1.5), np.zeros((1, 2)), r"weights must lie in \[-1, 1\]; found 1.5"),
    (np.zeros((2, 2)), np.full((1, 2), -2.0), r"inputs must lie in \[-1, 1\]; found -2.0"),
    (np.zeros(3), np.zeros(3), r"2-D M x N matrix, got shape \(3,\)"),
])
def test_bad_operands_refused(weights, inputs, match):
    with pytest.raises(ValueError, match=match):
        xb.check_operands(weights, inputs)


def test_negative_wire_resistance_refused():
    with pytest.raises(ValueError, match=r"r_wire = -0.35 Ohm"):
        xb.Crossbar(r_wire=-0.35)


# ------------------------------------------------------------------ full-array simulation


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.vacask
@pytest.mark.parametrize("size", [8, 32])
def test_nodal_solvers_equal_ngspice_and_vacask_on_the_full_array(size):
    check = xb.full_array_check(size, np.random.default_rng(size))
    for pair in ("nodal_ngspice", "nodal_vacask", "ngspice_vacask"):
        assert check[f"linear_{pair}"] <= 1e-6
        assert check[f"reram_{pair}"] <= check["reram_tolerance"]
    # the bound is a bound, not a fitted number: reltol=1e-7 on currents of up to 2N cells
    assert 1e-8 < check["reram_tolerance"] < 1e-5


def test_device_tolerance_follows_the_simulator_settings():
    currents = np.array([[1e-3, 2e-4]])
    y = xb.column_outputs(currents, xb.Crossbar())
    loose = xb.device_tolerance(currents, y, 8, xb.Crossbar(), tol={**xb.SIM_TOL, "reltol": 1e-5})
    tight = xb.device_tolerance(currents, y, 8, xb.Crossbar())
    assert loose == pytest.approx(100 * tight, rel=0.01)  # the abstol and nodal terms do not scale


@pytest.mark.ngspice
def test_array_decks_name_their_solver_and_save_only_the_tias():
    states = np.full((2, 4), 0.5)
    deck = xb.crossbar_netlist(states, np.array([0.2, 0.0]), xb.Crossbar(), solver="sparse", instance_params=False)
    assert ".options sparse" in deck and deck.count(".save") == 4 and deck.count(".model") == 8
    shared = xb.crossbar_netlist(states, np.array([0.2, 0.0]), xb.Crossbar())
    assert shared.count(".model") == 1 and "\nNx0_0r r0_0 x0_0d reram_cmo freeze=1.0 x0=0.5\n" in shared
    assert xb.vacask_netlist(states, np.zeros(2), xb.Crossbar()).count("model reram_cmo reram_cmo") == 1
    assert xb.vacask_netlist(states, np.zeros(2), xb.Crossbar(), kind="linear").count(" r r=") > 8


@pytest.mark.ngspice
def test_tia_outputs_are_the_column_currents():
    states = np.random.default_rng(5).uniform(0.2, 0.8, (6, 12))
    v_rows = np.random.default_rng(6).choice([-xb.V_READ, 0.0, xb.V_READ], 6)
    deck = xb.crossbar_netlist(states, v_rows, xb.Crossbar())
    assert deck.splitlines()[2] == "Ht0 t0 0 vo0 1" and deck.count(".save v(t") == 12
    both = deck.replace(".op", "\n".join(f".save i(vo{j})" for j in range(12)) + "\n.op")
    result = cell.simulate(both)
    source = np.array([float(np.ravel(result[f"i(vo{j})"])[0]) for j in range(12)])
    np.testing.assert_allclose(xb.spice_currents(states, v_rows, xb.Crossbar()), source, rtol=1e-12, atol=0)


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_sky130_access_array_equals_the_resistor_array_within_the_triode_bound():
    """The real access transistor against its 134.9 Ohm stand-in on an 8x8 differential array: the difference
    stays within the first-order bound of the transistor's triode law over the cells' access drops."""
    rng = np.random.default_rng(8)
    w, _ = xb.paper_operands(8, 1, rng)
    g = xb.interleave(*xb.weight_conductances(w))
    v = rng.choice([-1.0, 1.0], 8) * xb.V_READ
    xbar = xb.Crossbar()
    states = xb.state_for_conductance(g, xbar)
    y = {access: xb.column_outputs(xb.spice_currents(states, v, xbar, access=access), xbar)
         for access in xb.ACCESS_KINDS}
    error = np.abs(y["sky130"] - y["resistor"]).max() / np.abs(y["resistor"]).max()
    assert error <= xb.stand_in_bound(g, v, xbar, y["resistor"])


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_sky130_access_array_converges_by_direct_newton():
    """Each access transistor starts Newton at its bias at the all-zero start (V_GS on the word line, V_DS = V_BS = 0),
    so ngspice's direct Newton solves the 2x4-cell array; with BSIM4's own first linearisation (V_GS = Vth0 +
    0.1 V) it fails and ngspice needs gmin stepping. Both reach the same solution within the solvers' tolerance."""
    rng = np.random.default_rng(2)
    w, _ = xb.paper_operands(2, 1, rng)
    states = xb.state_for_conductance(xb.interleave(*xb.weight_conductances(w)))
    v = rng.choice([-1.0, 1.0], 2) * xb.V_READ
    xbar = xb.Crossbar()
    deck = xb.crossbar_netlist(states, v, xbar, access="sky130")
    runs = {"started": cell.simulate(deck), "bsim4_start": cell.simulate(re.sub(r" ic=\S+", "", deck))}
    assert "gmin stepping" not in runs["started"].log
    assert "gmin stepping" in runs["bsim4_start"].log
    i = {name: np.array([float(np.ravel(r[f"v(t{j})"])[0]) for j in range(4)]) for name, r in runs.items()}
    y = {name: xb.column_outputs(c, xbar) for name, c in i.items()}
    error = np.abs(y["started"] - y["bsim4_start"]).max() / np.abs(y["bsim4_start"]).max()
    assert error <= xb.device_tolerance(i["bsim4_start"], y["bsim4_start"], 2, xbar)


def test_sky130_access_deck_is_the_resistor_deck_with_transistors():
    """The default deck is the resistor deck; the sky130 deck adds the models and the word line and puts the
    transistor (drain on the device, gate on the word line, source on the column, bulk at 0 V) where the
    resistor was, nothing else."""
    states, v = np.full((2, 4), 0.5), np.array([0.2, -0.2])
    resistor = xb.crossbar_netlist(states, v, xb.Crossbar())
    assert resistor == xb.crossbar_netlist(states, v, xb.Crossbar(), access="resistor")
    sky130 = xb.crossbar_netlist(states, v, xb.Crossbar(), access="sky130").splitlines()
    added = [sky130_include("tt"), f"Vwl {xb.WORD_LINE} 0 {format_number(cell.VG_READ)}"]
    assert all(line in sky130 for line in added)
    transistors = [line.split() for line in sky130 if line.startswith("M")]
    assert len(transistors) == 8 and all(t[2] == xb.WORD_LINE and t[4] == "0" for t in transistors)
    assert all(t[-1] == f"ic=0,{format_number(cell.VG_READ)},0" for t in transistors)
    as_resistors = [f"R{line[1:].split()[0]} {line.split()[1]} {line.split()[3]} {format_number(xb.R_ACCESS)}"
                    if line.startswith("M") else line for line in sky130 if line not in added]
    assert "\n".join(as_resistors) == resistor


@pytest.mark.parametrize(("call", "match"), [
    (lambda: xb.crossbar_netlist(np.full((2, 4), 0.5), np.zeros(3), xb.Crossbar()), "must hold 2 finite row voltages"),
    (lambda: xb.crossbar_netlist(np.full(4, 0.5), np.zeros(1), xb.Crossbar()), "2-D M x C array, got shape"),
    (lambda: xb.crossbar_netlist(np.full((2, 2), 2.0), np.zeros(2), xb.Crossbar()), "device states must lie in"),
    (lambda: xb.crossbar_netlist(np.zeros((2, 2)), np.zeros(2), xb.Crossbar(), kind="linear"), "conductances > 0"),
    (lambda: xb.crossbar_netlist(np.full((2, 2), 0.5), np.zeros(2), xb.Crossbar(), kind="ohmic"), "kind must be"),
    (lambda: xb.crossbar_netlist(np.full((2, 2), 0.5), np.zeros(2), xb.Crossbar(), solver="lu"), "'klu' or 'sparse'"),
    (lambda: xb.spice_currents(np.full((2, 2), 0.5), np.zeros(2), xb.Crossbar(), engine="spectre"), "engine must be"),
    (lambda: xb.device_nodal_currents(np.full((2, 2), 0.5), np.zeros((1, 3)), xb.Crossbar()), "do not fit 2 rows"),
    (lambda: xb.spice_outputs(np.full((2, 3), 20e-6), np.zeros(2)), r"M x 2N, pairs"),
    (lambda: xb.Crossbar(r_wire=-0.1), "wire resistance must be finite and >= 0"),
    (lambda: xb.crossbar_netlist(np.full((2, 2), 0.5), np.zeros(2), xb.Crossbar(), access="bjt"),
     r"access must be one of 'resistor', 'sky130', got 'bjt'"),
    (lambda: xb.crossbar_netlist(np.full((2, 2), 1e-5), np.zeros(2), xb.Crossbar(), kind="linear", access="sky130"),
     "access='sky130' needs kind='reram'"),
    (lambda: xb.spice_currents(np.full((2, 2), 0.5), np.zeros(2), xb.Crossbar(), engine="vacask", access="sky130"),
     "runs in ngspice only"),
    (lambda: xb.cell_mvm(np.full((2, 2), 20e-6), np.zeros((1, 2)), access="sky130"), "needs solver='spice'"),
])
def test_bad_array_inputs_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()
