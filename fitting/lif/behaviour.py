"""Which of the LIF paper's numbers one neuron can reach: the most general behavioural neuron, fitted.

Garg et al., "Versatile CMOS Analog LIF Neuron for Memristor-Integrated Neuromorphic Circuits", report
rates, pulse widths and leak times of one neuron in Figs. 3A, 4A, 4D, 4E and 6A-E. This module asks
whether any single neuron reproduces all of them, independent of a transistor circuit:

* :class:`Neuron` is a behavioural LIF evaluated in numpy (no simulator): the membrane
  ``C1 dV/dt = g(I_n) - leak(V)`` charges from the reset level 0 V to ``V_thr + v_off`` (comparator
  offset), then the neuron is held at 0 V for the pulse width ``T_pw(V_pw)`` (= refractory) plus a
  comparator delay. ``g`` is a gain law of the neuron current ``I_n = I_syn / 500`` (linear; a
  DPI-type current threshold ``((I_n - I_t)+)^p``; or a monotone piecewise power law), normalised
  so that ``g(80 nA) = 80 nA`` (a steady 80 nA, the paper's 40 µA after the attenuator, reaches C1
  unchanged, so ``C1`` is the capacitance under that normalisation; the data fix only ``g / C1``). The leak pulls V toward
  ``V_rest = 0.6 V`` with a saturating (tanh) or linear law whose current follows ``V_taun`` (down)
  through an EKV law (exponential in subthreshold, quadratic above threshold) and ``V_taup`` (up)
  exponentially. ``T_pw`` follows an EKV law of ``V_pw`` (subthreshold to strong
  inversion). Pulsed input passes a first-order low-pass before the gain law.
* :data:`POINTS` are the paper's numbers as functions of the neuron; :func:`fit` fits them all at once
  with lmfit (least squares on ``ln(model / paper)``, many starts); :func:`profile` weights one point
  heavily to find the smallest residual the fit reaches for it and which points then give way (a
  multi-start local fit: "not reached" means not reached by any fit found, not a proof).
* The study ``lif-behaviour`` runs all of it (table, implied circuit values, figure; the joint fit's
  values as measurements).

Readings of what the paper leaves open (:class:`Reading`): the threshold of Figs. 3A and 6 (Table I's
1.2 V, or free in 0.7-2.5 V), and the extremes "8 Hz - 25 kHz" of Fig. 3A (the corners of the
R_syn x V_read grid, or the extremes of the points that fired: then the 1 MΩ / 100 mV corner fires at
most 8 Hz).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["K", "V_REST", "I_REF", "GAIN_LAWS", "LEAK_LAWS", "Neuron", "Reading", "PaperPoint", "POINTS",
           "READINGS", "Profile", "Fit", "predict", "residuals", "parameter_space", "neuron_of", "fit", "profile", "reached",
           "survey", "polish", "earlier_starts", "fit_record", "fit_from_record", "format_table", "implied", "format_figure"]

K = 500.0
"""Attenuation of the current attenuator (I_n = I_syn / K)."""
V_REST = 0.6
"""Resting potential (V)."""
V_REACHED = 0.02
"""A leak has reached V_rest when the membrane is this close to it (V)."""
I_REF = 80e-9
"""Neuron current of the pulsed experiments (40 µA / 500), where the gain law is normalised to 1 (A)."""
KNOTS = (0.2e-9, 20e-9, 80e-9, 400e-9)
"""Knots of the piecewise power law (A): the neuron currents of the paper's points."""
U_T = 0.02585
"""Thermal voltage at 300 K (V)."""
GAIN_LAWS = ("linear", "dpi", "piecewise")
LEAK_LAWS = ("tanh", "linear")
FLOOR = 1e-6
"""A model value below this fraction of the paper's (a neuron that does not fire: rate 0) counts as this
fraction, so ln(model / paper) stays finite."""
MAX_PULSES = 1000
"""Input pulses followed before a pulsed neuron counts as silent."""


# ----------------------------------------------------------------------------- the neuron


@dataclass(frozen=True)
class Neuron:
    """A behavioural LIF neuron (SI units).

    Parameters
    ----------
    c1
        Membrane capacitance (F), under the normalisation ``g(80 nA) = 80 nA``.
    gain_law
        ``"linear"`` (g = I), ``"dpi"`` (g ∝ ((I - i_t)+)^p) or ``"piecewise"`` (log-log slopes
        between :data:`KNOTS`, continued beyond the end knots).
    gain
        The law's parameters: ``()``, ``(i_t, p)`` or the three slopes.
    leak_law
        ``"tanh"`` (saturating: current i·tanh(ΔV / v_leak)) or ``"linear"`` (i·ΔV / v_leak).
    i_down, i_up
        Leak currents scale (A) at V_taun = 1.2 V (down) and V_taup = 1.2 V (up).
    leak_slope
        V_taun (V_taup) per e-fold of the leak current in subthreshold (V); higher V_taun leaks faster,
        higher V_taup slower.
    leak_vt
        Threshold of the down-leak transistor (V): above it the current grows as in strong inversion (EKV
        law ``ln²(1 + exp((V_taun - leak_vt) / (2 leak_slope)))``), far below it exponentially.
    v_leak
        Voltage scale of the leak law (V).
    t_s, v_t, n_ekv
        EKV pulse width ``T_pw = t_s / ln²(1 + exp((V_pw - v_t) / (2 n U_T)))`` (s, V, -).
    v_off
        Comparator offset: the membrane fires at V_thr + v_off (V).
    t_d
        Comparator and reset delay added to every period (s).
    tau_in
        Time constant of the input low-pass seen by pulsed input (s).
    """

    c1: float = 3e-12
    gain_law: str = "linear"
    gain: tuple[float, ...] = ()
    leak_law: str = "tanh"
    i_down: float = 5e-12
    i_up: float = 5e-12
    leak_slope: float = 0.05
    leak_vt: float = 3.0
    v_leak: float = 0.1
    t_s: float = 1e-5
    v_t: float = 0.7
    n_ekv: float = 1.5
    v_off: float = 0.0
    t_d: float = 0.0
    tau_in: float = 1e-7

    def g(self, current: np.ndarray | float) -> np.ndarray:
        """Current charging C1 (A) for a neuron input current (A)."""
        i = np.maximum(np.asarray(current, dtype=float), 0.0)
        if self.gain_law == "linear":
            return i
        if self.gain_law == "dpi":
            i_t, p = self.gain
            return I_REF * (np.maximum(i - i_t, 0.0) / (I_REF - i_t)) ** p
        if self.gain_law == "piecewise":
            return I_REF * np.exp(_piecewise_log_gain(np.log(np.maximum(i, 1e-30)), self.gain))
        raise ValueError(f"gain_law {self.gain_law!r} is not one of {', '.join(GAIN_LAWS)}.")

    def leak_currents(self, vtaun: float | np.ndarray, vtaup: float | np.ndarray = 1.2) -> tuple[Any, Any]:
        """(down, up) leak current scales (A) at the biases V_taun, V_taup (V)."""
        def drive(v: Any) -> Any:
            return np.logaddexp(0.0, (np.asarray(v) - self.leak_vt) / (2 * self.leak_slope)) ** 2

        return (self.i_down * drive(vtaun) / drive(1.2),
                self.i_up * np.exp(-(np.asarray(vtaup) - 1.2) / self.leak_slope))

    def leak(self, v: np.ndarray, vtaun: float | np.ndarray = 1.2, vtaup: float | np.ndarray = 1.2) -> np.ndarray:
        """Net leak current out of C1 (A) at membrane voltage ``v`` (positive above V_rest)."""
        down, up = self.leak_currents(vtaun, vtaup)
        x = (np.asarray(v, dtype=float) - V_REST) / self.v_leak
        shape = np.tanh(x) if self.leak_law == "tanh" else x
        return np.where(x > 0, down, up) * shape

    def t_pw(self, vpw: float | np.ndarray) -> np.ndarray:
        """Output pulse width = refractory time (s) at the bias V_pw (V)."""
        drive = np.log1p(np.exp((np.asarray(vpw, dtype=float) - self.v_t) / (2 * self.n_ekv * U_T)))
        return self.t_s / drive ** 2

    def dc_rate(self, current: np.ndarray, vthr: np.ndarray, vpw: np.ndarray | float = 1.0) -> np.ndarray:
        """Firing rate (Hz) under a DC neuron current (A) at threshold V_thr and pulse bias V_pw (V)."""
        current, vthr = np.broadcast_arrays(np.asarray(current, float), np.asarray(vthr, float))
        target = np.maximum(vthr + self.v_off, 1e-3)
        v = target[..., None] * np.linspace(0.0, 1.0, 129)
        net = self.g(current)[..., None] - self.leak(v)
        fires = np.all(net > 0, axis=-1)
        dv_dt = np.where(net > 0, net, np.inf) / self.c1
        t_int = np.trapezoid(1 / dv_dt, v, axis=-1)
        period = t_int + self.t_pw(vpw) + self.t_d
        return np.where(fires, 1 / period, 0.0)

    def relax(self, v: np.ndarray, duration: float | np.ndarray, vtaun: Any = 1.2, vtaup: Any = 1.2) -> np.ndarray:
        """Membrane voltage after ``duration`` (s) of leak alone, from ``v`` (closed form of both laws)."""
        down, up = self.leak_currents(vtaun, vtaup)
        x = (np.asarray(v, dtype=float) - V_REST) / self.v_leak
        rate = np.where(x > 0, down, up) * np.asarray(duration) / (self.c1 * self.v_leak)
        if self.leak_law == "tanh":
            x = np.arcsinh(np.sinh(np.clip(x, -30, 30)) * np.exp(-rate))
        else:
            x = x * np.exp(-rate)
        return V_REST + self.v_leak * x

    def leak_time(self, v_from: float, v_to: float, vtaun: Any = 1.2, vtaup: Any = 1.2) -> np.ndarray:
        """Time (s) the leak alone takes from ``v_from`` to ``v_to`` (same side of V_rest)."""
        down, up = self.leak_currents(vtaun, vtaup)
        x0, x1 = (v_from - V_REST) / self.v_leak, (v_to - V_REST) / self.v_leak
        scale = self.c1 * self.v_leak / (down if x0 > 0 else up)
        if self.leak_law == "tanh":
            return scale * math.log(math.sinh(abs(x0)) / math.sinh(abs(x1)))
        return scale * math.log(abs(x0) / abs(x1))

    def pulse_charge(self, current: float, width: np.ndarray) -> np.ndarray:
        """Charge (C) the gain law passes to C1 for rectangular input pulses of ``current`` (A), ``width`` (s)."""
        width = np.asarray(width, float)
        fraction = np.linspace(0.0, 1.0, 65)
        rise = np.minimum(8 * self.tau_in * fraction, width[..., None])
        t_on = np.sort(np.concatenate([width[..., None] * fraction, rise], axis=-1), axis=-1)
        on = self.g(current * -np.expm1(-t_on / self.tau_in))
        end = current * -np.expm1(-width / self.tau_in)
        t_off = 8 * self.tau_in * fraction
        off = self.g(end[..., None] * np.exp(-t_off / self.tau_in))
        return np.trapezoid(on, t_on, axis=-1) + np.trapezoid(off, t_off, axis=-1)

    def pulsed_rate(self, current: float, width: np.ndarray, period: float, vthr: float,
                    vtaun: np.ndarray | float = 1.2) -> np.ndarray:
        """Firing rate (Hz) under rectangular input pulses (neuron current ``current`` A, ``width`` s, every
        ``period`` s), from reset (0 V) to the first crossing: the membrane gains each pulse's charge and
        leaks in between (closed form).

        A spike can only fall within a pulse, so a real neuron fires after a whole number n of pulses,
        or alternates between n and n + 1 when charge is left over after the reset; the rate here counts
        the crossing pulse by the fraction of its charge needed (rate = 1 / (period · (n - 1 + fraction))),
        which lies between those and is smooth in the parameters, as a least-squares fit needs.
        """
        width, vtaun = np.broadcast_arrays(np.asarray(width, float), np.asarray(vtaun, float))
        step = self.pulse_charge(current, width) / self.c1
        target = vthr + self.v_off
        v = np.zeros(width.shape)
        pulses = np.full(width.shape, np.inf)
        for k in range(MAX_PULSES):
            v = self.relax(v, period - width, vtaun)
            crossing = np.isinf(pulses) & (v + step >= target)
            pulses = np.where(crossing, k + np.clip((target - v) / step, 0.0, 1.0), pulses)
            if not np.isinf(pulses).any():
                break
            v = v + step
        return np.where(np.isfinite(pulses), 1 / (period * np.maximum(pulses, 1e-9)), 0.0)


def _piecewise_log_gain(log_i: np.ndarray, slopes: Sequence[float]) -> np.ndarray:
    """ln(g / I_REF) of the monotone piecewise power law through :data:`KNOTS` (g(I_REF) = I_REF)."""
    log_knots = np.log(KNOTS)
    log_g = np.concatenate([[0.0], np.cumsum(np.asarray(slopes) * np.diff(log_knots))])
    log_g -= np.interp(np.log(I_REF), log_knots, log_g)
    below = log_g[0] + slopes[0] * (log_i - log_knots[0])
    above = log_g[-1] + slopes[-1] * (log_i - log_knots[-1])
    inside = np.interp(log_i, log_knots, log_g)
    return np.where(log_i < log_knots[0], below, np.where(log_i > log_knots[-1], above, inside))


# ----------------------------------------------------------------------------- the paper's numbers


@dataclass(frozen=True)
class PaperPoint:
    """One number of Garg et al. and how the model is compared with it.

    ``kind``: ``"="`` (residual ln(model / paper)), ``"<="`` or ``">="`` (a bound: residual only on the
    wrong side)."""

    name: str
    figure: str
    what: str
    paper: float
    unit: str
    kind: str = "="

    def residual(self, model: float) -> float:
        """ln(model / paper), or 0 on the allowed side of a bound."""
        r = math.log(max(model / self.paper, FLOOR))
        return max(r, 0.0) if self.kind == "<=" else min(r, 0.0) if self.kind == ">=" else r


def _points(fig3a_min_kind: str) -> tuple[PaperPoint, ...]:
    return (
        PaperPoint("fi_1.8V_10uA", "Fig. 4A", "rate, V_thr 1.8 V, 10 µA DC", 419.0, "Hz"),
        PaperPoint("fi_1.8V_200uA", "Fig. 4A", "rate, V_thr 1.8 V, 200 µA DC", 59e3, "Hz"),
        PaperPoint("fi_0.8V_10uA", "Fig. 4A", "rate, V_thr 0.8 V, 10 µA DC", 800.0, "Hz"),
        PaperPoint("fi_0.8V_200uA", "Fig. 4A", "rate, V_thr 0.8 V, 200 µA DC", 68e3, "Hz"),
        PaperPoint("tpw_0.45V", "Fig. 4E", "pulse width, V_pw 0.45 V", 20e-3, "s"),
        PaperPoint("tpw_1.0V", "Fig. 4E", "pulse width, V_pw 1.0 V", 10e-6, "s"),
        PaperPoint("max_0.8V", "Fig. 4D", "rate at 200 µA, V_pw 0.8 V (V_thr 1.2 V)", 20e3, "Hz"),
        PaperPoint("max_1.1V", "Fig. 4D", "rate at 200 µA, V_pw 1.1 V (V_thr 1.2 V)", 92e3, "Hz"),
        PaperPoint("rsyn_max", "Fig. 3A", "rate, 10 kΩ × 400 mV (40 µA)", 25e3, "Hz"),
        PaperPoint("rsyn_min", "Fig. 3A", "rate, 1 MΩ × 100 mV (0.1 µA)", 8.0, "Hz", fig3a_min_kind),
        PaperPoint("pulse_10us", "Fig. 6A", "rate, 40 µA × 10 µs pulses at 100 Hz", 8.0, "Hz"),
        PaperPoint("pulse_7us", "Fig. 6B", "rate, 40 µA × 7 µs pulses at 100 Hz", 2.0, "Hz"),
        PaperPoint("pulse_15us", "Fig. 6B", "rate, 40 µA × 15 µs pulses at 100 Hz", 18.0, "Hz"),
        PaperPoint("taun_lower_leak", "Fig. 6C", "rate, 10 µs pulses, lower leak (V_taun free in 1.0-1.2 V)",
                   12.0, "Hz"),
        PaperPoint("taun_higher_leak", "Fig. 6C", "rate, 10 µs pulses, higher leak (V_taun free in 1.2-1.35 V)",
                   2.0, "Hz"),
        PaperPoint("leak_1.35V", "Fig. 6D", "threshold → V_rest, V_taun 1.35 V", 8e-3, "s"),
        PaperPoint("leak_1.0V", "Fig. 6D", "threshold → V_rest, V_taun 1.0 V (more than)", 2.0, "s", ">="),
        PaperPoint("upleak_1.6V", "Fig. 6E", "0 V → V_rest, slowest V_taup 1.6 V (within)", 2.0, "s", "<="),
    )


@dataclass(frozen=True)
class Reading:
    """How the paper's unstated conditions are read.

    Parameters
    ----------
    vthr_fig3a, vthr_fig6
        Threshold (V) of Fig. 3A and of Fig. 6; ``None``: a free parameter in :data:`VTHR_FREE`.
    fig3a_min
        ``"corner"``: 8 Hz is the rate at the 1 MΩ / 100 mV corner; ``"firing"``: 8 Hz is the lowest
        rate among the points that fired, so that corner fires at most 8 Hz.
    """

    vthr_fig3a: float | None = 1.2
    vthr_fig6: float | None = 1.2
    fig3a_min: str = "corner"

    def __post_init__(self) -> None:
        if self.fig3a_min not in ("corner", "firing"):
            raise ValueError(f"fig3a_min = {self.fig3a_min!r} is not one of 'corner', 'firing'.")

    @property
    def label(self) -> str:
        """Short text naming the reading."""
        def thr(v: float | None) -> str:
            return "free" if v is None else f"{v:g} V"
        return (f"V_thr Fig. 3A {thr(self.vthr_fig3a)}, Fig. 6 {thr(self.vthr_fig6)}; "
                f"Fig. 3A 8 Hz at the {'grid corner' if self.fig3a_min == 'corner' else 'lowest firing point'}")

    @property
    def points(self) -> tuple[PaperPoint, ...]:
        """The paper's points under this reading."""
        return _points("=" if self.fig3a_min == "corner" else "<=")


VTHR_FREE = (0.7, 2.5)
"""Range (V) of a threshold the paper does not state, when left free."""
READINGS = {"table-i": Reading(), "free-vthr": Reading(None, None), "firing": Reading(fig3a_min="firing"),
            "free-vthr-firing": Reading(None, None, "firing")}
"""The readings compared: Table I's threshold or free, the Fig. 3A minimum at the corner or among firing points."""
POINTS = Reading().points
"""The paper's points under the Table I reading."""


def predict(neuron: Neuron, nuisance: Mapping[str, float], reading: Reading = Reading()) -> dict[str, float]:
    """The model's value of every paper point (same names as :attr:`Reading.points`).

    ``nuisance`` holds the conditions the paper does not state: ``vtaun_lower``, ``vtaun_higher`` (Fig. 6C)
    and, when the reading leaves them free, ``vthr_fig3a``, ``vthr_fig6``.
    """
    v3a = reading.vthr_fig3a if reading.vthr_fig3a is not None else nuisance["vthr_fig3a"]
    v6 = reading.vthr_fig6 if reading.vthr_fig6 is not None else nuisance["vthr_fig6"]
    dc = neuron.dc_rate(np.array([10, 200, 10, 200, 200, 200, 40, 0.1]) * 1e-6 / K,
                        np.array([1.8, 1.8, 0.8, 0.8, 1.2, 1.2, v3a, v3a]),
                        np.array([1.0, 1.0, 1.0, 1.0, 0.8, 1.1, 1.0, 1.0]))
    pulsed = neuron.pulsed_rate(I_REF, np.array([10, 7, 15, 10, 10]) * 1e-6, 10e-3, v6,
                                np.array([1.2, 1.2, 1.2, nuisance["vtaun_lower"], nuisance["vtaun_higher"]]))
    tpw = neuron.t_pw(np.array([0.45, 1.0]))
    values = [*dc[:4], *tpw, *dc[4:], *pulsed,
              neuron.leak_time(v6, V_REST + V_REACHED, vtaun=1.35) if v6 > V_REST + V_REACHED else 0.0,
              neuron.leak_time(v6, V_REST + V_REACHED, vtaun=1.0) if v6 > V_REST + V_REACHED else 0.0,
              neuron.leak_time(0.0, V_REST - V_REACHED, vtaup=1.6)]
    return {p.name: float(v) for p, v in zip(reading.points, values)}


# ----------------------------------------------------------------------------- fitting

_COMMON = {  # name: (start, lower, upper); log10 of the SI value where the name starts with "log_"
    "log_c1": (-11.8, -14.0, -9.0), "log_i_down": (-11.0, -15.0, -7.0), "log_i_up": (-11.0, -15.0, -7.0),
    "leak_slope": (0.06, 0.015, 0.3), "leak_vt": (2.0, 0.6, 3.0), "log_v_leak": (-1.0, -2.3, 0.5), "log_t_s": (-3.6, -9.0, -1.0),
    "v_t": (0.62, 0.0, 1.5), "n_ekv": (1.5, 1.0, 4.0), "v_off": (0.3, -0.3, 0.6), "t_d_us": (2.3, 0.0, 5.0),
    "log_tau_in": (-7.0, -9.0, -4.5), "vtaun_lower": (1.1, 1.0, 1.2), "vtaun_higher": (1.27, 1.2, 1.35)}
_GAIN = {"linear": {}, "dpi": {"i_t_frac": (0.2, 0.0, 0.95), "p": (1.0, 0.3, 4.0)},
         "piecewise": {"s1": (0.85, 0.0, 6.0), "s2": (3.0, 0.0, 6.0), "s3": (1.3, 0.0, 6.0)}}
SPREAD = 0.2
"""Half-width of the random starts around the first, as a fraction of each parameter's range."""
_VTHR = {"vthr_fig3a": (1.2, *VTHR_FREE), "vthr_fig6": (1.2, *VTHR_FREE)}


def parameter_space(gain_law: str, reading: Reading) -> dict[str, tuple[float, float, float]]:
    """Fitted parameters (start, lower, upper) of a gain law under a reading."""
    if gain_law not in GAIN_LAWS:
        raise ValueError(f"gain_law {gain_law!r} is not one of {', '.join(GAIN_LAWS)}.")
    free = {k: v for k, v in _VTHR.items() if getattr(reading, k) is None}
    return {**_COMMON, **_GAIN[gain_law], **free}


def neuron_of(values: Mapping[str, float], gain_law: str, leak_law: str = "tanh") -> tuple[Neuron, dict[str, float]]:
    """The :class:`Neuron` and the nuisance conditions for fitted parameter values."""
    gain: tuple[float, ...] = ()
    if gain_law == "dpi":
        gain = (values["i_t_frac"] * I_REF, values["p"])
    elif gain_law == "piecewise":
        gain = tuple(values[f"s{k}"] for k in (1, 2, 3))
    neuron = Neuron(c1=10 ** values["log_c1"], gain_law=gain_law, gain=gain, leak_law=leak_law,
                    i_down=10 ** values["log_i_down"], i_up=10 ** values["log_i_up"], leak_slope=values["leak_slope"],
                    leak_vt=values["leak_vt"],
                    v_leak=10 ** values["log_v_leak"], t_s=10 ** values["log_t_s"], v_t=values["v_t"],
                    n_ekv=values["n_ekv"], v_off=values["v_off"], t_d=values["t_d_us"] * 1e-6,
                    tau_in=10 ** values["log_tau_in"])
    nuisance = {k: values[k] for k in ("vtaun_lower", "vtaun_higher", "vthr_fig3a", "vthr_fig6") if k in values}
    return neuron, nuisance


def residuals(values: Mapping[str, float], gain_law: str, leak_law: str, reading: Reading,
              weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Weighted ln(model / paper) of every point (bounds: only on the wrong side)."""
    neuron, nuisance = neuron_of(values, gain_law, leak_law)
    model = predict(neuron, nuisance, reading)
    weights = weights or {}
    return np.array([weights.get(p.name, 1.0) * p.residual(model[p.name]) for p in reading.points])


@dataclass
class Fit:
    """The best of several lmfit runs: parameter values, the model's values and the residuals (ln)."""

    gain_law: str
    leak_law: str
    reading: Reading
    values: dict[str, float]
    model: dict[str, float]
    residual: dict[str, float]
    starts: int
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def cost(self) -> float:
        """Sum of squared unweighted residuals."""
        return float(sum(r * r for r in self.residual.values()))

    @property
    def neuron(self) -> Neuron:
        """The fitted neuron."""
        return neuron_of(self.values, self.gain_law, self.leak_law)[0]


def _one_fit(start: Mapping[str, float], space: Mapping[str, tuple[float, float, float]], gain_law: str,
             leak_law: str, reading: Reading, weights: Mapping[str, float], max_nfev: int) -> tuple[float, dict]:
    import lmfit

    params = lmfit.Parameters()
    for name, (_, lower, upper) in space.items():
        params.add(name, value=float(np.clip(start[name], lower, upper)), min=lower, max=upper)
    out = lmfit.minimize(lambda p: residuals(p.valuesdict(), gain_law, leak_law, reading, weights), params,
                         method="least_squares", max_nfev=max_nfev, x_scale="jac", calc_covar=False)
    values = out.params.valuesdict()
    return float(np.sum(residuals(values, gain_law, leak_law, reading, weights) ** 2)), dict(values)


def fit(gain_law: str = "piecewise", leak_law: str = "tanh", reading: Reading = Reading(), starts: int = 12,
        seed: int = 0, weights: Mapping[str, float] | None = None, firsts: Sequence[Mapping[str, float]] = (),
        max_nfev: int = 3000) -> Fit:
    """Fit every paper point at once (lmfit least squares on ln(model / paper)) from ``starts`` starts.

    Parameters
    ----------
    gain_law, leak_law
        See :class:`Neuron`.
    reading
        How unstated conditions are read.
    starts
        Number of starts: the nominal start, each of ``firsts``, then random points around the nominal
        (each parameter moved by up to :data:`SPREAD` of its range; starts spread over the whole box rarely
        converge).
    seed
        Seed of the random starts.
    weights
        Point name → weight of its residual (default 1).
    firsts
        Parameter values of further starts (e.g. earlier fits; parameters they lack keep the nominal).
    max_nfev
        Model evaluations per start.
    """
    if starts < 1:
        raise ValueError(f"starts = {starts} must be at least 1.")
    if leak_law not in LEAK_LAWS:
        raise ValueError(f"leak_law {leak_law!r} is not one of {', '.join(LEAK_LAWS)}.")
    space = parameter_space(gain_law, reading)
    rng = np.random.default_rng(seed)
    nominal = {k: v[0] for k, v in space.items()}
    initial = [nominal, *({**nominal, **{k: v for k, v in f.items() if k in space}} for f in firsts)]
    randoms = [{k: nominal[k] + SPREAD * (hi - lo) * rng.uniform(-1, 1) for k, (_, lo, hi) in space.items()}
               for _ in range(starts - len(initial))]
    weights = dict(weights or {})
    best = min((_one_fit(s, space, gain_law, leak_law, reading, weights, max_nfev) for s in initial + randoms),
               key=lambda r: r[0])
    neuron, nuisance = neuron_of(best[1], gain_law, leak_law)
    model = predict(neuron, nuisance, reading)
    residual = {p.name: p.residual(model[p.name]) for p in reading.points}
    return Fit(gain_law, leak_law, reading, best[1], model, residual, starts, weights)


PROFILE_WEIGHT = 30.0
"""Weight of the profiled point's residual in :func:`profile` (the others keep 1)."""
REACHED = 0.15
"""A point is reached when its model value is within this fraction of the paper's (15 %)."""


def reached(residual: float) -> bool:
    """Whether a residual ln(model / paper) is within :data:`REACHED`."""
    return abs(math.expm1(residual)) <= REACHED


@dataclass
class Profile:
    """One point weighted heavily: how close it gets and what the other points pay for it.

    Attributes
    ----------
    point
        The profiled point's name.
    residual
        Its residual (ln) in the weighted fit: the smallest any parameter choice found gives it.
    others_cost
        Sum of squared residuals of the other points in that fit.
    given_way
        The other points whose |residual| grew most against the joint fit, with their residuals (ln).
    """

    point: str
    residual: float
    others_cost: float
    given_way: list[tuple[str, float]]


def profile(joint: Fit, names: Sequence[str] | None = None, starts: int = 1, seed: int = 1,
            max_nfev: int = 600) -> list[Profile]:
    """Refit ``joint`` with one point at a time weighted :data:`PROFILE_WEIGHT` (starting from the joint fit).

    Parameters
    ----------
    joint
        The joint fit to start from and compare with.
    names
        Points to profile (default: every point the joint fit misses by more than 15 %).
    starts, seed, max_nfev
        As in :func:`fit` (the joint fit is one of the starts).
    """
    names = [n for n, r in joint.residual.items() if not reached(r)] if names is None else list(names)
    profiles = []
    for name in names:
        weighted = fit(joint.gain_law, joint.leak_law, joint.reading, starts, seed, {name: PROFILE_WEIGHT},
                       [joint.values], max_nfev)
        others = {n: r for n, r in weighted.residual.items() if n != name}
        grown = sorted(others, key=lambda n: abs(joint.residual[n]) - abs(others[n]))
        profiles.append(Profile(name, weighted.residual[name], float(sum(r * r for r in others.values())),
                                [(n, others[n]) for n in grown[:3] if abs(others[n]) > abs(joint.residual[n]) + 0.05]))
    return profiles


def survey(readings: Mapping[str, Reading] = READINGS, laws: Sequence[str] = GAIN_LAWS, starts: int = 3,
           seed: int = 0, leak_law: str = "tanh", max_nfev: int = 3000) -> dict[tuple[str, str], Fit]:
    """Joint fits of every gain law under every reading, (law, reading name) → :class:`Fit`.

    See :func:`earlier_starts` for the order and the starts they share; then every fit is polished
    (:func:`polish`) once.
    """
    fits: dict[tuple[str, str], Fit] = {}
    for name, reading in readings.items():
        for law in sorted(laws, key=lambda law: law != "piecewise"):
            fits[(law, name)] = fit(law, leak_law, reading, starts, seed, firsts=earlier_starts(fits, law),
                                    max_nfev=max_nfev)
    for key in fits:
        fits[key] = polish(fits, key, max_nfev)
    return fits


def polish(fits: Mapping[tuple[str, str], Fit], key: tuple[str, str], max_nfev: int = 3000) -> Fit:
    """``fits[key]`` refitted from the best other fit of the same law when that one, read under this
    fit's reading, is already better (a local optimum of one reading can be a poor start for another;
    this makes a reading that relaxes another never fit worse than it)."""
    current = fits[key]
    space = parameter_space(current.gain_law, current.reading)
    nominal = {k: v[0] for k, v in space.items()}
    candidates = [{**nominal, **{k: v for k, v in f.values.items() if k in space}}
                  for k2, f in fits.items() if k2[0] == key[0] and k2 != key]

    def cost(values: Mapping[str, float]) -> float:
        return float(np.sum(residuals(values, current.gain_law, current.leak_law, current.reading) ** 2))

    better = [c for c in candidates if cost(c) < current.cost]
    if not better:
        return current
    start = min(better, key=cost)
    refit = fit(current.gain_law, current.leak_law, current.reading, 1, firsts=[start], max_nfev=max_nfev)
    return refit if refit.cost < current.cost else current


def earlier_starts(fits: Mapping[tuple[str, str], Fit], law: str) -> list[dict[str, float]]:
    """Starts a fit of ``law`` takes from the fits done so far: the best piecewise fit (shared parameters)
    and the same law under the earlier readings (a reading that frees a threshold contains the fixed one)."""
    piecewise = [f for (l, _), f in fits.items() if l == "piecewise"]
    same = [f.values for (l, _), f in fits.items() if l == law]
    return ([min(piecewise, key=lambda f: f.cost).values] if piecewise and law != "piecewise" else []) + same


def fit_record(f: Fit) -> dict[str, Any]:
    """A JSON-able record of a fit."""
    return {"gain_law": f.gain_law, "leak_law": f.leak_law, "reading": f.reading.label, "cost": f.cost,
            "values": f.values, "model": f.model, "residual": f.residual, "starts": f.starts}


def fit_from_record(record: Mapping[str, Any], reading: Reading) -> Fit:
    """The :class:`Fit` a :func:`fit_record` describes (under ``reading``)."""
    return Fit(record["gain_law"], record["leak_law"], reading, dict(record["values"]), dict(record["model"]),
               dict(record["residual"]), int(record["starts"]))


# ----------------------------------------------------------------------------- table, figure, study


def _percent(residual: float) -> str:
    return f"{100 * math.expm1(residual):+.0f} %"


def _value(point: PaperPoint, value: float) -> str:
    from spicegen.figures import engineering_unit

    unit, factor = engineering_unit(point.unit, [point.paper])
    return f"{value * factor:.3g} {unit}"


def format_table(fits: Mapping[tuple[str, str], Fit], profiles: Sequence[Profile], main: tuple[str, str]) -> str:
    """Markdown: every point, the paper, the best joint fit ``main``, its deviation, whether the point is reached
    jointly (within 15 %), alone (weighted fit of :func:`profile`) and the deviation under the other fits."""
    best = fits[main]
    alone = {p.point: p for p in profiles}
    others = [k for k in fits if k != main]
    head = ["point", "figure", "paper", f"joint fit ({main[0]}, {main[1]})", "deviation", "reached jointly",
            "reached alone (weighted fit)", "gives way when forced", *(f"{l}, {r}" for l, r in others)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in best.reading.points:
        r = best.residual[p.name]
        profiled = alone.get(p.name)
        reach_alone = "yes (joint)" if reached(r) else (
            f"{'yes' if reached(profiled.residual) else 'no'} ({_percent(profiled.residual)})"
            if profiled else "not profiled")
        given = ", ".join(f"{n} {_percent(v)}" for n, v in profiled.given_way) if profiled else ""
        bound = {"<=": "≤ ", ">=": "≥ "}.get(p.kind, "")
        cells = [p.name, p.figure, bound + _value(p, p.paper), _value(p, best.model[p.name]), _percent(r),
                 "yes" if reached(r) else "no", reach_alone, given,
                 *(_percent(fits[k].residual[p.name]) for k in others)]
        lines.append("| " + " | ".join(cells) + " |")
    costs = ", ".join(f"{l} / {r}: {f.cost:.3f}" for (l, r), f in fits.items())
    return "\n".join(lines) + f"\n\nSum of squared ln residuals: {costs}.\n"


def implied(f: Fit) -> dict[str, Any]:
    """What a fit implies for a circuit: gain at the paper's currents, C1, leak currents, T_pw, comparator."""
    n = f.neuron
    currents = np.array(KNOTS)
    down = {v: float(n.leak_currents(v)[0]) for v in (1.0, 1.2, 1.35)}
    up = {v: float(n.leak_currents(1.2, v)[1]) for v in (1.1, 1.2, 1.6)}
    return {"g_A": dict(zip(map(float, currents), map(float, n.g(currents)))),
            "g_over_c1_V_per_s": dict(zip(map(float, currents), map(float, n.g(currents) / n.c1))),
            "c1_F": n.c1, "leak_down_A": down, "leak_up_A": up, "v_leak_V": n.v_leak,
            "leak_slope_V": n.leak_slope, "v_off_V": n.v_off, "t_d_s": n.t_d, "tau_in_s": n.tau_in,
            "t_pw_s": {v: float(n.t_pw(v)) for v in (0.45, 0.8, 1.0, 1.1)},
            "pulse_charge_C": dict(zip((7e-6, 10e-6, 15e-6), map(float, n.pulse_charge(I_REF, np.array([7e-6, 10e-6, 15e-6])))))}


def format_figure(fits: Mapping[tuple[str, str], Fit], main: tuple[str, str], path: Path) -> Path:
    """PNG: the fitted f-I at V_thr 0.8 / 1.2 / 1.8 V against the paper's DC points; residuals of the fits."""
    from spicegen.figures import axis_label, pyplot, save_figure

    plt = pyplot()
    best = fits[main]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    i_syn = np.geomspace(0.05e-6, 300e-6, 200)
    x_label, x_factor = axis_label("I_syn = 500 · I_n", "A", i_syn)
    y_label, _ = axis_label("firing rate", "Hz")
    dashed = fits.get(("linear", main[1]))
    for k, vthr in enumerate((0.8, 1.2, 1.8)):
        left.loglog(i_syn * x_factor, best.neuron.dc_rate(i_syn / K, vthr), "-", color=f"C{k}",
                    label=f"{best.gain_law} law, V_thr {vthr} V")
        if dashed is not None:
            left.loglog(i_syn * x_factor, dashed.neuron.dc_rate(i_syn / K, vthr), ":", color=f"C{k}")
    for vpw, marker in ((0.8, "v"), (1.1, "^")):
        left.loglog(i_syn * x_factor, best.neuron.dc_rate(i_syn / K, 1.2, vpw), "--", lw=0.8, color="C1")
    paper = {"fi_1.8V_10uA": (10e-6, 2), "fi_1.8V_200uA": (200e-6, 2), "fi_0.8V_10uA": (10e-6, 0),
             "fi_0.8V_200uA": (200e-6, 0), "max_0.8V": (200e-6, 1), "max_1.1V": (200e-6, 1),
             "rsyn_max": (40e-6, 1), "rsyn_min": (0.1e-6, 1)}
    for name, (current, colour) in paper.items():
        p = next(q for q in best.reading.points if q.name == name)
        left.plot(current * x_factor, p.paper, "o" if name.startswith("fi") else "s", color=f"C{colour}", mfc="none")
        left.annotate(f"{p.figure}", (current * x_factor, p.paper), fontsize=6, xytext=(3, 3), textcoords="offset points")
    left.set(xlabel=x_label, ylabel=y_label, title="DC f-I (dotted: linear law; dashed: V_pw 0.8 / 1.1 V)")
    left.legend(fontsize=7)
    names = [p.name for p in best.reading.points]
    lowest = min(fits, key=lambda k: fits[k].cost)
    shown = [k for k in fits if k[0] == main[0]] + ([lowest] if lowest[0] != main[0] else [])
    for k, key in enumerate(shown):
        f = fits[key]
        right.barh(np.arange(len(names)) + 0.8 * k / len(shown), [100 * math.expm1(f.residual[n]) for n in names],
                   0.8 / len(shown), label=f"{key[0]}, {key[1]} (cost {f.cost:.3f})")
    right.set_yticks(np.arange(len(names)), names, fontsize=7)
    right.axvline(0, color="k", lw=0.8)
    for edge in (-15, 15):
        right.axvline(edge, color="grey", lw=0.6, ls=":")
    right.set_xlim(-100, 200)
    right.set(xlabel=axis_label("model / paper - 1", "%")[0], ylabel=axis_label("paper point", "")[0],
              title="joint fits, deviation per point")
    right.legend(fontsize=7)
    return save_figure(fig, path, 120, check_labels=True)


def _register() -> None:
    """Define and register the study (kept in a function so importing the model needs no study machinery)."""
    from spicegen.files import to_jsonable, write_text
    from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study

    declared = {p.name: Measure(p.unit, f"{p.figure}: {p.what} (joint fit, piecewise gain, Table I reading)",
                                paper=p.paper, role="calibration") for p in POINTS}
    declared.update({
        "cost": Measure("", "sum of squared ln(model / paper) of the joint fit (piecewise gain, Table I reading)"),
        "cost_best_reading": Measure("", "lowest such sum over the readings (piecewise gain)"),
        "cost_linear": Measure("", "the sum with a linear gain law (Table I reading)"),
        "cost_dpi": Measure("", "the sum with a DPI threshold gain law (Table I reading)"),
        "missed": Measure("", "points the joint fit misses by more than 15 % (piecewise gain, Table I reading)"),
        "missed_alone": Measure("", "of those, points no weighted fit brings within 15 %")})

    @register_study
    class LifBehaviour(Study):
        """Which of Garg et al.'s LIF numbers one behavioural neuron reaches: joint lmfit, readings, profiles."""

        name = "lif-behaviour"
        family = "lif"
        options = (Setting("starts", 3, "lmfit starts per joint fit (nominal, earlier fits, random around nominal)",
                           bounds=(1, 50)),
                   Setting("leak", "tanh", "leak law toward V_rest", choices=LEAK_LAWS),
                   Setting("profile", True, "weight each missed point heavily to find its smallest residual"))
        measures = declared
        seed_default = 0

        def run(self, ctx: StudyContext) -> StudyResult:
            fits: dict[tuple[str, str], Fit] = {}
            for name, reading in READINGS.items():
                for law in sorted(GAIN_LAWS, key=lambda law: law != "piecewise"):
                    firsts = earlier_starts(fits, law)
                    record = ctx.step(f"fit_{law}_{name}", lambda law=law, reading=reading, firsts=firsts: to_jsonable(
                        fit_record(fit(law, ctx.options["leak"], reading, ctx.options["starts"], ctx.seed, firsts=firsts))))
                    fits[(law, name)] = fit_from_record(record, reading)
            for (law, name), reading in [(k, fits[k].reading) for k in fits]:
                record = ctx.step(f"polish_{law}_{name}", lambda key=(law, name): to_jsonable(fit_record(polish(fits, key))))
                fits[(law, name)] = fit_from_record(record, reading)
            main = ("piecewise", "table-i")
            best = fits[main]
            profiles = []
            if ctx.options["profile"]:
                for point in [n for n, r in best.residual.items() if not reached(r)]:
                    stored = ctx.step(f"profile_{point}", lambda point=point: to_jsonable(
                        profile(best, [point], seed=ctx.seed)[0].__dict__))
                    profiles.append(Profile(stored["point"], stored["residual"], stored["others_cost"],
                                            [tuple(g) for g in stored["given_way"]]))
            table = format_table(fits, profiles, main)
            write_text(ctx.out / "behaviour_table.md", table)
            write_text(ctx.out / "behaviour_implied.json", json.dumps(to_jsonable(implied(best)), indent=2) + "\n")
            format_figure(fits, main, ctx.out / "behaviour_fi.png")
            m = {**best.model, "cost": best.cost,
                 "cost_best_reading": min(f.cost for (l, _), f in fits.items() if l == "piecewise"),
                 "cost_linear": fits[("linear", "table-i")].cost, "cost_dpi": fits[("dpi", "table-i")].cost,
                 "missed": float(sum(not reached(r) for r in best.residual.values())),
                 "missed_alone": float(sum(not reached(p.residual) for p in profiles))}
            data = {"fits": {f"{l}|{r}": fit_record(f) for (l, r), f in fits.items()},
                    "profiles": [p.__dict__ for p in profiles], "implied": implied(best)}
            return StudyResult(m, to_jsonable(data), ["behaviour_table.md", "behaviour_implied.json",
                                                       "behaviour_fi.png"])


_register()
