"""The behavioural twin (``lif_neuron`` + ``ldo_attenuator``) calibrated with lmfit to the transistor-level chain.

Study ``lif-twin``: samples the sky130 chain of Garg et al. through :mod:`testbenches.lif.neuron` (the
committed circuit, its default biases), fits the twin's free parameters and measures how well the twin
tracks the chain:

* **data** (ngspice, transistor level): DC f-I at V_thr 0.8 / 1.2 / 1.8 V (calibration currents
  :data:`FI_FIT_UA`, held-out currents :data:`FI_HELD_UA`; each through :func:`read_resistance`), the rate
  under 40 uA input pulses at 100 Hz (calibration widths :data:`PULSE_FIT_US`, held-out :data:`PULSE_HELD_US`)
  and the membrane's rise over each of the first :data:`INCREMENT_PULSES` periods of those pulses (threshold out
  of reach), the downward and upward leak times (start 1.18 V and 0 V, 90 % of the way to V_rest) and the
  spike times of a 300 us run at 40 uA (held out);
* **fixed** from the chain: C_mem = C1 of the design, K = 500 (the attenuator's nominal ratio), the
  upward leak t_up = t_90 / 0.9 of the measured upward leak (the chain's is a constant current; the twin's
  linear up-leak gets its slope at the reset level 0 V), the downward leak t_down from the measured downward
  leak time (a constant current in both, the twin's slew V_BAND/t_down), V_rest, and the direct share's law
  (``bypass``, ``q_bypass``: M_by's current into C1 over the input current, operating points at
  :data:`BYPASS_UA`, :func:`measure_direct_share`);
* **fitted** on the calibration points: :data:`FREE` (:func:`fit_twin`: lmfit least squares of the log
  rate ratio on the f-I points, then t_on and t_dpi on the membrane's rise per input pulse at the
  calibration widths);
* **tracking**: the calibrated twin is then simulated in ngspice (its OSDI build, the same input
  source, R_syn and V_ref as the chain) at every point, calibration and held out; the reported errors
  are these simulations against the chain, not the fit's own model.

Measured on the shipped chain (this study, 3.5 min with the chain's runs): the twin meets the f-I points at 10,
20, 50, 100, 140 and 200 uA within 2.3 %, the held-out 30 uA points within -4.5 %, the membrane's rise per pulse
within 4.7 % at the fitted widths and 7.8 % at the held-out ones, the pulsed rates within 7.7 % and 11.5 % (a
spike one input period later), the held-out 40 uA spike train within 0.005 of an interval. The LIF guide
(docs/lif_neuron.md) keeps the tables.

Inside the fit the twin's rate comes from the device's own numpy rendering: between spikes the
membrane obeys the 1-D ODE ``dv/dt = rate(v, I)`` of ``lif_neuron``, so the time from the reset level
to V_thr is the quadrature of ``1/rate`` over v (evaluated vectorised), plus the spike, whose length
is the timer's T_pw plus the latch's own delays (:func:`spike_duration`); under pulses the same rendering is
stepped through each pulse (:meth:`TwinModel.pulse_increments`).

Writes ``twin_fit.json`` (values, lmfit report, every point with chain and twin values and its role),
``calibration_lif_neuron.json`` (``--set ship=yes`` also updates the package's calibration file, so the
device's defaults become the calibrated twin; re-emit the shipped library afterwards with
``spicegen emit --all --update-package``) and ``lif_twin.png`` (f-I of twin and chain, the spike times of the
held-out run, the pulsed rates, the rise per pulse).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping, Sequence

import numpy as np

from spicegen.calibration import significant, update
from spicegen.device import get_device
from spicegen.devices.lif_neuron import A_FLOOR, A_SOFT, I_REF, V_BAND, activation_target, turn_on_speed
from spicegen.figures import pyplot, save_figure
from spicegen.files import write_json
from spicegen.measure import crossings
from spicegen.naming import format_number
from spicegen.netlist import format_instance
from spicegen.ngspice import run_netlist
from spicegen.numpy_code import load_numpy_module
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study

__all__ = ["FI_FIT_UA", "FI_HELD_UA", "VTHR", "PULSE_FIT_US", "PULSE_HELD_US", "FREE", "BYPASS_UA", "ChainData",
           "TwinModel", "sample_chain", "measure_direct_share", "direct_share_law", "read_resistance", "fit_twin",
           "twin_spike_train", "twin_pulsed", "twin_increments", "track", "LifTwin"]

FI_FIT_UA = (10.0, 20.0, 50.0, 100.0, 200.0)
"""DC synaptic currents of the f-I calibration points (uA), at every threshold of :data:`VTHR`."""
FI_HELD_UA = (0.1, 1.0, 30.0, 140.0)
"""DC synaptic currents of the held-out f-I points (uA)."""
VTHR = (0.8, 1.2, 1.8)
"""Comparator thresholds of the f-I points (V) [Garg et al. Fig. 4A]."""
PULSE_FIT_US = (7.0, 10.0, 15.0)
"""Input pulse widths of the pulsed calibration points (us; 40 uA at 100 Hz) [Garg et al. Fig. 6A-B]."""
PULSE_HELD_US = (8.0, 12.0)
"""Input pulse widths of the held-out pulsed points (us), between the paper's."""
INCREMENT_PULSES = 3
"""Input pulses, from V_rest, over which the membrane's rise per period is measured at every pulse width."""
PULSE_UA, PULSE_HZ = 40.0, 100.0
"""Amplitude and repetition rate of the input pulses [Garg et al. Fig. 6A-C]."""
TRAIN_UA, TRAIN_S = 40.0, 300e-6
"""DC current and length of the held-out spike-time run."""
FREE = ("i_gain", "i_tau", "p_gain", "k_soft", "v_gain", "v_sat", "t_pw", "t_on", "n_on", "t_dpi")
"""The twin's parameters fitted to the chain."""
FIXED = ("c_mem", "t_up", "t_down", "bypass", "q_bypass")
"""The twin's parameters measured on the chain (not fitted); shipped with the fitted ones."""
K_NOMINAL = 500.0
"""Attenuation of the twin's ldo_attenuator (the design value [Garg et al. §II.B])."""
R_SYN = 10e3
"""On-chip series resistor R_IC the input current flows through (ohm) [Garg et al. §III.A]."""
V_READ_MIN = 0.1
"""Least voltage (V) across R_syn of an f-I point: below 10 uA the point is read through 100 mV / I_syn (Fig. 3A's
smallest read), since 0.1 uA through 10 kOhm is 1 mV, of which the LDOs' clamp offsets (the chain's 0.1 mV above
V_ref, the twin's soft turn-on 0.2 mV below it) would take 10-20 %."""
GRID = 400
"""Membrane points of the quadrature of the time to threshold."""
LEAK_START = 1.18
"""Membrane level (V) the downward leak time is measured from (20 mV below the default V_thr)."""
PULSE_STEPS = 40
"""Midpoint steps of the membrane per input pulse in the fit's pulsed model."""
TWIN_OPTIONS = ".options trtol=1"
"""Simulator options of the twin's runs: the DPI output's sharp turn-on inside an input pulse needs the truncation
error honoured (ngspice's default trtol 7 let 10 us pulses add 5 % less to the membrane from the second pulse on,
with steps up to 20 us between pulses; trtol 1 agrees with steps of 0.1 us within 0.05 mV, for 18 % more steps)."""
DIGITS = 4
"""Significant digits of a calibrated value."""
BYPASS_UA = (0.1, 0.3, 1.0, 3.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0)
"""Synaptic currents (uA) of the operating points that measure the chain's direct share (M_by)."""
BYPASS_VMEM = (0.0, 0.6, 1.2, 1.8)
"""Membrane levels (V) of those operating points: the reset level (where the law is taken: the twin's output
fade sat(v) is 1 there), V_rest and the thresholds."""


# ----------------------------------------------------------------------------- the chain's data

@dataclass
class ChainData:
    """What the transistor-level chain measured (SI units).

    ``fi`` rows: ``isyn`` (A), ``vthr`` (V), ``rate`` (Hz; 0: fewer than two spikes), ``role``
    (``calibration`` / ``held out``);
    ``pulsed`` rows: ``width`` (s), ``rate`` (Hz), ``duration`` (s), ``role``; ``increments`` rows: ``width`` (s),
    ``role``, ``kept`` (V: the membrane's rise over each of :data:`INCREMENT_PULSES` periods of those pulses from
    V_rest, no spike); ``train``: spike times (s)
    of the held-out run; ``t_down90`` / ``t_up90``: leak times (s); ``pulse_width``: T_pw at V_dd/2 (s);
    ``c1``: membrane capacitance (F); ``biases``: the bias voltages; ``direct``: the direct share measured by
    :func:`measure_direct_share` (empty until it is).
    """

    fi: list[dict[str, Any]] = field(default_factory=list)
    pulsed: list[dict[str, Any]] = field(default_factory=list)
    increments: list[dict[str, Any]] = field(default_factory=list)
    train: list[float] = field(default_factory=list)
    t_down90: float = math.nan
    t_up90: float = math.nan
    pulse_width: float = math.nan
    c1: float = math.nan
    biases: dict[str, float] = field(default_factory=dict)
    direct: dict[str, Any] = field(default_factory=dict)


def measure_direct_share(biases: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The chain's direct share: M_by's current into C1 over the neuron's input current, by operating points.

    At every synaptic current of :data:`BYPASS_UA` and membrane level of :data:`BYPASS_VMEM` (the membrane
    held by a source, the comparator disabled); about 10 s. Returns ``isyn``, ``vmem`` (lists), ``i_neuron``,
    ``i_bypass``, ``i_dpi`` (A; one list per membrane level) and the power law of :func:`direct_share_law`
    fitted at the reset level 0 V.
    """
    from testbenches.lif import neuron
    from testbenches.lif.circuit import Biases

    base = Biases(**biases) if biases else Biases()
    rows = {v: neuron.membrane_currents([i * 1e-6 for i in BYPASS_UA], v, biases=base) for v in BYPASS_VMEM}
    out: dict[str, Any] = {"isyn": [i * 1e-6 for i in BYPASS_UA], "vmem": list(BYPASS_VMEM)}
    for name in ("i_neuron", "i_bypass", "i_dpi"):
        out[name] = [rows[v][name].tolist() for v in BYPASS_VMEM]
    out.update(direct_share_law(rows[0.0]["i_neuron"], rows[0.0]["i_bypass"]))
    return out


def direct_share_law(i_neuron: Sequence[float], i_bypass: Sequence[float]) -> dict[str, float]:
    """``bypass`` and ``q_bypass`` of the twin's direct share I_by = bypass*I_in*(I_in/100 nA)^(q - 1): least
    squares of ln(I_by/I_in) on ln(I_in/100 nA), and the largest relative deviation of the law (``worst``)."""
    i_in, i_by = np.asarray(i_neuron, dtype=float), np.asarray(i_bypass, dtype=float)
    slope, intercept = np.polyfit(np.log(i_in / I_REF), np.log(i_by / i_in), 1)
    law = math.exp(intercept) * i_in * (i_in / I_REF) ** slope
    return {"bypass": float(math.exp(intercept)), "q_bypass": float(1 + slope),
            "worst": float(np.max(np.abs(law / i_by - 1)))}


def read_resistance(isyn: float) -> float:
    """R_syn (ohm) of an f-I point at ``isyn`` (A): 10 kOhm, or V_READ_MIN / isyn where that is larger."""
    return max(R_SYN, V_READ_MIN / isyn)


def fi_points() -> list[tuple[float, float, str]]:
    """(isyn in A, V_thr, role) of every f-I point."""
    return [(i * 1e-6, v, role) for v in VTHR for currents, role in ((FI_FIT_UA, "calibration"),
                                                                    (FI_HELD_UA, "held out")) for i in currents]


def pulse_points() -> list[tuple[float, str]]:
    """(width in s, role) of every pulsed point."""
    return [(w * 1e-6, "calibration") for w in PULSE_FIT_US] + [(w * 1e-6, "held out") for w in PULSE_HELD_US]


def sample_chain(step=lambda name, compute: compute()) -> ChainData:
    """Run the chain's experiments (ngspice, transistor level; about 1 minute on one core with the PWL input pulses).

    ``step(name, compute)`` wraps each simulation (a study passes its resumable ``ctx.step``).
    """
    from dataclasses import asdict

    from testbenches.lif import neuron
    from testbenches.lif.circuit import Biases, Design

    base = Biases()
    data = ChainData(c1=Design().lif.c1, biases=asdict(base))
    for isyn, vthr, role in fi_points():
        rate = step(f"fi_{isyn * 1e6:g}uA_{vthr:g}V",
                    lambda: float(neuron.firing_rate(isyn, biases=replace(base, vthr=vthr),
                                                     r_syn=read_resistance(isyn)).rate))
        data.fi.append({"isyn": isyn, "vthr": vthr, "rate": rate, "role": role})
    for width, role in pulse_points():
        def pulsed(width: float = width) -> dict[str, float]:
            train = neuron.pulsed_rate(amplitude=PULSE_UA * 1e-6, width=width, frequency=PULSE_HZ, biases=base)
            return {"rate": float(train.rate), "duration": train.duration}
        row = step(f"pulsed_{width * 1e6:g}us", pulsed)
        data.pulsed.append({"width": width, **row, "role": role})
        kept = step(f"increments_{width * 1e6:g}us", lambda width=width: [
            p["kept"] for p in neuron.pulse_increments(width, amplitude=PULSE_UA * 1e-6, frequency=PULSE_HZ,
                                                       pulses=INCREMENT_PULSES, biases=base)])
        data.increments.append({"width": width, "kept": kept, "role": role})
    data.t_down90 = step("leak_down", lambda: _leak_time(neuron, LEAK_START, base))
    data.t_up90 = step("leak_up", lambda: _leak_time(neuron, 0.0, base))
    data.pulse_width = step("pulse_width", lambda: float(neuron.pulse_width(biases=base)))
    data.train = step("train", lambda: neuron.spike_train(TRAIN_UA * 1e-6, TRAIN_S, biases=base).spikes.tolist())
    return data


def _leak_time(neuron: ModuleType, v_start: float, biases: Any, t_stop: float = 0.4) -> float:
    """The chain's 90 % leak time (s) from ``v_start``: runs of 0.4 s, then 1.6 s if that was too short (a run
    of the picoampere leak costs minutes per simulated second)."""
    for length in (t_stop, 4 * t_stop):
        time = float(neuron.leak_time(v_start, biases=biases, t_stop=length)[0])
        if np.isfinite(time):
            return time
    raise ValueError(f"the chain's membrane started at {v_start} V has not leaked 90 % of the way to V_rest "
                     f"in {4 * t_stop} s; the twin's leak cannot be calibrated")


# ----------------------------------------------------------------------------- the twin's fast model

@lru_cache(maxsize=1)
def _numpy_module() -> ModuleType:
    """The numpy rendering of ``lif_neuron``, generated once per process."""
    return load_numpy_module(get_device("lif_neuron"))


class TwinModel:
    """Rates of ``lif_neuron`` from its numpy rendering: quadrature of the membrane ODE between spikes.

    Parameters
    ----------
    params
        Parameter values of ``lif_neuron`` (defaults for the rest).
    vdd
        Supply (V).
    k
        Attenuation: the neuron's input is I_syn / k.
    """

    def __init__(self, params: Mapping[str, float], vdd: float = 3.3, k: float = K_NOMINAL):
        self.module = _numpy_module()
        self.params = {**get_device("lif_neuron").defaults, **params}
        self.vdd, self.k = vdd, k

    def _evaluate(self, isyn: float, i_dpi: Any, v: Any, active: Any = 1.0) -> dict[str, np.ndarray]:
        """State rates of the idle neuron (latch open) under synaptic current ``isyn`` (A)."""
        v = np.asarray(v, dtype=float)
        shape = np.broadcast_shapes(v.shape, np.shape(i_dpi), np.shape(active),
                                    *(np.shape(x) for x in self.params.values()))
        nin = self.vdd - isyn / self.k * self.params["r_in"]
        volts = {"vdd": np.full(shape, self.vdd), "nin": nin, "thr": self.vdd + 1.0, "out": 0.0}
        states = {"a_in": active, "i_dpi": i_dpi, "v_mem": v, "s": 0.0, "r": 0.0}
        return self.module.evaluate(volts, states, **self.params)["rates"]

    def activation(self, isyn: float) -> Any:
        """Input-stage activation the neuron settles at under ``isyn``."""
        return activation_target(isyn / self.k, self.params["i_tau"])

    def turn_on_speed(self, isyn: float) -> Any:
        """Slew rate (1/s) of the input stage's activation under ``isyn``."""
        return turn_on_speed(np.asarray(isyn / self.k), np.asarray(self.params["i_tau"]),
                             np.asarray(self.params["t_on"]))

    def relax(self, v: Any, gap: float) -> Any:
        """Membrane after ``gap`` (s) of leak alone from ``v``: below V_rest exponential (t_up); above it a
        constant slew of V_BAND/t_down down to V_rest + V_BAND, then exponential (t_down)."""
        p = self.params
        v_rest, t_down, t_up = (np.asarray(p[n], dtype=float) for n in ("v_rest", "t_down", "t_up"))
        x = np.asarray(v, dtype=float) - v_rest
        slew_time = np.maximum(x - V_BAND, 0.0) * t_down / V_BAND  # time to slew down to the band
        above = np.where(gap <= slew_time, x - gap * V_BAND / t_down,
                         np.minimum(x, V_BAND) * np.exp(-np.maximum(gap - slew_time, 0.0) / t_down))
        return v_rest + np.where(x > 0, above, x * np.exp(-gap / t_up))

    def dpi_target(self, isyn: float, active: Any = None) -> Any:
        """DPI output (A) the DPI relaxes to under ``isyn`` at input-stage activation ``active`` (default:
        the settled one)."""
        active = self.activation(isyn) if active is None else active
        return self._evaluate(isyn, 0.0, self.params["v_rest"], active)["i_dpi"] * self.params["t_dpi"]

    def membrane_rate(self, v: np.ndarray, isyn: float) -> np.ndarray:
        """dv/dt (V/s) of the idle neuron at membrane ``v`` with the DPI settled under ``isyn`` (A)."""
        return self._evaluate(isyn, self.dpi_target(isyn), v)["v_mem"]

    def time_table(self, isyn: float, v_from: float, v_to: float) -> tuple[np.ndarray, np.ndarray]:
        """Membrane grid from ``v_from`` to ``v_to`` and the time (s) to reach each point (inf past a
        level the input cannot charge beyond)."""
        v = np.linspace(v_from, v_to, GRID)
        inverse = 1.0 / np.maximum(self.membrane_rate(v, isyn), 1e-300)
        times = np.concatenate(([0.0], np.cumsum(np.diff(v) * 0.5 * (inverse[1:] + inverse[:-1]))))
        return v, times

    def spike_duration(self) -> Any:
        """Latch set to release (s): T_pw, the timer's overshoot into the clear band, the latch's flips."""
        return self.params["t_pw"] * 1.016 + 4 * self.params["t_set"]

    def dc_rate(self, isyn: float, vthr: float) -> float:
        """Firing rate (Hz) under DC ``isyn``: 1 / (reset level to V_thr + spike); 0 if V_thr is out of reach."""
        _, times = self.time_table(isyn, 0.0, vthr)
        return 0.0 if not np.isfinite(times[-1]) or times[-1] > 1e3 else 1.0 / (times[-1] + self.spike_duration())

    def pulsed_spikes(self, isyn: float, width: float, frequency: float, duration: float, vthr: float,
                      steps: int = PULSE_STEPS) -> list[np.ndarray]:
        """Spike times (s) under pulses of ``isyn`` (A), ``width`` (s) at ``frequency`` (Hz), first pulse at
        half a period, membrane at V_rest, one array per parameter set (parameters may be arrays)."""
        return self._pulse_train(isyn, width, frequency, duration, vthr, steps)[0]

    def pulse_increments(self, isyn: float, width: float, frequency: float, pulses: int,
                         steps: int = PULSE_STEPS) -> np.ndarray:
        """The membrane's rise (V) over each of ``pulses`` periods of those pulses from V_rest, the threshold out of
        reach; shape (parameter sets, ``pulses``)."""
        _, levels = self._pulse_train(isyn, width, frequency, (pulses + 1) / frequency, math.inf, steps)
        return np.diff(np.stack([level.ravel() for level in levels], axis=-1), axis=-1)

    def _pulse_train(self, isyn: float, width: float, frequency: float, duration: float, vthr: float,
                     steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Spike times (:meth:`pulsed_spikes`) and the membrane at the start of every pulse.

        In a pulse the input stage activates exactly (:func:`_slew`), the DPI output relaxes exactly toward its target
        (held over each step at the activation of the step's midpoint) and the membrane takes ``steps``
        midpoint steps; between pulses the DPI's remaining charge (i*t_dpi) lands at once and the membrane
        relaxes exponentially toward V_rest (t_dpi and the pulse are short against the gap and the leak).
        A spike holds the membrane at 0 V for the spike's duration.
        """
        p = self.params
        shape = np.broadcast_shapes(*(np.shape(x) for x in p.values())) or (1,)
        t_dpi, c_mem, v_rest, t_on = (np.broadcast_to(p[n], shape) for n in ("t_dpi", "c_mem", "v_rest", "t_on"))
        speed_on, speed_off = np.broadcast_to(self.turn_on_speed(isyn), shape), A_FLOOR / t_on
        spike = np.broadcast_to(self.spike_duration(), shape)
        period, h = 1.0 / frequency, width / steps
        v, i, hold = np.array(v_rest, dtype=float), np.zeros(shape), np.full(shape, -1.0)
        active, settled = np.zeros(shape), self.activation(isyn)
        spikes: list[list[float]] = [[] for _ in range(int(np.prod(shape)))]
        levels: list[np.ndarray] = []
        t_end = 0.0
        for start in np.arange(0.5 * period, duration, period):
            gap = start - t_end
            before, free = v, hold < t_end
            tail = i * t_dpi * (1 - np.exp(-gap / t_dpi)) / c_mem
            v = v + tail * free
            fired = free & (v >= vthr)
            for n in np.flatnonzero(fired.ravel()):  # the DPI's tail charges the membrane past V_thr
                fraction = (vthr - before.ravel()[n]) / tail.ravel()[n]
                spikes[n].append(t_end - t_dpi.ravel()[n] * math.log(max(1 - fraction, 1e-12)))
            hold = np.where(fired, t_end + spike, hold)
            v = np.where(fired, 0.0, v)
            i = i * np.exp(-gap / t_dpi)
            active = _slew(active, 0.0, speed_off, gap)
            v = np.where(hold < start, self.relax(v, gap), v)
            levels.append(v)
            for k in range(steps):
                t = start + k * h
                target = self.dpi_target(isyn, _slew(active, settled, speed_on, 0.5 * h))
                active = _slew(active, settled, speed_on, h)
                i_mid = target + (i - target) * np.exp(-0.5 * h / t_dpi)
                free = hold < t
                half = v + 0.5 * h * self._evaluate(isyn, i, v)["v_mem"]
                v = np.where(free, v + h * self._evaluate(isyn, i_mid, half)["v_mem"], 0.0)
                i = target + (i - target) * np.exp(-h / t_dpi)
                for n in np.flatnonzero(free.ravel() & (v.ravel() >= vthr)):
                    spikes[n].append(t + h)
                hold = np.where(free & (v >= vthr), t + h + spike, hold)
                v = np.where(free & (v >= vthr), 0.0, v)
            t_end = start + width
        return [np.asarray(times) for times in spikes], levels


def _slew(active: Any, target: Any, speed: Any, dt: float) -> Any:
    """The input stage's activation ``dt`` (s) later: the exact solution of da/dt = speed*tanh((target - a)/A_SOFT)
    (sinh((target - a)/A_SOFT) decays as exp(-speed*t/A_SOFT))."""
    distance = np.sinh((target - active) / A_SOFT) * np.exp(-speed * dt / A_SOFT)
    return target - A_SOFT * np.arcsinh(distance)


def _silent_as_zero(rate: float | None) -> float:
    """A measured rate, 0 where the chain fired fewer than two spikes (no rate: NaN, stored as null)."""
    return float(rate) if rate is not None and math.isfinite(rate) else 0.0


def _rate(spikes: np.ndarray) -> float:
    return float(1.0 / np.mean(np.diff(spikes))) if len(spikes) >= 2 else 0.0


# ----------------------------------------------------------------------------- the fit

def t_down_of(data: ChainData) -> float:
    """The twin's t_down that gives the chain's downward leak time: from LEAK_START to 90 % of the way to V_rest
    the twin's membrane slews at V_BAND/t_down all the way (the last 10 % lies above the linear band)."""
    distance = 0.9 * (LEAK_START - data.biases["vrest"])
    if (LEAK_START - data.biases["vrest"]) - distance < V_BAND:
        raise ValueError(f"the leak's 90 % point lies inside the twin's linear band ({V_BAND} V above V_rest)")
    return V_BAND * data.t_down90 / distance


def fixed_params(data: ChainData) -> dict[str, float]:
    """Twin parameters taken from the chain without fitting: C_mem, V_rest, t_up, t_down and the direct share's law."""
    # the chain's up-leak is a constant current (0.9*V_rest in t_up90 from the reset level); the twin's is linear
    # (a DC solve starts at 0 V): its slope at the reset level 0 V, V_rest/t_up, is set to the chain's
    fixed = {"c_mem": data.c1, "v_rest": data.biases["vrest"], "t_up": data.t_up90 / 0.9,
             "t_down": t_down_of(data)}
    if data.direct:
        fixed.update(bypass=data.direct["bypass"], q_bypass=data.direct["q_bypass"])
    return fixed


FI_FREE = ("i_gain", "i_tau", "p_gain", "k_soft", "v_gain", "v_sat", "t_pw")
"""Fitted to the f-I calibration points (a smooth least-squares problem)."""
I_TAU_STARTS = (1e-9, 5e-9, 1e-8, 2e-8, 5e-8, 1e-7)
"""Starting values of I_tau (A) of the f-I fit; the best of the fits is kept."""
T_ON_GRID, T_ON_RANGE = 401, (0.1e-6, 20e-6)
"""Candidates of t_on (log-spaced over the range, s; 1.3 % apart) of the pulsed fit."""
T_DPI_GRID, T_DPI_RANGE = 5, (0.1e-6, 10e-6)
"""Candidates of t_dpi (log-spaced over the range, s) of the pulsed fit."""
N_ON_GRID, N_ON_RANGE = 15, (2.0, 30.0)
"""Candidates of n_on (log-spaced over the range) of the pulsed fit."""
TIE = 0.01
"""Relative margin of the pulsed fit's cost within which grid triples count as equal (the shortest t_dpi wins)."""


def fit_twin(data: ChainData, max_nfev: int = 400) -> tuple[dict[str, float], Any]:
    """Calibrate the twin on the calibration points of ``data``, in two stages.

    1. lmfit (least squares of log(twin / chain)) of :data:`FI_FREE` on the f-I points, from each start
       of :data:`I_TAU_STARTS`; the fit with the least chi-square is kept.
    2. t_on, n_on and t_dpi on the membrane's rise per input pulse at the calibration widths (:func:`_fit_pulsed`):
       the best triple of a :data:`T_ON_GRID` x :data:`N_ON_GRID` x :data:`T_DPI_GRID` log grid (of triples within
       :data:`TIE` of the best cost, the one with the shortest t_dpi).

    t_down is not fitted: the twin's down-leak is the chain's constant current, whose slew the measured
    downward leak time gives (:func:`t_down_of`).

    Returns
    -------
    (dict, lmfit.MinimizerResult)
        Every fitted and fixed value, and the lmfit result of stage 1.
    """
    fixed = {**fixed_params(data), "t_on": 1e-9, "n_on": 1.0, "t_dpi": 1e-6}
    fi = [row for row in data.fi if row["role"] == "calibration" and row["rate"] > 0]
    best = min((_fit_fi(data, fixed, fi, i_tau, max_nfev) for i_tau in I_TAU_STARTS), key=lambda r: r[1].chisqr)
    values = {**best[0], **_fit_pulsed(data, best[0])}
    return values, best[1]


def _fit_fi(data: ChainData, fixed: Mapping[str, float], fi: Sequence[Mapping[str, Any]], i_tau: float,
            max_nfev: int) -> tuple[dict[str, float], Any]:
    import lmfit

    model = get_device("lif_neuron")
    start = {"i_gain": 10 * i_tau, "i_tau": i_tau, "p_gain": 1.0, "k_soft": 0.1, "v_gain": 2.1, "v_sat": 0.2,
             "t_pw": data.pulse_width}
    params = lmfit.Parameters()
    for name in FI_FREE:
        lo, hi = model.param(name).bounds
        if name.startswith(("i_", "t_", "k_")):  # fitted in log10: decades apart
            params.add(f"log_{name}", math.log10(start[name]), min=math.log10(max(lo, 1e-15)), max=math.log10(hi))
        else:
            params.add(name, start[name], min=lo, max=hi)

    def values(p: lmfit.Parameters) -> dict[str, float]:
        return {**fixed, **{n: (10 ** p[f"log_{n}"].value if f"log_{n}" in p else p[n].value) for n in FI_FREE}}

    def residual(p: lmfit.Parameters) -> np.ndarray:
        twin = TwinModel(values(p), data.biases["vdd"])
        return np.asarray([math.log(max(twin.dc_rate(r["isyn"], r["vthr"]), 1e-3) / r["rate"]) for r in fi])

    result = lmfit.minimize(residual, params, method="least_squares", max_nfev=max_nfev)
    return values(result.params), result


def _fit_pulsed(data: ChainData, values: Mapping[str, float]) -> dict[str, float]:
    """t_on, n_on and t_dpi: the best triple of a log grid on the membrane's rise per input pulse at the calibration
    widths.

    The rise per period is a smooth function of all three, where the pulsed rate is a step function (a whole input
    period more or less per spike); the cost is the sum of squared differences (V) of every pulse's rise, so a short
    pulse's few millivolts weigh as much as a long one's.
    """
    rows = [row for row in data.increments if row["role"] == "calibration"]
    t_on, n_on, t_dpi = (a.ravel() for a in np.meshgrid(np.geomspace(*T_ON_RANGE, T_ON_GRID),
                                                        np.geomspace(*N_ON_RANGE, N_ON_GRID),
                                                        np.geomspace(*T_DPI_RANGE, T_DPI_GRID)))
    twin = TwinModel({**values, "t_on": t_on, "n_on": n_on, "t_dpi": t_dpi}, data.biases["vdd"])
    cost = np.zeros_like(t_on)
    for row in rows:
        chain = np.asarray(row["kept"])
        kept = twin.pulse_increments(PULSE_UA * 1e-6, row["width"], PULSE_HZ, chain.size)
        cost = cost + np.sum((kept - chain) ** 2, axis=-1)
    # the rises may leave t_dpi undetermined (0.1 and 0.3 us give the same to 0.1 mV); within TIE of the best cost
    # the shortest t_dpi is taken, the DPI's own time constant C_syn U_T / (kappa I_tau) being about 0.1 us
    near = cost <= cost.min() * (1.0 + TIE)
    best = int(np.flatnonzero(near)[np.lexsort((cost[near], t_dpi[near]))[0]])
    return {"t_on": float(t_on[best]), "n_on": float(n_on[best]), "t_dpi": float(t_dpi[best])}


# ----------------------------------------------------------------------------- the twin in ngspice

def _twin_netlist(source: str, t_stop: float, params: Mapping[str, float], biases: Mapping[str, float],
                  vthr: float, t_max: float, r_syn: float = R_SYN) -> tuple[str, list[str]]:
    """The twin chain (R_syn + ldo_attenuator + lif_neuron, OSDI builds) under input ``source`` (on node ``in``)."""
    from veriloga import compile_model

    lif, ldo = get_device("lif_neuron"), get_device("ldo_attenuator")
    lines = ["LIF twin (ldo_attenuator + lif_neuron)", f"Vvdd vdd 0 {format_number(biases['vdd'])}",
             f"Vthr thr 0 {format_number(vthr)}", source, f"Rsyn in syn {format_number(r_syn)}",
             *format_instance(ldo, "ldo", ["syn", "nin"], {"v_ref": biases["vref"], "k": K_NOMINAL}, "osdi"),
             *format_instance(lif, "lif", ["vdd", "nin", "thr", "out"], params, "osdi"),
             TWIN_OPTIONS, f".tran {format_number(t_max)} {format_number(t_stop)} 0 {format_number(t_max)}", ".end"]
    return "\n".join(lines) + "\n", [str(compile_model(lif)), str(compile_model(ldo))]


def _spikes(netlist: str, osdi: Sequence[str], vdd: float) -> np.ndarray:
    result = run_netlist(netlist, osdi=osdi)
    return crossings(result["time"], result["out"], vdd / 2)


def twin_spike_train(isyn: float, t_stop: float, params: Mapping[str, float], biases: Mapping[str, float],
                     vthr: float, t_on: float = 1e-6, r_syn: float = R_SYN) -> np.ndarray:
    """Spike times (s) of the twin in ngspice under the chain's DC stimulus (``isyn`` through ``r_syn``, switched on
    at ``t_on``)."""
    from testbenches.lif.circuit import Biases
    from testbenches.lif.neuron import step_source

    source = step_source("Vin", "in", Biases(**biases), isyn, t_on, r_syn)
    return _spikes(*_twin_netlist(source, t_stop, params, biases, vthr, t_stop / 2000, r_syn), biases["vdd"])


def twin_pulsed(width: float, duration: float, params: Mapping[str, float], biases: Mapping[str, float],
                amplitude: float = PULSE_UA * 1e-6, frequency: float = PULSE_HZ) -> np.ndarray:
    """Spike times (s) of the twin in ngspice under the chain's input pulses."""
    from testbenches.lif.circuit import Biases
    from testbenches.lif.neuron import pulse_source

    period = 1.0 / frequency
    # the chain's PWL pulses (every corner a breakpoint, so no pulse is stepped over) and steps of period/500 at
    # most: much longer ones can step over a spike whose threshold crossing falls at the very end of a pulse (the
    # latch then sees too little overdrive)
    source = pulse_source("Vin", "in", Biases(**biases), amplitude, width, period, 0.5 * period, duration)
    return _spikes(*_twin_netlist(source, duration, params, biases, biases["vthr"], period / 500), biases["vdd"])


def twin_increments(width: float, pulses: int, params: Mapping[str, float], biases: Mapping[str, float],
                    amplitude: float = PULSE_UA * 1e-6, frequency: float = PULSE_HZ) -> list[float]:
    """The twin's membrane rise (V) in ngspice over each of ``pulses`` periods of the chain's input pulses from
    V_rest, the threshold at V_dd (no spike)."""
    from testbenches.lif.circuit import Biases
    from testbenches.lif.neuron import pulse_source

    period = 1.0 / frequency
    t_stop = (pulses + 0.5) * period
    source = pulse_source("Vin", "in", Biases(**biases), amplitude, width, period, 0.5 * period, t_stop)
    netlist, osdi = _twin_netlist(source, t_stop, params, biases, biases["vdd"], period / 500)
    result = run_netlist(netlist, osdi=osdi)
    levels = np.interp((np.arange(pulses + 1) + 0.5) * period, result["time"], result["nlif#v_mem"])
    return np.diff(levels).tolist()


def _relative(twin: float, chain: float) -> float:
    return float(twin / chain - 1) if chain > 0 and np.isfinite(chain) else math.nan


def track(data: ChainData, params: Mapping[str, float]) -> dict[str, Any]:
    """The calibrated twin simulated in ngspice at every point of ``data``: rates, spike times, errors."""
    b = data.biases
    fi = []
    for row in data.fi:
        period = 1.0 / row["rate"] if row["rate"] > 0 else 1e-3
        spikes = twin_spike_train(row["isyn"], 1e-6 + 4.5 * period, params, b, row["vthr"],
                                  r_syn=read_resistance(row["isyn"]))
        fi.append({**row, "twin": _rate(spikes), "error": _relative(_rate(spikes), row["rate"])})
    pulsed = []
    for row in data.pulsed:
        spikes = twin_pulsed(row["width"], row["duration"], params, b)
        pulsed.append({**row, "twin": _rate(spikes), "error": _relative(_rate(spikes), row["rate"])})
    increments = []
    for row in data.increments:
        twin = twin_increments(row["width"], len(row["kept"]), params, b)
        increments.append({**row, "twin": twin, "error": max((_relative(t, c) for t, c in zip(twin, row["kept"])),
                                                             key=abs)})
    twin_train = twin_spike_train(TRAIN_UA * 1e-6, TRAIN_S, params, b, b["vthr"])
    chain_train = np.asarray(data.train)
    n = min(len(twin_train), len(chain_train))
    shift = np.abs(twin_train[:n] - chain_train[:n])
    isi = float(np.mean(np.diff(chain_train))) if len(chain_train) >= 2 else math.nan
    train = {"chain": chain_train.tolist(), "twin": twin_train.tolist(),
             "max_shift": float(np.max(shift)) if n else math.nan,
             "max_shift_isi": float(np.max(shift)) / isi if n else math.nan,
             "count_chain": len(chain_train), "count_twin": len(twin_train)}
    return {"fi": fi, "pulsed": pulsed, "increments": increments, "train": train}


def _worst(rows: Sequence[Mapping[str, Any]], role: str) -> float:
    errors = [abs(r["error"]) for r in rows if r["role"] == role]
    return float(np.nanmax(errors)) if errors and np.isfinite(errors).any() else math.nan


# ----------------------------------------------------------------------------- report

def format_figure(data: ChainData, tracked: Mapping[str, Any], path: Path) -> Path:
    """PNG: f-I of chain (markers) and twin (lines) per V_thr; spike times of the held-out run; pulsed rates; the
    membrane's rise per pulse."""
    plt = pyplot()
    fig, (fi_ax, train_ax, pulse_ax, rise_ax) = plt.subplots(1, 4, figsize=(18, 4.2))
    for k, vthr in enumerate(VTHR):
        rows = sorted((r for r in tracked["fi"] if r["vthr"] == vthr), key=lambda r: r["isyn"])
        i_ua = [1e6 * r["isyn"] for r in rows]
        fi_ax.loglog(i_ua, [r["twin"] for r in rows], "-", color=f"C{k}", label=f"twin, V_thr {vthr:g} V")
        for role, marker in (("calibration", "o"), ("held out", "x")):
            part = [r for r in rows if r["role"] == role]
            fi_ax.loglog([1e6 * r["isyn"] for r in part], [r["rate"] for r in part], marker, color=f"C{k}",
                         mfc="none", label=f"chain ({role})" if k == 0 else None)
    fi_ax.set(xlabel="I_syn (µA)", ylabel="firing rate (Hz)", title="f-I: twin vs transistor chain")
    fi_ax.legend(fontsize=7)
    train = tracked["train"]
    for y, (name, times) in enumerate((("chain", train["chain"]), ("twin", train["twin"]))):
        train_ax.vlines(1e6 * np.asarray(times), y + 0.6, y + 1.4, color=f"C{y}", label=name)
    train_ax.set(xlabel="time (µs)", yticks=[1, 2], yticklabels=["chain", "twin"],
                 title=f"spike times at {TRAIN_UA:g} µA (held out): max shift {1e6 * train['max_shift']:.2g} µs")
    widths = [1e6 * r["width"] for r in tracked["pulsed"]]
    pulse_ax.plot(widths, [r["rate"] for r in tracked["pulsed"]], "o", mfc="none", label="chain")
    pulse_ax.plot(widths, [r["twin"] for r in tracked["pulsed"]], "x", label="twin")
    pulse_ax.set(xlabel="input pulse width (µs)", ylabel="firing rate (Hz)",
                 title=f"{PULSE_UA:g} µA pulses at {PULSE_HZ:g} Hz")
    pulse_ax.legend(fontsize=8)
    rises = sorted(tracked.get("increments", []), key=lambda r: r["width"])
    for role, marker in (("calibration", "o"), ("held out", "x")):
        part = [r for r in rises if r["role"] == role]
        rise_ax.plot([1e6 * r["width"] for r in part], [1e3 * r["kept"][0] for r in part], marker, color="C0",
                     mfc="none", label=f"chain ({role})")
    rise_ax.plot([1e6 * r["width"] for r in rises], [1e3 * r["twin"][0] for r in rises], "-", color="C1", label="twin")
    rise_ax.set(xlabel="input pulse width (µs)", ylabel="membrane rise over the first period (mV)",
                title="rise per pulse from V_rest (no spike)")
    rise_ax.legend(fontsize=8)
    return save_figure(fig, path, 120)


@register_study
class LifTwin(Study):
    """The behavioural LIF twin calibrated with lmfit to the transistor-level chain; rates and spike times tracked."""

    name = "lif-twin"
    code = (__name__, "testbenches.lif.circuit", "testbenches.lif.neuron")
    family = "lif"
    options = (Setting("max_nfev", 400, "most evaluations of the least-squares fit", bounds=(1, 5000)),
               Setting("ship", False, "also update the package's calibration file (lif_neuron.json)"))
    measures = {
        "fi_cal_max_error": Measure("", "worst |twin/chain - 1| of the f-I calibration points (ngspice twin)"),
        "fi_held_max_error": Measure("", "worst |twin/chain - 1| of the held-out f-I points (ngspice twin)"),
        "pulsed_cal_max_error": Measure("", "worst |twin/chain - 1| of the pulsed calibration points"),
        "pulsed_held_max_error": Measure("", "worst |twin/chain - 1| of the held-out pulsed points"),
        "rise_cal_max_error": Measure("", "worst |twin/chain - 1| of the membrane's rise per pulse at the calibration "
                                          "widths (ngspice twin)"),
        "rise_held_max_error": Measure("", "worst |twin/chain - 1| of the rise per pulse at the held-out widths"),
        "train_max_shift": Measure("s", "largest spike-time difference of the held-out 300 us run"),
        "train_max_shift_isi": Measure("", "the same over the chain's mean inter-spike interval"),
        **{name: Measure(unit, f"fitted {name}") for name, unit in
           (("i_gain", "A"), ("i_tau", "A"), ("p_gain", ""), ("k_soft", ""), ("v_gain", "V"), ("v_sat", "V"),
            ("t_pw", "s"), ("t_on", "s"), ("n_on", ""), ("t_dpi", "s"))},
        "t_down": Measure("s", "down-leak constant (its slew V_BAND/t_down), from the chain's measured leak time"),
        "bypass": Measure("", "direct share of I_in reaching C1 (M_by) at I_in = 100 nA, measured by operating points"),
        "q_bypass": Measure("", "exponent of I_in in the direct share, measured by operating points"),
        "direct_share_law_error": Measure("", "largest |law/chain - 1| of the direct share's power law (membrane 0 V)"),
    }
    # no ``devices``: the twin's parameters are this study's output, and a definition holding them would
    # change with every shipped calibration and throw the chain's stored simulations away

    def depends_on(self) -> Mapping[str, Any]:
        """The chain it is fitted to (:func:`~testbenches.lif.circuit.chain_definition`): a redesign changes the key."""
        from testbenches.lif.circuit import chain_definition

        return chain_definition()

    def run(self, ctx: StudyContext) -> StudyResult:
        ctx.say(f"{self.name}: sampling the transistor chain ({len(fi_points())} f-I points, "
                f"{len(pulse_points())} pulsed runs, leak, pulse width, spike train; about 1 minute)")
        raw = ctx.step("chain", lambda: vars(sample_chain(ctx.step)))
        data = ChainData(**raw)
        data.direct = ctx.step("direct_share", lambda: measure_direct_share(data.biases))
        ctx.say(f"{self.name}: direct share (M_by) {data.direct['bypass']:.4g} of I_in at 100 nA, exponent "
                f"{data.direct['q_bypass']:.4g} (law within {100 * data.direct['worst']:.1f} % over "
                f"{BYPASS_UA[0]:g}-{BYPASS_UA[-1]:g} uA)")
        for row in (*data.fi, *data.pulsed):  # a stored NaN reads back as None: fewer than two spikes
            row["rate"] = _silent_as_zero(row["rate"])
        ctx.say(f"{self.name}: lmfit of {', '.join(FREE)}")
        values, result = fit_twin(data, ctx.options["max_nfev"])
        calibrated = {name: significant(values[name], DIGITS) for name in (*FREE, *FIXED)}
        params = {**calibrated, "v_rest": values["v_rest"]}
        ctx.say(f"{self.name}: the calibrated twin in ngspice at every point")
        tracked = track(data, params)
        written = update("lif_neuron", ctx.out, values=calibrated, source=ctx.citation(), ship=ctx.options["ship"])
        if ctx.options["ship"]:  # the device's defaults are read when it registers: a new process must re-emit
            ctx.say(f"{self.name}: shipped; rewrite the library files with 'spicegen emit --all --update-package'")
        report = {"values": calibrated, "fixed": fixed_params(data), "chain": raw, "direct": data.direct,
                  "tracked": tracked,
                  "lmfit": {"nfev": int(result.nfev), "chisqr": float(result.chisqr), "success": bool(result.success),
                            "message": str(result.message)}}
        write_json(ctx.out / "twin_fit.json", report)
        figure = format_figure(data, tracked, ctx.out / "lif_twin.png")
        measurements = {"fi_cal_max_error": _worst(tracked["fi"], "calibration"),
                        "fi_held_max_error": _worst(tracked["fi"], "held out"),
                        "pulsed_cal_max_error": _worst(tracked["pulsed"], "calibration"),
                        "pulsed_held_max_error": _worst(tracked["pulsed"], "held out"),
                        "rise_cal_max_error": _worst(tracked["increments"], "calibration"),
                        "rise_held_max_error": _worst(tracked["increments"], "held out"),
                        "train_max_shift": tracked["train"]["max_shift"],
                        "train_max_shift_isi": tracked["train"]["max_shift_isi"],
                        "direct_share_law_error": data.direct["worst"],
                        **{name: calibrated[name] for name in (*FREE, "t_down", "bypass", "q_bypass")}}
        return StudyResult(measurements, data=report, files=["twin_fit.json", written[0].name, figure.name])
