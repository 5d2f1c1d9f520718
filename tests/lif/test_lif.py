"""Chain of Garg et al. (LDO + attenuator + DPI LIF) in real ngspice with the sky130 models.

Short transients at high input currents keep the file short; the pulse width and the adaptive pair
are checked through their studies (test_lif_studies.py).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from testbenches.lif.circuit import Biases, Design, LifDesign, Mos, bias_lines, chain_lines, lif_subckt
from spicegen.ngspice import run_netlist
from testbenches.lif.neuron import (REST_BAND, SpikeTrain, at_rest, chain_dc, firing_rate, leak_time, netlist,
                                    settled_below, spike_train)

#: Attenuation tolerance: the unit-cell mirror gives K = 496 (DIBL of the cascodes), 0.8 % low.
K_RTOL = 0.02
#: LDO clamp tolerance (V) over 10-200 uA.
CLAMP_ATOL = 5e-3


def test_sizes_outside_the_sky130_bins_are_refused() -> None:
    with pytest.raises(ValueError, match="bins"):
        lif_subckt(replace(LifDesign(), pw=Mos(0.42e-6, 0.2e-6)))
    with pytest.raises(ValueError, match="capacitor C1"):
        lif_subckt(replace(LifDesign(), c1=-1e-12))


def test_node_names_and_values_are_checked() -> None:
    with pytest.raises(ValueError):
        chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in; .control", thr="thr")
    with pytest.raises(ValueError):
        Biases(vthr=float("nan"))
    assert "Vvthr thr 0 1.2" in bias_lines(Biases())


@pytest.mark.ngspice
@pytest.mark.parametrize("vref", [2.4, 1.0])
def test_attenuation_is_500_and_the_ldo_clamps_at_vref(vref: float) -> None:
    dc = chain_dc([10e-6, 50e-6, 200e-6], biases=Biases(vref=vref))
    np.testing.assert_allclose(dc["k"], 500.0, rtol=K_RTOL)
    np.testing.assert_allclose(dc["clamp_error"], 0.0, atol=CLAMP_ATOL)
    np.testing.assert_allclose(dc["isyn"], [10e-6, 50e-6, 200e-6], rtol=5e-3)


@pytest.mark.ngspice
def test_attenuation_is_500_from_100_na_by_operating_points() -> None:
    """K by one operating point per current down to 100 nA (0.2 nA into the neuron), where a sweep or the
    default sparse solver gave K of -45 ... 2359."""
    currents = [100e-9, 1e-6, 10e-6, 200e-6]
    dc = chain_dc(currents)
    np.testing.assert_allclose(dc["k"], 500.0, rtol=0.1)
    np.testing.assert_allclose(dc["isyn"][1:], currents[1:], rtol=0.02)


def test_supply_charge_meters_are_in_transients_only() -> None:
    """A meter's node has no DC path: in an operating point or a DC sweep it made the matrix singular (ngspice
    fell back to gmin stepping at every ``.op``)."""
    decks = {analysis: netlist([], analysis, biases=Biases(), design=Design())
             for analysis in (".tran 1u 1m", ".op", ".dc Vmem 0 1 0.1")}
    assert "Fqvdda" in decks[".tran 1u 1m"] and "Cqvddl" in decks[".tran 1u 1m"]
    assert all("Fq" not in deck and "q_vdd" not in deck for a, deck in decks.items() if not a.startswith(".tran"))


@pytest.mark.ngspice
def test_f_i_is_superlinear_as_measured_by_garg() -> None:
    """x20 current gives far more than x20 rate (the DPI's input threshold); Garg et al. Fig. 4A: x141."""
    low = firing_rate(10e-6, biases=Biases(vthr=1.8)).rate
    high = firing_rate(200e-6, biases=Biases(vthr=1.8)).rate
    assert high / low > 60


@pytest.fixture(scope="module")
def trains() -> dict[str, object]:
    """DC spike trains: 40 and 200 uA at V_thr = 1.2 V, 200 uA at 0.8 and 1.8 V."""
    runs = {"40u": (40e-6, 1.2, 400e-6), "200u": (200e-6, 1.2, 150e-6),
            "thr08": (200e-6, 0.8, 150e-6), "thr18": (200e-6, 1.8, 150e-6)}
    return {k: spike_train(i, t, biases=Biases(vthr=v)) for k, (i, v, t) in runs.items()}


@pytest.mark.ngspice
def test_rate_rises_with_current(trains: dict) -> None:
    assert trains["40u"].spikes.size >= 2 and trains["200u"].spikes.size >= 3
    assert trains["200u"].rate > 1.5 * trains["40u"].rate


@pytest.mark.ngspice
def test_higher_threshold_lowers_the_rate(trains: dict) -> None:
    assert trains["thr08"].rate > trains["200u"].rate > trains["thr18"].rate


@pytest.mark.ngspice
def test_reset_holds_the_membrane_at_ground_during_each_spike(trains: dict) -> None:
    tr = trains["200u"]
    assert tr.widths.size >= 2
    for start, width in zip(tr.spikes, tr.widths):  # M8 needs ~0.1 us to empty C1
        during = (tr.time > start + 0.5e-6) & (tr.time < start + width - 0.1e-6)
        assert during.any() and np.max(np.abs(tr.mem[during])) < 0.02
    assert np.median(tr.out[tr.out > 1.65]) == pytest.approx(3.3, abs=0.01)  # spike amplitude V_dd


@pytest.mark.ngspice
@pytest.mark.parametrize(("v_start", "biases"), [(1.18, Biases(vtaun=1.35)), (0.0, Biases(vtaup=1.35))])
def test_leak_returns_the_membrane_toward_rest_from_both_sides(v_start: float, biases: Biases) -> None:
    _, tr = leak_time(v_start, biases=biases, t_stop=0.1)
    final = tr.mem[-1]
    # the side with the stronger bias wins near V_rest: it settles (U_T/kappa) ln(I_taun/I_taup) past it
    assert abs(final - biases.vrest) < 0.25
    assert np.all(np.diff(tr.mem) * np.sign(biases.vrest - v_start) > -1e-3)  # monotonic toward rest


def _pulse_response(peaks: np.ndarray, period: float = 0.01, spikes: tuple[float, ...] = ()) -> SpikeTrain:
    """A membrane at 0.6 V that jumps to ``peaks[k]`` at the middle of period k (ten samples a period)."""
    time = np.arange(peaks.size * 10) * period / 10
    mem = np.full(time.size, 0.6)
    mem[5::10] = peaks
    empty = np.array([])
    return SpikeTrain(time, mem, mem, np.array(spikes), empty, 0.0, 0.0)


def test_a_pulse_train_is_silent_only_when_its_peaks_settle_below_threshold():
    k = np.arange(60)
    assert settled_below(_pulse_response(np.full(60, 0.62)), 1.2, 0.01)  # each pulse leaks away: flat
    assert settled_below(_pulse_response(1.0 - 0.4 * 0.9 ** k), 1.2, 0.01)  # geometric, toward 1.0 V
    assert not settled_below(_pulse_response(1.3 - 0.7 * 0.97 ** k), 1.2, 0.01)  # toward 1.3 V: it will fire
    assert not settled_below(_pulse_response(0.6 + 0.01 * k), 1.2, 0.01)  # still rising steadily
    assert not settled_below(_pulse_response(np.full(25, 0.62)), 1.2, 0.01)  # too short to tell
    # only the periods since the last spike count
    after_spike = np.concatenate([np.full(30, 1.19), np.full(20, 0.62)])
    assert not settled_below(_pulse_response(after_spike, spikes=(0.3,)), 1.2, 0.01)
    assert settled_below(_pulse_response(np.concatenate([after_spike, np.full(15, 0.62)]), spikes=(0.3,)), 1.2, 0.01)


def test_a_leak_run_rests_only_when_its_second_half_stays_near_v_rest():
    t = np.linspace(0.0, 0.1, 1001)
    settled = 0.6 + 0.3 * np.exp(-t / 5e-3) + 0.7e-3 * np.sin(2 * np.pi * t / 2e-5)  # leaked, then a ±0.7 mV cycle
    slow = 0.6 + 0.3 * np.exp(-t / 0.5)  # still leaking
    offset = np.full(t.size, 0.6 + 2 * REST_BAND)  # resting, but not at V_rest
    empty = np.array([])
    assert at_rest(SpikeTrain(t, settled, settled, empty, empty, 0.0, 0.0), 0.6)
    assert not at_rest(SpikeTrain(t, slow, slow, empty, empty, 0.0, 0.0), 0.6)
    assert not at_rest(SpikeTrain(t, offset, offset, empty, empty, 0.0, 0.0), 0.6)


@pytest.mark.ngspice
def test_every_input_pulse_of_a_long_train_reaches_the_neuron() -> None:
    """A 0.3 s train of 10 us pulses at 100 Hz with the default time step (a PULSE source lost 2 of these 30):
    the neuron's input ammeter sees each pulse's charge, 40 uA / K x 10 us (K = 500, measured: 0.917 of it)."""
    from testbenches.lif.neuron import pulse_source, _rest, _tran

    b, width, period, t_stop = Biases(), 10e-6, 10e-3, 0.3
    body = [pulse_source("Vin", "in", b, 40e-6, width, period, 0.5 * period, t_stop),
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", b)]
    result = run_netlist(netlist(body, _tran(t_stop), biases=b, design=Design()))
    time, current = np.asarray(result["time"]), np.abs(np.asarray(result["i(vi)"]))
    charges = []
    for start in np.arange(0.5 * period, t_stop - width, period):
        edges = (start - 1e-6, start + width + 1e-6)
        t = np.concatenate(([edges[0]], time[(time > edges[0]) & (time < edges[1])], [edges[1]]))
        charges.append(np.trapezoid(np.interp(t, time, current), t))
    assert len(charges) == 30
    assert np.asarray(charges) / (40e-6 / 500 * width) == pytest.approx(np.ones(30), rel=0.15)


@pytest.mark.ngspice
def test_a_7_us_pulse_keeps_part_of_its_increment_until_the_next_one() -> None:
    """40 uA pulses at 100 Hz from V_rest (Garg et al. Fig. 6B: 7 us pulses fire at 2 Hz, "a small increment at
    every event"): the paths into C1 add up to the change of V_mem, a 15 us pulse adds more than a 7 us one, and
    the down-leak takes back less than a 7 us pulse adds (with the 0.42/1.6 um leak bias it took back all of it)."""
    from testbenches.lif.neuron import pulse_increments

    short, long_ = (pulse_increments(w, pulses=2)[1] for w in (7e-6, 15e-6))
    for row in (short, long_):
        assert abs(row["other"]) < 0.1 * row["rise"]
        assert row["leak_down"] < 0 and row["dpi"] > 0 and row["direct"] > 0
    assert long_["rise"] > 3 * short["rise"]
    assert 0 < -short["leak_down"] < short["dpi"] + short["direct"]
    assert short["kept"] > 0.005  # V: the next pulse starts above where this one did


@pytest.mark.ngspice
def test_two_primaries_sharing_a_regulator_run_past_their_first_spikes() -> None:
    """Fig. 7C with two primaries: the spikes gate their synapses' read line (the former wiring, each OUT driving
    its synapse through a switch it controlled, stopped ngspice at 15.26 ms with "timestep too small")."""
    from testbenches.lif.neuron import adaptive_population

    trains, threshold = adaptive_population(amplitudes=[50e-6, 70e-6], t_stop=0.02,
                                            regulator_biases=Biases(vgain=1.1))
    assert [len(t.spikes) >= 3 for t in trains] == [True, True]
    assert threshold[0] == pytest.approx(0.6, abs=0.01) and threshold.max() > 1.3
    intervals = np.diff(trains[1].spikes)
    assert intervals[-1] > intervals[0]  # the shared threshold rises, so the interval grows
