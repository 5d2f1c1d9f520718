"""A volatile bound on the quasi-static switching of ``reram_cmo``: what it does to the closed loop (exploration).

The shipped set law has one state: its soft bound ((1.1 - x)/1.2)**gam_set must stop the 100 V/s set sweep at
the 18 kOhm LRS, and the same bound then slows the 2.5 us pulses at high G, so the closed loop's pulse counts
depend on the target (docs/reram.md, "Why the counts depend on the target"). This script measures the
alternative the guide names: a volatile state y that builds up under a bias held for milliseconds (y ~ 1 in a
quasi-static sweep) and not within one 2.5 us pulse (y ~ 0), adding gam_v * y to the set bound's exponent and
gam_v_rst * y to the reset bound's. It is not a shipped law: the device has no such state yet.

1. ``--fit``: the ten kinetic parameters are fitted (scipy ``least_squares``, from the shipped values) on a
   surrogate of the 1T1R cell: ngspice operating points with the state frozen (the cell of the studies,
   sky130 access transistor) at every sweep voltage and pulse bias, the rates in closed form on them, the
   sweeps and pulses integrated exactly in the state. Targets: the LRS / HRS the shipped law gives on the
   surrogate (weight 4), the set after a deeper reset (barrier of the reset 6.5 % lower; weight 2), G_max /
   G_min 100 / 10 uS and N_states 22 (weight 2), SP_skew 0.61 (+-0.05), and single-pulse steps of 9 % of G at
   the four closed-loop amplitudes in their ranges (19 points, weight 1).
2. Without ``--fit`` (or after it) the law is measured with the package's own machinery: the 8W cycling
   transient in ngspice with the sweep law (gam + gam_v), ``PulseMap`` with the pulse law, the closed loop of
   ``testbenches.reram.program`` (35 targets x 32 cells x both acceptance ranges, sequential and from the HRS)
   and the open-loop figures of merit of ``testbenches.reram.pulse``.
3. ``--x-hi X``, ``--v-th V``, ``--read-limit R``: the same fit with the top of the state range (where the set's
   soft bound reaches zero) at X instead of the device's 1.1 (read 133 uS), with a switching threshold of V on
   the CMO voltage, and with the set rate at the 0.2 V read bounded by R (1/s); laws the device cannot run,
   so they are measured on the surrogate only. Every run prints the largest set rate at the read.

Run from the repository root: ``.venv/bin/python docs/research/reram_volatile_set_bound.py [--fit | --x-hi 0.98]``
(about 15 s; a fit adds about a minute).
"""
from __future__ import annotations

import argparse
import copy

import numpy as np
from scipy.optimize import least_squares

from spicegen.devices.reram_cmo import X_HI, X_LO
from spicegen.numpy_code import load_numpy_module
from testbenches.reram import cell
from testbenches.reram.program import (BIASES, TARGET_RANGE, program_study, reset_to_hrs, runs_frame,
                                      sigma_prog_lines, summarize)
from testbenches.reram.pulse import READ_BIAS, X_FINE, X_GRID, PulseMap, figures_of_merit, pulse_train

K_EV = 8.617333262e-5
SHIPPED = {k: v for k, v in cell.device_model().defaults.items() if k not in ("x0", "freeze")}
#: The law of ``--fit`` run from the shipped values (docs/reram.md, "Tried: a volatile bound").
VOLATILE = {"nu_set": 9.239e6, "ea_set": 0.3000, "a_set": 3.645e-10, "gam_set": 0.1167, "gam_v": 4.186,
            "nu_rst": 2.669e11, "ea_rst": 0.7528, "a_rst": 4.505e-11, "gam_rst": 1.438, "gam_v_rst": 0.9468}
KINETICS = tuple(VOLATILE)
LOG_SCALED = {"nu_set", "a_set", "nu_rst", "a_rst"}
LOWER = {"nu_set": 1e-5, "ea_set": 0.3, "a_set": 1e-11, "gam_set": 0, "gam_v": 0,
         "nu_rst": 1e-5, "ea_rst": 0.3, "a_rst": 1e-11, "gam_rst": 0, "gam_v_rst": 0}
UPPER = {"nu_set": 1e30, "ea_set": 4.0, "a_set": 1e-7, "gam_set": 15, "gam_v": 40,
         "nu_rst": 1e30, "ea_rst": 4.0, "a_rst": 1e-7, "gam_rst": 30, "gam_v_rst": 40}
SET_SWEEP = [(round(v, 4), cell.VG_SET) for v in np.linspace(0.02, cell.V_SET, 65)]
RESET_SWEEP = [(round(v, 4), cell.VG_RESET) for v in np.linspace(-0.02, cell.V_RESET, 75)]
STEP_POINTS = ([((1.35, 1.4), g) for g in (10, 15, 20, 30, 45, 60)] + [((1.5, 1.4), g) for g in (60, 70, 80, 90)]
               + [((-1.5, 3.3), g) for g in (10, 15, 20, 29)] + [((-1.3, 3.3), g) for g in (30, 45, 60, 80, 90)])
#: Relative single-pulse step fitted at every STEP_POINT: the paper's mean update at its symmetry point,
#: dG_SP/G_SP = ((100 - 10)/22)/45.1 uS (Falcone et al. Eq. 1-2), rounded.
STEP_GOAL = 0.09


def sweep_law(law: dict[str, float]) -> dict[str, float]:
    """Device parameters of a quasi-static sweep: y = 1 adds gam_v (gam_v_rst) to the set (reset) exponent."""
    out = {k: v for k, v in law.items() if k not in ("gam_v", "gam_v_rst")}
    return {**out, "gam_set": law["gam_set"] + law.get("gam_v", 0.0),
            "gam_rst": law["gam_rst"] + law.get("gam_v_rst", 0.0)}


def pulse_law(law: dict[str, float]) -> dict[str, float]:
    """Device parameters of a 2.5 us pulse: y = 0."""
    return {k: v for k, v in law.items() if k not in ("gam_v", "gam_v_rst")}


class Surrogate:
    """The 1T1R cell's operating points with the state frozen (ngspice), any kinetics in closed form on them.

    ``x_hi``: the top of the state range, where the set's soft bound is zero (the device's is 1.1, G = 133 uS).
    ``v_th``: a switching threshold (V on the CMO; None: none): both rates times 1/(1 + exp((v_th - |V_CMO|)/20 mV)).
    ``read_limit``: the fit's bound on the set rate at the 0.2 V read (1/s; None: none).
    """

    def __init__(self, x_hi: float = X_HI, v_th: float | None = None, read_limit: float | None = None) -> None:
        self.x_hi, self.v_th, self.read_limit = x_hi, v_th, read_limit
        module = load_numpy_module(cell.device_model())
        self.ops = {}
        for bias in [READ_BIAS, *BIASES, *SET_SWEEP, *RESET_SWEEP]:
            v_dev, current = cell.frozen_operating_points(X_GRID, *bias)
            internal = module.evaluate({"te": v_dev, "be": 0 * v_dev}, {"x": X_GRID}, **SHIPPED)["internal"]
            self.ops[bias] = (np.asarray(internal["ci"], float), 300.0 * np.exp(np.asarray(internal["tk"], float)),
                              current)
        self.g = self.ops[READ_BIAS][2] / READ_BIAS[0]

    def rate(self, bias: tuple[float, float], p: dict[str, float]) -> np.ndarray:
        """|dx/dt| on X_GRID of the set (bias > 0) or the reset law of ``p`` (the device's equations)."""
        v_cmo, temp, _ = self.ops[bias]
        kt, field = K_EV * temp, np.abs(v_cmo) / SHIPPED["d_cmo"]
        up = bias[0] > 0
        nu, ea, a, gam = (p[f"{k}_{'set' if up else 'rst'}"] for k in ("nu", "ea", "a", "gam"))
        bound = np.clip((self.x_hi - X_GRID) / (self.x_hi - X_LO) if up else (X_GRID - X_LO) / 1.2, 0.0, None) ** gam
        gate = 1.0 if self.v_th is None else 1 / (1 + np.exp(np.clip((self.v_th - np.abs(v_cmo)) / 0.02, -200, 200)))
        return nu * (np.exp((a * field / 2 - ea) / kt) - np.exp((-a * field / 2 - ea) / kt)) * bound * gate

    def read_disturb(self, p: dict[str, float]) -> float:
        """Largest set rate (1/s) at the 0.2 V read over the states 0 < x < x_hi."""
        return float(self.rate(READ_BIAS, p)[(X_GRID > 0) & (X_GRID < self.x_hi)].max())

    def clock(self, bias: tuple[float, float], p: dict[str, float]) -> np.ndarray:
        """t(x) on X_FINE: the integral of dx/|r| (a pulse moves t by its width, exactly in the state)."""
        inv = 1.0 / np.exp(np.interp(X_FINE, X_GRID, np.log(np.maximum(self.rate(bias, p), 1e-3))))
        t = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(X_FINE))])
        return t - np.interp(0.5, X_FINE, t)

    def advance(self, x: float, bias: tuple[float, float], p: dict[str, float], dt: float,
                clock: np.ndarray | None = None) -> float:
        """State after ``dt`` seconds at ``bias`` from ``x``."""
        t = self.clock(bias, p) if clock is None else clock
        return float(np.interp(np.interp(x, X_FINE, t) + (dt if bias[0] > 0 else -dt), t, X_FINE))

    def sweep(self, x: float, biases: list[tuple[float, float]], p: dict[str, float]) -> float:
        """A 0 -> peak -> 0 sweep at the cycling protocol's rate."""
        dt = abs(biases[1][0] - biases[0][0]) / cell.SWEEP_RATE
        for bias in biases + biases[::-1]:
            x = self.advance(x, bias, p, dt)
        return x

    def conductance(self, x: float) -> float:
        return float(np.interp(x, X_GRID, self.g))

    def state(self, g: float) -> float:
        return float(np.interp(g, self.g, X_GRID))

    def pulse_map(self, p: dict[str, float]) -> PulseMap:
        """The cell of ``program`` and ``pulse_train`` under the pulse law ``p``: a pulse map of the four biases
        whose time integrals are this surrogate's."""
        return PulseMap(p, self.g, times={bias: self.clock(bias, p) for bias in BIASES})


def residuals(z: np.ndarray, s: Surrogate, lrs: float, hrs: float) -> np.ndarray:
    law = unpack(z)
    sweep, pulse = sweep_law(law), pulse_law(law)
    x_hrs, x_lrs, _, x_after_deep = surrogate_states(s, sweep)
    g = figures_of_merit(np.array(open_loop_trace(s, pulse)))
    out = [4 * np.log(lrs * s.conductance(x_lrs)), 4 * np.log(hrs * s.conductance(x_hrs)),
           2 * np.log(lrs * s.conductance(x_after_deep)),
           2 * np.log(g["g_max"] / 100e-6), 2 * np.log(g["g_min"] / 10e-6),
           2 * np.log(max(g["n_states"], 1e-3) / 22), (g["sp_skew"] - 0.61) / 0.05]
    for bias, g_us in STEP_POINTS:
        step = s.conductance(s.advance(s.state(g_us * 1e-6), bias, pulse, 2.5e-6)) / (g_us * 1e-6) - 1
        out.append(np.log(max(abs(step), 1e-5) / STEP_GOAL))
    if s.read_limit is not None:
        out.append(4 * max(0.0, np.log10(max(s.read_disturb(pulse), 1e-30) / s.read_limit)))
    return np.array(out)


def open_loop_trace(s: Surrogate, pulse: dict[str, float]) -> list[float]:
    """400 set, 400 reset, 500 alternating pulses without c2c noise from 10 uS (the surrogate's pulse_train)."""
    x, trace = s.state(10e-6), []
    for up in [True] * 400 + [False] * 400 + [k % 2 == 0 for k in range(500)]:
        x = s.advance(x, BIASES[0] if up else BIASES[2], pulse, 2.5e-6)
        trace.append(s.conductance(x))
    return trace


def unpack(z: np.ndarray) -> dict[str, float]:
    return {**SHIPPED, **{k: float(np.exp(v) if k in LOG_SCALED else v) for k, v in zip(KINETICS, z)}}


def pack(law: dict[str, float]) -> np.ndarray:
    return np.array([np.log(law[k]) if k in LOG_SCALED else law[k] for k in KINETICS])


def fit(s: Surrogate) -> dict[str, float]:
    """The volatile law fitted on ``s`` from the shipped values; the sweep targets are the shipped law's
    reads on the surrogate with the device's state range."""
    shipped = {**SHIPPED, "gam_v": 0.0, "gam_v_rst": 0.0}
    device_range = copy.copy(s)
    device_range.x_hi, device_range.v_th = X_HI, None
    _, hrs, lrs, _, _ = sweeps_surrogate(device_range, SHIPPED)
    res = least_squares(residuals, pack(shipped), args=(s, lrs, hrs), x_scale="jac", max_nfev=400,
                        bounds=(pack(LOWER), pack(UPPER)))
    law = unpack(res.x)
    print(f"fit: cost {res.cost:.3f} after {res.nfev} evaluations; " + ", ".join(f"{k} {law[k]:.4g}" for k in KINETICS))
    return law


def read_disturb(law: dict[str, float]) -> float:
    """Largest set rate (1/s) of the device at the 0.2 V read (V_G = 3.3 V) over the states 0 < x < 1."""
    v_dev, _ = cell.frozen_operating_points(X_GRID, *READ_BIAS)
    rates = load_numpy_module(cell.device_model()).evaluate({"te": v_dev, "be": 0 * v_dev}, {"x": X_GRID}, **law)
    return float(np.asarray(rates["rates"]["x"], float)[(X_GRID > 0) & (X_GRID < 1)].max())


def sweeps_ngspice(sweep: dict[str, float]) -> tuple[float, float, float, float, float]:
    """(x_hrs, R_HRS, R_LRS, R after a deeper reset, R of the set after it) of the 8W cycling in ngspice."""
    cycling = cell.run_cycling(sweep, cycles=3)
    deep = reset_to_hrs(float(cycling.x[-1]), {**sweep, "ea_rst": 0.935 * sweep["ea_rst"]})
    schedule = cell.CyclingSchedule()
    schedule.sweep("set", cell.V_SET, cell.VG_SET)
    after = float(cell.state_vector(cell.simulate(cell.protocol_netlist(schedule, params={**sweep, "x0": deep})))[-1])
    r_deep, r_after = cell.read_resistance([deep, after])
    return reset_to_hrs(0.5, sweep), cycling.series("hrs")[-1], cycling.series("lrs")[-1], r_deep, r_after


def surrogate_states(s: Surrogate, sweep: dict[str, float]) -> tuple[float, float, float, float]:
    """States on the surrogate: the HRS and LRS of the 8W cycling, after a deeper reset, after the set that follows."""
    x_hrs = s.sweep(s.sweep(s.sweep(0.5, RESET_SWEEP, sweep), SET_SWEEP, sweep), RESET_SWEEP, sweep)
    x_lrs = s.sweep(x_hrs, SET_SWEEP, sweep)
    deep = s.sweep(x_lrs, RESET_SWEEP, {**sweep, "ea_rst": 0.935 * sweep["ea_rst"]})
    return x_hrs, x_lrs, deep, s.sweep(deep, SET_SWEEP, sweep)


def sweeps_surrogate(s: Surrogate, sweep: dict[str, float]) -> tuple[float, float, float, float, float]:
    """The same as :func:`sweeps_ngspice` on the surrogate."""
    states = surrogate_states(s, sweep)
    return states[0], *(1 / s.conductance(x) for x in states)


def measure(name: str, law: dict[str, float], cells: int = 32, s: Surrogate | None = None) -> None:
    """Sweeps, single pulses, the open and the closed loop of ``law``: on the package's machinery (ngspice
    cycling, PulseMap) or, with ``s``, on the surrogate."""
    sweep, pulse = sweep_law(law), pulse_law(law)
    x_hrs, r_hrs, r_lrs, r_deep, r_after = sweeps_ngspice(sweep) if s is None else sweeps_surrogate(s, sweep)
    where = "ngspice" if s is None else (f"surrogate, state range up to {s.x_hi}, threshold {s.v_th} V, read "
                                         f"bound {s.read_limit} /s")
    print(f"{name} ({where}): 8W cycling HRS {r_hrs / 1e3:.1f} kOhm, LRS {r_lrs / 1e3:.2f} kOhm; after a deeper "
          f"reset ({r_deep / 1e3:.0f} kOhm) the set ends at {r_after / 1e3:.2f} kOhm")
    pmap = PulseMap.build(pulse, BIASES) if s is None else s.pulse_map(pulse)
    print(f"  largest set rate at the 0.2 V read: {read_disturb(pulse) if s is None else s.read_disturb(pulse):.2g} /s")
    for g_us in (10, 30, 60, 90):
        x = pmap.state(g_us * 1e-6)
        print(f"  one pulse at {g_us} uS: " + ", ".join(
            f"{b[0]:+} V {pmap.conductance(pmap.pulse(x, b)) / (g_us * 1e-6) - 1:+.1%}" for b in BIASES))
    streams = np.random.SeedSequence(0).spawn(cells)
    fom = [figures_of_merit(pulse_train(pmap, 0.0, np.random.default_rng(s))) for s in streams]
    mean = {k: float(np.mean([f[k] for f in fom])) for k in fom[0]}
    print(f"  open loop, nominal device, {cells} c2c streams: N_states {mean['n_states']:.1f}, "
          f"SP_skew {mean['sp_skew']:.2f}, NSR {mean['nsr']:.2f}, G_max {mean['g_max'] * 1e6:.1f} uS, "
          f"G_min {mean['g_min'] * 1e6:.1f} uS")
    for start in ("sequential", "hrs"):
        closed_loop(pmap, x_hrs, cells, start)


def closed_loop(pmap: PulseMap, x_hrs: float, cells: int, start: str) -> None:
    """The closed loop of ``reram-program`` (35 targets, ``cells`` cells, both ranges, seed 0) from ``x_hrs``."""
    frame = runs_frame(program_study(np.linspace(*TARGET_RANGE, 35), repeats=cells, device=pmap, start=start,
                                     x_hrs=x_hrs))
    lines = sigma_prog_lines(frame)
    for ar, table in summarize(frame).items():
        counts = np.array([row["pulses_mean"] for row in table["targets"]], dtype=float)
        mean = table["pulses_mean"]
        outside = int(np.sum((counts > 2 * mean) | (counts < mean / 2)))
        print(f"  closed loop ({start}), AR {float(ar):.1%}: {mean:.1f} pulses ({table['converged']}/{table['runs']} "
              f"converged), per target {counts.min():.0f}-{counts.max():.0f}, {outside}/35 targets outside x2 of the "
              f"mean; sigma_prog {lines[ar]['slope']:.3g}*G, R2 {lines[ar]['r2']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the volatile law on the surrogate first")
    parser.add_argument("--x-hi", type=float, help="top of the state range (device: 1.1)")
    parser.add_argument("--v-th", type=float, help="switching threshold on the CMO voltage (V)")
    parser.add_argument("--read-limit", type=float, help="bound on the set rate at the 0.2 V read in the fit (1/s)")
    args = parser.parse_args()
    if (args.x_hi, args.v_th, args.read_limit) != (None, None, None):  # laws the device cannot run: surrogate only
        surrogate = Surrogate(X_HI if args.x_hi is None else args.x_hi, args.v_th, args.read_limit)
        measure("volatile bound", fit(surrogate), s=surrogate)
    else:
        measure("shipped law", {**SHIPPED, "gam_v": 0.0, "gam_v_rst": 0.0})
        measure("volatile bound", fit(Surrogate()) if args.fit else {**SHIPPED, **VOLATILE})
