"""The calibrated behavioural twin (ldo_attenuator + lif_neuron, OSDI in ngspice) tracks the transistor-level chain.

The twin's parameters are the device defaults, i.e. the shipped calibration written by the study
``lif-twin`` (``--set ship=yes``); a redesign of the chain makes these tests fail until that study is
re-run. Short runs keep the file near 30 s: the chain is simulated only for about four spikes (ten for the
spike times).
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from fitting.lif.twin import BYPASS_UA, TwinModel, direct_share_law, twin_increments, twin_pulsed, twin_spike_train
from spicegen import get_device
from spicegen.devices.lif_neuron import A_FLOOR, A_SOFT, I_FLOOR, I_REF, V_BAND
from spicegen.netlist import format_instance
from testbenches.lif.circuit import Biases
from testbenches.lif.neuron import membrane_currents, pulse_increments, pulsed_rate, spike_train

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]

#: Rate tolerance of the twin against the chain (relative). The lif-twin study (chain with the long down-leak bias
#: device and its membrane refit, twin with the direct share, current-dependent turn-on and constant-current leak,
#: 2026-12-03) measured at most 1.7 % over its 18 f-I points at 10, 20, 50, 100, 140, 200 uA and +3.5 ... +5.0 % at
#: 30 uA (held out; +25 ... +28 % on the chain before, whose DPI knee was sharper). Was 0.2.
RATE_RTOL = 0.05
#: Spike-time tolerance of the 150 us run at 100 uA and V_thr 0.8 V, in units of the chain's mean
#: inter-spike interval (measured 0.101: the first spike comes 1.19 us early; 0.056 on the chain before the long
#: down-leak bias; 0.20 with the twin whose input stage turned on after a fixed time). Was 0.25.
SHIFT_ISI = 0.15
#: Tolerance of the twin's rate under 40 uA x 15 us pulses at 100 Hz (relative): one input period more or less
#: per spike is 17-20 %; measured equal (16.67 Hz, a spike every 6 periods).
PULSED_RTOL = 0.1

#: Tolerance of the twin's membrane rise per 40 uA input pulse from V_rest (relative). The lif-twin study measured
#: -3.4 % at 7 us (calibration width) and -3.6 % at 12 us (held out) on the first pulse (-4.4 / -3.1 % with the
#: LDO's former Miller compensation).
RISE_RTOL = 0.1

#: Tolerance of the direct share's power law against the chain's M_by current at 15 and 40 uA (relative).
DIRECT_RTOL = 0.08

PARAMS = get_device("lif_neuron").defaults


def _rate(spikes: np.ndarray) -> float:
    return float(1.0 / np.mean(np.diff(spikes)))


@pytest.mark.parametrize(("isyn", "vthr"), [(50e-6, 0.8), (100e-6, 1.2), (200e-6, 1.8)])
def test_twin_rate_tracks_the_chain(isyn: float, vthr: float) -> None:
    biases = Biases(vthr=vthr)
    twin = twin_spike_train(isyn, 200e-6, PARAMS, asdict(biases), vthr)
    assert twin.size >= 3
    t_stop = 1e-6 + 4.5 / _rate(twin)
    chain = spike_train(isyn, t_stop, biases=biases).spikes
    assert chain.size >= 3
    assert _rate(twin) == pytest.approx(_rate(chain), rel=RATE_RTOL)


def test_twin_spike_times_track_the_chain() -> None:
    biases = Biases(vthr=0.8)
    chain = spike_train(100e-6, 150e-6, biases=biases).spikes
    twin = twin_spike_train(100e-6, 150e-6, PARAMS, asdict(biases), biases.vthr)
    assert chain.size >= 3 and abs(twin.size - chain.size) <= 1
    n = min(chain.size, twin.size)
    isi = float(np.mean(np.diff(chain)))
    assert np.max(np.abs(twin[:n] - chain[:n])) <= SHIFT_ISI * isi


def test_twin_is_silent_without_input() -> None:
    assert twin_spike_train(0.0, 100e-6, PARAMS, asdict(Biases()), 0.8).size == 0


@pytest.mark.parametrize(("device", "name", "value"), [("ldo_attenuator", "v_ref", 4.0),
                                                        ("lif_neuron", "c_mem", -1e-12),
                                                        ("lif_neuron", "t_pw", 0.0)])
def test_values_outside_the_range_are_refused_with_the_range(device: str, name: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"parameter '{name}' = {value!r} lies outside its bounds \["):
        format_instance(get_device(device), "x", get_device(device).ports, {name: value}, "osdi")


def test_below_the_dpi_threshold_only_the_direct_share_charges_the_membrane() -> None:
    # numpy rendering of the equations: with the DPI output at 0 and the membrane at V_rest (no leak) the
    # membrane rises at bypass*I_in*((I_in + 1 pA)/100 nA)^(q - 1)*sat(v_rest)/C_mem
    twin = TwinModel({"bypass": 0.4, "q_bypass": 0.9, "i_tau": 1e-6, "k_soft": 1e-3}, k=1.0)
    p = twin.params
    i_in = np.array([1e-9, 30e-9, 300e-9])
    fade = 1 / (1 + np.exp((p["v_rest"] - p["v_gain"]) / p["v_sat"]))
    expected = 0.4 * i_in * ((i_in + I_FLOOR) / I_REF) ** -0.1 * fade / p["c_mem"]
    rates = [float(twin._evaluate(i, 0.0, p["v_rest"], 0.0)["v_mem"]) for i in i_in]
    assert rates == pytest.approx(expected, rel=1e-9)
    assert twin.dpi_target(300e-9) == 0.0  # I_in = 300 nA is below I_tau = 1 uA: no DPI output
    assert float(twin._evaluate(0.0, 0.0, p["v_rest"], 0.0)["v_mem"]) == 0.0  # no input: at rest


def test_the_chains_direct_share_follows_the_twins_power_law() -> None:
    # M_by's current into C1 (operating points, membrane at the reset level 0 V, where the twin's fade is 1):
    # the law fitted over the study's currents (measured: q 0.898, worst 13.3 % at 200 uA) predicts it between them
    grid = membrane_currents([i * 1e-6 for i in BYPASS_UA], 0.0)
    law = direct_share_law(grid["i_neuron"], grid["i_bypass"])
    assert 0.8 < law["q_bypass"] < 1.0 and law["worst"] < 0.15
    check = membrane_currents([15e-6, 40e-6], 0.0)
    i_in = check["i_neuron"]
    predicted = law["bypass"] * i_in * (i_in / I_REF) ** (law["q_bypass"] - 1)
    assert predicted == pytest.approx(check["i_bypass"], rel=DIRECT_RTOL)
    assert np.all(check["i_dpi"][:1] < 1e-9) and check["i_dpi"][1] > 100e-9  # 15 uA below the DPI's threshold


def test_twin_rate_under_input_pulses_tracks_the_chain() -> None:
    # 40 uA x 15 us pulses at 100 Hz for 0.3 s (Garg et al. Fig. 6B): the twin's input stage turns on as the
    # chain's DPI does and its leak is the chain's constant current, so both fire every 6th pulse
    biases = Biases()
    chain = pulsed_rate(width=15e-6, biases=biases, t_first=0.3, spikes=0)
    twin = twin_pulsed(15e-6, 0.3, PARAMS, asdict(biases))
    assert chain.spikes.size >= 3 and twin.size >= 3
    assert _rate(twin) == pytest.approx(chain.rate, rel=PULSED_RTOL)


def test_the_input_stage_turns_on_faster_the_more_the_input_exceeds_i_tau() -> None:
    # numpy rendering: from rest the activation slews at (A_FLOOR + (I_in/I_tau - 1)+)/t_on toward 1, so the delay
    # before the DPI follows the input scales like I_tau/(I_in - I_tau), as the chain's C_syn slewing does
    twin = TwinModel({"i_tau": 50e-9, "t_on": 2e-6}, k=1.0)
    p = twin.params
    for i_in, excess in ((20e-9, 0.0), (100e-9, 1.0), (250e-9, 4.0)):
        rate = float(twin._evaluate(i_in, 0.0, p["v_rest"], 0.0)["a_in"])
        assert rate == pytest.approx((A_FLOOR + excess) / 2e-6 * np.tanh(1 / A_SOFT), rel=1e-9)


@pytest.mark.parametrize("width", [7e-6, 12e-6])
def test_twin_rise_per_input_pulse_tracks_the_chain(width: float) -> None:
    # one 40 uA pulse from V_rest, no spike (Garg et al. Fig. 6B): the DPI's late, sharp turn-on sets how much of a
    # short pulse reaches the membrane; 7 us is a calibration width of the twin, 12 us held out
    chain = pulse_increments(width, pulses=1)[0]["kept"]
    twin = twin_increments(width, 1, PARAMS, asdict(Biases()))[0]
    assert twin == pytest.approx(chain, rel=RISE_RTOL)


def test_the_down_leak_is_a_constant_current_beyond_its_band() -> None:
    # no input: above V_rest + V_BAND the membrane slews down at V_BAND/t_down wherever it is; inside the band and
    # below V_rest the leak is linear (a DC solve starting at 0 V lands on V_rest in one Newton step)
    twin = TwinModel({}, k=1.0)
    p = twin.params
    v = p["v_rest"] + np.array([0.1, 0.5, 1.0, 0.5 * V_BAND, -0.3])
    rates = twin._evaluate(0.0, 0.0, v, 0.0)["v_mem"]
    slew = V_BAND / p["t_down"]
    assert rates == pytest.approx([-slew, -slew, -slew, -0.5 * slew, 0.3 / p["t_up"]], rel=1e-9)
