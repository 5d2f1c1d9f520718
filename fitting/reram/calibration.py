"""Calibration of the ``reram_cmo`` compact model against Falcone et al., with lmfit, on the SPICE 1T1R cell.

Two fits, each on ngspice runs of the 1T1R cell of :mod:`testbenches.reram.cell`:

1. **transport** (:func:`fit_transport`): the hopping distance ``a_hop`` (electron attempt
   frequency fixed at 1e13 1/s) so that the cell read at 0.2 V (V_G = 3.3 V) with the state at
   the paper's HRS point (x = 0: 1.2e18 cm^-3, 80 meV) and LRS point (x = 1: 5e19 cm^-3, 65 meV)
   gives 256 kOhm and 18 kOhm. Two residuals, one parameter: the residuals measure how far the
   paper's own (N, dE) points are from its read values once the uniform-field compact form
   replaces the FEM (docs/reram.md).
2. **kinetics** (:func:`fit_kinetics`): the set and reset laws (prefactor, barrier, hopping distance,
   soft-bound exponent), the exponents the volatile state adds under a held bias and the top of the set's
   range ``x_top``, so that

   * quasi-static 8W cycling (reset 0 -> -1.5 V at V_G = 3.3 V, set 0 -> 1.3 V at V_G = 1.1 V,
     5 cycles) reads the median device of Fig. 2e at 0.2 V (R_LRS = 17.46 kOhm, R_HRS = 248.3 kOhm: the
     array means 18 and 256 kOhm of a lognormal with sigma/mu = 0.25; weight
     :data:`READ_WEIGHT`: the must-show reads), and the set sweep after a deeper reset (the reset barrier
     6.5 % lower) ends at the same LRS (weight :data:`ROBUST_WEIGHT`: the 32 devices of Fig. 2e cycle
     between the same two levels whatever their HRS),
   * one 2.5 us pulse of each closed-loop amplitude inside its range (section 4.5: +1.35 V at 10-60 uS,
     +1.5 V at 60-90 uS, -1.5 V at 10-29 uS, -1.3 V at 30-90 uS; :data:`STEP_POINTS`) changes G by
     dG_SP/G_SP of G, the paper's mean update at its symmetry point (Eq. 1-2 [der]): flat steps are what
     makes the pulse count "almost independent of G_target" (Fig. 3c), and
   * the open-loop protocol (400 set, 400 reset, 500 alternating pulses, no noise) gives G_max, G_min,
     N_states and SP_skew of Fig. 5 (weights :data:`SWING_WEIGHTS`; SP_skew to within 0.05).

   Pulses use the cell's :class:`~testbenches.reram.pulse.PulseMap` (built once: the operating
   points do not depend on the kinetic parameters; the volatile state is 0 in a 2.5 us pulse), the reads
   and sweeps the ngspice cycling transient (where the volatile state builds up).

3. **per-pulse noise** (:func:`fit_c2c`): the cycle-to-cycle law of ``nu_set`` / ``nu_rst`` (a
   zero-inflated lognormal: probability ``p_zero`` that a 2.5 us pulse does not switch, relative
   spread ``sigma`` of the pulses that do) so that the open-loop NSR is 90 % (Eq. 3) and the
   closed-loop programming needs 89 pulses on average at AR 0.2 % (section 2.2.1); lmfit ``brute``
   over a grid, then Nelder-Mead, with common random numbers (fixed seeds) so the objective is a
   deterministic function of the two parameters. The pulse count at AR 2 % and sigma_prog are not
   fitted: they are the held-out checks of this step (``docs/reram.md`` section 6).

Checks that no fit targets are computed by :func:`held_out`: sinh non-linearity of the I-V, switching
onset voltages, hot-spot temperatures against Fig. S4, and the HRS/LRS ratio (which is not independent:
it is the ratio of the two fitted reads).

Studies (``spicegen study run NAME --out DIR``; each writes the fitted values into
``calibration_reram_cmo.json`` of its folder, and into the package's calibration file only with
``--set ship=yes``):

``reram-calibration``
    Fits 1 and 2 (parameter values, standard errors, correlations, chi-square, residuals, held-out checks).
``reram-c2c-calibration``
    Fit 3 (about 3.5 min).

Extractions ``reram-forming`` and ``reram-d2d`` ship the summaries and figures of the forming and d2d
calibration studies of :mod:`testbenches.reram.studies` (``fitting/extractions/reram_forming``,
``fitting/extractions/reram_d2d``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import lmfit
import numpy as np

from spicegen import calibration
from spicegen.calibration import significant
from spicegen.files import write_bytes, write_json
from spicegen.params import Variation
from spicegen.study import (Extraction, Measure, Setting, Study, StudyContext, StudyResult, StudyRun,
                            register_extraction, register_study)
from testbenches.reram import cell
from testbenches.reram.program import BIASES, STUDY_PULSE_LIMIT, TARGET_RANGE, program_study, reset_to_hrs
from testbenches.reram.pulse import PulseMap, figures_of_merit, pulse_train, state_rate

#: Targets from Falcone et al. (§2.1.2, Fig. 2e, read off the figure; §2.3.1, Fig. 5, Eq. 1-2).
R_LRS_TARGET = 18e3
R_HRS_TARGET = 256e3
D2D_REL_SIGMA = 0.25                   # Fig. 2e: sigma/mu of both reads over the 32 devices
#: The nominal cell is the array's median device: the reads the kinetics are fitted to are the medians of a
#: lognormal array with Fig. 2e's means and sigma/mu (mean/sqrt(1 + (sigma/mu)^2): 17.46 and 248.3 kOhm), so
#: the d2d law, drawn around the nominal parameters, gives the array the paper's means.
R_LRS_MEDIAN = R_LRS_TARGET / math.sqrt(1.0 + D2D_REL_SIGMA ** 2)
R_HRS_MEDIAN = R_HRS_TARGET / math.sqrt(1.0 + D2D_REL_SIGMA ** 2)
G_MAX, G_MIN = 100e-6, 10e-6          # Fig. 5 / S7 (FIG*): full-swing window of the pulse response
N_STATES = 22                          # section 2.3.1: mean number of states
SP_SKEW = 0.61                         # section 2.3.1: symmetry-point skew
DG_SP = (G_MAX - G_MIN) / N_STATES     # Eq. 1: mean update at the symmetry point (4.1 uS)
G_SP = G_MAX - SP_SKEW * (G_MAX - G_MIN)  # Eq. 2: symmetry-point conductance (45.1 uS)
STEP = DG_SP / G_SP                    # relative update at the symmetry point, 9.1 % [der]
#: (bias, G in S) of the single-pulse steps fitted to STEP: each closed-loop amplitude inside its range (section 4.5).
STEP_POINTS = tuple([((1.35, 1.4), g * 1e-6) for g in (10, 15, 20, 30, 45, 60)]
                    + [((1.5, 1.4), g * 1e-6) for g in (60, 70, 80, 90)]
                    + [((-1.5, 3.3), g * 1e-6) for g in (10, 15, 20, 29)]
                    + [((-1.3, 3.3), g * 1e-6) for g in (30, 45, 60, 80, 90)])
#: Weight of the quasi-static read residuals (must-show: within 10 %) relative to the pulse ones.
READ_WEIGHT = 4.0
#: Weight of the set after a deeper reset.
ROBUST_WEIGHT = 2.0
#: Weights of the open-loop swing: G_max and N_states as the reads (N_states is a calibration target of the
#: d2d law too, which can only raise its mean), G_min as the set after a deeper reset.
SWING_WEIGHTS = {"g_max": 4.0, "g_min": 2.0, "n_states": 4.0}
#: How much lower the reset barrier of the deeper reset is (a device whose HRS lies deeper).
DEEPER_RESET = 0.935
#: Bound on the set rate at the 0.2 V read (1/s): a read of 10^4 s (the relaxation of Fig. 4) moves x by < 1e-3.
READ_DISTURB = 1e-7

def _finite(values) -> np.ndarray:
    out = np.asarray(values, dtype=float)
    return np.where(np.isfinite(out), out, 10.0)


# ----------------------------------------------------------------------------- transport

def fit_transport(params: Mapping[str, float] | None = None) -> lmfit.minimizer.MinimizerResult:
    """Least squares on ``a_hop``: ln(R_read(x=1)/18k), ln(R_read(x=0)/256k)."""
    base = dict(params or {})

    def residual(p: lmfit.Parameters) -> np.ndarray:
        r = cell.read_resistance([1.0, 0.0], {**base, "a_hop": p["a_hop"].value})
        return _finite(np.log(r / np.array([R_LRS_TARGET, R_HRS_TARGET])))

    pars = lmfit.Parameters()
    pars.add("a_hop", value=5e-9, min=1e-10, max=3e-8)
    return lmfit.minimize(residual, pars, method="least_squares", diff_step=1e-3)


# ----------------------------------------------------------------------------- pulses and reads

def conductance_map(params: Mapping[str, float] | None = None, points: int = 121) -> tuple[np.ndarray, np.ndarray]:
    """Read conductance (0.2 V, V_G = 3.3 V) of the cell over the whole state range."""
    from spicegen.devices.reram_cmo import X_HI, X_LO

    xs = np.linspace(X_LO, X_HI, points)
    return xs, 1.0 / cell.read_resistance(xs, params)


def state_at(g: float, xs: np.ndarray, gs: np.ndarray) -> float:
    """State whose read conductance is ``g`` (the map is monotonic)."""
    return float(np.interp(g, gs, xs))


def pulse_targets(pmap: PulseMap) -> dict[str, float]:
    """Pulse-regime quantities of :func:`fit_kinetics` from a cell's pulse map: the relative step of each
    :data:`STEP_POINTS` pulse (``step_<V>V_<G>uS``) and the open-loop figures of merit without noise
    (``g_max``, ``g_min`` in S, ``n_states``, ``sp_skew``)."""
    steps = {f"step_{bias[0]:+g}V_{g * 1e6:.0f}uS": float(pmap.conductance(pmap.pulse(pmap.state(g), bias))) / g - 1
             for bias, g in STEP_POINTS}
    fom = figures_of_merit(pulse_train(pmap, pmap.state(G_MIN)))
    return {**steps, **{k: fom[k] for k in ("g_max", "g_min", "n_states", "sp_skew")}}


def pulse_residuals(sim: Mapping[str, float]) -> list[float]:
    """Residuals of :func:`pulse_targets` against the paper: ln of each step over :data:`STEP`, the swing."""
    res = [math.log(max(abs(v), 1e-6) / STEP) for k, v in sim.items() if k.startswith("step_")]
    targets = {"g_max": G_MAX, "g_min": G_MIN, "n_states": N_STATES}
    res += [w * math.log(max(sim[k], 1e-9) / targets[k]) for k, w in SWING_WEIGHTS.items()]
    return res + [(sim["sp_skew"] - SP_SKEW) / 0.05]


# ----------------------------------------------------------------------------- kinetics

#: Kinetic parameters :func:`fit_kinetics` can free: start, bounds, and whether log10 of the value is fitted.
#: ``gam_set`` stays >= 0.3 so that the set's bound reaches zero at ``x_top`` (the guard under a power's base
#: leaves 1e-300**gam there).
KINETIC_FIT = {
    "nu_set": (1e8, 1e0, 1e25, True),
    "nu_rst": (1e11, 1e0, 1e30, True),
    "a_set": (16e-9, 1e-10, 1e-7, True),
    "a_rst": (1e-9, 1e-11, 1e-7, True),
    "gam_set": (1.0, 0.3, 10.0, False),
    "gam_rst": (1.0, 1e-2, 10.0, False),
    "ea_set": (1.0, 0.3, 3.0, False),
    "ea_rst": (1.0, 0.3, 3.0, False),
    "gam_v": (10.0, 0.0, 100.0, False),
    "gam_v_rst": (1.0, 0.0, 100.0, False),
    "x_top": (0.98, 0.8, 1.1, False),
}


@dataclass
class KineticFit:
    """Outcome of :func:`fit_kinetics`."""

    result: lmfit.minimizer.MinimizerResult
    values: dict[str, float]
    cycling: cell.Cycling
    deeper: dict[str, float]
    pulses: dict[str, float]
    seconds: float


def deeper_reset(values: Mapping[str, float], x_lrs: float) -> dict[str, float]:
    """Reads (Ohm) after a reset sweep from ``x_lrs`` with the reset barrier :data:`DEEPER_RESET` times lower and
    after the set sweep that follows it (``r_deep``, ``r_set``)."""
    ea_rst = values.get("ea_rst", cell.device_model().defaults["ea_rst"])
    deep = reset_to_hrs(x_lrs, {**values, "ea_rst": DEEPER_RESET * ea_rst})
    schedule = cell.CyclingSchedule()
    schedule.sweep("set", cell.V_SET, cell.VG_SET)
    after = float(cell.state_vector(cell.simulate(cell.protocol_netlist(schedule, params={**values, "x0": deep})))[-1])
    r_deep, r_set = cell.read_resistance([deep, after], values)
    return {"r_deep": float(r_deep), "r_set": float(r_set)}


def kinetic_residuals(values: Mapping[str, float], pmap: PulseMap | None, cycles: int = 5
                      ) -> tuple[np.ndarray, cell.Cycling | None, dict[str, float], dict[str, float]]:
    """Residuals: READ_WEIGHT*ln(R_read/median) of every cycle's LRS and HRS read, ROBUST_WEIGHT*ln(R/median LRS) of
    the set after a deeper reset, then (with a pulse map ``pmap``) :func:`pulse_residuals`."""
    n_pulse = len(STEP_POINTS) + 5 if pmap is not None else 0
    try:
        cyc = cell.run_cycling(values, cycles)
        deeper = deeper_reset(values, float(cyc.x[-1]))
    except Exception:  # noqa: BLE001 - a failed simulation is a bad point for the optimiser, not a crash
        return np.full(2 * cycles + 1 + n_pulse, 10.0), None, {}, {}
    res = list(READ_WEIGHT * np.log(cyc.series("lrs") / R_LRS_MEDIAN))
    res += list(READ_WEIGHT * np.log(cyc.series("hrs") / R_HRS_MEDIAN))
    res.append(ROBUST_WEIGHT * math.log(deeper["r_set"] / R_LRS_MEDIAN))
    sim: dict[str, float] = {}
    if pmap is not None:
        sim = pulse_targets(pmap.with_kinetics({k: v for k, v in values.items() if k in KINETIC_FIT}))
        res += pulse_residuals(sim)
        sim["read_disturb"] = read_disturb(values)
        res.append(READ_WEIGHT * max(0.0, math.log10(max(sim["read_disturb"], 1e-30) / READ_DISTURB)))
    return _finite(res), cyc, deeper, sim


def read_disturb(values: Mapping[str, float]) -> float:
    """Largest set rate (1/s) at the 0.2 V read (V_G = 3.3 V) over the states 0 < x < 1."""
    xs = np.linspace(0.0, 1.0, 41)
    v_dev, _ = cell.frozen_operating_points(xs, cell.V_READ, cell.VG_READ, values)
    return float(np.max(state_rate(v_dev, xs, values)))


#: Parameters the calibration frees: every kinetic parameter of the set, the reset and the volatile bound.
FREE = tuple(KINETIC_FIT)
KINETIC_UNITS = {"nu_set": "1/s", "nu_rst": "1/s", "a_set": "m", "a_rst": "m", "ea_set": "eV", "ea_rst": "eV"}


def fit_kinetics(fixed: Mapping[str, float] | None = None, start: Mapping[str, float] | None = None,
                 free: tuple[str, ...] = FREE, cycles: int = 5, pulses: bool = True,
                 max_nfev: int = 200, diff_step: float = 1e-3) -> KineticFit:
    """lmfit least squares of the kinetic parameters ``free`` (prefactors and distances in log10) against the
    quasi-static reads, the set after a deeper reset and, with ``pulses``, the pulse regime (:func:`pulse_targets`)."""
    from spicegen.device import get_device

    model = get_device("reram_cmo")
    fixed = dict(fixed or {})
    pmap = PulseMap.build(fixed, BIASES) if pulses else None
    pars = lmfit.Parameters()
    for name in free:
        default, lo, hi, log = KINETIC_FIT[name]
        value = (start or {}).get(name, model.param(name).default if name in model.defaults else default)
        value = min(max(value, lo), hi)
        if log:
            pars.add(f"log_{name}", value=math.log10(value), min=math.log10(lo), max=math.log10(hi))
        else:
            pars.add(name, value=value, min=lo, max=hi)

    def values_of(p: lmfit.Parameters) -> dict[str, float]:
        return {**fixed, **{name: 10 ** p[f"log_{name}"].value if KINETIC_FIT[name][3] else p[name].value
                            for name in free}}

    def residual(p: lmfit.Parameters) -> np.ndarray:
        return kinetic_residuals(values_of(p), pmap, cycles)[0]

    t0 = time.time()
    result = lmfit.minimize(residual, pars, method="least_squares", diff_step=diff_step, max_nfev=max_nfev)
    values = values_of(result.params)
    _, cyc, deeper, sim = kinetic_residuals(values, pmap or PulseMap.build(values, BIASES), cycles)
    return KineticFit(result, values, cyc, deeper, sim, time.time() - t0)


# ----------------------------------------------------------------------------- per-pulse noise

#: Targets of the per-pulse noise law: open-loop NSR (section 2.3.1, Eq. 3) and closed-loop pulses to
#: converge at AR 0.2 % (section 2.2.1). The AR 2 % count (run beside it, held out) and sigma_prog are not fitted.
C2C_TARGETS = {"nsr": 0.90, "pulses_02pct": 89.0}
#: Held out: the AR 2 % count (section 2.2.1) of the same runs.
C2C_HELD_OUT = {"pulses_2pct": 11.0}
#: Calibration runs (seed 1; the studies that report the held-out numbers use seed 0).
C2C_RUNS = {"open_loop_streams": 8, "targets": 35, "streams": 16, "seed": 1}
#: lmfit brute grid: (min, max, step) per parameter.
C2C_GRID = {"p_zero": (0.05, 0.45, 0.05), "sigma": (0.4, 1.3, 0.1)}


@dataclass
class C2cFit:
    """Result of :func:`fit_c2c`."""

    grid: lmfit.minimizer.MinimizerResult
    result: lmfit.minimizer.MinimizerResult
    law: Variation
    simulated: dict[str, float]
    seconds: float
    evaluated: list[dict[str, float]]
    """Every law the fit evaluated (grid and Nelder-Mead): p_zero, sigma and the simulated quantities."""

    def count_ratios(self) -> np.ndarray:
        """AR 0.2 % count / AR 2 % count of every evaluated law: what the per-pulse law can move."""
        return np.array([e["pulses_02pct"] / e["pulses_2pct"] for e in self.evaluated])


def c2c_residuals(pmap: PulseMap, p_zero: float, sigma: float, runs: Mapping[str, int] = C2C_RUNS
                  ) -> tuple[np.ndarray, dict[str, float]]:
    """ln(simulated/target) of :data:`C2C_TARGETS` with the law (``p_zero``, ``sigma``) on both prefactors,
    on the runs ``runs`` (keys of :data:`C2C_RUNS`; the same seed gives the same noise: common random numbers),
    and the simulated quantities, the held-out AR 2 % count included (the same cells at both ranges)."""
    law = Variation("c2c", sigma, "lognormal", p_zero=p_zero)
    noisy = pmap.with_c2c(nu_set=law, nu_rst=law)
    streams = np.random.SeedSequence(runs["seed"]).spawn(runs["open_loop_streams"])
    nsr = np.mean([figures_of_merit(pulse_train(noisy, 0.0, np.random.default_rng(s)))["nsr"] for s in streams])
    programmed = program_study(np.linspace(*TARGET_RANGE, runs["targets"]), ars=(0.002, 0.02),
                               repeats=runs["streams"], seed=runs["seed"], device=noisy, max_pulses=STUDY_PULSE_LIMIT)
    count = lambda ar: float(np.mean([r.pulses for r in programmed if r.ar == ar]))
    simulated = {"nsr": float(nsr), "pulses_02pct": count(0.002), "pulses_2pct": count(0.02)}
    return np.log([simulated[k] / C2C_TARGETS[k] for k in C2C_TARGETS]), simulated


def fit_c2c(pmap: PulseMap | None = None, runs: Mapping[str, int] = C2C_RUNS, max_nfev: int = 40) -> C2cFit:
    """lmfit ``brute`` over :data:`C2C_GRID`, then Nelder-Mead from the best grid point, on the runs ``runs``."""
    pmap = pmap or PulseMap.build(None, BIASES)
    pars = lmfit.Parameters()
    for name, (lo, hi, step) in C2C_GRID.items():
        pars.add(name, value=(lo + hi) / 2, min=lo, max=hi + 1e-9, brute_step=step)
    evaluated: list[dict[str, float]] = []

    def residual(p: lmfit.Parameters) -> np.ndarray:
        res, simulated = c2c_residuals(pmap, p["p_zero"].value, p["sigma"].value, runs)
        evaluated.append({"p_zero": p["p_zero"].value, "sigma": p["sigma"].value, **simulated})
        return res

    t0 = time.time()
    grid = lmfit.minimize(residual, pars, method="brute", keep=5)
    start = grid.candidates[0].params
    for name in C2C_GRID:
        start[name].set(min=0.0 if name == "p_zero" else 0.05, max=0.9 if name == "p_zero" else 3.0)
    result = lmfit.minimize(residual, start, method="nelder", max_nfev=max_nfev)
    # the objective is rough (pulse counts are integers), so keep whichever of the grid's best point and
    # the polished one scores better at the rounded values that are shipped
    scored = []
    for params in (grid.candidates[0].params, result.params):
        law = Variation("c2c", round(params["sigma"].value, 3), "lognormal", p_zero=round(params["p_zero"].value, 3))
        res, simulated = c2c_residuals(pmap, law.p_zero, law.sigma, runs)
        scored.append((float(res @ res), law, simulated))
    _, law, simulated = min(scored, key=lambda item: item[0])
    return C2cFit(grid, result, law, simulated, time.time() - t0, evaluated)


# ----------------------------------------------------------------------------- held-out checks

def held_out(params: Mapping[str, float] | None = None, cycling: cell.Cycling | None = None) -> dict[str, float]:
    """Quantities no fit targets (the HRS/LRS ratio follows from the two fitted reads), with the paper's value
    where it gives one."""
    from spicegen.device import get_device
    from spicegen.numpy_code import load_numpy_module

    params = dict(params or {})
    cyc = cycling or cell.run_cycling(params, 5)
    lrs, hrs = cyc.series("lrs"), cyc.series("hrs")
    out: dict[str, float] = {"ratio_hrs_lrs": float(np.mean(hrs) / np.mean(lrs))}
    # switching onsets: |V| where dx first exceeds 1 % of the range in the last set / reset sweep
    for kind in ("set", "reset"):
        label = [p[0] for p in cyc.phases if p[0].startswith(kind)][-1]
        sl = cyc.phase(label)
        x, v = cyc.x[sl], cyc.v_te[sl]
        moved = np.nonzero(np.abs(x - x[0]) > 0.012)[0]
        out[f"onset_{kind}_V"] = float(v[moved[0]]) if moved.size else math.nan
    # sinh non-linearity of the LRS and HRS device I-V (device only, numpy rendering = SPICE)
    module = load_numpy_module(get_device("reram_cmo"))
    xs, gs = conductance_map(params)
    for name, r in (("lrs", np.mean(lrs)), ("hrs", np.mean(hrs))):
        x = state_at(1.0 / r, xs, gs)
        v = np.array([0.2, 1.0])
        ev = module.evaluate({"te": v, "be": 0 * v}, {"x": x + 0 * v}, **params)
        i = ev["currents"]["te"]
        out[f"nonlinearity_{name}_I1V_over_5I0p2V"] = float(i[1] / (5 * i[0]))
        out[f"x_{name}"] = x
    # hot-spot temperature of Fig. S4 (FIG*): LRS at -1.0 V, HRS at +0.9 V
    for name, v in (("lrs", -1.0), ("hrs", 0.9)):
        x = out[f"x_{name}"]
        ev = module.evaluate({"te": v, "be": 0.0}, {"x": x}, **params)
        out[f"T_{name}_{'m1p0' if v < 0 else 'p0p9'}V_K"] = float(300.0 * np.exp(ev["internal"]["tk"]))
    return out


def _report(result: lmfit.minimizer.MinimizerResult) -> dict:
    return {
        "values": {k: p.value for k, p in result.params.items()},
        "stderr": {k: p.stderr for k, p in result.params.items()},
        "correl": {k: dict(p.correl or {}) for k, p in result.params.items()},
        "chisqr": result.chisqr, "redchi": result.redchi, "nfev": result.nfev, "ndata": result.ndata,
        "nvarys": result.nvarys, "residual": list(map(float, result.residual)), "success": bool(result.success),
    }


#: Significant digits of a fitted kinetic or transport value written into the calibration file.
DIGITS = 4


CODE = (__name__, "testbenches.reram.cell", "testbenches.reram.pulse", "testbenches.reram.program")
"""Modules whose source the calibration studies' definitions hold (:attr:`spicegen.study.Study.code`)."""


@register_study
class CalibrationStudy(Study):
    """lmfit of reram_cmo on the SPICE 1T1R cell: a_hop (transport), set/reset kinetics, held-out checks."""

    name = "reram-calibration"
    code = CODE
    family = "reram"
    options = (
        Setting("transport", True, "fit a_hop first (no: keep the device's a_hop)"),
        Setting("pulses", True, "fit the pulse-regime targets too (no: the quasi-static reads only)"),
        Setting("cycles", 5, "quasi-static cycles whose reads are fitted", bounds=(1, 20)),
        Setting("max_nfev", 200, "most evaluations of the kinetic least-squares fit", bounds=(1, 2000)),
        Setting("ship", False, "also update the package's calibration file (reram_cmo.json)"),
    )
    measures = {
        "a_hop": Measure("m", "electron hopping distance (fitted with transport, else the device's)"),
        **{name: Measure(KINETIC_UNITS.get(name, ""), f"fitted {name}") for name in FREE},
        "chisqr": Measure("", "chi-square of the kinetic fit"),
        "R_LRS": Measure("Ohm", "0.2 V read after the set sweep, mean over the cycles (fitted to the median "
                                "device, 17.46 kOhm)", spec=(16.2e3, 19.8e3), paper=R_LRS_TARGET, role="calibration"),
        "R_HRS": Measure("Ohm", "0.2 V read after the reset sweep, mean over the cycles (fitted to the median "
                                "device, 248.3 kOhm)", spec=(230.4e3, 281.6e3), paper=R_HRS_TARGET, role="calibration"),
        "R_set_after_deeper_reset": Measure("Ohm", "0.2 V read after a set sweep that follows a deeper reset (fitted "
                                            "to the median device)", paper=R_LRS_TARGET, role="calibration"),
        # targets of the shipped fit (pulses=yes); a run with pulses=no leaves them unfitted
        "step_min": Measure("", "smallest relative single-pulse step over the closed loop's amplitudes and ranges",
                            paper=STEP, role="calibration"),
        "step_max": Measure("", "largest relative single-pulse step over the closed loop's amplitudes and ranges",
                            paper=STEP, role="calibration"),
        "g_max": Measure("S", "G after 400 set pulses (no noise)", paper=G_MAX, role="calibration"),
        "g_min": Measure("S", "G after 400 reset pulses (no noise)", paper=G_MIN, role="calibration"),
        "n_states": Measure("", "N_states of the open-loop protocol (no noise)", paper=N_STATES, role="calibration"),
        "sp_skew": Measure("", "SP_skew of the open-loop protocol (no noise)", paper=SP_SKEW, role="calibration"),
        # the ratio of the two fitted reads (18 and 256 kOhm), not an independent check
        "ratio_hrs_lrs": Measure("", "R_HRS/R_LRS", paper=15.0, role="calibration"),
        "T_lrs_m1p0V_K": Measure("K", "hot-spot temperature in the LRS at -1.0 V", paper=500.0, role="held out"),
        "T_hrs_p0p9V_K": Measure("K", "hot-spot temperature in the HRS at +0.9 V", paper=350.0, role="held out"),
    }
    devices = ("reram_cmo",)

    def run(self, ctx: StudyContext) -> StudyResult:
        transport = ctx.step("transport", lambda: _report(fit_transport())) if ctx.options["transport"] else None
        fixed = {} if transport is None else {"a_hop": transport["values"]["a_hop"]}
        ctx.say(f"{self.name}: kinetic fit of {', '.join(FREE)} ({ctx.options['cycles']} cycles per evaluation)")
        kin = fit_kinetics(fixed=fixed, pulses=ctx.options["pulses"], cycles=ctx.options["cycles"],
                           max_nfev=ctx.options["max_nfev"])
        checks = held_out(kin.values, kin.cycling)
        fitted = {name: significant(value, DIGITS) for name, value in kin.values.items()}
        written = calibration.update("reram_cmo", ctx.out, values=fitted, source=ctx.citation(),
                                     ship=ctx.options["ship"])
        report = {"transport": transport or "device a_hop", "kinetics": _report(kin.result),
                  "kinetic_values": kin.values, "written": fitted, "reads": kin.cycling.reads, "pulses": kin.pulses,
                  "deeper_reset": kin.deeper, "step_target": STEP, "held_out": checks, "fit_seconds": kin.seconds}
        steps = [v for k, v in kin.pulses.items() if k.startswith("step_")]
        values = {**cell.device_model().defaults, **kin.values}
        return StudyResult(
            {"a_hop": values["a_hop"], **{name: kin.values[name] for name in FREE}, "chisqr": kin.result.chisqr,
             "R_LRS": float(np.mean(kin.cycling.series("lrs"))), "R_HRS": float(np.mean(kin.cycling.series("hrs"))),
             "R_set_after_deeper_reset": kin.deeper.get("r_set", math.nan),
             "step_min": float(min(map(abs, steps))) if steps else math.nan,
             "step_max": float(max(map(abs, steps))) if steps else math.nan,
             **{name: kin.pulses.get(name, math.nan) for name in ("g_max", "g_min", "n_states", "sp_skew")},
             "ratio_hrs_lrs": checks["ratio_hrs_lrs"], "T_lrs_m1p0V_K": checks["T_lrs_m1p0V_K"],
             "T_hrs_p0p9V_K": checks["T_hrs_p0p9V_K"]},
            data=report, files=[written[0].name])


@register_study
class C2cCalibrationStudy(Study):
    """lmfit of the per-pulse noise law of nu_set / nu_rst (p_zero, sigma) on NSR and the AR 0.2 % pulse count;
    the AR 2 % count of the same runs is held out, and the ratio of the two counts over every evaluated law shows
    what a per-pulse law can reach."""

    name = "reram-c2c-calibration"
    code = CODE
    family = "reram"
    options = (
        Setting("open_loop_streams", C2C_RUNS["open_loop_streams"], "open-loop pulse trains per evaluation (NSR)",
                bounds=(1, 256)),
        Setting("targets", C2C_RUNS["targets"], "closed-loop targets 10-90 uS per evaluation", bounds=(2, 200)),
        Setting("streams", C2C_RUNS["streams"], "c2c noise streams per closed-loop target", bounds=(1, 256)),
        Setting("max_nfev", 40, "most Nelder-Mead evaluations after the grid", bounds=(1, 1000)),
        Setting("ship", False, "also update the package's calibration file (reram_cmo.json)"),
    )
    measures = {
        "p_zero": Measure("", "probability that a 2.5 us pulse does not switch"),
        "sigma": Measure("", "relative spread of the pulses that switch (lognormal)"),
        "nsr": Measure("", "open-loop NSR with the law (calibration runs)", paper=C2C_TARGETS["nsr"],
                       role="calibration"),
        "pulses_02pct": Measure("", "closed-loop pulses to converge at AR 0.2 % (calibration runs)",
                                paper=C2C_TARGETS["pulses_02pct"], role="calibration"),
        "pulses_2pct": Measure("", "closed-loop pulses to converge at AR 2 % (the same runs)",
                               paper=C2C_HELD_OUT["pulses_2pct"], role="held out"),
        "count_ratio_min": Measure("", "smallest AR 0.2 % / AR 2 % count ratio over every law the fit evaluated",
                                   paper=C2C_TARGETS["pulses_02pct"] / C2C_HELD_OUT["pulses_2pct"], role="held out"),
        "count_ratio_max": Measure("", "largest AR 0.2 % / AR 2 % count ratio over every law the fit evaluated",
                                   paper=C2C_TARGETS["pulses_02pct"] / C2C_HELD_OUT["pulses_2pct"], role="held out"),
    }
    devices = ("reram_cmo",)
    seed_default = C2C_RUNS["seed"]

    def run(self, ctx: StudyContext) -> StudyResult:
        runs = {"open_loop_streams": ctx.options["open_loop_streams"], "targets": ctx.options["targets"],
                "streams": ctx.options["streams"], "seed": ctx.seed}
        points = math.prod(round((hi - lo) / step) + 1 for lo, hi, step in C2C_GRID.values())
        ctx.say(f"{self.name}: pulse map, then {points} grid points and up to {ctx.options['max_nfev']} "
                "Nelder-Mead steps (3.5 min at the default size)")
        fit = fit_c2c(PulseMap.build(None, BIASES), runs, ctx.options["max_nfev"])
        law = {"sigma": fit.law.sigma, "p_zero": fit.law.p_zero}
        written = calibration.update("reram_cmo", ctx.out, variations={"nu_set": law, "nu_rst": law},
                                     source=ctx.citation(), ship=ctx.options["ship"])
        report = {"law": law, "simulated": fit.simulated, "targets": C2C_TARGETS, "runs": runs, "grid": C2C_GRID,
                  "grid_best": [{"p_zero": c.params["p_zero"].value, "sigma": c.params["sigma"].value,
                                 "score": float(c.score)} for c in fit.grid.candidates],
                  "nelder": _report(fit.result), "fit_seconds": fit.seconds, "evaluated": fit.evaluated}
        ratios = fit.count_ratios()
        return StudyResult({**law, **fit.simulated, "count_ratio_min": float(ratios.min()),
                            "count_ratio_max": float(ratios.max())}, data=report, files=[written[0].name])


# ----------------------------------------------------------------------------- shipped study summaries

class _StudySummary(Extraction):
    """Ships a study's result data as ``<summary>`` (with the run's citation) and its figures."""

    statistic = "summary"
    form = "table and figures"
    summary: ClassVar[str]
    figures: ClassVar[tuple[str, ...]]

    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        data: dict[str, Any] = {"provenance": {"study": run.citation()}, **dict(run.result["data"])}
        files = [write_json(out / self.summary, data)]
        return files + [write_bytes(out / name, (run.folder / name).read_bytes()) for name in self.figures]


@register_extraction
class FormingSummary(_StudySummary):
    """Forming voltage of the HfOx 1T1R cells: calibrated and held-out statistics, CDF and sweep figures."""

    name = "reram-forming"
    source = "reram-forming"
    folder = "extractions/reram_forming"
    summary = "forming_summary.json"
    figures = ("forming_cdf.png", "forming_iv.png")


@register_extraction
class D2dSummary(_StudySummary):
    """d2d spread of the ReRAM reads: SPICE read map, fitted sigmas, SPICE and map statistics, CDF figure."""

    name = "reram-d2d"
    source = "reram-d2d"
    folder = "extractions/reram_d2d"
    summary = "d2d_summary.json"
    figures = ("d2d_cdf.png",)
