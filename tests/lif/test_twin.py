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

from fitting.lif.twin import twin_spike_train
from spicegen import get_device
from spicegen.netlist import format_instance
from testbenches.lif.circuit import Biases
from testbenches.lif.neuron import spike_train

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]

#: Rate tolerance of the twin against the chain (relative). The lif-twin study (chain with the goal-weighted
#: membrane calibration, 2026-12-03) measured -16.9 %, +11.6 % and +6.5 % at the three points below and at most
#: 60 % over its 21 f-I points (the worst at 20 and 30 uA, on the chain's sharp knee, which the gain law does not
#: follow).
RATE_RTOL = 0.2
#: Spike-time tolerance of the 150 us run at 100 uA and V_thr 0.8 V, in units of the chain's mean
#: inter-spike interval (measured 0.20: the first spike comes 2.3 us late, the intervals agree within 0.7 %;
#: 0.078 with the twin of the chain before that calibration). At 40 uA the twin fires 4 spikes where the chain
#: fires 5 in 300 us.
SHIFT_ISI = 0.25

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
