"""P²M in-pixel 3×3 MAC with MDWMTJ accumulators [Kaiser et al. 2024, §3, Figs. 2–5], simulated in ngspice.

Circuit (one output channel; sky130 5 V transistors stand in for GF22FDX, see docs/mdwmtj.md)::

    vw ──┬── weight branch k (gated by pixel k's event spikes) ──► T1 of ACC_POS (w_k > 0)
         └── ...                                                 ► T1 of ACC_NEG (w_k < 0)
    ACC_POS: T2 ── M_ENP (always on) ── gnd         ACC_NEG: T2 = pre ── M_EN (gate EN) ── gnd
    read divider:  vrd ── [T3 ACC_NEG T2] ── pre ── [T3 ACC_POS T2] ── gnd
    threshold:     vrd ── [T3 XTT T2] ── vth ── [T3 XTB T2] ── gnd     (XTB programmable)
    comparator:    spk = clk · ½(1 + tanh((V(pre) − V(vth))/1 mV))   (behavioural)

Weight branch per configuration (Fig. 3):

- ``cmos``: one NMOS, width set by |w| (W_MIN … W_MAX), gate = event;
- ``mdwmtj``: an NMOS switch (gate = event) in series with the read path (T3→T2) of a weight
  MDWMTJ whose wall position sets the weight (|w| = 1 → q = 0 → R_P, largest current); its
  threshold current ``ITH_WEIGHT`` is above the largest weight current (I_TH2 > I_W,MAX);
- ``cmosx``: the ``cmos`` transistor (coarse weight, fixed at fabrication) in series with a weight
  MDWMTJ (fine, programmable); by default a larger weight is both a wider transistor and a lower
  MDWMTJ resistance ("a wider transistor or/and a lower MDWMTJ resistance", §3.1), which spans
  the full dynamic range of the two knobs.

Phases of each integration window: MAC (``t_int`` = 1 ms, EN high, events) → read (EN low, read
bias on, comparator clocked) → reset (EN high; a −``I_RST`` pulse through both accumulators'
heavy metal, i.e. T2 → T1, returns q to 0) → optional programming of weight and threshold
MDWMTJs (current pulses through their write paths, durations from the velocity law) before the
next window (Fig. 5).

The reset and programming drivers are ideal floating current pulses across the write path (the
paper gives no circuit for them); the comparator is behavioural. Everything else is transistor
and device level.

The study ``p2m-waveforms`` (``spicegen study run p2m-waveforms``, :mod:`testbenches.mdwmtj.studies`)
writes waveform figures in the style of Figs. 4 and 5 and their measurements.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Sequence, get_args

import numpy as np

from spicegen import Variation, get_device
from spicegen.devices.mdwmtj import L_FL
from spicegen.figures import pyplot, save_figure
from spicegen.measure import Above, At, Final, Step
from spicegen.naming import format_number as num
from spicegen.netlist import Flavor
from spicegen.ngspice import run_netlist
from spicegen.pdk import CORNERS, sky130_include
from spicegen.testbench import Circuit, CircuitWaves, Option, Testbench, register_testbench

Config = Literal["cmos", "mdwmtj", "cmosx"]
CONFIGS: tuple[str, ...] = get_args(Config)
CONFIG_LABELS = {"cmos": "CMOS", "mdwmtj": "MDWMTJ", "cmosx": "CMOS+X"}
"""Weight configuration → its name in the paper (figure titles)."""

DEVICE = "mdwmtj"
VDD = 3.3
"""High level of event spikes, EN and comparator clock (V): 3.3 V, our choice (the supply of the sky130 5 V devices here)."""
VW = {"cmos": 0.3, "mdwmtj": 0.4, "cmosx": 0.4}
"""Weight-branch supply per configuration (V): branch currents of 52–146 µA (measured), inside the
fitted velocity range of the accumulator (47–252 µA), and per-event displacements of about
17–76 nm (l_FL = 500 nm holds 6–25 events)."""
L_W = 0.5e-6
"""Gate length of the weight transistors (m)."""
W_MIN, W_MAX = 0.45e-6, 2.0e-6
"""Weight-transistor width range (m): |w| = 0 → W_MIN, |w| = 1 → W_MAX (W_MIN leaves 3σ of width
variation above the sky130 bin edge 0.42 µm)."""
W_SWITCH = 2e-6
"""Width of the event switch in series with a weight MDWMTJ (``mdwmtj`` configuration)."""
W_EN = 50e-6
"""Width of the accumulator enable switches (m)."""
L_SWITCH = 0.5e-6
T_INT = 1e-3
"""Integration window (s) [Kaiser et al. 2024, §3.2]."""
T_PULSE = 0.1e-9
"""Flat top of the gate pulse one event spike produces (s); our default."""
T_EDGE = 0.3e-9
"""Rise/fall time of event pulses (s). The gate capacitance of the 5 V transistors (≈2.5 fF at
W = 2 µm, L = 0.5 µm) couples the edge into the accumulator's heavy metal as C·dV/dt; with 20 ps
edges that kick (≈ −70 µA) exceeds the threshold and pulls the wall back by ~8 nm per event, with
0.3 ns edges it stays below I_TH (≈27 µA)."""
V_RD = 0.15
"""Read bias of the divider and threshold dividers (V): the read current stays below the accumulator
threshold (krd·V_RD/(R_POS+R_NEG) < ith)."""
T_READ = 1e-6
"""Read/evaluate phase (s)."""
I_RST = 200e-6
"""Reset current magnitude (A), applied T2 → T1 for T_RST."""
T_RST = 20e-9
T_RESET_PHASE = 50e-9
T_PROG_PHASE = 50e-9
ITH_WEIGHT = 300e-6
"""Threshold current of weight / threshold MDWMTJs (A): above the largest weight current (I_TH2 > I_W,MAX)."""
I_PROG = 400e-6
"""Programming current magnitude (A) through a weight/threshold MDWMTJ's write path."""
PROG_EDGE = 20e-12
"""Rise/fall time of programming pulses (s)."""
RESET_TRAVEL = 2.5e-9
"""Time (s) in which the reset current brings a wall from l_FL to 0 (v(I_RST) ≈ 265 m/s → 1.9 ns)."""
BOUND_STEP = 10e-12
"""Largest time step (s) while walls are driven into a bound (reset, programming)."""
EVENT_STEP = 25e-12
"""Largest time step (s) during an event pulse. Left to its own step control, ngspice integrated the wall's
motion during a 0.7 ns pulse in a few uneven steps: the displacement per event then jumped by up to 3.2 nm (7 %)
when the flat top grew by 2 ps (docs/mdwmtj.md), numerical noise that the Monte Carlo read as variation.
At 25 ps the displacement is within 0.3 % of its value at 2 ps (10 ps: 0.1 %) and smooth in the pulse width."""
Q_TOP = 0.0
"""Wall position of the fixed (top) threshold MDWMTJ (m)."""
JITTER = Variation("local", 0.10, "normal")
"""Write-pulse width jitter (10 % Gaussian, one draw per event) [Kaiser et al. 2024, §3.2]; nominal runs ignore it."""
A_VT = 10e-3 * 1e-6
"""Pelgrom threshold-mismatch coefficient (V·m) for the 5 V transistors: 10 mV·µm, a typical
130 nm thick-oxide value (sky130 files carry no mismatch); σ_Vt = A_VT/√(W·L)."""
SIGMA_W = 5e-9
"""Local width variation of the weight transistors (m, σ; truncated at 3σ): edge roughness of a 130 nm process."""


def _vt(width: float, length: float) -> Variation:
    """Local threshold mismatch (V) of one transistor (Pelgrom)."""
    return Variation("local", A_VT / math.sqrt(width * length), relative=False)


WIDTH_VARIATION = Variation("local", SIGMA_W, "truncnormal", relative=False)


@dataclass(frozen=True)
class MacSpec:
    """One P²M channel and its stimulus.

    Parameters
    ----------
    config
        Weight configuration: ``"cmos"``, ``"mdwmtj"`` or ``"cmosx"``.
    weights
        Nine signed weights in [-1, 1] (row-major 3×3 kernel). The sign picks the accumulator;
        0 leaves the pixel unconnected.
    events
        Per integration window, nine tuples of event times (s, inside [0, t_int)).
    tune
        ``cmosx``: the nine weight-MDWMTJ wall positions (m). Default: the weight is encoded in
        both knobs, width and wall position (:func:`weight_position`, |w| = 1 → R_P), so the
        configuration spans its full dynamic range [Kaiser et al. 2024, §3.1, §4].
    threshold
        Wall position (m) of the programmable threshold MDWMTJ (bottom of the divider).
    reprogram
        Per window after the first: ``None`` or a mapping with any of ``"weights"`` (mdwmtj:
        new signed weights with the same signs), ``"tune"`` (cmosx: new positions, m),
        ``"threshold"`` (m). Programming happens after the previous window's reset.
    t_int, t_pulse
        Integration window and write-pulse width (s).
    values
        Accumulator-device parameter overrides.
    """

    config: Config = "cmosx"
    weights: tuple[float, ...] = (0.8, -0.3, 0.5, 0.0, 1.0, -0.6, 0.2, -0.9, 0.4)
    events: tuple[tuple[tuple[float, ...], ...], ...] = (
        ((0.1e-3, 0.6e-3), (0.3e-3,), (0.2e-3, 0.7e-3), (), (0.45e-3,), (0.5e-3, 0.9e-3),
         (0.15e-3,), (0.35e-3,), (0.8e-3,)),)
    tune: tuple[float, ...] | None = None
    threshold: float = 0.5 * L_FL
    reprogram: tuple[Mapping[str, object] | None, ...] = ()
    t_int: float = T_INT
    t_pulse: float = T_PULSE
    values: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.config not in CONFIGS:
            raise ValueError(f"config {self.config!r} is not one of {', '.join(CONFIGS)}.")
        if len(self.weights) != 9 or any(not -1.0 <= float(w) <= 1.0 for w in self.weights):
            raise ValueError(f"weights must be nine numbers in [-1, 1], got {self.weights!r}.")
        for window in self.events:
            if len(window) != 9:
                raise ValueError(f"each window needs nine event tuples (one per pixel), got {len(window)}.")
            for times in window:
                if any(not 0.0 <= t < self.t_int - self.t_pulse for t in times):
                    raise ValueError(f"event times must lie in [0, t_int - t_pulse), got {times!r}.")
        if len(self.reprogram) > max(len(self.events) - 1, 0):
            raise ValueError("reprogram has one entry per window after the first.")
        if not 0.0 <= self.threshold <= L_FL:
            raise ValueError(f"threshold position must lie in [0, {L_FL}] m, got {self.threshold!r}.")

    @property
    def period(self) -> float:
        """Length of one window including read, reset and programming (s)."""
        return self.t_int + T_READ + T_RESET_PHASE + T_PROG_PHASE


# ----------------------------------------------------------------------------- weight mapping

def weight_width(weight: float) -> float:
    """Transistor width (m) for a weight magnitude (cmos / cmosx coarse weight)."""
    return W_MIN + abs(weight) * (W_MAX - W_MIN)


def weight_position(weight: float) -> float:
    """Weight-MDWMTJ wall position (m) for a weight magnitude (mdwmtj): |w| = 1 → q = 0 (R_P)."""
    return (1.0 - abs(weight)) * L_FL


def velocity(current: float, params: Mapping[str, float]) -> float:
    """The device's velocity law (m/s) at a drive current (A): same formula as spicegen/devices/mdwmtj.py."""
    mag = abs(current)
    i_fit = min(mag, params["imax"])
    speed = max(params["c0"] + params["c1"] * i_fit + params["c2"] * i_fit * i_fit, 0.0)
    onset = min(max((mag - params["ith"]) / (params["dith"] * params["ith"]), 0.0), 1.0)
    return math.copysign(speed * onset, current) if current else 0.0


# ----------------------------------------------------------------------------- netlist

def _pwl(points: Sequence[tuple[float, float]]) -> str:
    return "PWL(" + " ".join(f"{num(t)} {num(v)}" for t, v in points) + ")"


def _levels(times: Sequence[tuple[float, float, float]], low: float, edge: float) -> list[tuple[float, float]]:
    """PWL points of pulses ``(start, stop, level)`` (sorted, non-overlapping) on a ``low`` base."""
    pts = [(0.0, low)]
    for start, stop, level in times:
        pts += [(start, low), (start + edge, level), (stop, level), (stop + edge, low)]
    return pts


@dataclass(frozen=True)
class Timeline:
    """Phase boundaries of each window (s)."""

    start: tuple[float, ...]
    mac_end: tuple[float, ...]
    eval_start: tuple[float, ...]
    eval_end: tuple[float, ...]
    reset_end: tuple[float, ...]
    stop: float


def timeline(spec: MacSpec) -> Timeline:
    """Phase boundaries of ``spec``'s windows."""
    starts = [i * spec.period for i in range(len(spec.events))]
    mac_end = [s + spec.t_int for s in starts]
    return Timeline(
        start=tuple(starts), mac_end=tuple(mac_end),
        eval_start=tuple(m + 0.5 * T_READ for m in mac_end),
        eval_end=tuple(m + T_READ - 20e-9 for m in mac_end),
        reset_end=tuple(m + T_READ + T_RESET_PHASE for m in mac_end),
        stop=starts[-1] + spec.period,
    )


def program_plan(spec: MacSpec) -> dict[str, list[tuple[float, float]]]:
    """Programming pulses per device: device name → [(start time, signed duration)].

    Durations follow the velocity law at ±I_PROG; a target at a bound is over-driven by 20 %.
    """
    params = dict(get_device(DEVICE).defaults, ith=ITH_WEIGHT)
    v = velocity(I_PROG, params)
    # a pulse of nominal length d has ramps of PROG_EDGE: it moves v·(d − PROG_EDGE) on its flat top
    # plus twice the ramp integral; solve for d
    ramp = np.linspace(0.0, 1.0, 2001)
    ramp_travel = PROG_EDGE * float(np.trapezoid([velocity(I_PROG * r, params) for r in ramp], ramp))
    state = initial_positions(spec)
    tl = timeline(spec)
    plan: dict[str, list[tuple[float, float]]] = {}
    for i, change in enumerate(spec.reprogram, start=1):
        if not change:
            continue
        t0 = tl.reset_end[i - 1] + 5e-9
        targets: dict[str, float] = {}
        if "threshold" in change:
            targets["xtb"] = float(change["threshold"])  # type: ignore[arg-type]
        if "weights" in change:
            if spec.config != "mdwmtj":
                raise ValueError("only the mdwmtj configuration reprograms 'weights'; cmosx reprograms 'tune'.")
            new = tuple(float(w) for w in change["weights"])  # type: ignore[union-attr]
            for k, (old, w) in enumerate(zip(spec.weights, new)):
                if old and w and math.copysign(1, old) != math.copysign(1, w):
                    raise ValueError(f"weight {k} changes sign: the sign is wired (pos/neg accumulator).")
                if old:
                    targets[f"xw{k}"] = weight_position(w)
        if "tune" in change:
            if spec.config != "cmosx":
                raise ValueError("'tune' applies to the cmosx configuration only.")
            for k, q in enumerate(change["tune"]):  # type: ignore[union-attr]
                if spec.weights[k]:
                    targets[f"xw{k}"] = float(q)
        for name, target in targets.items():
            if not 0.0 <= target <= L_FL:
                raise ValueError(f"programming target {target!r} m of {name} lies outside [0, {L_FL}].")
            delta = target - state[name]
            if abs(delta) < 1e-12:
                continue
            travel = abs(delta) * (1.2 if target in (0.0, L_FL) else 1.0)
            duration = (travel - 2.0 * ramp_travel) / v + PROG_EDGE
            plan.setdefault(name, []).append((t0, math.copysign(duration, delta)))
            state[name] = target
    return plan


def initial_positions(spec: MacSpec) -> dict[str, float]:
    """Wall positions (m) of the programmable devices before the first window."""
    pos = {"xtb": spec.threshold}
    for k, w in enumerate(spec.weights):
        if not w:
            continue
        if spec.config == "mdwmtj":
            pos[f"xw{k}"] = weight_position(w)
        elif spec.config == "cmosx":
            pos[f"xw{k}"] = spec.tune[k] if spec.tune is not None else weight_position(w)
    return pos


def build_mac(spec: MacSpec, flavor: Flavor = "osdi", corner: str = "tt") -> Circuit:
    """The netlist of ``spec`` as a :class:`~spicegen.testbench.Circuit` (slots for Monte Carlo included)."""
    model = get_device(DEVICE)
    tl = timeline(spec)
    c = Circuit(f"p2m-mac {spec.config}")
    c.include(sky130_include(corner))
    c.include(".options reltol=1e-4 abstol=1e-12 vntol=1e-7 itl4=100")
    c.element(f"Vdd vdd 0 {num(VDD)}")
    c.element(f"Vw vw 0 {num(VW[spec.config])}")

    # phase signals
    en_low = [(m + 2e-9, m + T_READ - 5e-9, 0.0) for m in tl.mac_end]
    en = [(0.0, VDD)] + [p for s, e, lv in en_low for p in ((s, VDD), (s + 1e-9, lv), (e, lv), (e + 1e-9, VDD))]
    c.element(f"Ven en 0 {_pwl(en)}")
    rd = [(m + 10e-9, m + T_READ - 15e-9, V_RD) for m in tl.mac_end]
    c.element(f"Vrd vrd 0 {_pwl(_levels(rd, 0.0, 1e-9))}")
    clk = [(s, e, VDD) for s, e in zip(tl.eval_start, tl.eval_end)]
    c.element(f"Vclk clk 0 {_pwl(_levels(clk, 0.0, 1e-9))}")
    c.element("Bcmp spk 0 V = v(clk)*0.5*(1+tanh((v(pre)-v(vth))/1e-3))")
    c.element("Rspk spk 0 1e6")
    # Breakpoints every BOUND_STEP while a wall may run into a bound (reset, programming): a step
    # longer than the 5 nm gating band of the state would overshoot the bound (see docs/mdwmtj.md);
    # and every EVENT_STEP during each event pulse, so the displacement per event is integrated accurately.
    plan = program_plan(spec)
    busy = [(m + T_READ + 5e-9, m + T_READ + 5e-9 + RESET_TRAVEL) for m in tl.mac_end]
    busy += [(t0, t0 + abs(d) + 40e-12) for pulses in plan.values() for t0, d in pulses]
    marks = {round(float(t), 15) for a, b in busy for t in np.arange(a, b, BOUND_STEP)}
    marks = sorted(marks | {round(float(t), 15) for a, b in _event_spans(spec, tl)
                            for t in np.arange(a, b, EVENT_STEP)})
    c.element(f"Vbp bp 0 {_pwl([(t, 0.0) for t in marks])}")
    c.element("Rbp bp 0 1e6")

    # accumulators
    rst = [(m + T_READ + 5e-9, m + T_READ + 5e-9 + T_RST, I_RST) for m in tl.mac_end]
    acc_values = dict(spec.values)
    for name, t2, t3, gate in (("accp", "tp", "pre", "vdd"), ("accn", "pre", "vrd", "en")):
        c.device(model, name, [f"{name}_t1", t3, t2], values=acc_values, flavor=flavor)
        c.element(f"I{name} {name}_t1 {t2} {_pwl(_levels(rst, 0.0, 1e-9))}")  # T2 -> T1 through the HM
        en_sw = "tp" if name == "accp" else "pre"
        c.mos(f"men_{name}", "nfet", en_sw, gate, "0", "0", w=W_EN, l=L_SWITCH, vth=_vt(W_EN, L_SWITCH))

    # threshold divider: top fixed, bottom programmable
    weight_values = {"ith": ITH_WEIGHT}
    c.device(model, "xtt", ["vth", "vrd", "vth"], values={**weight_values, "q0": Q_TOP}, flavor=flavor)
    c.device(model, "xtb", ["xtb_t1", "vth", "0"], values={**weight_values, "q0": spec.threshold},
             flavor=flavor)
    _program_source(c, "xtb", "xtb_t1", "0", plan.get("xtb", []))

    # weight branches
    init = initial_positions(spec)
    for k, w in enumerate(spec.weights):
        if not w:
            continue
        acc = "accp_t1" if w > 0 else "accn_t1"
        gate = _events(c, k, [window[k] for window in spec.events], tl.start, spec.t_pulse)
        if spec.config in ("cmos", "cmosx"):
            width = weight_width(w)
            source = acc if spec.config == "cmos" else f"x{k}"
            c.mos(f"mw{k}", "nfet", "vw", gate, source, "0", w=width, l=L_W, vth=_vt(width, L_W),
                  width=WIDTH_VARIATION)
        else:
            c.mos(f"ms{k}", "nfet", "vw", gate, f"x{k}", "0", w=W_SWITCH, l=L_SWITCH, vth=_vt(W_SWITCH, L_SWITCH),
                  width=WIDTH_VARIATION)
        if spec.config in ("mdwmtj", "cmosx"):
            name = f"xw{k}"
            c.device(model, name, [f"{name}_t1", f"x{k}", acc], values={**weight_values, "q0": init[name]},
                     flavor=flavor)
            _program_source(c, name, f"{name}_t1", acc, plan.get(name, []))

    c.analysis(f".tran {num(1e-6)} {num(tl.stop)}")
    for name in ("pre", "vth", "spk", "en", "vrd", "clk"):
        c.alias(name, name)
    return c


def _event_spans(spec: MacSpec, tl: Timeline) -> list[tuple[float, float]]:
    """Time spans (s) of every event pulse, with room for a +3σ width jitter."""
    length = 2.0 * T_EDGE + spec.t_pulse * (1.0 + JITTER.clip * JITTER.sigma) + EVENT_STEP
    return [(s + t, s + t + length) for s, window in zip(tl.start, spec.events) for times in window for t in times]


def _program_source(c: Circuit, name: str, t1: str, t2: str, pulses: Sequence[tuple[float, float]]) -> None:
    """A floating current source across the write path: +I_PROG drives T1 → T2 (wall to the right)."""
    if not pulses:
        return
    levels = [(t0, t0 + abs(d), -math.copysign(I_PROG, d)) for t0, d in pulses]
    c.element(f"Ip{name} {t1} {t2} {_pwl(_levels(levels, 0.0, PROG_EDGE))}")


def _events(c: Circuit, k: int, windows: Sequence[Sequence[float]], starts: Sequence[float], width: float) -> str:
    """Gate node of pixel ``k``: its event spikes, one pulse source per event stacked in series."""
    times = [s + t for s, window in zip(starts, windows) for t in window]
    if not times:
        return "0"
    node = "0"
    for j, t in enumerate(sorted(times)):
        top = f"ev{k}_{j}"
        c.pulse(f"vev{k}_{j}", top, node, v1=0.0, v2=VDD, delay=t, width=width, rise=T_EDGE, fall=T_EDGE,
                width_jitter=JITTER)
        node = top
    return node


# ----------------------------------------------------------------------------- run + measure

@dataclass
class MacRun:
    """Named measurements and waveforms of one run."""

    spec: MacSpec
    measurements: dict[str, float]
    waves: dict[str, np.ndarray]


def _at(t: np.ndarray, y: np.ndarray, when: float) -> float:
    return float(np.interp(when, t, y))


def measure(spec: MacSpec, waves) -> dict[str, float]:
    """Per window ``i``: ``q_pos_i``/``q_neg_i`` (m, end of MAC), ``d_pos_i``/``d_neg_i`` (÷ l_FL),
    ``v_pre_i``/``v_th_i`` (V, middle of evaluation), ``spike_i`` (1/0), ``q_pos_rst_i``/``q_neg_rst_i``
    (m, after reset), ``q_th_i`` (m, threshold device during evaluation)."""
    tl = timeline(spec)
    t = np.asarray(waves["time"])
    out: dict[str, float] = {}
    qp, qn, qt = (np.asarray(waves[f"{n}.q"]) * L_FL for n in ("accp", "accn", "xtb"))
    pre, vth, spk = (np.asarray(waves[n]) for n in ("pre", "vth", "spk"))
    for i in range(len(spec.events)):
        m, e0, e1, r = tl.mac_end[i], tl.eval_start[i], tl.eval_end[i], tl.reset_end[i]
        out[f"q_pos_{i}"] = _at(t, qp, m)
        out[f"q_neg_{i}"] = _at(t, qn, m)
        out[f"d_pos_{i}"] = out[f"q_pos_{i}"] / L_FL
        out[f"d_neg_{i}"] = out[f"q_neg_{i}"] / L_FL
        mid = 0.5 * (e0 + e1)
        out[f"v_pre_{i}"] = _at(t, pre, mid)
        out[f"v_th_{i}"] = _at(t, vth, mid)
        out[f"q_th_{i}"] = _at(t, qt, mid)
        window = (t >= e0) & (t <= e1)
        out[f"spike_{i}"] = float(np.max(spk[window], initial=0.0) > 0.5 * VDD)
        out[f"q_pos_rst_{i}"] = _at(t, qp, r)
        out[f"q_neg_rst_{i}"] = _at(t, qn, r)
    return out


def run_mac(spec: MacSpec, flavor: Flavor = "osdi", corner: str = "tt") -> MacRun:
    """Simulate ``spec`` in ngspice and return its measurements (see :func:`measure`) and waveforms."""
    circuit = build_mac(spec, flavor, corner)
    result = run_netlist(circuit.format(), osdi=circuit.osdi)
    waves = CircuitWaves(result, circuit.aliases)
    names = ["time", "pre", "vth", "spk", "en", "vrd", "clk", "accp.q", "accn.q", "xtb.q"]
    names += [f"xw{k}.q" for k, w in enumerate(spec.weights) if w and spec.config != "cmos"]
    data = {n: np.asarray(waves[n]) for n in names}
    return MacRun(spec, measure(spec, waves), data)


def event_steps(run: MacRun, window: int = 0) -> dict[int, list[float]]:
    """Displacement (m) that each event of each pixel added to its accumulator in ``window``.

    Read from the accumulator waveform just before each event and 0.5 µs after it (events of one
    accumulator must be further apart than that).
    """
    tl = timeline(run.spec)
    t = run.waves["time"]
    steps: dict[int, list[float]] = {}
    for k, w in enumerate(run.spec.weights):
        if not w:
            continue
        q = run.waves["accp.q" if w > 0 else "accn.q"] * L_FL
        steps[k] = [_at(t, q, tl.start[window] + e + 0.5e-6) - _at(t, q, tl.start[window] + e - 1e-9)
                    for e in run.spec.events[window][k]]
    return steps


def weight_sweep(config: Config, magnitudes: Sequence[float], *, tune: float | None = None,
                 flavor: Flavor = "osdi") -> np.ndarray:
    """Displacement per event (m) vs weight magnitude: nine pixels, one event each, into ACC_POS.

    ``tune`` sets every weight MDWMTJ's wall position (cmosx; m). Up to nine magnitudes per call.
    """
    mags = list(magnitudes)
    if not 1 <= len(mags) <= 9:
        raise ValueError("weight_sweep takes one to nine magnitudes per call.")
    weights = tuple(mags + [0.0] * (9 - len(mags)))
    events = tuple(((0.05e-3 + 0.1e-3 * k,) if k < len(mags) else ()) for k in range(9))
    spec = MacSpec(config=config, weights=tuple(max(abs(w), 1e-6) if k < len(mags) else 0.0
                                                for k, w in enumerate(weights)),
                   events=(events,), tune=None if tune is None else (tune,) * 9)
    steps = event_steps(run_mac(spec, flavor))
    return np.array([steps[k][0] for k in range(len(mags))])


# ----------------------------------------------------------------------------- registered testbenches

_OPTIONS = (
    Option("config", "cmosx", CONFIGS, "weight configuration"),
    Option("flavor", "osdi", ("osdi", "twin"), "MDWMTJ as compiled Verilog-A or ngspice twin"),
    Option("corner", "tt", CORNERS, "sky130 process corner"),
)


def build_mac_testbench(options: Mapping[str, object]) -> Circuit:
    """``p2m-mac``: the default :class:`MacSpec` of the chosen configuration."""
    return build_mac(MacSpec(config=options["config"]), options["flavor"], options["corner"])  # type: ignore[arg-type]


def _mac_measurements() -> dict[str, object]:
    tl = timeline(MacSpec())
    mid = 0.5 * (tl.eval_start[0] + tl.eval_end[0])
    return {
        "q_pos": At("accp.q", tl.mac_end[0], L_FL), "q_neg": At("accn.q", tl.mac_end[0], L_FL),
        "v_pre": At("pre", mid), "v_th": At("vth", mid),
        "spike": Above("spk", tl.eval_start[0], tl.eval_end[0], 0.5 * VDD),
        "q_pos_rst": At("accp.q", tl.reset_end[0], L_FL), "q_neg_rst": At("accn.q", tl.reset_end[0], L_FL),
    }


P2M_MAC = register_testbench(Testbench(
    name="p2m-mac",
    doc="P2M 3x3 MAC channel: random-looking kernel and events, 1 ms window, read, comparator, reset",
    build=build_mac_testbench, measurements=_mac_measurements(), options=_OPTIONS,
    units={name: "m" for name in ("q_pos", "q_neg", "q_pos_rst", "q_neg_rst")},
))

F1_X = tuple((k + 1) / 9 for k in range(9))
"""Weight magnitudes (= normalized input × weight for one binary event) of the nine pixels in ``p2m-f1``."""
F1_EVENT = tuple(0.05e-3 + 0.1e-3 * k for k in range(9))
"""Event time (s) of pixel k in ``p2m-f1``."""


F1_SIGN = tuple(1.0 if k % 2 == 0 else -1.0 for k in range(9))
"""Pixels alternate between ACC_POS and ACC_NEG so that neither accumulator saturates."""


F1_TUNE = {"weight": None, "p": 0.0, "ap": L_FL}
"""``p2m-f1`` option ``tune`` (cmosx): weight-MDWMTJ positions set by the weight, or all at q = 0 (R_P) or
l_FL (R_AP), the two ends of the programmable range at each width."""


def f1_spec(config: Config, tune: str = "weight") -> MacSpec:
    """``p2m-f1``: pixel k has weight ±F1_X[k] (alternating accumulators) and one event at F1_EVENT[k].

    ``tune`` (cmosx only): a key of :data:`F1_TUNE`.
    """
    if tune not in F1_TUNE:
        raise ValueError(f"tune {tune!r} is not one of {', '.join(F1_TUNE)}.")
    if tune != "weight" and config != "cmosx":
        raise ValueError(f"tune={tune!r} moves the weight MDWMTJs of the cmosx configuration, not of {config!r}.")
    events = tuple((t,) for t in F1_EVENT)
    q = F1_TUNE[tune]
    return MacSpec(config=config, weights=tuple(s * x for s, x in zip(F1_SIGN, F1_X)), events=(events,),
                   tune=None if q is None else (q,) * 9)


def build_f1_testbench(options: Mapping[str, object]) -> Circuit:
    """``p2m-f1``: displacement of ACC_POS per event vs weight, one event per pixel."""
    spec = f1_spec(options["config"], options["tune"])  # type: ignore[arg-type]
    return build_mac(spec, options["flavor"], options["corner"])  # type: ignore[arg-type]


P2M_F1 = register_testbench(Testbench(
    name="p2m-f1",
    doc="P2M f1 data: accumulator displacement per event vs weight magnitude (nine weights per sample)",
    build=build_f1_testbench,
    measurements={f"dq{k}": Step("accp.q" if F1_SIGN[k] > 0 else "accn.q", t, scale=L_FL)
                  for k, t in enumerate(F1_EVENT)},
    options=(*_OPTIONS, Option("tune", "weight", tuple(F1_TUNE), "cmosx weight-MDWMTJ positions (see F1_TUNE)")),
    units={f"dq{k}": "m" for k in range(len(F1_EVENT))},
))

F2_SIGMA_Q = L_FL / (2.0 * math.sqrt(3.0))
"""σ of the uniform draw of each accumulator position over [0, l_FL] in ``p2m-f2``."""
F2_DEVICE_OPTIONS = ("rhmr", "vh", "kn")
"""Parameters of both accumulators that ``p2m-f2`` exposes as options (the readings of the read law
compared in docs/mdwmtj.md §5); each defaults to the device's own default."""


@dataclass(frozen=True)
class NodeRatio:
    """Operating-point voltage of ``signal`` divided by that of ``by`` (dimensionless): a divider's output
    in units of its own supply, whatever the supply is set to."""

    unit = ""
    signal: str
    by: str

    def __call__(self, waves: CircuitWaves) -> float:
        return float(np.ravel(waves[self.signal])[-1]) / float(np.ravel(waves[self.by])[-1])


def build_f2_testbench(options: Mapping[str, object]) -> Circuit:
    """``p2m-f2``: the read divider at random accumulator positions (uniform over [0, l_FL]), DC.

    Options ``v_rd`` (read bias, V) and the accumulator parameters of :data:`F2_DEVICE_OPTIONS`; a
    parameter at the device's default is left out of the netlist.
    """
    model = get_device(DEVICE)
    defaults = {p.name: p.default for p in model.params}
    c = Circuit("p2m-f2: pre-activation divider")
    c.element(f"Vrd vrd 0 {num(float(options['v_rd']))}")  # type: ignore[arg-type]
    spread = {"q0": Variation("local", F2_SIGMA_Q, "uniform", relative=False)}
    read_law = {k: float(options[k]) for k in F2_DEVICE_OPTIONS if float(options[k]) != defaults[k]}  # type: ignore[arg-type]
    for name, nodes in (("accn", ["pre", "vrd", "pre"]), ("accp", ["0", "pre", "0"])):
        c.device(model, name, nodes, values={"q0": 0.5 * L_FL, "freeze": 1.0, **read_law}, variations=spread,
                 flavor=options["flavor"])  # type: ignore[arg-type]
    c.analysis(".op")
    c.alias("pre", "pre")
    c.alias("vrd", "vrd")
    return c


def _f2_options() -> tuple[Option, ...]:
    defaults = {p.name: p.default for p in get_device(DEVICE).params}
    return (_OPTIONS[1], Option("v_rd", V_RD, desc="read bias of the divider (V)"),
            *(Option(k, defaults[k], desc=f"{k} of both accumulators (device default {defaults[k]!r})")
              for k in F2_DEVICE_OPTIONS))


P2M_F2 = register_testbench(Testbench(
    name="p2m-f2",
    doc="P2M f2 data: normalized pre-activation voltage vs accumulator positions (DC divider)",
    build=build_f2_testbench,
    measurements={"d_pos": Final("accp.q"), "d_neg": Final("accn.q"), "v_pre": NodeRatio("pre", "vrd")},
    options=_f2_options(),
    # the state node holds q / l_FL: the positions are normalised, not the state's metres
    units={"d_pos": "", "d_neg": ""},
))


# ----------------------------------------------------------------------------- figures

def fig5_spec(config: Config = "cmosx") -> MacSpec:
    """Fig. 5 scenario: one positive and one negative weight; app 1 then reprogrammed app 2.

    App 1: the positive weight's MDWMTJ at high resistance, the negative one's at low resistance,
    a high threshold → no spike. Then reset, program the positive weight to low resistance, the
    negative to high, and lower the threshold → spike.
    """
    weights = (0.0, 0.0, 0.0, 0.0, 0.7, 0.0, 0.0, -0.7, 0.0)
    ev = tuple(tuple(0.05e-3 + j * 0.15e-3 for j in range(5)) if k in (4, 7) else () for k in range(9))
    if config == "cmosx":
        tune = tuple(0.9 * L_FL if k == 4 else 0.1 * L_FL for k in range(9))
        change = {"tune": tuple(0.05 * L_FL if k == 4 else 0.95 * L_FL for k in range(9)), "threshold": 0.05 * L_FL}
        return MacSpec("cmosx", weights, (ev, ev), tune=tune, threshold=0.8 * L_FL, reprogram=(change,))
    if config == "mdwmtj":
        w1 = (0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, -0.9, 0.0)
        w2 = (0.0, 0.0, 0.0, 0.0, 0.95, 0.0, 0.0, -0.1, 0.0)
        change = {"weights": w2, "threshold": 0.05 * L_FL}
        return MacSpec("mdwmtj", w1, (ev, ev), threshold=0.8 * L_FL, reprogram=(change,))
    raise ValueError("Fig. 5 reprograms MDWMTJs: choose 'cmosx' or 'mdwmtj'.")


def plot_run(run: MacRun, path: Path, title: str) -> None:
    """Waveforms in the style of Figs. 4/5: events, accumulator positions, V_pre vs V_th, spike."""
    plt = pyplot()

    w = run.waves
    t = w["time"] * 1e3
    fig, axes = plt.subplots(4, 1, figsize=(8, 8), sharex=True)
    tl = timeline(run.spec)
    for k, window in enumerate(zip(*run.spec.events)):
        times = [s + x for s, win in zip(tl.start, window) for x in win]
        sign = run.spec.weights[k]
        if sign:
            axes[0].vlines(np.asarray(times) * 1e3, k + 0.1, k + 0.9, color="C0" if sign > 0 else "C3")
    axes[0].set_ylabel("pixel index (events)")
    axes[1].plot(t, w["accp.q"] * L_FL * 1e9, label="ACC_POS")
    axes[1].plot(t, w["accn.q"] * L_FL * 1e9, label="ACC_NEG")
    for name in sorted(n for n in w if n.startswith("xw")):
        axes[1].plot(t, w[name] * L_FL * 1e9, ":", lw=1, label=f"weight {name[2:-2]}")
    axes[1].plot(t, w["xtb.q"] * L_FL * 1e9, "--", lw=1, label="threshold MDWMTJ")
    axes[1].set_ylabel("DW position q (nm)")
    axes[1].legend(fontsize=7, ncol=3, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False)
    m = run.measurements
    n = len(run.spec.events)
    t_eval = np.array([0.5 * (a + b) for a, b in zip(tl.eval_start, tl.eval_end)]) * 1e3
    pre = [m[f"v_pre_{i}"] * 1e3 for i in range(n)]
    vth = [m[f"v_th_{i}"] * 1e3 for i in range(n)]
    axes[2].plot(t_eval, pre, "o", label="V_ACT,PRE (divider of ACC_NEG, ACC_POS)")
    axes[2].plot(t_eval, vth, "_", ms=20, mew=2, label="V_TH (divider of two MDWMTJs)")
    for x, a, b in zip(t_eval, pre, vth):
        axes[2].annotate(f"{a - b:+.2f} mV", (x, a), textcoords="offset points", xytext=(6, 0), fontsize=7)
    axes[2].set_ylabel("V_ACT,PRE, V_TH (mV)")
    axes[2].legend(fontsize=7)
    spikes = [float(np.max(w["spk"][(w["time"] >= a) & (w["time"] <= b)], initial=0.0))
              for a, b in zip(tl.eval_start, tl.eval_end)]
    axes[3].stem(t_eval, spikes, basefmt=" ")
    axes[3].set_ylim(-0.2, VDD * 1.1)
    axes[3].set_ylabel("output spike (V)")
    axes[3].set_xlabel("time (ms)")
    fig.suptitle(title)
    save_figure(fig, path, dpi=130)
