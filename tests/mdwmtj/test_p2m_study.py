"""P²M Monte Carlo study definitions and the CMOS+X weight encoding (real ngspice + openvaf-r)."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from spicegen.devices.mdwmtj import L_FL, RP_SIGMA_1SIGMA, RP_SIGMA_3SIGMA
from testbenches.mdwmtj.mac import (F1_X, MacSpec, event_steps, f1_spec, initial_positions, run_mac, weight_position,
                                 weight_sweep)
from testbenches.mdwmtj.studies import (HELD, JITTER_READINGS, RP_READINGS, bootstrap_values, f2_spread,
                                        percentile_interval, sigma_overrides, spread_intervals, variance_shares,
                                        worst_3sigma)


def _f1_steps(spec: MacSpec) -> np.ndarray:
    steps = event_steps(run_mac(spec))
    return np.array([steps[k][0] for k in range(9)])


def test_cmosx_encodes_the_weight_in_width_and_wall_position():
    spec = f1_spec("cmosx")
    assert all(initial_positions(spec)[f"xw{k}"] == pytest.approx(weight_position(x)) for k, x in enumerate(F1_X))
    both = _f1_steps(spec)
    mid = _f1_steps(MacSpec("cmosx", spec.weights, spec.events, tune=(0.5 * L_FL,) * 9))
    assert np.all(np.diff(both) > 0) and np.all(np.diff(mid) > 0)
    # the MDWMTJ knob widens the dynamic range over the width-only weight (paper: spread ∝ 1/full DR)
    assert both[-1] / both[0] > 1.2 * mid[-1] / mid[0]


def test_cmosx_programmable_range_at_fixed_width_is_30_to_40_percent():
    low, high = (weight_sweep("cmosx", [0.25, 0.75], tune=q) for q in (L_FL, 0.0))
    median = 0.5 * (low + high)
    np.testing.assert_array_less(0.28, (high - low) / median)
    np.testing.assert_array_less((high - low) / median, 0.42)


def test_displacement_per_event_is_smooth_in_the_pulse_width():
    # the write-pulse jitter changes the flat top by about 10 ps: the simulated displacement must follow it
    # smoothly (equal steps for equal increments), not jump with the solver's step placement
    spec = f1_spec("cmos")
    steps = np.array([_f1_steps(replace(spec, t_pulse=spec.t_pulse + dt)) for dt in (0.0, 10e-12, 20e-12)])
    first, second = np.diff(steps, axis=0)
    assert np.all(first > 0) and np.all(second > 0)
    np.testing.assert_allclose(first, second, rtol=0.15)


def test_variance_shares_recover_known_linear_sources():
    rng = np.random.default_rng(3)
    n = 4000
    frame = pd.DataFrame({"vev4_0__width": rng.normal(1e-10, 1e-11, n), "mw4__delvto": rng.normal(0, 0.01, n),
                          "mw4__w": rng.normal(1e-6, 5e-9, n), "xw4__rp": rng.normal(1000, 60, n),
                          "accp__rp": rng.normal(1000, 60, n)})
    frame["dq4"] = (3.0 * (frame["vev4_0__width"] - 1e-10) / 1e-11 + 1.0 * frame["xw4__rp"].sub(1000) / 60
                    + 0.1 * rng.standard_normal(n))
    shares = variance_shares(frame, 4)
    assert shares["jitter"] == pytest.approx(0.9, abs=0.02)
    assert shares["weight_mdwmtj_rp"] == pytest.approx(0.1, abs=0.01)
    assert shares["transistor_vt"] < 0.01 and shares["accumulator"] < 0.01 and shares["residual"] < 0.01


def test_f2_spread_reports_range_and_3sigma_and_refuses_empty_bins():
    d = np.repeat(np.linspace(-0.975, 0.975, 40), 10)
    v = 0.5 + 0.2 * d + np.tile(np.linspace(-0.01, 0.01, 10), 40)
    f2 = f2_spread(d, v)
    full = v.max() - v.min()
    assert f2["worst_spread"] == pytest.approx(0.02 / full)
    assert f2["worst_3sigma"] == pytest.approx(3 * np.std(np.linspace(-0.01, 0.01, 10), ddof=1) / full)
    assert f2["worst_spread_vrd"] == pytest.approx(0.02)                          # in units of V_RD
    assert f2["worst_spread_bound"] == pytest.approx(0.02 / (0.5 - 0.2 * 0.975 - 0.01))  # where the bound is lowest
    assert f2["width"] == 0.01 and f2_spread(d, v, 0.05)["worst_spread"] == pytest.approx(0.02 / full)
    with pytest.raises(ValueError, match="five samples"):
        f2_spread(d[:3], v[:3])


def test_both_readings_of_the_resistance_variation():
    from testbenches.mdwmtj.mac import P2M_F1

    assert RP_READINGS == {"3sigma": RP_SIGMA_3SIGMA, "1sigma": RP_SIGMA_1SIGMA}
    assert sigma_overrides(P2M_F1, {"config": "cmosx"}, RP_SIGMA_3SIGMA) is None      # the device default
    over = sigma_overrides(P2M_F1, {"config": "cmosx"}, RP_SIGMA_1SIGMA)
    assert set(over.values()) == {0.2} and {"accp__rp", "accn__rp", "xw0__rp", "xw8__rp"} <= set(over)
    jitter = sigma_overrides(P2M_F1, {"config": "cmos"}, RP_SIGMA_3SIGMA, JITTER_READINGS["3sigma"])
    assert set(jitter) == {f"vev{k}_0__width" for k in range(9)} and set(jitter.values()) == {0.1 / 3}


def test_vary_keeps_one_source_and_holds_the_others_at_nominal():
    from testbenches.mdwmtj.mac import P2M_F1

    alone = sigma_overrides(P2M_F1, {"config": "cmos"}, RP_SIGMA_3SIGMA, vary="jitter")
    assert not any(name.startswith("vev") for name in alone)                        # jitter: its declared sigma
    width = 0.45 + F1_X[0] * (2.0 - 0.45)                                            # µm
    assert alone["mw0__delvto"] == pytest.approx(HELD * 0.01 / np.sqrt(width * 0.5)) and alone["mw3__w"] == HELD * 5e-9
    assert alone["accp__rp"] == pytest.approx(HELD * RP_SIGMA_3SIGMA)
    rp = sigma_overrides(P2M_F1, {"config": "cmosx"}, RP_SIGMA_1SIGMA, vary="rp")
    assert rp["xw0__rp"] == 0.2 and rp["vev0_0__width"] == pytest.approx(HELD * 0.1)
    with pytest.raises(ValueError, match="'temperature' is not 'all' or one of jitter, vt, w, rp"):
        sigma_overrides(P2M_F1, {"config": "cmos"}, RP_SIGMA_3SIGMA, vary="temperature")


def test_percentile_interval_of_known_values():
    ci = percentile_interval(np.arange(1001.0))
    assert (ci["low"], ci["high"]) == pytest.approx((25.0, 975.0)) and (ci["resamples"], ci["level"]) == (1001, 0.95)
    assert percentile_interval(np.arange(101.0), level=0.5)["low"] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="inside \\(0, 1\\), got 1.5"):
        percentile_interval(np.arange(5.0), level=1.5)
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        bootstrap_values(np.ones((1, 9)), np.mean)


def test_bootstrap_interval_of_the_worst_spread_matches_the_normal_theory():
    # d_NORM ~ N(x, 0.05) at nine weights, 0.1 at the last one: the worst 3σ is 0.3, and the standard error of
    # a normal sample's σ is σ/√(2(n − 1)), so the 95 % interval is about ±1.96 · 0.3/√(2n)
    n = 1000
    rng = np.random.default_rng(7)
    sigma = np.r_[np.full(8, 0.05), 0.1]
    nominal = np.linspace(0.0, 1.0, 9)
    samples = nominal + sigma * rng.standard_normal((n, 9))
    assert worst_3sigma(samples, nominal) == pytest.approx(0.3, rel=0.05)
    ci = spread_intervals({"a": samples, "b": 0.5 * samples + 0.5 * nominal}, {"a": nominal, "b": nominal})
    half = 1.96 * 0.3 / np.sqrt(2 * n)
    assert ci["a"]["low"] < worst_3sigma(samples, nominal) < ci["a"]["high"]
    assert ci["a"]["high"] - ci["a"]["low"] == pytest.approx(2 * half, rel=0.2)
    assert ci["a"]["sigma"] == pytest.approx(0.3 / np.sqrt(2 * n), rel=0.2) and ci["a"]["resamples"] == 1000
    assert ci["b"]["high"] < ci["a"]["low"] and ci["a-b"]["p_greater"] == 1.0
    se = 0.3 / np.sqrt(2 * n)                                 # the two runs are resampled independently
    assert ci["a-b"]["low"] == pytest.approx(worst_3sigma(samples, nominal) / 2 - 1.96 * np.hypot(se, se / 2),
                                             abs=0.003)


def test_f1_tune_option_pins_the_cmosx_weight_mdwmtjs_at_either_end():
    assert f1_spec("cmosx", "p").tune == (0.0,) * 9 and f1_spec("cmosx", "ap").tune == (L_FL,) * 9
    assert f1_spec("cmosx").tune is None
    with pytest.raises(ValueError, match="cmosx"):
        f1_spec("cmos", "ap")
    with pytest.raises(ValueError, match="not one of"):
        f1_spec("cmosx", "half")


def test_f2_spread_of_the_divider_at_low_bias_closed_form():
    """docs/mdwmtj.md §5: at low bias the three-MTJ divider spreads 15.9 % of its range at one d_DIFF (ngspice
    with vh = 10 V: 16.0 %), a resistance linear in q 10.8 % (R_P = 1, TMR 200 %, rhmr 0.4167 R_P)."""
    q = np.linspace(0, 1, 201)
    laws = {"three MTJs in parallel": 1 / (1 - 2 * q / 3) + 0.4167, "linear in q": 1 + 2 * q + 0.4167}
    spreads = {}
    for name, r in laws.items():
        v = r[:, None] / (r[:, None] + r[None, :])          # v[i_pos, i_neg]
        spreads[name] = max(np.ptp(np.diagonal(v, k)) for k in range(-200, 201)) / np.ptp(v)
    assert spreads["three MTJs in parallel"] == pytest.approx(0.159, abs=0.001)
    assert spreads["linear in q"] == pytest.approx(0.108, abs=0.001)
