"""SOT MDWMTJ compact model and the P²M MAC, with the real ngspice / openvaf-r (no mocks)."""
from __future__ import annotations

import numpy as np
import pytest

from spicegen import get_device
from spicegen.devices.mdwmtj import L_FL
from testbenches.core.equivalence import check_device
from testbenches.mdwmtj.device import run_pulse, run_rq
from testbenches.mdwmtj.mac import MacSpec, fig5_spec, run_mac, velocity

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]

MODEL = get_device("mdwmtj")
P = MODEL.defaults


def test_equivalence_numpy_twin_osdi():
    report = check_device(MODEL, points=12, vacask=False)
    assert report.passed, report.format_table()
    worst = report.worst()
    assert worst[("tran", "twin~osdi")].error <= 1e-6
    assert worst[("tran", "numpy-ode~twin")].error <= 1e-3


@pytest.mark.parametrize("flavor", ["osdi", "twin"])
def test_resistance_ends_monotone_and_tmr_rolloff(flavor):
    r = run_rq(bias=(0.005, 0.2, 0.5, 0.8), flavor=flavor)
    r_mtj = r["r_mtj"]
    assert r_mtj[0, 0] == pytest.approx(P["rp"], rel=1e-2)          # R(0) = R_P
    assert r_mtj[0, -1] == pytest.approx(3 * P["rp"], rel=1e-2)     # R(l_FL) = R_AP = 3 R_P (TMR 200 %)
    assert np.all(np.diff(r_mtj, axis=1) > 0)                       # strictly monotone in q, every bias
    assert np.all(np.diff(r["tmr"]) < 0)                            # TMR falls with bias
    # non-linear in q: the mid-point resistance is far from the linear interpolation
    mid = r_mtj[0, len(r["q"]) // 2]
    assert mid < 0.9 * 0.5 * (r_mtj[0, 0] + r_mtj[0, -1])
    # heavy-metal series part in the full T3-T2 resistance
    assert r["r_total"][0, 0] == pytest.approx(P["rp"] + P["rhmr"], rel=1e-2)


def test_subthreshold_current_held_for_1ms_moves_nothing():
    ith = P["ith"]
    p = run_pulse([0.95 * ith, -0.95 * ith, 0.0], width=1e-3, q0=0.5 * L_FL)
    assert np.all(np.abs(p["dq"]) < 1e-13)          # 0 to solver precision (range: 5e-7 m)
    # a read current whose heavy-metal share stays below threshold does not move it either
    r_read = 1.0 / (1.0 / P["rp"] + 0.5 * (1.0 / (3.0 * P["rp"]) - 1.0 / P["rp"])) + P["rhmr"]  # at q = l/2
    p = run_pulse([0.0], width=1e-3, q0=0.5 * L_FL, read_bias=0.9 * ith / P["krd"] * r_read)
    assert abs(p["dq"][0]) < 1e-13


def test_long_reset_pulse_returns_q_to_zero_exactly():
    p = run_pulse([-200e-6, -60e-6], width=10e-9, q0=L_FL)
    assert np.all(np.abs(p["q"][:, -1]) < 1e-20)


def test_displacement_per_pulse_follows_the_velocity_law_both_ways():
    currents = np.array([60e-6, 100e-6, 200e-6, -100e-6])
    p = run_pulse(currents, width=0.5e-9, q0=0.5 * L_FL)
    expected = np.array([velocity(i, P) for i in currents]) * 0.5e-9
    np.testing.assert_allclose(p["dq"], expected, rtol=0.03)
    assert p["dq"][3] == pytest.approx(-p["dq"][1], rel=1e-6)        # symmetric in direction


def test_mac_sign_behaviour_and_reset():
    ev = tuple(((0.1e-3, 0.5e-3),) * 9)
    pos = run_mac(MacSpec(config="cmos", weights=(0.5, 0.8, 0, 0, 0, 0, 0, 0, 0), events=(ev,))).measurements
    neg = run_mac(MacSpec(config="cmos", weights=(-0.5, -0.8, 0, 0, 0, 0, 0, 0, 0), events=(ev,))).measurements
    assert pos["q_pos_0"] > 0.05 * L_FL and pos["q_neg_0"] == pytest.approx(0.0, abs=1e-15)
    assert neg["q_neg_0"] > 0.05 * L_FL and neg["q_pos_0"] == pytest.approx(0.0, abs=1e-15)
    assert pos["q_pos_0"] == pytest.approx(neg["q_neg_0"], rel=0.02)  # matched accumulators
    for m in (pos, neg):
        assert m["q_pos_rst_0"] == pytest.approx(0.0, abs=1e-15)
        assert m["q_neg_rst_0"] == pytest.approx(0.0, abs=1e-15)
    assert pos["v_pre_0"] > neg["v_pre_0"]                          # pre-activation follows d_POS - d_NEG
    # larger weight -> larger displacement (CMOS width)
    small = run_mac(MacSpec(config="cmos", weights=(0.2, 0, 0, 0, 0, 0, 0, 0, 0), events=(ev,))).measurements
    big = run_mac(MacSpec(config="cmos", weights=(1.0, 0, 0, 0, 0, 0, 0, 0, 0), events=(ev,))).measurements
    assert big["q_pos_0"] > 1.5 * small["q_pos_0"] > 0


@pytest.mark.parametrize("config", ["cmosx", "mdwmtj"])
def test_reprogramming_weights_and_threshold_gives_a_spike(config):
    m = run_mac(fig5_spec(config)).measurements
    assert m["spike_0"] == 0.0 and m["v_pre_0"] < m["v_th_0"]
    assert m["spike_1"] == 1.0 and m["v_pre_1"] > m["v_th_1"]
    assert m["q_th_1"] == pytest.approx(0.05 * L_FL, abs=2e-9)      # threshold device programmed
    assert m["v_th_1"] < m["v_th_0"]
    assert (m["q_pos_1"] - m["q_neg_1"]) > (m["q_pos_0"] - m["q_neg_0"])
    for i in (0, 1):
        assert m[f"q_pos_rst_{i}"] == pytest.approx(0.0, abs=1e-15)
        assert m[f"q_neg_rst_{i}"] == pytest.approx(0.0, abs=1e-15)


def test_accumulators_hold_between_events_and_across_the_read():
    run = run_mac(MacSpec(config="mdwmtj"))
    t, q = run.waves["time"], run.waves["accp.q"] * L_FL
    # between 0.9 ms and the end of the window no event fires: q is flat
    sel = (t > 0.91e-3) & (t < 1e-3)
    assert np.ptp(q[sel]) < 1e-15
    # and the read phase (divider current through the HM) does not disturb it
    sel = (t > 1e-3) & (t < 1e-3 + 0.99e-6)
    assert np.ptp(q[sel]) < 1e-15


def test_registered_testbenches_run_through_the_engine():
    from spicegen.montecarlo import make_plan, simulate
    from testbenches.mdwmtj.device import MDWMTJ_PULSE, MDWMTJ_RQ
    from testbenches.mdwmtj.mac import P2M_F2

    rq = simulate(make_plan(MDWMTJ_RQ, seed=0))
    assert rq["ap_over_p"] == pytest.approx(3.0, rel=1e-2) and rq["r_p"] == pytest.approx(P["rp"], rel=1e-2)
    assert rq["monotone"] == 1.0 and rq["tmr_falls"] == 1.0
    pulse = simulate(make_plan(MDWMTJ_PULSE, seed=0))
    assert abs(pulse["dq_020ua"]) < 1e-15                              # below ith = 31.5 uA
    assert pulse["dq_m100ua"] == pytest.approx(-pulse["dq_100ua"], rel=1e-9)
    f2 = simulate(make_plan(P2M_F2, seed=0))                             # nominal: both walls at l/2
    assert f2["v_pre"] == pytest.approx(0.5, abs=1e-9)


def test_spread_definitions_of_the_mc_study():
    from testbenches.mdwmtj.studies import f1_spread, f2_spread

    nominal = np.linspace(10e-9, 30e-9, 9)
    samples = np.vstack([nominal, nominal + 2e-9, nominal - 2e-9])  # ±2 nm on a 20 nm dynamic range
    s = f1_spread(samples, nominal)
    assert s["worst_range"] == pytest.approx(0.2) and s["dynamic_range_ratio"] == pytest.approx(3.0)
    d = np.repeat(np.linspace(-0.975, 0.975, 40), 10)
    v = 0.5 + 0.2 * d + np.tile(np.linspace(-0.01, 0.01, 10), 40)
    f2 = f2_spread(d, v)
    assert f2["worst_spread"] == pytest.approx(0.02 / (v.max() - v.min()))
    assert np.all(np.asarray(f2["lower_bound"]) <= np.asarray(f2["upper_bound"]))
