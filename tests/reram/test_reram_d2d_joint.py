"""The d2d law of reram_cmo: ``n_lrs`` and ``gam_rst`` lognormal, a pair in the Monte Carlo engine's correlated group
``filament``, fitted jointly to Fig. 2e and Fig. 5c by the study ``reram-d2d`` (``fitting/reram/d2d_joint.py``).
The engine's draws of the pair (every rendering of the cell), the map devices against the engine's, the fit's
residuals, the held-out arrays against the full open-loop protocol, and the shipped extraction against the device
and the adoption rule. The run is the session's shared test run (``conftest.py``: coarse grids). Real ngspice 46;
no mocks."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fitting.reram import d2d_joint
from spicegen import get_device
from spicegen.montecarlo import make_plan
from spicegen.montecarlo.sampling import Sampler, draw_devices
from spicegen.study import _stream_id, get_extraction
from spicegen.testbench import get_testbench
from testbenches.reram.pulse import device_response

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]

PARAMS = d2d_joint.PARAMS
DRAWS = 20_000


def rho_tolerance(rho: float, n: int = DRAWS) -> float:
    """Stated tolerance of a correlation estimated from ``n`` draws: 5 standard errors, (1 - rho^2)/sqrt(n) each
    (0.035 at rho = 0, 0.010 at rho = 0.85 for 20 000 draws)."""
    return 5.0 * (1.0 - rho * rho) / math.sqrt(n)


def _ln_ratios(devices, names=PARAMS, prefix=""):
    nominal = get_device("reram_cmo").defaults
    return np.log([[d[prefix + n] / nominal[n] for n in names] for d in devices])


def test_the_device_declares_the_pair_in_one_correlated_group():
    model = get_device("reram_cmo")
    variations = [model.param(n).variation for n in PARAMS]
    assert all(v.kind == "d2d" and v.distribution == "lognormal" and v.group == d2d_joint.GROUP for v in variations)
    assert d2d_joint.pair_correlation() == pytest.approx(variations[0].correlation * variations[1].correlation)
    assert [p.name for p in model.params if p.variation is not None and p.variation.group == d2d_joint.GROUP] == \
        list(PARAMS)


def test_the_engine_draws_the_pair_with_the_declared_correlation_and_spreads():
    """20 000 devices of the engine's sampler: the ln values correlate with the declared rho, each member has its
    sigma/mu (3 %: about 4 standard errors) and mean = nominal (1 %)."""
    ln = _ln_ratios(draw_devices("reram_cmo", DRAWS, seed=11))
    law = d2d_joint.device_law()
    assert np.corrcoef(ln.T)[0, 1] == pytest.approx(law["rho"], abs=rho_tolerance(law["rho"]))
    k = np.exp(ln)
    assert k.mean(axis=0) == pytest.approx([1.0, 1.0], abs=0.01)
    assert k.std(axis=0) / k.mean(axis=0) == pytest.approx([law[n] for n in PARAMS], rel=0.03)


@pytest.mark.parametrize("flavor", ["twin", "osdi"])
def test_every_rendering_of_the_cell_draws_the_correlated_pair(flavor):
    """``spicegen mc reram-cycling``: both renderings of the cell (B-source twin, compiled Verilog-A) take the pair
    as instance parameters, and the plan's sampler draws it with the declared rho (20 000 samples)."""
    plan = make_plan(get_testbench("reram-cycling"), seed=4, settings={"flavor": flavor})
    point = plan.points[0]
    instance = next(line for line in point.netlist.splitlines() if line.split()[:1] and line[0] in "XN"
                    and "reram_cmo" in line)
    assert all(f"{n}=" in instance for n in PARAMS), instance
    batch = Sampler(point.slots, point.events).draw_batch(4, list(range(DRAWS)))
    ln = _ln_ratios(batch.values, prefix="c__")
    rho = d2d_joint.pair_correlation()
    assert np.corrcoef(ln.T)[0, 1] == pytest.approx(rho, abs=rho_tolerance(rho))


def test_a_correlation_override_reaches_the_plan_and_is_refused_off_a_group():
    plan = make_plan(get_testbench("reram-cycling"), seed=4, correlations={"c__n_lrs": 0.5, "c__gam_rst": 0.5})
    assert plan.definition["correlations"] == {"c__n_lrs": 0.5, "c__gam_rst": 0.5}
    assert "correlations" not in make_plan(get_testbench("reram-cycling"), seed=4).definition  # keys unchanged
    with pytest.raises(ValueError, match="'r__t_ox' of testbench 'reram-forming' is in no correlated group"):
        make_plan(get_testbench("reram-forming"), seed=4, correlations={"r__t_ox": 0.5})
    with pytest.raises(ValueError, match="'t_ox' of 'hfox_forming' has no d2d variation in a correlated group"):
        draw_devices("hfox_forming", 2, seed=1, correlations={"t_ox": 0.5})
    with pytest.raises(ValueError, match="correlation must lie in"):
        draw_devices("reram_cmo", 2, seed=1, correlations={"n_lrs": 1.5})


def test_draws_have_the_asked_spreads_unit_means_and_correlation():
    z = np.random.default_rng(3).standard_normal((40_000, 3))
    coords = d2d_joint.coordinates(z, {"n_lrs": 0.3, "gam_rst": 0.4}, 0.64)
    k = np.exp(coords)
    assert k.mean(axis=0) == pytest.approx([1.0, 1.0], abs=0.01)
    assert k.std(axis=0) / k.mean(axis=0) == pytest.approx([0.3, 0.4], rel=0.03)
    assert np.corrcoef(z[:, 0], coords[:, 0])[0, 1] == pytest.approx(0.8, abs=0.01)  # sqrt(rho) on the factor
    assert np.corrcoef(coords.T)[0, 1] == pytest.approx(0.64, abs=0.01)


def test_map_devices_are_the_engines_devices_at_any_law(tmp_path):
    """Common random numbers: the recovered factor and own normals, mapped with any sigma and rho, give exactly the
    devices the engine draws with that law."""
    from spicegen.study import StudyContext, get_study

    ctx = StudyContext(get_study("reram-d2d"), {}, 9, 2, tmp_path)
    z = d2d_joint.engine_normals(ctx, 50)
    sigma, rho = {"n_lrs": 0.25, "gam_rst": 0.45}, 0.49
    direct = ctx.sample_devices("reram_cmo", 50, stream="map", sigmas=sigma,
                                correlations={n: math.sqrt(rho) for n in PARAMS})
    np.testing.assert_allclose(d2d_joint.coordinates(z, sigma, rho), _ln_ratios(direct), rtol=1e-9, atol=1e-12)


def test_a_correlation_outside_zero_to_one_is_refused_with_the_value():
    with pytest.raises(ValueError, match=r"rho = -0.2: the pair correlation must lie in \[0, 1\]"):
        d2d_joint.coordinates(np.zeros((2, 3)), {"n_lrs": 0.3, "gam_rst": 0.3}, -0.2)


def test_extreme_quantile_is_the_median_of_the_smallest_of_32():
    smallest = np.random.default_rng(4).random((20_000, 32)).min(axis=1)
    assert np.median(smallest) == pytest.approx(d2d_joint.EXTREME_QUANTILE, rel=0.03)


def test_fit_residuals_are_its_statistics_against_the_paper(d2d):
    result = json.loads((d2d / "run" / "result.json").read_text())
    fit, paper = result["data"]["lmfit"], d2d_joint.PAPER
    cal, res = fit["calibration"], fit["residual"]
    assert len(res) == 5 and 0.02 <= fit["value"]["n_lrs"] <= 0.6 and 0.0 <= fit["value"]["rho"] <= 1.0
    assert np.sign(res[0]) == np.sign(cal["R_LRS_rel_std"] - paper["rel_sigma"])
    assert np.sign(res[4]) == np.sign(math.log(cal["n_states_high"] / paper["n_states_high"]))
    assert set(result["data"]["held_out_draw"]) == {"fitted law", "device law"}
    factor = result["data"]["factor_correlation"]
    assert result["measurements"]["rho"] == pytest.approx(factor ** 2)
    written = json.loads((d2d / "run" / "calibration_reram_cmo.json").read_text())
    assert written["variations"]["gam_rst"] == {"sigma": result["measurements"]["sigma_gam_rst"],
                                                "correlation": factor}


def test_spice_devices_are_drawn_with_the_fitted_pair(d2d):
    """The SPICE Monte Carlo of the held-out seed ran exactly the devices the engine draws with the fitted law."""
    from spicegen.montecarlo import load_dataframe

    data = json.loads((d2d / "run" / "result.json").read_text())["data"]
    seed = data["spice"]["held-out"]["seed"]
    frame = load_dataframe(d2d / "run" / "mc" / "held-out").sort_values("sample")
    drawn = draw_devices("reram_cmo", len(frame), seed=seed, sigmas=data["sigma_fitted"],
                         correlations={n: data["factor_correlation"] for n in PARAMS})
    np.testing.assert_allclose(_ln_ratios(frame.to_dict("records"), prefix="c__"),
                               _ln_ratios(drawn), rtol=1e-12)


def test_held_out_arrays_are_the_open_loop_protocol(d2d):
    """Device 1 of the held-out array, re-simulated with the held-out seed's c2c stream, gives the stored figures."""
    result = json.loads((d2d / "run" / "result.json").read_text())
    definition = json.loads((d2d / "run" / "study.json").read_text())["definition"]
    array = result["data"]["arrays"][0]
    assert len(array["n_states"]) == definition["options"]["array_size"] == 2
    m = result["measurements"]
    assert m["array_min"] == min(array["n_states"]) and m["array_max"] == max(array["n_states"])
    seed = definition["options"]["held_out_seed"]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_stream_id("c2c"), 0, 1)))
    again = device_response(array["params"][1], rng)
    assert again["n_states"] == pytest.approx(array["n_states"][1], rel=1e-12)
    assert again["nsr"] == pytest.approx(array["nsr"][1], rel=1e-12)


def test_shipped_d2d_extraction_is_the_device_law_and_meets_the_adoption_rule():
    """The shipped summary (fitting/extractions/reram_d2d) wrote the device's law, and its held-out numbers meet the
    rule fixed before the fit: SPICE read sigma/mu within 0.25 +- 13 %, means within 10 % of Fig. 2e, >= 80 % of
    32-device arrays inside 16-33 +- 30 % by the surrogate, >= 3 of 4 simulated arrays inside."""
    summary = json.loads((get_extraction("reram-d2d").shipped() / "d2d_summary.json").read_text())
    model = get_device("reram_cmo")
    for name, sigma in summary["sigma_fitted"].items():
        assert model.param(name).variation.sigma == sigma
        assert model.param(name).variation.correlation == summary["factor_correlation"]
    held = summary["spice"]["held-out"]
    stats = next(v for k, v in held.items() if k.startswith("spice_"))
    lo, hi = d2d_joint.SPREAD_SPEC
    for m, paper in (("R_LRS", 18e3), ("R_HRS", 256e3)):
        assert stats[m]["n"] >= 200 and lo <= stats[m]["rel_std"] <= hi
        assert stats[m]["mean"] == pytest.approx(paper, rel=0.10)
    assert summary["held_out_draw"]["fitted law"]["held-out"]["arrays_inside"] >= 0.8
    arrays = summary["arrays"]
    assert len(arrays) == 4 and all(len(a["n_states"]) == 32 for a in arrays)
    assert sum(a["inside"] for a in arrays) >= 3


def test_spicegen_mc_takes_a_correlation_override(tmp_path):
    """``spicegen mc reram-cycling --correlation``: at factor correlation 1 both members are the common factor, so
    their standard normals agree (2 SPICE devices)."""
    from cli import spicegen

    from spicegen.montecarlo import load_dataframe

    done = spicegen("mc", "reram-cycling", "--n", "2", "--seed", "3", "--no-progress", "--out", "mc",
                    "--correlation", "c__n_lrs=1", "--correlation", "c__gam_rst=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    frame = load_dataframe(tmp_path / "mc")
    assert (frame["status"] == "ok").all() and (frame["R_LRS"] > 0).all()
    law = d2d_joint.device_law()
    shapes = [math.sqrt(math.log1p(law[n] ** 2)) for n in PARAMS]
    normals = (_ln_ratios(frame.to_dict("records"), prefix="c__") + np.array(shapes) ** 2 / 2) / np.array(shapes)
    np.testing.assert_allclose(normals[:, 0], normals[:, 1], rtol=1e-9)


@pytest.mark.parametrize("shape", [(9,), (17, 15), (6, 7, 5)])
def test_tensor_pchip_is_scipys_grid_pchip(shape):
    """The vectorised tensor PCHIP of the read map and the N_states surrogate equals scipy's
    RegularGridInterpolator(method="pchip") at every point, grid nodes and edges included."""
    from scipy.interpolate import RegularGridInterpolator

    from testbenches.reram.studies import tensor_pchip

    rng = np.random.default_rng(len(shape))
    axes = [np.sort(np.r_[-2.0, 2.0, rng.uniform(-2, 2, n - 2)]) for n in shape]
    values = rng.normal(size=shape)
    points = np.column_stack([rng.uniform(-2, 2, 500) for _ in shape])
    points[:3] = [[a[0] for a in axes], [a[-1] for a in axes], [a[1] for a in axes]]
    expected = RegularGridInterpolator(axes, values, method="pchip")(points)
    np.testing.assert_allclose(tensor_pchip(axes, values, points), expected, rtol=0, atol=1e-12)
