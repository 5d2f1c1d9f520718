"""The 1D (q, φ) domain-wall model behind the MDWMTJ velocity law, and the polynomial fit."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fitting.mdwmtj.dw_velocity import DWStack, calibrated_values, displacement, fit_velocity, steady_velocity
from spicegen import get_device
from spicegen.calibration import folder

STACK = DWStack()
IC = STACK.depinning_current


def test_pinned_below_depinning_current_and_moving_above():
    v = steady_velocity(STACK, np.array([0.5, 0.9, 0.99, 1.03, 1.2]) * IC)
    assert np.all(v[:3] == 0.0)
    assert np.all(v[3:] > 0.0)
    # the same threshold for the reset direction, and the motion is odd in the current
    vr = steady_velocity(STACK, np.array([-0.99, -1.2]) * IC)
    assert vr[0] == 0.0 and vr[1] == pytest.approx(-v[4], rel=1e-6)


def test_velocity_rises_monotonically_with_current():
    v = steady_velocity(STACK, np.linspace(1.05, 10.0, 15) * IC)
    assert np.all(np.diff(v) > 0)


def test_no_walker_breakdown_saturation_at_dmi_velocity():
    free = replace(STACK, h_pin=0.0)
    currents = np.array([5.0, 20.0, 80.0, 300.0]) * IC
    v = steady_velocity(free, currents, t_end=20e-9)
    assert np.all(np.diff(v) > 0) and np.all(v < free.v_dmi)
    assert v[-1] > 0.9 * free.v_dmi                                   # saturates towards v_D = (π/2) γ D / Ms
    # with the wall-shape anisotropy switched off, the steady state is v_D·x/√(1+x²) [Thiaville 2012]
    no_hk = replace(free, t_fm=1e-15, theta_sh=free.theta_sh * 1e-15 / free.t_fm)  # H_K → 0, same H_SH
    x = no_hk.h_sh(currents) / (no_hk.alpha * no_hk.h_dmi)
    np.testing.assert_allclose(steady_velocity(no_hk, currents, t_end=20e-9),
                               no_hk.v_dmi * x / np.sqrt(1 + x * x), rtol=1e-4)


def test_pulse_displacement_matches_steady_velocity_for_long_pulses():
    i = 4 * IC
    v = steady_velocity(STACK, np.array([i]))[0]
    dq = displacement(STACK, i, 10e-9)
    assert dq == pytest.approx(v * 10e-9, rel=0.03)
    assert displacement(STACK, 0.9 * IC, 5e-9) < STACK.pin_period / 2   # pinned: relaxes back


def test_polynomial_fit_quality_and_device_defaults():
    fit = fit_velocity(STACK)
    assert fit.rel_rmse < 0.02                                         # paper: 1.06 % (vs MuMax3)
    assert fit.nrmse < 0.01
    # the reference is the 1D model, not the polynomial: the residual is structured, not zero
    assert fit.max_rel_error > 1e-4
    # the device defaults are this fit (rounded to 6 digits)
    p = get_device("mdwmtj").defaults
    assert p["ith"] == pytest.approx(fit.ith, rel=1e-5)
    assert p["imax"] == pytest.approx(fit.current_range[1], rel=1e-5)
    i = np.linspace(*fit.current_range, 7)
    np.testing.assert_allclose(p["c0"] + p["c1"] * i + p["c2"] * i * i, fit.c0 + fit.c1 * i + fit.c2 * i * i,
                               rtol=1e-4)


def test_device_defaults_are_the_calibration_file_and_the_fit_reproduces_it():
    import json

    shipped = json.loads((folder() / "mdwmtj.json").read_text())
    defaults = get_device("mdwmtj").defaults
    assert {k: defaults[k] for k in shipped["values"]} == shipped["values"]
    assert calibrated_values(fit_velocity(STACK)) == shipped["values"]
    assert {s["study"] for s in shipped["sources"].values()} == {"dw-velocity"}
