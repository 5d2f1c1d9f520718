"""Experiments of Garg et al. on the transistor-level chain: f-I, synaptic read, pulse width, leak and rest level,
pulsed input, adaptive pair and population, power of each block.

Each runner builds a netlist with :mod:`testbenches.lif.circuit`, runs it in ngspice and returns
named measurements (floats, SI units). Conventions:

- ``isyn`` is the synaptic read current I_syn = (V_in - V_ref) / R_IC set by the input source
  (R_IC = 10 kOhm [Garg et al. §III.A, §III.B]); the current that actually reaches the neuron is measured.
- Between input pulses V_in rests ``V_IDLE`` below V_ref, so the LDO is off and no current flows.
- A spike is a rising crossing of V_dd/2 by OUT; its width is measured at V_dd/2 [Garg et al. §III.B].
- A firing rate is 1 / mean inter-spike interval from the first spike on (the first spike starts
  from V_rest, every later one from the reset level 0 V).
- Power is the supply charge over the run (a charge meter in the netlist) times V_dd over time.
- Every netlist is built from biases and sizes that pass :func:`testbenches.lif.checks.check_biases`
  and :func:`testbenches.lif.checks.check_design`: a bias outside 0 ... V_dd, a V_ref outside the LDO's
  range or a size <= 0 is refused with its value and the valid range.

The studies of :mod:`testbenches.lif.studies` run these (``spicegen study run lif-fi`` ... and
``spicegen study run lif-report`` for everything with the report).
"""
from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np

from spicegen.measure import crossings, pulse_widths, spike_times
from spicegen.naming import check_value, format_number
from spicegen.ngspice import SimResult, run_netlist

from testbenches.lif.checks import check_biases, check_design, check_positive
from testbenches.lif.circuit import (LDO_BIASES, Biases, Design, R_IC, bias_lines, chain_lines, ldo_subckt,
                                     model_lines, supply_lines)

__all__ = [
    "V_IDLE",
    "step_source",
    "pulse_source",
    "SpikeTrain",
    "settled_below",
    "at_rest",
    "netlist",
    "chain_dc",
    "held_vopa",
    "corner_biases",
    "LoopGain",
    "ldo_loop_gain",
    "spike_train",
    "firing_rate",
    "read_train",
    "window_rate",
    "rest_levels",
    "block_power",
    "membrane_currents",
    "pulse_width",
    "leak_time",
    "pulsed_rate",
    "pulse_increments",
    "adaptive_pair",
    "adaptive_population",
    "idle_power",
]

#: Input level between pulses, below V_ref (V): keeps M1 off so no current reaches the neuron.
V_IDLE = 0.1
#: Simulator options: tight tolerances because the leak currents are picoamperes, and the KLU solver:
#: with ngspice's default SPARSE 1.3 the operating point of the chain gives the nanoampere branch
#: currents wrong (K = -45 at 1 uA, -2359 at 10 uA, measured); KLU gives 495 and 496. ``gmin``: ngspice
#: puts gmin across every junction (default 1e-12 S, i.e. 3 pA at 3 V), which at V_taun 1.0 V is three
#: times the 0.9 pA of the leak bias device and set the slow leak (measured); 1e-15 S leaves the devices.
OPTIONS = ".options klu reltol=1e-4 abstol=1e-15 chgtol=1e-17 gmin=1e-15"
#: Edge time of the input source (s).
EDGE = 50e-9
#: Number of time steps a transient is cut into at most (its TMAX).
STEPS = 1000
#: Shortest output pulse that counts as a spike (s). When V_mem reaches V_thr slowly, some time-step
#: sequences of ngspice let the latch start to flip and fall back: an 8 ns runt on ``out`` that takes
#: V_mem down by 46 mV and no refractory period (measured at 10 uA, V_thr 1.2 V, with the time step
#: t_stop/1000 of an 8 ms run; not at 7.2 or 16 ms). The timer's pulses last microseconds (Fig. 4E).
MIN_SPIKE = 100e-9


@dataclass(frozen=True)
class SpikeTrain:
    """Waveforms and spikes of one transient.

    Attributes
    ----------
    time, mem, out : numpy.ndarray
        Scale (s), membrane V_mem and output OUT (V).
    spikes : numpy.ndarray
        Rising crossings of V_dd/2 by OUT (s).
    widths : numpy.ndarray
        Widths of the complete output pulses at V_dd/2 (s).
    energy_lif, energy_ldo : float
        Charge delivered by the neuron / LDO supply times V_dd (J).
    """

    time: np.ndarray
    mem: np.ndarray
    out: np.ndarray
    spikes: np.ndarray
    widths: np.ndarray
    energy_lif: float
    energy_ldo: float

    @property
    def duration(self) -> float:
        """Simulated time span (s)."""
        return float(self.time[-1] - self.time[0])

    @property
    def rate(self) -> float:
        """1 / mean ISI (Hz); NaN with fewer than two spikes."""
        return float(1.0 / np.mean(np.diff(self.spikes))) if self.spikes.size >= 2 else math.nan

    @property
    def isi(self) -> np.ndarray:
        """Inter-spike intervals (s)."""
        return np.diff(self.spikes)


def netlist(body: Sequence[str], analysis: str, *, biases: Biases, design: Design, thr: bool = True) -> str:
    """Complete netlist: models, supplies ``vdda`` (LDO) / ``vddl`` (neuron), with charge meters in a transient
    (:func:`~testbenches.lif.circuit.supply_lines`), biases, body.

    ``thr`` adds the threshold source on node ``thr`` (V_thr); leave it out when the body drives it.

    Raises
    ------
    ValueError
        If a bias lies outside 0 ... V_dd, V_ref outside the LDO's range, or a size is not > 0.
    """
    check_biases(biases)
    check_design(design)
    biases = corner_biases(biases, design)
    meter = analysis.lstrip().lower().startswith(".tran")
    lines = ["LIF chain (Garg et al.)", *model_lines(design), *supply_lines("vdda", biases.vdd, meter),
             *supply_lines("vddl", biases.vdd, meter), *bias_lines(biases, vthr=thr), *body, OPTIONS, analysis,
             ".end"]
    return "\n".join(lines) + "\n"


def _tran(t_stop: float) -> str:
    t_stop = check_value(t_stop, "t_stop")
    if t_stop <= 0:
        raise ValueError(f"t_stop must be > 0 s, got {t_stop!r}")
    return f".tran {format_number(t_stop / STEPS)} {format_number(t_stop)}"


def _vin(biases: Biases, isyn: float, r_syn: float = R_IC) -> float:
    """Input voltage that drives ``isyn`` through ``r_syn`` into a node clamped at V_ref."""
    return biases.vref + check_value(isyn, "isyn") * r_syn


def _rest(node: str, biases: Biases) -> str:
    """Start the membrane ``node`` of a transient at V_rest (the neuron's resting state)."""
    return f".ic v({node})={format_number(biases.vrest)}"


def _train(result: SimResult, vdd: float, tag: str = "") -> SpikeTrain:
    """The spike train of the chain with tag ``tag`` (nodes ``mem<tag>`` and ``out<tag>``; the energies are
    those of the shared supplies)."""
    t, out = result["time"], result[f"out{tag}"]
    return SpikeTrain(time=t, mem=result[f"mem{tag}"], out=out, spikes=spike_times(t, out, vdd / 2, MIN_SPIKE),
                      widths=pulse_widths(t, out, vdd / 2, MIN_SPIKE), energy_lif=float(result["q_vddl"][-1]) * vdd,
                      energy_ldo=float(result["q_vdda"][-1]) * vdd)


# ----------------------------------------------------------------------------- DC: LDO + attenuator

def chain_dc(isyn: Sequence[float], *, biases: Biases = Biases(), design: Design = Design()) -> dict[str, np.ndarray]:
    """LDO clamp and attenuation over DC input currents.

    One operating point per current (a sweep interpolated between its points put K at 53 at 1 uA).
    The neuron loads the attenuator; its membrane is held at V_rest by a source (a DC sweep of the
    free neuron would have to pick one of several operating points of an oscillator).

    Parameters
    ----------
    isyn
        Nominal synaptic currents (A), each > 0.
    biases, design
        Bias voltages and sizes.

    Returns
    -------
    dict
        ``isyn`` (A, measured through R_IC), ``i_neuron`` (A, into the attenuator output),
        ``k`` = isyn / i_neuron, ``clamp_error`` = V(syn) - V_ref (V), ``p_ldo`` (W).
    """
    currents = np.asarray([check_value(i, "isyn") for i in isyn], dtype=float)
    if currents.size == 0 or np.any(currents <= 0):
        raise ValueError("isyn needs at least one current, all > 0 A")
    points = [_chain_op(i, biases, design) for i in currents]
    i_syn = np.array([p["isyn"] for p in points])
    i_neuron = np.array([p["i_neuron"] for p in points])
    return {"isyn": i_syn, "i_neuron": i_neuron, "k": i_syn / i_neuron,
            "clamp_error": np.array([p["clamp_error"] for p in points]),
            "p_ldo": np.array([p["p_ldo"] for p in points])}


def _chain_op(isyn: float, biases: Biases, design: Design) -> dict[str, float]:
    """One operating point of the chain at ``isyn`` (its own ``.op``, no sweep to interpolate)."""
    body = [f"Vin in 0 {format_number(_vin(biases, isyn))}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f"Vmem mem 0 {format_number(biases.vrest)}"]
    r = run_netlist(netlist(body, ".op", biases=biases, design=design))
    syn = float(r["syn"][0])
    return {"isyn": (float(r["in"][0]) - syn) / R_IC, "i_neuron": float(r["i(vi)"][0]),
            "clamp_error": syn - biases.vref, "p_ldo": -float(r["i(vvdda)"][0]) * biases.vdd}


def corner_biases(biases: Biases, design: Design) -> Biases:
    """The biases a netlist of ``design`` uses: ``biases``, with V_opa from :func:`held_vopa` away from tt when
    ``design.ldo_bias`` is ``"held"``.

    Raises
    ------
    ValueError
        If ``design.ldo_bias`` is neither ``"held"`` nor ``"table"``.
    """
    if design.ldo_bias not in LDO_BIASES:
        raise ValueError(f"ldo_bias must be 'held' or 'table', got {design.ldo_bias!r}")
    if design.corner == "tt" or design.ldo_bias == "table":
        return biases
    # only the LDO's own biases set its supply power: one bisection per corner and LDO bias, not per neuron bias
    ldo = Biases(vdd=biases.vdd, vref=biases.vref, vopa=biases.vopa)
    return replace(biases, vopa=_held_vopa(replace(design, ldo_bias="table"), ldo))


@dataclass(frozen=True)
class LoopGain:
    """Loop gain T(f) of the LDO, opened at its OTA's input (negative feedback: T > 0 at low frequency)."""

    frequency: np.ndarray
    gain: np.ndarray

    @property
    def phase(self) -> np.ndarray:
        """Unwrapped phase of T (degrees), starting within ±180° of 0."""
        phase = np.degrees(np.unwrap(np.angle(self.gain)))
        return phase - 360.0 * np.round(phase[0] / 360.0)

    def _crossing(self) -> int | None:
        """Index of the last frequency point before |T| falls through 1 for good."""
        above = np.abs(self.gain) > 1.0
        falls = np.flatnonzero(above[:-1] & ~above[1:])
        return int(falls[-1]) if falls.size else None

    @property
    def crossover(self) -> float:
        """Frequency (Hz) where |T| last falls through 1; NaN if it never exceeds 1."""
        k = self._crossing()
        return math.nan if k is None else float(self.frequency[k])

    @property
    def phase_margin(self) -> float:
        """180° plus the phase at the crossover (degrees): > 0 for a stable loop, ≥ 45° for a well-damped one."""
        k = self._crossing()
        return math.nan if k is None else float(180.0 + self.phase[k])


def ldo_loop_gain(isyn: float, *, r_syn: float = R_IC, biases: Biases = Biases(), design: Design = Design(),
                  f_start: float = 1e2, f_stop: float = 1e10) -> LoopGain:
    """The LDO's loop gain while it reads ``isyn`` (A) through ``r_syn`` (ohm), by an ``.ac`` analysis.

    The loop is opened at the OTA's (+) input (:data:`~testbenches.lif.circuit.LDO_OPEN_SUBCKT`): 1 GΩ
    from ``syn`` closes it for the operating point and 1 F injects the test signal above 1 nHz, so
    T = -v(syn) / v(fb). The neuron loads the attenuator with its membrane held at V_rest (as
    :func:`chain_dc` does).
    """
    r_syn = check_positive("r_syn (ohm)", r_syn, "ohm")
    body = [f"Vin in 0 {format_number(_vin(biases, isyn, r_syn))}",
            *ldo_subckt(design.ldo, design.attenuator, open_loop=True),
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr", r_syn=r_syn, open_loop=True),
            "Rbreak syn fb 1e9", "Cinject fb inject 1", "Vinject inject 0 DC 0 AC 1",
            f"Vmem mem 0 {format_number(biases.vrest)}"]
    analysis = f".ac dec 40 {format_number(f_start)} {format_number(f_stop)}"
    r = run_netlist(netlist(body, analysis, biases=biases, design=design))
    return LoopGain(frequency=np.real(r["frequency"]), gain=-r["syn"] / r["fb"])


#: Read current (A) at which :func:`held_vopa` compares the LDO's supply power.
HOLD_CURRENT = 10e-6


def held_vopa(design: Design, biases: Biases = Biases(), tolerance: float = 1e-4) -> float:
    """V_opa (V) at which the LDO at ``design.corner`` draws the supply power it draws at tt with ``biases``.

    V_opa biases the LDO's OTA through the gate of a PMOS, so at a fixed V_opa its current follows
    that device's threshold: at Table I's 2.4 V the OTA current spans 0.26 µA (sf) to 7.6 µA (fs), and
    with it the loop's second pole and compensation zero, so the LDO oscillates at ff, fs, ss and sf.
    Re-tuning the bias as one does on the paper's test board (its biases come from a PCB) holds the
    loop at its tt operating point. Bisection on operating points at :data:`HOLD_CURRENT`; tt returns
    ``biases.vopa``.

    Raises
    ------
    ValueError
        If no V_opa between 0 and V_dd gives the tt power.
    """
    if design.corner == "tt":
        return biases.vopa

    def power(vopa: float, corner: str) -> float:
        return float(chain_dc([HOLD_CURRENT], biases=replace(biases, vopa=vopa),
                              design=replace(design, corner=corner, ldo_bias="table"))["p_ldo"][0])

    target = power(biases.vopa, "tt")
    lo, hi = 0.0, biases.vdd  # a higher gate voltage turns the PMOS bias off: the power falls
    if not power(hi, design.corner) <= target <= power(lo, design.corner):
        raise ValueError(f"no V_opa in 0 ... {biases.vdd:g} V gives the LDO's tt supply power "
                         f"{target * 1e6:.3g} µW at corner {design.corner!r}")
    while hi - lo > tolerance:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if power(mid, design.corner) > target else (lo, mid)
    return round(0.5 * (lo + hi), 4)


_held_vopa = functools.lru_cache(maxsize=64)(held_vopa)
""":func:`held_vopa`, remembered per (design, LDO biases) in this process."""


def idle_power(*, biases: Biases = Biases(), design: Design = Design(), t_stop: float = 2e-3) -> dict[str, float]:
    """Supply power with no input (W), from a transient of the neuron at rest: ``p_lif`` and ``p_ldo``.

    The mean over the second half of a ``t_stop`` (s) run, where the start-up has settled. Unlike an
    operating point, the free membrane and the spike latch start in their resting state: with a raised
    V_bcomp ``.op`` lands on another solution of the latch (it gave negative supply powers).
    """
    body = [f"Vin in 0 {format_number(biases.vref - V_IDLE)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", biases)]
    result = run_netlist(netlist(body, _tran(t_stop), biases=biases, design=design))
    t = result["time"]
    half = int(np.searchsorted(t, t[-1] / 2))

    def power(meter: str) -> float:
        q = result[meter]
        return float(q[-1] - q[half]) / float(t[-1] - t[half]) * biases.vdd

    return {"p_lif": power("q_vddl"), "p_ldo": power("q_vdda")}


# ----------------------------------------------------------------------------- transients

def spike_train(isyn: float, t_stop: float, *, biases: Biases = Biases(), design: Design = Design(),
                t_on: float = 1e-6, r_syn: float = R_IC) -> SpikeTrain:
    """Transient with a DC input current ``isyn`` (A) through ``r_syn`` (ohm) switched on at ``t_on`` (s),
    until ``t_stop`` (s)."""
    r_syn = check_positive("r_syn (ohm)", r_syn, "ohm")
    body = [step_source("Vin", "in", biases, isyn, t_on, r_syn), *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr", r_syn=r_syn),
            _rest("mem", biases)]
    return _train(run_netlist(netlist(body, _tran(t_stop), biases=biases, design=design)), biases.vdd)


Run = TypeVar("Run")


def _until(run: Callable[[float], Run], t_first: float, done: Callable[[Run], bool],
           tries: int = 4, grow: float = 4.0, t_max: float = math.inf) -> Run:
    """Call ``run(t_stop)`` with a growing ``t_stop`` (at most ``t_max``) until ``done(result)`` or a run
    of ``t_max`` is done; return the last result."""
    t_stop = min(t_first, t_max)
    for _ in range(tries):
        result = run(t_stop)
        if done(result) or t_stop >= t_max:
            break
        t_stop = min(t_stop * grow, t_max)
    return result


def _period_guess(isyn: float, biases: Biases, design: Design) -> float:
    """Rough spike period (s): C1 charged to V_thr by I_syn / K, plus 10 us of refractory time."""
    i_neuron = max(isyn, 1e-9) / design.attenuator.k
    return design.lif.c1 * biases.vthr / i_neuron + 10e-6


def firing_rate(isyn: float, *, biases: Biases = Biases(), design: Design = Design(),
                spikes: int = 3, r_syn: float = R_IC) -> SpikeTrain:
    """Spike train with at least ``spikes`` spikes (or the longest run tried) under DC ``isyn`` through ``r_syn``.

    The run length starts from a period estimate and grows 4x per try (at most 4 runs).
    """
    guess = _period_guess(isyn, biases, design) * (spikes + 1)
    return _until(lambda t: spike_train(isyn, t, biases=biases, design=design, r_syn=r_syn), guess,
                  lambda tr: tr.spikes.size >= spikes)


def window_rate(train: SpikeTrain) -> float:
    """Firing rate (Hz) of a run: 1 / mean ISI with two spikes or more, else spikes per simulated time
    (0 Hz for a run without a spike, as a counter over the window reads it)."""
    return train.rate if train.spikes.size >= 2 else train.spikes.size / train.duration


def read_train(vread: float, r_syn: float, *, window: float = 1.0, spikes: int = 4, biases: Biases = Biases(),
               design: Design = Design()) -> SpikeTrain:
    """Spike train under a read voltage ``vread`` (V) across the synapse ``r_syn`` (ohm) [Garg et al. Fig. 3A].

    I_syn = V_read / R_syn (the input sits at V_ref + V_read, the LDO clamps the synapse node at V_ref).
    The run length starts from a period estimate for ``spikes`` spikes and grows 4x until the neuron
    has fired ``spikes`` times or the run reaches ``window`` (s), the paper's 1 s read: a neuron that
    does not fire inside it has the rate 0 Hz (:func:`window_rate`).
    """
    vread, r_syn = check_positive("vread (V)", vread, "V"), check_positive("r_syn (ohm)", r_syn, "ohm")
    window = check_positive("window (s)", window, "s")
    isyn = vread / r_syn
    return _until(lambda t: spike_train(isyn, t, biases=biases, design=design, r_syn=r_syn),
                  _period_guess(isyn, biases, design) * (spikes + 1), lambda tr: tr.spikes.size >= spikes,
                  tries=sys.maxsize, t_max=window)


def pulse_width(*, isyn: float = 40e-6, biases: Biases = Biases(), design: Design = Design(),
                t_first: float = 50e-6) -> float:
    """Width of the first output pulse at V_dd/2 (s) under DC ``isyn`` (default the 40 uA of Fig. 4C)."""
    train = _until(lambda t: spike_train(isyn, t, biases=biases, design=design), t_first,
                   lambda tr: tr.widths.size >= 1, tries=7)
    return float(train.widths[0]) if train.widths.size else math.nan


def leak_time(v_start: float, *, biases: Biases = Biases(), design: Design = Design(), t_stop: float = 3.0,
              fraction: float = 0.9, t_first: float | None = None) -> tuple[float, SpikeTrain]:
    """Time for V_mem, started at ``v_start`` with no input, to cover ``fraction`` of the way to V_rest.

    Above V_rest this is the downward leak (V_taun) [Garg et al. Fig. 6D], below it the upward leak (V_taup)
    [Fig. 6E]. The threshold is put at V_dd so the neuron cannot fire. With ``t_first`` the run starts
    that long and grows 4x up to ``t_stop``, stopping once the membrane has rested at V_rest
    (:func:`at_rest`): at some biases the comparator-switched leak then holds it in a ±0.7 mV limit
    cycle, which costs ngspice minutes per simulated second and shows nothing new.

    Returns
    -------
    (float, SpikeTrain)
        The time (s; NaN if not reached within the run) and the waveforms.
    """
    v_start = check_value(v_start, "v_start")
    target = v_start + fraction * (biases.vrest - v_start)
    body = [f"Vin in 0 {format_number(biases.vref - V_IDLE)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f".ic v(mem)={format_number(v_start)}"]
    b = replace(biases, vthr=biases.vdd)
    train = _until(lambda t: _train(run_netlist(netlist(body, _tran(t), biases=b, design=design)), biases.vdd),
                   t_stop if t_first is None else t_first, lambda tr: at_rest(tr, biases.vrest),
                   tries=sys.maxsize, t_max=t_stop)
    edge = "fall" if v_start > biases.vrest else "rise"
    times = crossings(train.time, train.mem, target, edge)
    return (float(times[0]) if times.size else math.nan), train


REST_BAND = 2e-3
"""Half-width (V) of the band around V_rest in which :func:`at_rest` counts the membrane as resting."""


def at_rest(train: SpikeTrain, vrest: float) -> bool:
    """Whether the membrane stayed within :data:`REST_BAND` of ``vrest`` over the second half of the run."""
    tail = train.mem[train.time >= 0.5 * (train.time[0] + train.time[-1])]
    return bool(np.all(np.abs(tail - vrest) <= REST_BAND))


def rest_levels(*, biases: Biases = Biases(), design: Design = Design(), v_lo: float = 0.0, v_hi: float | None = None,
                step: float = 1e-3) -> np.ndarray:
    """Rest levels of the membrane with no input: the stable zeros of the net current into C1 (V).

    A source holds the membrane and sweeps it from ``v_lo`` to ``v_hi`` (default V_thr) in ``step``;
    the current the neuron drives into that source is the current that would charge C1. A rest level
    is a falling zero of it (the leak pushes up below it and down above it): where the membrane ends
    after the leak, however long that takes (seconds at low V_taun / V_taup). The threshold is put at
    V_dd so the neuron cannot fire.

    Returns
    -------
    numpy.ndarray
        The rest levels in increasing order (empty if the current has no falling zero in the sweep).
    """
    v_hi = biases.vthr if v_hi is None else check_value(v_hi, "v_hi")
    step = check_positive("step (V)", step, "V")
    if not v_lo < v_hi:
        raise ValueError(f"v_lo = {v_lo!r} must lie below v_hi = {v_hi!r}")
    body = [f"Vin in 0 {format_number(biases.vref - V_IDLE)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f"Vmem mem 0 {format_number(v_lo)}"]
    dc = f".dc Vmem {format_number(v_lo)} {format_number(v_hi + step / 2)} {format_number(step)}"
    result = run_netlist(netlist(body, dc, biases=replace(biases, vthr=biases.vdd), design=design))
    return crossings(result["v-sweep"], result["i(vmem)"], 0.0, "fall")


def membrane_currents(isyn: Sequence[float], vmem: float, *, biases: Biases = Biases(),
                      design: Design = Design()) -> dict[str, np.ndarray]:
    """Currents into C1 by path at DC read currents ``isyn`` (A), the membrane held at ``vmem`` (V).

    One operating point per current (as :func:`chain_dc`); the threshold is put at V_dd so the neuron
    cannot fire. The direct share is the drain current of M_by (``Mdby``: mirrors the input diode straight
    onto C1, no DPI threshold), the DPI output that of ``Mdo``; both are PMOS drain currents sourced
    into the membrane.

    Returns
    -------
    dict
        ``isyn`` (A, through R_IC), ``i_neuron`` (A, the neuron's input current), ``i_bypass`` and ``i_dpi``
        (A, into C1), ``share`` = i_bypass / i_neuron.
    """
    vmem = check_value(vmem, "vmem")
    if not 0.0 <= vmem <= biases.vdd:
        raise ValueError(f"vmem = {vmem!r} V is out of range; valid: 0 ... {biases.vdd} V (V_dd)")
    currents = np.asarray([check_value(i, "isyn") for i in isyn], dtype=float)
    if currents.size == 0 or np.any(currents <= 0):
        raise ValueError("isyn needs at least one current, all > 0 A")
    rows = []
    for i in currents:
        body = [f"Vin in 0 {format_number(_vin(biases, i))}",
                *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
                f"Vmem mem 0 {format_number(vmem)}", ".save all @m.xlif.mdby[id] @m.xlif.mdo[id]"]
        r = run_netlist(netlist(body, ".op", biases=replace(biases, vthr=biases.vdd), design=design))
        rows.append((float(r["in"][0] - r["syn"][0]) / R_IC, float(r["i(vi)"][0]),
                     float(r["i(@m.xlif.mdby[id])"][0]), float(r["i(@m.xlif.mdo[id])"][0])))
    i_syn, i_neuron, i_bypass, i_dpi = (np.array(col) for col in zip(*rows))
    return {"isyn": i_syn, "i_neuron": i_neuron, "i_bypass": i_bypass, "i_dpi": i_dpi, "share": i_bypass / i_neuron}


#: Devices of ``.subckt ldo_att`` whose dissipation is a block's power: (drain, source) node of each.
PASS_DEVICE = {"m1": ("syn", "ain")}
ATTENUATOR_DEVICES = {"ma1": ("ab", "0"), "ma3": ("ain", "ab"), "ma2": ("ob", "0"), "ma4": ("iout", "ob")}


def block_power(isyn: float, *, biases: Biases = Biases(), design: Design = Design()) -> dict[str, float]:
    """Power of each block of the chain (W) at a DC read current ``isyn`` (A; 0: no input, the static case).

    The membrane is held at V_rest (the neuron's own power needs a transient, see :func:`firing_rate`).
    A device's dissipation is its drain current times its drain-source voltage (ngspice's ``[id]``).

    Returns
    -------
    dict
        ``p_ldo``: LDO supply (its OTA); ``p_pass``: dissipated in the pass device M1; ``p_att``:
        dissipated in the attenuator's four devices (it has no supply of its own); ``isyn``: the
        current through R_IC (A).
    """
    isyn = check_value(isyn, "isyn")
    if isyn < 0:
        raise ValueError(f"isyn = {isyn!r} A is out of range; valid: >= 0 A")
    vin = _vin(biases, isyn) if isyn > 0 else biases.vref - V_IDLE
    devices = {**PASS_DEVICE, **ATTENUATOR_DEVICES}
    body = [f"Vin in 0 {format_number(vin)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f"Vmem mem 0 {format_number(biases.vrest)}",
            ".save all " + " ".join(f"@m.xldo.{name}[id]" for name in devices)]
    r = {k: float(v[0]) for k, v in run_netlist(netlist(body, ".op", biases=biases, design=design)).items()}

    def node(name: str) -> float:
        return 0.0 if name == "0" else r[name if name in ("syn", "iout") else f"xldo.{name}"]

    def dissipation(names: Mapping[str, tuple[str, str]]) -> float:
        return sum(r[f"i(@m.xldo.{n}[id])"] * (node(d) - node(s)) for n, (d, s) in names.items())

    return {"p_ldo": -r["i(vvdda)"] * biases.vdd, "p_pass": dissipation(PASS_DEVICE),
            "p_att": dissipation(ATTENUATOR_DEVICES), "isyn": (r["in"] - r["syn"]) / R_IC}


def step_source(name: str, node: str, biases: Biases, isyn: float, t_on: float, r_syn: float = R_IC) -> str:
    """Input source that switches a DC current ``isyn`` (A) through ``r_syn`` (ohm) on at ``t_on`` (s), in one edge."""
    v0, v1 = biases.vref - V_IDLE, _vin(biases, isyn, r_syn)
    return (f"{name} {node} 0 PWL(0 {format_number(v0)} {format_number(t_on)} {format_number(v0)} "
            f"{format_number(t_on + EDGE)} {format_number(v1)})")


def pulse_source(name: str, node: str, biases: Biases, amplitude: float, width: float, period: float,
                  delay: float, t_stop: float) -> str:
    """Input pulses of ``amplitude`` (A), ``width`` (s) every ``period`` (s) from ``delay`` (s) until ``t_stop`` (s),
    as a PWL source with every corner written out.

    ngspice puts a breakpoint on every PWL corner, so no time step can step over a pulse. A PULSE source's
    breakpoints are found from the time modulo the period, and ngspice loses some of them in long trains:
    with its default step a 0.3 s run at 100 Hz stepped over 2 of 30 pulses of 10 us and 3 of 30 of
    15 us (at 75 and 105 ms), landing on a pulse's start and taking its next step past the pulse's end.
    """
    v0, v1 = biases.vref - V_IDLE, _vin(biases, amplitude)
    for value, what in zip((delay, EDGE, EDGE, width - EDGE, period), ("delay", "rise", "fall", "width", "period")):
        if check_value(value, what) <= 0:
            raise ValueError(f"pulse {what} must be > 0 s (width > {EDGE:g} s), got {value!r}")
    if width + EDGE >= period:
        raise ValueError(f"pulses of {width:g} s (and a {EDGE:g} s fall) do not fit in a period of {period:g} s")
    corners = [(0.0, v0)]
    for start in np.arange(delay, check_value(t_stop, "t_stop"), period):
        corners += [(start, v0), (start + EDGE, v1), (start + width, v1), (start + width + EDGE, v0)]
    words = [f"{format_number(t)} {format_number(v)}" for t, v in corners]
    rows = [" ".join(words[k:k + 8]) for k in range(0, len(words), 8)]
    return "\n".join([f"{name} {node} 0 PWL({rows[0]}", *(f"+ {row}" for row in rows[1:])]) + ")"


def pulsed_rate(*, amplitude: float = 40e-6, width: float = 10e-6, frequency: float = 100.0,
                biases: Biases = Biases(), design: Design = Design(), t_first: float = 0.3,
                spikes: int = 2) -> SpikeTrain:
    """Output under input pulses of ``amplitude`` (A) and ``width`` (s) at ``frequency`` (Hz) [Garg et al. Fig. 6A-C].

    The pulses are a PWL source with every corner written out (:func:`pulse_source`), so ngspice cannot step
    over one: with a PULSE source and the default step it skipped 2 of 30 pulses of 10 us and 3 of 30 of 15 us
    in a 0.3 s run at 100 Hz; a step cap of a quarter pulse also delivers every pulse, at 5-7x the run time.
    """
    period = 1.0 / check_value(frequency, "frequency")
    chain = [*chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", biases)]

    def body(t: float) -> list[str]:
        return [pulse_source("Vin", "in", biases, amplitude, width, period, 0.5 * period, t), *chain]

    return _until(lambda t: _train(run_netlist(netlist(body(t), _tran(t), biases=biases, design=design)),
                                   biases.vdd),
                  t_first, lambda tr: tr.spikes.size >= spikes or settled_below(tr, biases.vthr, period),
                  tries=3, grow=2.5)


#: Membrane paths of :func:`pulse_increments`: name -> (device of ``.subckt lif``, sign of its drain current into C1).
PULSE_PATHS = {"dpi": ("mdo", 1.0), "direct": ("mdby", 1.0), "leak_up": ("msu", 1.0), "leak_down": ("msd", -1.0),
               "reset": ("m8", -1.0)}


def pulse_increments(width: float, *, amplitude: float = 40e-6, frequency: float = 100.0, pulses: int = 3,
                     biases: Biases = Biases(), design: Design = Design()) -> list[dict[str, float]]:
    """What each of ``pulses`` input pulses of ``amplitude`` (A) and ``width`` (s) at ``frequency`` (Hz) does to V_mem,
    the membrane started at V_rest and the threshold at V_dd (no spike) [Garg et al. Fig. 6B].

    Pulse k starts at (k + 1/2) / ``frequency``; its period runs to the next pulse's start. Each path's charge into
    C1 over the period (drain currents of the devices :data:`PULSE_PATHS` names, integrated over the simulator's
    time points) is divided by C1, so the paths add up to the change of V_mem over the period.

    Returns
    -------
    list of dict
        Per pulse (V unless stated): ``v_start`` (V_mem at the pulse's start), ``rise`` (highest V_mem within
        the pulse and 0.2 ms after it, minus ``v_start``), ``kept`` (V_mem at the next pulse's start minus
        ``v_start``), ``t_back`` (s from the pulse's start until V_mem is back within 2 mV of ``v_start``; NaN:
        not within the period), and per path of :data:`PULSE_PATHS` its charge over the period / C1 (``leak_down``
        and ``reset`` count negative), and ``other``: ``kept`` minus the paths (what the named drain currents leave out,
        e.g. the devices' capacitive currents).
    """
    if isinstance(pulses, bool) or not isinstance(pulses, int) or pulses < 1:
        raise ValueError(f"pulses must be an integer >= 1, got {pulses!r}")
    period = 1.0 / check_value(frequency, "frequency")
    t_stop = (pulses + 0.5) * period
    devices = " ".join(f"@m.xlif.{dev}[id]" for dev, _ in PULSE_PATHS.values())
    body = [pulse_source("Vin", "in", biases, amplitude, width, period, 0.5 * period, t_stop),
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", biases),
            f".save all {devices}"]
    b = replace(biases, vthr=biases.vdd)
    result = run_netlist(netlist(body, _tran(t_stop), biases=b, design=design))
    t, mem = result["time"], result["mem"]
    rows = []
    for k in range(pulses):
        start, end = (k + 0.5) * period, (k + 1.5) * period
        v0, v1 = (float(np.interp(x - 1e-7, t, mem)) for x in (start, end))
        near = (t >= start) & (t <= start + width + 2e-4)
        back = t[(t > start + width) & (t < end) & (mem <= v0 + 2e-3)]
        row = {"v_start": v0, "rise": float(mem[near].max()) - v0, "kept": v1 - v0,
               "t_back": float(back[0] - start) if back.size else math.nan}
        span = (t >= start) & (t <= end)
        for path, (dev, sign) in PULSE_PATHS.items():
            row[path] = sign * float(np.trapezoid(result[f"i(@m.xlif.{dev}[id])"][span], t[span])) / design.lif.c1
        row["other"] = row["kept"] - sum(row[path] for path in PULSE_PATHS)
        rows.append(row)
    return rows


SETTLE_PERIODS = 10
"""Input periods per block of :func:`settled_below` (three blocks are compared)."""
SETTLE_MARGIN = 0.02
"""How far (V) below V_thr the membrane's settled peak must stay for a pulse train to count as silent."""


def settled_below(train: SpikeTrain, vthr: float, period: float) -> bool:
    """Whether the membrane under a periodic input has settled below ``vthr``: a longer run cannot fire.

    Driven periodically, the leaky membrane approaches a periodic orbit geometrically. Its peak per
    input ``period`` since the last spike is taken in three blocks of :data:`SETTLE_PERIODS` periods
    (block medians M1, M2, M3). The train is silent when the peaks have stopped rising (M3 - M2 within
    0.5 mV) or rise less each block (0 < M3 - M2 < M2 - M1, ratio r) toward an asymptote
    M3 + (M3 - M2)·r / (1 - r), and that level stays :data:`SETTLE_MARGIN` below ``vthr``. A run
    that would still fire is never judged silent this way; it only saves simulating seconds of a
    train that adds nothing (e.g. 40 µA × 7 µs pulses at 100 Hz, which leak away before the next).
    """
    start = train.spikes[-1] if train.spikes.size else train.time[0]
    count = int((train.time[-1] - start) // period)
    if count < 3 * SETTLE_PERIODS:
        return False
    bins = np.floor((train.time - start) / period).astype(int)
    keep = (bins >= count - 3 * SETTLE_PERIODS) & (bins < count)
    peaks = np.full(3 * SETTLE_PERIODS, -np.inf)
    np.maximum.at(peaks, bins[keep] - (count - 3 * SETTLE_PERIODS), train.mem[keep])
    m1, m2, m3 = np.median(peaks.reshape(3, SETTLE_PERIODS), axis=1)
    rise, before = m3 - m2, m2 - m1
    if rise <= 5e-4:
        level = m3 + max(rise, 0.0)
    elif 0.0 < rise < before:
        ratio = rise / before
        level = m3 + rise * ratio / (1.0 - ratio)
    else:
        return False
    return bool(level < vthr - SETTLE_MARGIN)


def adaptive_pair(*, amplitude: float = 200e-6, width: float = 10e-6, frequency: float = 1e3, t_stop: float = 0.1,
                  biases: Biases = Biases(), design: Design = Design(),
                  regulator: Biases | None = None) -> tuple[SpikeTrain, np.ndarray]:
    """Primary neuron driven by pulses; its OUT feeds a regulator neuron (10 kOhm + LDO + attenuator)
    whose membrane is the primary's threshold [Garg et al. §III.D, Fig. 7A-B].

    The regulator's own threshold is V_dd (it integrates, it never fires). It uses ``regulator``
    (default: ``biases``, the primary's), on its own bias nodes; its input idles at 0 V (the primary's OUT), below V_ref. The paper does
    not give the input pulse amplitude or the regulator's biases; the study ``lif-adaptive`` chooses
    60 uA (first ISI 2 ms, as in Fig. 7B) and a regulator V_gain of 1.1 V (threshold 2 V after 50 ms).

    Returns
    -------
    (SpikeTrain, numpy.ndarray)
        The primary's spike train and the regulator membrane (= primary threshold) on its time scale.
    """
    period = 1.0 / check_value(frequency, "frequency")
    reg = biases if regulator is None else regulator
    check_biases(reg)
    body = [pulse_source("Vin", "in", biases, amplitude, width, period, 0.5 * period, t_stop),
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="memr"),
            *bias_lines(reg, suffix="r", vthr=False),
            *chain_lines("r", vdd_ldo="vdda", vdd_lif="vddl", vin="out", thr="thrr", suffix="r"),
            f"Vthrr thrr 0 {format_number(biases.vdd)}", _rest("mem", biases), _rest("memr", reg)]
    result = run_netlist(netlist(body, _tran(t_stop), biases=biases, design=design, thr=False))
    return _train(result, biases.vdd), np.asarray(result["memr"])


def _synapse_node(lines: Sequence[str], tag: str) -> str:
    """The synapse node (the LDO's clamped input) of the chain ``lines`` with ``tag``."""
    for line in lines:
        words = line.split()
        if words[0] == f"Rsyn{tag}":
            return words[2]
    raise ValueError(f"chain {tag!r} has no synapse resistor Rsyn{tag}")


def adaptive_population(*, amplitudes: Sequence[float], width: float = 10e-6, frequency: float = 1e3,
                        t_stop: float = 0.05, biases: Biases = Biases(),
                        design: Design = Design(),
                        regulator_biases: Biases | None = None) -> tuple[list[SpikeTrain], np.ndarray]:
    """Primary neurons, one per input amplitude, sharing one regulator neuron [Garg et al. §III.D, Fig. 7C].

    Primary ``k`` of ``n`` gets input pulses of ``amplitudes[k]`` (A), ``width`` (s) at ``frequency`` (Hz),
    delayed by (k + 1/2) / n periods (simultaneous spikes of all primaries stall the simulator); each
    primary's spike reads its own 10 kOhm synapse onto the regulator's synapse node, so the regulator's
    LDO sums their currents; the regulator's membrane is the threshold of every primary. The read is a
    1T1R synapse whose access transistor the spike gates: a switch, closed while OUT is above V_dd/2,
    between the neuron supply (the read line) and the synapse resistor. With bare resistors the idle
    outputs at 0 V would pull the shared node below V_ref and no single spike would reach the regulator;
    with OUT itself as the read line (the switch then loads the node that controls it) two primaries
    stopped ngspice ("timestep too small" at 15.26 ms). Its own threshold is V_dd (it integrates, it
    never fires).

    Returns
    -------
    (list of SpikeTrain, numpy.ndarray)
        The primaries' spike trains (energies over the shared supplies, not per neuron) and the
        regulator membrane (= the shared threshold) on their time scale.
    """
    if len(amplitudes) < 1:
        raise ValueError("amplitudes needs at least one input current (one primary neuron)")
    period = 1.0 / check_value(frequency, "frequency")
    body: list[str] = []
    for k, amplitude in enumerate(amplitudes):
        delay = (k + 0.5) / len(amplitudes) * period
        body += [pulse_source(f"Vin{k}", f"in{k}", biases, amplitude, width, period, delay, t_stop),
                 *chain_lines(str(k), vdd_ldo="vdda", vdd_lif="vddl", vin=f"in{k}", thr="memr"),
                 _rest(f"mem{k}", biases)]
    reg = biases if regulator_biases is None else regulator_biases
    check_biases(reg)
    regulator = [*bias_lines(reg, suffix="r", vthr=False),
                 *chain_lines("r", vdd_ldo="vdda", vdd_lif="vddl", vin="acc0", thr="thrr", suffix="r")]
    synapse = _synapse_node(regulator, "r")
    level = format_number(biases.vdd / 2)
    body += [*regulator, *(f"Rsynr{k} acc{k} {synapse} {format_number(R_IC)}" for k in range(1, len(amplitudes))),
             *(f"Sacc{k} vddl acc{k} out{k} 0 access" for k in range(len(amplitudes))),
             f".model access sw vt={level} vh=0.1 ron=1 roff=1e12",
             f"Vthrr thrr 0 {format_number(biases.vdd)}", _rest("memr", reg)]
    result = run_netlist(netlist(body, _tran(t_stop), biases=biases, design=design, thr=False))
    return [_train(result, biases.vdd, str(k)) for k in range(len(amplitudes))], np.asarray(result["memr"])
