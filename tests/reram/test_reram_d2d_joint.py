"""The joint d2d fit of reram_cmo to Fig. 2e and Fig. 5c (study ``reram-d2d-joint``): the correlated draws, the
fit's residuals against its own statistics, the held-out arrays against the full open-loop protocol. The run is
the session's shared test run (``conftest.py``: coarse grid). Real ngspice 46; no mocks."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fitting.reram import d2d_joint
from testbenches.reram.pulse import device_response

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]


def test_draws_have_the_asked_spreads_unit_means_and_correlation():
    z = np.random.default_rng(3).standard_normal((40_000, 3))
    coords = d2d_joint.coordinates(z, {"n_lrs": 0.3, "gam_rst": 0.4}, 0.64)
    k = np.exp(coords)
    assert k.mean(axis=0) == pytest.approx([1.0, 1.0], abs=0.01)
    assert k.std(axis=0) / k.mean(axis=0) == pytest.approx([0.3, 0.4], rel=0.03)
    assert np.corrcoef(z[:, 0], coords[:, 0])[0, 1] == pytest.approx(0.8, abs=0.01)  # sqrt(rho) on the factor
    assert np.corrcoef(coords.T)[0, 1] == pytest.approx(0.64, abs=0.01)


def test_a_correlation_outside_zero_to_one_is_refused_with_the_value():
    with pytest.raises(ValueError, match=r"rho = -0.2: the pair correlation must lie in \[0, 1\]"):
        d2d_joint.coordinates(np.zeros((2, 3)), {"n_lrs": 0.3, "gam_rst": 0.3}, -0.2)


def test_extreme_quantile_is_the_median_of_the_smallest_of_32():
    smallest = np.random.default_rng(4).random((20_000, 32)).min(axis=1)
    assert np.median(smallest) == pytest.approx(d2d_joint.EXTREME_QUANTILE, rel=0.03)


def test_fit_residuals_are_its_statistics_against_the_paper(d2d_joint_run):
    result = json.loads((d2d_joint_run / "run" / "result.json").read_text())
    fit, paper = result["data"]["fit"], d2d_joint.PAPER
    cal, res = fit["calibration"], fit["residual"]
    assert len(res) == 5 and 0.02 <= fit["value"]["n_lrs"] <= 0.6 and 0.0 <= fit["value"]["rho"] <= 1.0
    assert np.sign(res[0]) == np.sign(cal["R_LRS_rel_std"] - paper["rel_sigma"])
    assert np.sign(res[4]) == np.sign(math.log(cal["n_states_high"] / paper["n_states_high"]))
    assert set(result["data"]["held_out_draw"]) == {"fitted law", "device law"}


def test_held_out_arrays_are_the_open_loop_protocol(d2d_joint_run):
    """Device 1 of the held-out array, re-simulated with the study's c2c stream, gives the stored figures of merit."""
    from spicegen.study import _stream_id

    result = json.loads((d2d_joint_run / "run" / "result.json").read_text())
    definition = json.loads((d2d_joint_run / "run" / "study.json").read_text())["definition"]
    array = result["data"]["arrays"][0]
    assert len(array["n_states"]) == definition["n"] == 2
    m = result["measurements"]
    assert m["array_min"] == min(array["n_states"]) and m["array_max"] == max(array["n_states"])
    rng = np.random.default_rng(np.random.SeedSequence(definition["seed"], spawn_key=(_stream_id("c2c"), 0, 1)))
    again = device_response(array["params"][1], rng)
    assert again["n_states"] == pytest.approx(array["n_states"][1], rel=1e-12)
    assert again["nsr"] == pytest.approx(array["nsr"][1], rel=1e-12)
