"""Experiments of Garg et al. on the transistor-level chain: f-I, pulse width, leak, pulsed input, adaptive pair.

Each runner builds a netlist with :mod:`testbenches.lif.circuit`, runs it in ngspice and returns
named measurements (floats, SI units). Conventions:

- ``isyn`` is the synaptic read current I_syn = (V_in - V_ref) / R_IC set by the input source
  (R_IC = 10 kOhm [Garg et al. §III.A, §III.B]); the current that actually reaches the neuron is measured.
- Between input pulses V_in rests ``V_IDLE`` below V_ref, so the LDO is off and no current flows.
- A spike is a rising crossing of V_dd/2 by OUT; its width is measured at V_dd/2 [Garg et al. §III.B].
- A firing rate is 1 / mean inter-spike interval from the first spike on (the first spike starts
  from V_rest, every later one from the reset level 0 V).
- Power is the supply charge over the run (a charge meter in the netlist) times V_dd over time.

The studies of :mod:`testbenches.lif.studies` run these (``spicegen study run lif-fi`` ... and
``spicegen study run lif-report`` for everything with the report).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from spicegen.measure import crossings, pulse_widths
from spicegen.naming import check_value, format_number
from spicegen.ngspice import SimResult, run_netlist

from testbenches.lif.circuit import Biases, Design, R_IC, bias_lines, chain_lines, model_lines, supply_lines

__all__ = [
    "V_IDLE",
    "SpikeTrain",
    "netlist",
    "chain_dc",
    "spike_train",
    "firing_rate",
    "pulse_width",
    "leak_time",
    "pulsed_rate",
    "adaptive_pair",
    "static_power",
]

#: Input level between pulses, below V_ref (V): keeps M1 off so no current reaches the neuron.
V_IDLE = 0.1
#: Simulator options: tight tolerances because the leak currents are picoamperes.
OPTIONS = ".options reltol=1e-4 abstol=1e-15 chgtol=1e-17"
#: Edge time of the input source (s).
EDGE = 50e-9
#: Number of time steps a transient is cut into at most (its TMAX).
STEPS = 1000


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
    """Complete netlist: models, supplies ``vdda`` (LDO) / ``vddl`` (neuron) with charge meters, biases, body.

    ``thr`` adds the threshold source on node ``thr`` (V_thr); leave it out when the body drives it.
    """
    lines = ["LIF chain (Garg et al.)", *model_lines(design), *supply_lines("vdda", biases.vdd),
             *supply_lines("vddl", biases.vdd), *bias_lines(biases, vthr=thr), *body, OPTIONS, analysis, ".end"]
    return "\n".join(lines) + "\n"


def _tran(t_stop: float) -> str:
    t_stop = check_value(t_stop, "t_stop")
    if t_stop <= 0:
        raise ValueError(f"t_stop must be > 0 s, got {t_stop!r}")
    return f".tran {format_number(t_stop / STEPS)} {format_number(t_stop)}"


def _vin(biases: Biases, isyn: float) -> float:
    """Input voltage that drives ``isyn`` through R_IC into a node clamped at V_ref."""
    return biases.vref + check_value(isyn, "isyn") * R_IC


def _rest(node: str, biases: Biases) -> str:
    """Start the membrane ``node`` of a transient at V_rest (the neuron's resting state)."""
    return f".ic v({node})={format_number(biases.vrest)}"


def _train(result: SimResult, vdd: float) -> SpikeTrain:
    """The spike train of the chain with tag ``""`` (nodes ``mem`` and ``out``)."""
    t, out = result["time"], result["out"]
    return SpikeTrain(time=t, mem=result["mem"], out=out, spikes=crossings(t, out, vdd / 2),
                      widths=pulse_widths(t, out, vdd / 2), energy_lif=float(result["q_vddl"][-1]) * vdd,
                      energy_ldo=float(result["q_vdda"][-1]) * vdd)


# ----------------------------------------------------------------------------- DC: LDO + attenuator

def chain_dc(isyn: Sequence[float], *, biases: Biases = Biases(), design: Design = Design()) -> dict[str, np.ndarray]:
    """LDO clamp and attenuation over DC input currents.

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
    lo, hi = _vin(biases, currents.min()), _vin(biases, currents.max())
    step = (hi - lo) / 200 if hi > lo else 1e-3
    body = [f"Vin in 0 {format_number(lo)}", *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f"Vmem mem 0 {format_number(biases.vrest)}"]
    # the sweep starts one step early: ngspice's first DC point has come out inexact here
    dc = f".dc Vin {format_number(lo - step)} {format_number(hi + step / 2)} {format_number(step)}"
    result = run_netlist(netlist(body, dc, biases=biases, design=design))
    vin = result["v-sweep"]
    target = _vin(biases, 0.0) + currents * R_IC
    i_syn = np.interp(target, vin, (vin - result["syn"]) / R_IC)
    i_neuron = np.interp(target, vin, result["i(vi)"])
    return {"isyn": i_syn, "i_neuron": i_neuron, "k": i_syn / i_neuron,
            "clamp_error": np.interp(target, vin, result["syn"]) - biases.vref,
            "p_ldo": -np.interp(target, vin, result["i(vvdda)"]) * biases.vdd}


def static_power(*, biases: Biases = Biases(), design: Design = Design()) -> dict[str, float]:
    """Supply power with no input (W): ``p_lif`` (neuron, mostly the comparator) and ``p_ldo``."""
    body = [f"Vin in 0 {format_number(biases.vref - V_IDLE)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr")]
    result = run_netlist(netlist(body, ".op", biases=biases, design=design))
    return {"p_lif": -float(result["i(vvddl)"][0]) * biases.vdd, "p_ldo": -float(result["i(vvdda)"][0]) * biases.vdd}


# ----------------------------------------------------------------------------- transients

def spike_train(isyn: float, t_stop: float, *, biases: Biases = Biases(), design: Design = Design(),
                t_on: float = 1e-6) -> SpikeTrain:
    """Transient with a DC input current ``isyn`` (A) switched on at ``t_on`` (s), until ``t_stop`` (s)."""
    v0, v1 = biases.vref - V_IDLE, _vin(biases, isyn)
    src = (f"Vin in 0 PWL(0 {format_number(v0)} {format_number(t_on)} {format_number(v0)} "
           f"{format_number(t_on + EDGE)} {format_number(v1)})")
    body = [src, *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", biases)]
    return _train(run_netlist(netlist(body, _tran(t_stop), biases=biases, design=design)), biases.vdd)


def _until(run: Callable[[float], SpikeTrain], t_first: float, done: Callable[[SpikeTrain], bool],
           tries: int = 4, grow: float = 4.0) -> SpikeTrain:
    """Call ``run(t_stop)`` with a growing ``t_stop`` until ``done(result)``; return the last result."""
    t_stop = t_first
    for _ in range(tries):
        result = run(t_stop)
        if done(result):
            break
        t_stop *= grow
    return result


def _period_guess(isyn: float, biases: Biases, design: Design) -> float:
    """Rough spike period (s): C1 charged to V_thr by I_syn / K, plus 10 us of refractory time."""
    i_neuron = max(isyn, 1e-9) / design.attenuator.k
    return design.lif.c1 * biases.vthr / i_neuron + 10e-6


def firing_rate(isyn: float, *, biases: Biases = Biases(), design: Design = Design(),
                spikes: int = 3) -> SpikeTrain:
    """Spike train with at least ``spikes`` spikes (or the longest run tried) under DC ``isyn``.

    The run length starts from a period estimate and grows 4x per try (at most 4 runs).
    """
    guess = _period_guess(isyn, biases, design) * (spikes + 1)
    return _until(lambda t: spike_train(isyn, t, biases=biases, design=design), guess,
                  lambda tr: tr.spikes.size >= spikes)


def pulse_width(*, isyn: float = 40e-6, biases: Biases = Biases(), design: Design = Design(),
                t_first: float = 50e-6) -> float:
    """Width of the first output pulse at V_dd/2 (s) under DC ``isyn`` (default the 40 uA of Fig. 4C)."""
    train = _until(lambda t: spike_train(isyn, t, biases=biases, design=design), t_first,
                   lambda tr: tr.widths.size >= 1, tries=7)
    return float(train.widths[0]) if train.widths.size else math.nan


def leak_time(v_start: float, *, biases: Biases = Biases(), design: Design = Design(), t_stop: float = 3.0,
              fraction: float = 0.9) -> tuple[float, SpikeTrain]:
    """Time for V_mem, started at ``v_start`` with no input, to cover ``fraction`` of the way to V_rest.

    Above V_rest this is the downward leak (V_taun) [Garg et al. Fig. 6D], below it the upward leak (V_taup)
    [Fig. 6E]. The threshold is put at V_dd so the neuron cannot fire.

    Returns
    -------
    (float, SpikeTrain)
        The time (s; NaN if not reached within ``t_stop``) and the waveforms.
    """
    v_start = check_value(v_start, "v_start")
    target = v_start + fraction * (biases.vrest - v_start)
    body = [f"Vin in 0 {format_number(biases.vref - V_IDLE)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f".ic v(mem)={format_number(v_start)}"]
    b = replace(biases, vthr=biases.vdd)
    train = _train(run_netlist(netlist(body, _tran(t_stop), biases=b, design=design)), biases.vdd)
    edge = "fall" if v_start > biases.vrest else "rise"
    times = crossings(train.time, train.mem, target, edge)
    return (float(times[0]) if times.size else math.nan), train


def _pulse_source(name: str, node: str, biases: Biases, amplitude: float, width: float, period: float,
                  delay: float) -> str:
    v0, v1 = biases.vref - V_IDLE, _vin(biases, amplitude)
    vals = (v0, v1, delay, EDGE, EDGE, width - EDGE, period)
    for value, what in zip(vals[2:], ("delay", "rise", "fall", "width", "period")):
        if check_value(value, what) <= 0:
            raise ValueError(f"pulse {what} must be > 0 s (width > {EDGE:g} s), got {value!r}")
    return f"{name} {node} 0 PULSE({' '.join(format_number(v) for v in vals)})"


def pulsed_rate(*, amplitude: float = 40e-6, width: float = 10e-6, frequency: float = 100.0,
                biases: Biases = Biases(), design: Design = Design(), t_first: float = 0.3,
                spikes: int = 2) -> SpikeTrain:
    """Output under input pulses of ``amplitude`` (A) and ``width`` (s) at ``frequency`` (Hz) [Garg et al. Fig. 6A-C]."""
    period = 1.0 / check_value(frequency, "frequency")
    src = _pulse_source("Vin", "in", biases, amplitude, width, period, 0.5 * period)
    body = [src, *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", biases)]
    return _until(lambda t: _train(run_netlist(netlist(body, _tran(t), biases=biases, design=design)), biases.vdd),
                  t_first, lambda tr: tr.spikes.size >= spikes, tries=3, grow=2.5)


def adaptive_pair(*, amplitude: float = 200e-6, width: float = 10e-6, frequency: float = 1e3, t_stop: float = 0.1,
                  biases: Biases = Biases(), design: Design = Design()) -> tuple[SpikeTrain, np.ndarray]:
    """Primary neuron driven by pulses; its OUT feeds a regulator neuron (10 kOhm + LDO + attenuator)
    whose membrane is the primary's threshold [Garg et al. §III.D, Fig. 7A-B].

    The regulator's own threshold is V_dd (it integrates, it never fires). Both neurons use
    ``biases``; the regulator's input idles at 0 V (the primary's OUT), below V_ref. The paper does
    not give the input pulse amplitude; 200 uA (the top of its §III.B range) makes the first ISI
    2 ms as in Fig. 7B.

    Returns
    -------
    (SpikeTrain, numpy.ndarray)
        The primary's spike train and the regulator membrane (= primary threshold) on its time scale.
    """
    period = 1.0 / check_value(frequency, "frequency")
    body = [_pulse_source("Vin", "in", biases, amplitude, width, period, 0.5 * period),
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="memr"),
            *chain_lines("r", vdd_ldo="vdda", vdd_lif="vddl", vin="out", thr="thrr"),
            f"Vthrr thrr 0 {format_number(biases.vdd)}", _rest("mem", biases), _rest("memr", biases)]
    result = run_netlist(netlist(body, _tran(t_stop), biases=biases, design=design, thr=False))
    return _train(result, biases.vdd), np.asarray(result["memr"])
