"""Single-device MDWMTJ studies in ngspice: read resistance vs wall position and bias, Δq per write pulse.

- :func:`run_rq` — ``mdwmtj-rq``: one ``.op`` with an instance per (q, V) point (states frozen):
  the MTJ part of the read resistance ``V(t3, m)/I`` (heavy-metal part excluded), the full
  T3–T2 resistance and the TMR at each bias.
- :func:`run_pulse` — ``mdwmtj-pulse``: one transient with an instance per write current, each
  given one rectangular pulse; returns Δq per pulse (and the velocity Δq/t_pulse).

Both run the compiled Verilog-A (``flavor="osdi"``, default) or the ngspice twin (``"twin"``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from spicegen import get_device
from spicegen.devices.mdwmtj import L_FL
from spicegen.naming import format_number as num
from spicegen.netlist import Flavor, format_instance, format_subckt
from spicegen.ngspice import run_netlist
from spicegen.plugins import compiler
from spicegen.testbench import Circuit, Option, Testbench, register_testbench

DEVICE = "mdwmtj"


def _osdi(flavor: Flavor) -> list[str]:
    """The compiled model for a raw netlist of ``flavor`` (none for the twin)."""
    return [str(compiler("osdi")(get_device(DEVICE)))] if flavor == "osdi" else []


def internal_node(flavor: Flavor, instance: str, node: str) -> str:
    """ngspice vector of an internal node (or state) of an MDWMTJ instance."""
    return f"x{instance}.{node}" if flavor == "twin" else f"n{instance}#{node}"


def run_rq(q: Sequence[float] | None = None, bias: Sequence[float] = (0.01, 0.1, 0.2, 0.3, 0.5, 0.8),
           *, values: dict[str, float] | None = None, flavor: Flavor = "osdi") -> dict[str, np.ndarray]:
    """Read resistance vs wall position and read bias (``mdwmtj-rq``).

    Parameters
    ----------
    q
        Wall positions (m); default 41 points over [0, l_FL].
    bias
        Read voltages V(t3, t2) (V).
    values
        Device parameter overrides.
    flavor
        ``"osdi"`` or ``"twin"``.

    Returns
    -------
    dict
        ``q`` (m), ``bias`` (V), and arrays of shape (len(bias), len(q)): ``r_mtj`` (Ω, V(t3,m)/I),
        ``r_total`` (Ω, V(t3,t2)/I), ``v_mtj`` (V); and per bias ``tmr`` = R_MTJ(l_FL)/R_MTJ(0) − 1.
    """
    model = get_device(DEVICE)
    q = np.linspace(0.0, L_FL, 41) if q is None else np.asarray(q, dtype=float)
    bias = np.asarray(bias, dtype=float)
    lines = ["* mdwmtj-rq: read resistance vs q and bias"]
    if flavor == "twin":
        lines.append(format_subckt(model))
    lines.append(".options reltol=1e-9 abstol=1e-15 vntol=1e-12")
    for i, v in enumerate(bias):
        lines.append(f"Vb{i} b{i} 0 {num(float(v))}")
        for j, qj in enumerate(q):
            name = f"d{i}_{j}"
            vals = dict(values or {}, q0=float(qj), freeze=1.0)
            lines += format_instance(model, name, [f"w{i}_{j}", f"b{i}", "0"], vals, flavor)
            lines.append(f"Rw{i}_{j} w{i}_{j} 0 1e3")
    lines += [".op", ".end"]
    res = run_netlist("\n".join(lines), osdi=_osdi(flavor))
    # a bias source feeds a whole row of instances: each instance's current is V(m)/rhmr
    rhmr = model.checked_params(values or {})["rhmr"]
    vm = np.array([[res[internal_node(flavor, f"d{i}_{j}", "m")][0] for j in range(len(q))] for i in range(len(bias))])
    i_dev = vm / rhmr
    v_mtj = bias[:, None] - vm
    r_mtj = v_mtj / i_dev
    r_total = bias[:, None] / i_dev
    tmr = r_mtj[:, -1] / r_mtj[:, 0] - 1.0
    return {"q": q, "bias": bias, "r_mtj": r_mtj, "r_total": r_total, "v_mtj": v_mtj, "tmr": tmr}


def run_pulse(currents: Sequence[float], width: float = 1e-9, *, q0: float = 0.0,
              values: dict[str, float] | None = None, flavor: Flavor = "osdi",
              read_bias: float = 0.0, max_step: float | None = None) -> dict[str, np.ndarray]:
    """Δq of one rectangular write pulse per current (``mdwmtj-pulse``).

    Each instance sits in its own write loop driven by a current source (T1 → T2 through the heavy
    metal, negative = reset direction); the read path has ``read_bias`` across it. ``max_step``
    (default width/200) must stay below (5 nm)/v where a wall runs into a bound, or the state node
    overshoots the bound (the device clamps q, but the node keeps the overshoot).

    Returns
    -------
    dict
        ``current`` (A), ``dq`` (m), ``velocity`` (m/s, Δq/width), and ``time``/``q`` waveforms
        (``q`` has one row per current).
    """
    model = get_device(DEVICE)
    currents = np.asarray(currents, dtype=float)
    edge = 1e-12
    t_end = width + 4 * edge + 1e-9
    lines = ["* mdwmtj-pulse: dq per write pulse"]
    if flavor == "twin":
        lines.append(format_subckt(model))
    lines.append(".options reltol=1e-7 abstol=1e-15 vntol=1e-12")
    lines.append(f"Vr r 0 {num(float(read_bias))}")
    for k, i in enumerate(currents):
        vals = dict(values or {}, q0=float(q0))
        lines += format_instance(model, f"d{k}", [f"w{k}", "r", "0"], vals, flavor)
        i = num(float(i))
        lines.append(f"Iw{k} 0 w{k} PWL(0 0 {num(edge)} 0 {num(2 * edge)} {i} {num(2 * edge + width)} {i} "
                     f"{num(3 * edge + width)} 0)")
    step = width / 200 if max_step is None else max_step
    lines += [f".tran {num(step)} {num(t_end)} 0 {num(step)}", ".end"]
    res = run_netlist("\n".join(lines), osdi=_osdi(flavor))
    q = np.array([res[internal_node(flavor, f"d{k}", "q")] * L_FL for k in range(len(currents))])
    dq = q[:, -1] - q[:, 0]
    return {"current": currents, "dq": dq, "velocity": dq / width, "time": res["time"], "q": q}


# ----------------------------------------------------------------------------- registered testbenches
# (``spicegen sim mdwmtj-rq --json``)

RQ_Q = tuple(k * L_FL / 10 for k in range(11))
"""Wall positions (m) of ``mdwmtj-rq``."""
RQ_BIAS = (0.01, 0.1, 0.2, 0.3, 0.5, 0.8)
"""Read biases V(t3, t2) (V) of ``mdwmtj-rq``."""
PULSE_CURRENTS = (20e-6, 40e-6, 60e-6, 100e-6, 150e-6, 200e-6, 250e-6, -100e-6, -200e-6)
"""Write currents (A) of ``mdwmtj-pulse`` (negative: reset direction)."""
PULSE_WIDTH = 0.5e-9
PULSE_Q0 = 0.5 * L_FL


def build_rq(options: Mapping[str, object]) -> Circuit:
    """``mdwmtj-rq``: one frozen instance per (bias, q), all in one ``.op``."""
    model = get_device(DEVICE)
    flavor = options["flavor"]
    c = Circuit("mdwmtj-rq: read resistance vs q and bias")
    c.include(".options reltol=1e-9 abstol=1e-15 vntol=1e-12")
    for i, v in enumerate(RQ_BIAS):
        c.element(f"Vb{i} b{i} 0 {num(v)}")
        for j, q in enumerate(RQ_Q):
            name = f"d{i}_{j}"
            c.device(model, name, [f"w{i}_{j}", f"b{i}", "0"], values={"q0": q, "freeze": 1.0},
                     flavor=flavor)  # type: ignore[arg-type]
            c.element(f"Rw{i}_{j} w{i}_{j} 0 1e3")
            c.alias(f"{name}.m", internal_node(flavor, name, "m"))  # type: ignore[arg-type]
    c.analysis(".op")
    return c


@dataclass(frozen=True)
class RqMeasure:
    """A number from the ``mdwmtj-rq`` operating point: ``what`` is ``r_p``, ``r_ap``, ``ap_over_p``,
    ``monotone``, ``tmr_falls`` or ``tmr`` (at bias index ``bias``). R is the MTJ part V(t3,m)/I."""

    what: str
    bias: int = 0

    @property
    def unit(self) -> str:
        """Ohm for the resistances ``r_p`` and ``r_ap``; the ratio, the TMR and the 0/1 checks are dimensionless."""
        return "Ohm" if self.what in ("r_p", "r_ap") else ""

    def __call__(self, waves) -> float:
        rhmr = get_device(DEVICE).defaults["rhmr"]
        r = np.empty((len(RQ_BIAS), len(RQ_Q)))
        for i, v in enumerate(RQ_BIAS):
            for j in range(len(RQ_Q)):
                vm = float(np.ravel(waves[f"d{i}_{j}.m"])[-1])
                r[i, j] = (v - vm) / (vm / rhmr)
        tmr = r[:, -1] / r[:, 0] - 1.0
        return {
            "r_p": r[0, 0], "r_ap": r[0, -1], "ap_over_p": r[0, -1] / r[0, 0],
            "monotone": float(np.all(np.diff(r, axis=1) > 0)), "tmr_falls": float(np.all(np.diff(tmr) < 0)),
            "tmr": tmr[self.bias],
        }[self.what]


_FLAVOR = (Option("flavor", "osdi", ("osdi", "twin"), "compiled Verilog-A or ngspice twin"),)

MDWMTJ_RQ = register_testbench(Testbench(
    name="mdwmtj-rq",
    doc="MDWMTJ read resistance vs wall position and bias: R(0)=R_P, R(l)=R_AP, monotone, TMR roll-off",
    build=build_rq,
    measurements={"r_p": RqMeasure("r_p"), "r_ap": RqMeasure("r_ap"), "ap_over_p": RqMeasure("ap_over_p"),
                  "monotone": RqMeasure("monotone"), "tmr_falls": RqMeasure("tmr_falls"),
                  **{f"tmr_{round(v * 1000):03d}mv": RqMeasure("tmr", i) for i, v in enumerate(RQ_BIAS)}},
    options=_FLAVOR,
    specs={"ap_over_p": (2.97, 3.03), "monotone": (1.0, None), "tmr_falls": (1.0, None)},
))


def build_pulse(options: Mapping[str, object]) -> Circuit:
    """``mdwmtj-pulse``: one instance per write current, each given one PULSE_WIDTH pulse."""
    model = get_device(DEVICE)
    flavor = options["flavor"]
    c = Circuit("mdwmtj-pulse: dq per write pulse")
    c.include(".options reltol=1e-7 abstol=1e-15 vntol=1e-12")
    edge = 1e-12
    for k, i in enumerate(PULSE_CURRENTS):
        c.device(model, f"d{k}", [f"w{k}", "0", "0"], values={"q0": PULSE_Q0}, flavor=flavor)  # type: ignore[arg-type]
        c.element(f"Iw{k} 0 w{k} PWL(0 0 {num(edge)} 0 {num(2 * edge)} {num(i)} {num(2 * edge + PULSE_WIDTH)} "
                  f"{num(i)} {num(3 * edge + PULSE_WIDTH)} 0)")
    t_end = PULSE_WIDTH + 1e-9
    c.analysis(f".tran {num(PULSE_WIDTH / 200)} {num(t_end)} 0 {num(PULSE_WIDTH / 200)}")
    return c


@dataclass(frozen=True)
class Moved:
    """Final minus initial value of ``signal``, times ``scale``."""

    signal: str
    scale: float = 1.0

    def __call__(self, waves) -> float:
        y = np.ravel(waves[self.signal])
        return float(y[-1] - y[0]) * self.scale


def _current_name(i: float) -> str:
    return f"dq_{'m' if i < 0 else ''}{round(abs(i) * 1e6):03d}ua"


MDWMTJ_PULSE = register_testbench(Testbench(
    name="mdwmtj-pulse",
    doc="MDWMTJ wall displacement per 0.5 ns write pulse vs current (both directions, sub-threshold = 0)",
    build=build_pulse,
    measurements={_current_name(i): Moved(f"d{k}.q", L_FL) for k, i in enumerate(PULSE_CURRENTS)},
    options=_FLAVOR,
    units={_current_name(i): "m" for i in PULSE_CURRENTS},
))
