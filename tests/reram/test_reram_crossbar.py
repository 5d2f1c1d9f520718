"""CMO/HfOx ReRAM crossbar MVM with IR drop (seed 004 Fig. 4f, S6). Real ngspice 46 and openvaf-r; no mocks."""
from __future__ import annotations

import math
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

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
def test_nodal_solver_matches_ngspice_with_wires():
    check = xb.solver_agreement(8, 2, xbar=xb.Crossbar(r_wire=2.0))
    assert check["ir_effect_max"] > 5e-3  # the wires matter at this resistance
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


def test_study_reproduces_paper_trend():
    study = xb.run_study(size=32, vectors=20)
    q = study.rmse["q_ir"]
    assert q["10y"] > q["1d"] > q["1s"]  # relaxation grows in log t
    assert study.rmse["fp_noir"]["prog"] < study.rmse["fp_ir"]["prog"] < q["prog"]  # Fig. S6a ordering


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


@pytest.mark.ngspice
def test_sim_reram_crossbar_json():
    cmd = [sys.executable, "-m", "spicegen.cli", "sim", "reram-crossbar", "--json", "--set", "size=16",
           "--set", "vectors=10", "--set", "check_size=4"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True,
                                    cwd=Path(__file__).resolve().parents[2]).stdout)
    assert set(xb.CROSSBAR_MEASUREMENTS) <= set(out)
    assert out["spice_vs_numpy_rel"] < xb.SOLVER_RTOL
    assert out["rmse_10y"] > out["rmse_1s"]


def test_crossbar_study_without_the_ngspice_check_reports_it_as_missing():
    """check_size = 0 ("skip") still returns every measurement; the skipped check is NaN (null in --json)."""
    out = xb.crossbar_measurements({"size": 8, "vectors": 5, "r_wire": xb.R_WIRE, "study_seed": 0, "check_size": 0})
    assert set(out) == set(xb.CROSSBAR_MEASUREMENTS)
    assert math.isnan(out["spice_vs_numpy_rel"]) and out["rmse_10y"] > out["rmse_1s"]
