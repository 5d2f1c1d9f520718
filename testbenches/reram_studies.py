"""CMO/HfOx ReRAM studies of seed 004: forming, device-to-device spread of the reads, conductance relaxation.

Testbenches (``spicegen sim`` / ``spicegen mc``), all on the 1T1R cell of :mod:`testbenches.reram_cell`
(sky130 5 V NMOS, W = ``W_ACCESS``):

``reram-read``
    Quasi-static 8W cycling of the nominal ``reram_cmo`` (no variation); measurements ``R_LRS``,
    ``R_HRS``: the 0.2 V reads after the set and the reset sweep of the last cycle.
``reram-cycling``
    The same with the device's d2d variation (c2c held at nominal); ``spicegen mc reram-cycling --n 32``.
``reram-forming``
    Positive quasi-static sweep to 3.6 V at V_G = 1.2 V of a pristine ``hfox_forming`` cell;
    ``V_form`` = V_1T1R - R_DS*I at the largest current increase (seed 004 Fig. S2), with the
    device's d2d variation (HfOx thickness).

Studies (figures and a JSON summary each)::

    python -m testbenches.reram_studies forming|d2d|relaxation --out results/reram

Sources, assumptions and results: ``docs/reram_studies.md``.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from spicegen import get_device
from spicegen.naming import format_number
from spicegen.pdk import CORNERS, sky130_include
from spicegen.testbench import Circuit, Option, Testbench, register_testbench
from testbenches.reram_cell import (L_ACCESS, RDS_TARGET, SWEEP_RATE, TRAN_OPTIONS, V_FORM, V_READ, VG_FORM,
                                    W_ACCESS, cycling_protocol)

FORMING_DEVICE = "hfox_forming"
CELL_DEVICE = "reram_cmo"
#: Paper numbers (seed 004): forming (section 2.1.1, Fig. S2), reads (Fig. 2e, FIG* transcription).
PAPER = {"V_form_mean": 3.17, "V_form_sigma": 0.075, "V_form_1T1R_mean": 3.38, "I_form_mean": 258e-6,
         "R_LRS": 18e3, "R_HRS": 256e3, "rel_sigma": 0.25}
#: Voltage step of the quasi-static forming sweep on which dI/dV is taken (V). Not stated in seed 004;
#: a common source-measure-unit staircase step.
FORM_STEP = 0.01
#: A sweep whose current never exceeds this did not form (A).
FORMED_CURRENT = 10e-6

FLAVOR = Option("flavor", "osdi", ("twin", "osdi"), "device as B-source twin or compiled Verilog-A (OSDI)")
CORNER = Option("corner", "tt", CORNERS, "sky130 process corner of the access transistor")


def _place(circuit: Circuit, device: str, name: str, nodes: tuple[str, str], flavor: str, **kwargs: Any) -> None:
    """Place ``device`` as the twin or, compiled on first use, as OSDI."""
    model = get_device(device)
    osdi = None
    if flavor == "osdi":
        from veriloga import compile_model

        osdi = str(compile_model(model))
    circuit.device(model, name, nodes, flavor=flavor, osdi=osdi, **kwargs)  # type: ignore[arg-type]


def _pwl(points: Sequence[tuple[float, float]]) -> str:
    return "PWL(" + " ".join(f"{format_number(t)} {format_number(v)}" for t, v in points) + ")"


# ----------------------------------------------------------------------------- forming

def forming_point(v: np.ndarray, i: np.ndarray, step: float = FORM_STEP) -> tuple[float, float]:
    """(V_1T1R, I) at the largest current increase of a rising sweep, seed 004 Fig. S2a/b.

    The waveform is resampled on a staircase of ``step`` volts (a quasi-static measurement); the
    forming voltage is the step that triggers the highest current increase, the forming current
    the current there.

    Raises
    ------
    ValueError
        If ``step`` is not positive or the sweep never exceeds :data:`FORMED_CURRENT` (no forming).
    """
    if not step > 0:
        raise ValueError(f"forming step must be > 0 V, got {step!r}.")
    v, i = np.asarray(v, float), np.asarray(i, float)
    rising = np.concatenate([[True], np.diff(v) > 0])
    v, i = np.maximum.accumulate(v[rising]), i[rising]
    if i.max() < FORMED_CURRENT:
        raise ValueError(f"the sweep to {v.max():.2f} V never exceeded {FORMED_CURRENT * 1e6:g} uA: "
                         "the device did not form; sweep higher or check the breakdown parameters.")
    grid = np.arange(step, v.max() + step / 2, step)
    current = np.interp(grid, v, i)
    k = int(np.argmax(np.diff(current))) + 1
    return float(grid[k]), float(current[k])


@dataclass(frozen=True)
class FormingVoltage:
    """Forming measurement on the waves of ``reram-forming``: ``what`` = ``"rram"`` (V_ReRAM =
    V_1T1R - R_DS*I, seed 004 Fig. S2d), ``"cell"`` (V_1T1R) or ``"current"`` (I_form); NaN if unformed."""

    what: str
    rds: float = RDS_TARGET

    def __call__(self, waves: Any) -> float:
        try:
            v_cell, current = forming_point(waves["te"], -np.asarray(waves["i(vte)"]))
        except ValueError:
            return math.nan
        return {"rram": v_cell - self.rds * current, "cell": v_cell, "current": current}[self.what]


def build_forming(options: Mapping[str, Any]) -> Circuit:
    """Pristine 1T1R cell, top electrode ramped 0 -> 3.6 V at the quasi-static rate, V_G = 1.2 V."""
    duration = V_FORM / options["rate"]
    c = Circuit("reram-forming: pristine HfOx 1T1R forming sweep")
    c.include(sky130_include(options["corner"]))
    c.include(TRAN_OPTIONS)
    _place(c, FORMING_DEVICE, "r", ("te", "d"), options["flavor"], settable=("p_dip",))
    c.mos("t", "nfet", "d", "g", "0", "0", w=W_ACCESS, l=L_ACCESS)
    c.element(f"Vte te 0 {_pwl([(0.0, 0.0), (duration, V_FORM)])}")
    c.element(f"Vg g 0 {format_number(VG_FORM)}")
    c.save("te", "i(vte)")
    c.analysis(f".tran {format_number(duration / 20000)} {format_number(duration)} 0 "
               f"{format_number(duration / 2000)}")
    return c


RERAM_FORMING = register_testbench(Testbench(
    name="reram-forming",
    doc="pristine HfOx 1T1R forming sweep to 3.6 V at V_G = 1.2 V: V_form = V_1T1R - R_DS*I (seed 004 Fig. S2)",
    build=build_forming,
    measurements={"V_form": FormingVoltage("rram"), "V_form_1T1R": FormingVoltage("cell"),
                  "I_form": FormingVoltage("current")},
    options=(FLAVOR, CORNER, Option("rate", SWEEP_RATE, desc="forming sweep rate (V/s)")),
))


# ----------------------------------------------------------------------------- cycling and reads

#: Cycles per sample: the cycle starts from x0 = 0.5 with a reset sweep, and the reads of the first
#: cycle equal the periodic ones to 0.3 % (docs/reram_studies.md).
CYCLES = 1

@dataclass(frozen=True)
class ReadAt:
    """Cell resistance V_READ/I at time ``t`` (the end of a read plateau)."""

    t: float

    def __call__(self, waves: Any) -> float:
        current = float(np.interp(self.t, waves["time"], -np.asarray(waves["i(vte)"])))
        return V_READ / current if current > 0 else math.inf


def _cycling_circuit(options: Mapping[str, Any], title: str, variations: Mapping[str, Any]) -> Circuit:
    proto = cycling_protocol(CYCLES)
    tstop = max(proto.te.t, proto.g.t)
    step = 2e-3 / SWEEP_RATE
    c = Circuit(title)
    c.include(sky130_include(options["corner"]))
    c.include(TRAN_OPTIONS)
    _place(c, CELL_DEVICE, "c", ("te", "d"), options["flavor"], variations=variations)
    c.mos("t", "nfet", "d", "g", "0", "0", w=W_ACCESS, l=L_ACCESS)
    c.element(f"Vte te 0 {proto.te.spice()}")
    c.element(f"Vg g 0 {proto.g.spice()}")
    c.save("te", "i(vte)")
    c.analysis(f".tran {format_number(step / 10)} {format_number(tstop)} 0 {format_number(step)}")
    return c


def _no_variation() -> dict[str, None]:
    return {p.name: None for p in get_device(CELL_DEVICE).params if p.variation is not None}


def _d2d_only() -> dict[str, None]:
    return {p.name: None for p in get_device(CELL_DEVICE).params
            if p.variation is not None and p.variation.kind != "d2d"}


def build_read(options: Mapping[str, Any]) -> Circuit:
    """Nominal ``reram_cmo`` 1T1R cell under quasi-static 8W cycling (no variation)."""
    return _cycling_circuit(options, "reram-read: quasi-static 8W cycling, 0.2 V reads", _no_variation())


def build_cycling(options: Mapping[str, Any]) -> Circuit:
    """``reram_cmo`` 1T1R cell under quasi-static 8W cycling, with the device's d2d variation only, plus,
    when option ``ea_rst_sigma`` > 0, a proposed d2d normal spread of the reset activation energy
    (relative sigma; docs/reram_studies.md section 3.4)."""
    from spicegen.params import Variation

    if options["ea_rst_sigma"] < 0:
        raise ValueError(f"option 'ea_rst_sigma' = {options['ea_rst_sigma']!r} must be >= 0 (0 switches it off).")
    variations: dict[str, Any] = _d2d_only()
    if options["ea_rst_sigma"] > 0:
        variations["ea_rst"] = Variation("d2d", options["ea_rst_sigma"], "normal")
    return _cycling_circuit(options, "reram-cycling: quasi-static 8W cycling with d2d variation", variations)


def _read_measurements(cycles: int) -> dict[str, ReadAt]:
    reads = dict(cycling_protocol(cycles).reads)
    return {"R_LRS": ReadAt(reads[f"lrs{cycles - 1}"]), "R_HRS": ReadAt(reads[f"hrs{cycles - 1}"])}



RERAM_READ = register_testbench(Testbench(
    name="reram-read",
    doc="nominal CMO/HfOx 1T1R: 0.2 V reads after the quasi-static set/reset sweeps (R_LRS, R_HRS; Fig. 2d/e)",
    build=build_read,
    measurements=_read_measurements(CYCLES),
    options=(FLAVOR, CORNER),
    specs={m: (0.9 * PAPER[m], 1.1 * PAPER[m]) for m in ("R_LRS", "R_HRS")},
))

RERAM_CYCLING = register_testbench(Testbench(
    name="reram-cycling",
    doc="CMO/HfOx 1T1R quasi-static cycling with d2d variation: R_LRS, R_HRS per device (Fig. 2e)",
    build=build_cycling,
    measurements=_read_measurements(CYCLES),
    options=(FLAVOR, CORNER, Option("ea_rst_sigma", 0.0, desc="proposed d2d sigma/mu of ea_rst (0: off)")),
))


# ----------------------------------------------------------------------------- study helpers

def nominal(testbench: Testbench, settings: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Measurements of one nominal run of ``testbench`` (as ``spicegen sim``) with ``settings``."""
    from spicegen.montecarlo import make_plan, simulate

    return simulate(make_plan(testbench, seed=0, settings=settings))


def monte_carlo(testbench: Testbench, folder: Path, *, n: int, seed: int,
                settings: Mapping[str, Any] | None = None, sigmas: Mapping[str, float] | None = None) -> Any:
    """Run (or resume) a one-worker Monte Carlo study in ``folder``; its samples as a DataFrame (ok rows).

    ``folder`` is this study's cache: a study stored there with another definition (e.g. after the
    device's defaults changed) is deleted and recomputed.
    """
    import shutil

    from spicegen.montecarlo import StudyMismatch, load_dataframe, run_study

    kwargs = {"n": n, "seed": seed, "settings": settings, "sigmas": sigmas, "workers": 1, "progress": False}
    try:
        run_study(testbench, folder, **kwargs)
    except StudyMismatch:
        shutil.rmtree(folder)
        run_study(testbench, folder, **kwargs)
    frame = load_dataframe(folder)
    return frame[frame["status"] == "ok"]


def defaults_key(device: str) -> str:
    """Short hash of ``device``'s parameter defaults and variations: part of every Monte Carlo cache folder
    name, because a study's stored definition does not see a model's compiled defaults."""
    import hashlib

    model = get_device(device)
    text = json.dumps([(p.name, p.default, repr(p.variation)) for p in model.params])
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _stats(values: np.ndarray) -> dict[str, float]:
    """n, mean, standard deviation and sigma/mu of the finite values (NaN: unformed device), and
    ``rel_std_iqr``: sigma/mu of the lognormal with the same interquartile range of ln(value) (robust
    against a tail of a few per cent of devices)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
    q1, q3 = np.percentile(np.log(values), [25, 75]) if np.all(values > 0) else (np.nan, np.nan)
    sigma_ln = (q3 - q1) / 1.3489795003921634  # IQR of a standard normal
    return {"n": int(values.size), "mean": mean, "std": std, "rel_std": std / mean,
            "rel_std_iqr": float(math.sqrt(math.expm1(sigma_ln ** 2)))}


def _deviation(value: float, paper: float) -> float:
    return float(value / paper - 1)


def _check_sigma(sigma: float | None, what: str) -> float | None:
    if sigma is not None and not (math.isfinite(sigma) and 0 < sigma < 1):
        raise ValueError(f"{what} override must be a relative sigma in (0, 1), got {sigma!r}; "
                         "e.g. 0.3 for sigma/mu = 30 %.")
    return sigma


# ----------------------------------------------------------------------------- forming study

def calibrate_forming_mean(target: float = PAPER["V_form_mean"], *, start: float | None = None) -> dict[str, float]:
    """lmfit: the dipole moment ``p_dip`` whose nominal forming sweep gives V_form = ``target``.

    V_form is read on a 10 mV staircase, so the finite-difference step is 2 % of p_dip (tens of mV).
    """
    import lmfit

    p0 = start or get_device(FORMING_DEVICE).param("p_dip").default
    params = lmfit.Parameters()
    params.add("p_dip_nm", p0 * 1e9, min=0.5, max=20.0)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        value = nominal(RERAM_FORMING, {"r__p_dip": p["p_dip_nm"].value * 1e-9})["V_form"]
        return np.array([value - target if math.isfinite(value) else 1.0])

    result = lmfit.minimize(residual, params, method="least_squares", diff_step=0.02, xtol=1e-4)
    p_dip = result.params["p_dip_nm"].value * 1e-9
    return {"p_dip": p_dip, "V_form": target + float(result.residual[0]), "nfev": int(result.nfev)}


def calibrate_forming_sigma(t_ox: np.ndarray, v_form: np.ndarray, sigma_used: float, *,
                            target: float = PAPER["V_form_sigma"]) -> dict[str, Any]:
    """lmfit: the relative d2d sigma of the HfOx thickness that gives a V_form spread of ``target``.

    The Monte Carlo samples (``t_ox``, ``v_form``, drawn with ``sigma_used``) give a quadratic response
    V_form(t_ox) (lmfit, ``polynomial:2`` form) and the standard-normal draws z of each device;
    sigma is then fitted so that the same devices (same z) have the target standard deviation.
    """
    import lmfit

    from fitting.forms import parse_form

    t0 = get_device(FORMING_DEVICE).param("t_ox").default
    formed = np.isfinite(v_form)
    x, v_form = (np.asarray(t_ox)[formed] - t0) / t0, np.asarray(v_form)[formed]
    model = parse_form("polynomial:2")
    response = model.fit(v_form, model.guess(v_form, x=x), x=x)
    z = x / sigma_used
    params = lmfit.Parameters()
    params.add("sigma", sigma_used, min=1e-4, max=0.5)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        spread = np.std(response.eval(x=p["sigma"].value * z), ddof=1)
        return np.array([spread / target - 1])

    result = lmfit.minimize(residual, params, method="least_squares")
    return {"sigma": float(result.params["sigma"].value), "response": dict(response.best_values),
            "response_rmse": float(np.sqrt(np.mean(response.residual ** 2)))}


def forming_study(out: Path, *, n: int = 2000, seed_cal: int = 1, seed_check: int = 2,
                  sigma: float | None = None) -> dict[str, Any]:
    """Forming: calibrate p_dip (mean) and the t_ox d2d sigma on ``seed_cal``, check on ``seed_check``.

    Writes ``forming_cdf.png``, ``forming_iv.png`` and ``forming_summary.json`` into ``out`` (Monte Carlo
    folders under ``out/mc``) and returns the summary. ``sigma`` overrides the device's t_ox sigma
    used for the first (calibration) Monte Carlo run.
    """
    sigma_used = _check_sigma(sigma, "t_ox sigma") or get_device(FORMING_DEVICE).param("t_ox").variation.sigma
    mean_fit = calibrate_forming_mean()
    settings = {"r__p_dip": mean_fit["p_dip"]}
    cache = out / "mc" / f"forming_{defaults_key(FORMING_DEVICE)}"
    first = monte_carlo(RERAM_FORMING, cache / f"s{seed_cal}_{sigma_used:.6g}", n=n, seed=seed_cal,
                        settings=settings, sigmas={"r__t_ox": sigma_used})
    sigma_fit = calibrate_forming_sigma(first["r__t_ox"].to_numpy(), first["V_form"].to_numpy(), sigma_used)
    sigmas = {"r__t_ox": sigma_fit["sigma"]}
    runs = {f"calibration (seed {seed_cal})": monte_carlo(
                RERAM_FORMING, cache / f"s{seed_cal}_{sigma_fit['sigma']:.6g}", n=n, seed=seed_cal,
                settings=settings, sigmas=sigmas),
            f"held-out (seed {seed_check})": monte_carlo(
                RERAM_FORMING, cache / f"s{seed_check}_{sigma_fit['sigma']:.6g}", n=n,
                seed=seed_check, settings=settings, sigmas=sigmas)}
    unformed = {k: int(n - np.isfinite(v["V_form"]).sum()) for k, v in runs.items()}
    rate = sum(unformed.values()) / (n * len(runs))
    summary = {"p_dip": mean_fit["p_dip"], "nominal_V_form": mean_fit["V_form"], "lmfit_nfev": mean_fit["nfev"],
               "t_ox_sigma_used": sigma_used, "t_ox_sigma_fit": sigma_fit["sigma"],
               "response_V_form_vs_dt_rel": sigma_fit["response"], "response_rmse_V": sigma_fit["response_rmse"],
               "unformed_below_3p6V": unformed, "yield": 1 - rate, "p_all_32_formed": (1 - rate) ** 32,
               "runs": {label: _forming_row(frame) for label, frame in runs.items()}}
    summary["figures"] = [str(_plot_forming_cdf(runs, out / "forming_cdf.png")),
                          str(_plot_forming_iv(mean_fit["p_dip"], out / "forming_iv.png"))]
    _write_json(out / "forming_summary.json", summary)
    return summary


def _forming_row(frame: Any) -> dict[str, Any]:
    """Statistics of the forming measurements of one Monte Carlo run and their deviations from the paper."""
    row: dict[str, Any] = {m: _stats(frame[m].to_numpy()) for m in ("V_form", "V_form_1T1R", "I_form")}
    row["deviation"] = {"V_form_mean": _deviation(row["V_form"]["mean"], PAPER["V_form_mean"]),
                        "V_form_sigma": _deviation(row["V_form"]["std"], PAPER["V_form_sigma"]),
                        "V_form_1T1R_mean": _deviation(row["V_form_1T1R"]["mean"], PAPER["V_form_1T1R_mean"]),
                        "I_form_mean": _deviation(row["I_form"]["mean"], PAPER["I_form_mean"])}
    return row


def forming_sweep(p_dip: float | None = None, flavor: str = "osdi") -> tuple[np.ndarray, np.ndarray]:
    """V_1T1R and I of one nominal forming sweep (``p_dip`` overrides the device's)."""
    from spicegen.ngspice import run_netlist

    circuit = build_forming({"flavor": flavor, "corner": "tt", "rate": SWEEP_RATE})
    slots = [s.with_nominal(p_dip) if p_dip is not None and s.name == "r__p_dip" else s for s in circuit.slots]
    result = run_netlist(circuit.format(slots), osdi=list(circuit.osdi))
    return np.asarray(result["te"]), -np.asarray(result["i(vte)"])


def _plot_forming_cdf(runs: Mapping[str, Any], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.8), dpi=150)
    for label, frame in runs.items():
        values = np.sort(frame["V_form"].dropna().to_numpy())
        ax.plot(values, 100 * (np.arange(values.size) + 0.5) / values.size, ".", ms=3,
                label=f"{label}: {values.mean():.3f} V, $\\sigma$ = {1e3 * values.std(ddof=1):.0f} mV")
    ax.axvline(PAPER["V_form_mean"], color="k", ls="--", lw=1, label="paper mean 3.17 V ($\\sigma$ = 75 mV)")
    ax.set_xlabel("$V_{ReRAM\\ forming}$ [V]")
    ax.set_ylabel("Cumulative probability [%]")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_title("HfOx forming voltage (sim., cf. seed 004 Fig. 2c / S2d)", fontsize=9)
    return _save(fig, path)


def _plot_forming_iv(p_dip: float, path: Path) -> Path:
    v, i = forming_sweep(p_dip)
    v_cell, current = forming_point(v, i)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.8), dpi=150)
    ax.semilogy(v, np.abs(i) + 1e-13, lw=1.2)
    ax.plot([v_cell], [current], "o", color="tab:red",
            label=f"max dI/dV: {v_cell:.2f} V, {current * 1e6:.0f} $\\mu$A -> "
                  f"$V_{{ReRAM}}$ = {v_cell - RDS_TARGET * current:.3f} V")
    ax.set_xlabel("Voltage$_{1T1R}$ [V]")
    ax.set_ylabel("Current$_{1T1R}$ [A]")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Forming sweep, $V_G$ = 1.2 V (sim., cf. seed 004 Fig. 2a)", fontsize=9)
    return _save(fig, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _write_json(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return path


# ----------------------------------------------------------------------------- d2d study

#: Grid of the common d2d factor k of the defect densities (ln k) on which the SPICE read map is taken:
#: dense near nominal, where the quasi-static set endpoint (R_LRS) is steepest.
MAP_LN_K = np.array(sorted({sign * v for v in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 1.0, 1.5, 2.0)
                            for sign in (-1.0, 1.0)}))


def _d2d_params() -> list[str]:
    """The reram_cmo parameters with a d2d variation (one correlated lognormal group, scaled together)."""
    return [p.name for p in get_device(CELL_DEVICE).params if p.variation is not None and p.variation.kind == "d2d"]


def _d2d_variation(sigma: float | None) -> Any:
    """The device's d2d variation (first d2d parameter; the group shares it), sigma overridden."""
    from dataclasses import replace

    variation = get_device(CELL_DEVICE).param(_d2d_params()[0]).variation
    return variation if sigma is None else replace(variation, sigma=sigma)


def read_map(ln_k: np.ndarray = MAP_LN_K) -> dict[str, np.ndarray]:
    """SPICE reads (R_LRS, R_HRS after quasi-static cycling) with every d2d parameter scaled by k."""
    model = get_device(CELL_DEVICE)
    rows = [nominal(RERAM_CYCLING, {f"c__{name}": model.param(name).default * math.exp(v) for name in _d2d_params()})
            for v in ln_k]
    return {"ln_k": np.asarray(ln_k, float), **{m: np.array([r[m] for r in rows]) for m in ("R_LRS", "R_HRS")}}


def map_reads(table: Mapping[str, np.ndarray], ln_k: np.ndarray) -> dict[str, np.ndarray]:
    """Reads of devices with factors ``ln_k``: monotone (PCHIP) interpolation of ln R over the SPICE map.

    Raises
    ------
    ValueError
        If a device lies outside the map (widen :data:`MAP_LN_K`).
    """
    from scipy.interpolate import PchipInterpolator

    lo, hi = table["ln_k"][0], table["ln_k"][-1]
    if np.min(ln_k) < lo or np.max(ln_k) > hi:
        raise ValueError(f"d2d factors ln k in [{np.min(ln_k):.2f}, {np.max(ln_k):.2f}] leave the SPICE map "
                         f"[{lo:.2f}, {hi:.2f}]; widen MAP_LN_K or lower the sigma.")
    return {m: np.exp(PchipInterpolator(table["ln_k"], np.log(table[m]))(ln_k)) for m in ("R_LRS", "R_HRS")}


def draw_ln_k(n: int, seed: int, sigma: float | None = None) -> np.ndarray:
    """ln of ``n`` d2d factors k (mean 1) drawn as the Monte Carlo engine maps them (``Variation.apply``)."""
    z = np.random.default_rng(seed).standard_normal(n)
    return np.log(_d2d_variation(sigma).apply(1.0, z))


def calibrate_d2d_sigma(table: Mapping[str, np.ndarray], *, n: int = 10_000, seed: int = 1,
                        start: float | None = None, target: float = PAPER["rel_sigma"],
                        states: Sequence[str] = ("R_LRS", "R_HRS"), statistic: str = "rel_std") -> dict[str, float]:
    """lmfit: the d2d sigma whose read spreads (``statistic`` of :func:`_stats`, ``rel_std`` or
    ``rel_std_iqr``, of ``states``, ``n`` devices of ``seed`` through the SPICE map) best match
    ``target`` (least squares on spread/target - 1)."""
    import lmfit

    z = np.random.default_rng(seed).standard_normal(n)
    edge, z_max = min(-table["ln_k"][0], table["ln_k"][-1]), float(np.max(np.abs(z)))
    s_max = 0.98 * (math.sqrt(z_max ** 2 + 2 * edge) - z_max)  # largest s with s*|z| + s^2/2 inside the map
    params = lmfit.Parameters()
    params.add("sigma", min(start or _d2d_variation(None).sigma, 0.5 * math.sqrt(math.expm1(s_max ** 2))),
               min=0.005, max=math.sqrt(math.expm1(s_max ** 2)))

    def residual(p: lmfit.Parameters) -> np.ndarray:
        reads = map_reads(table, np.log(_d2d_variation(p["sigma"].value).apply(1.0, z)))
        return np.array([_stats(reads[m])[statistic] / target - 1 for m in states])

    result = lmfit.minimize(residual, params, method="least_squares")
    return {"sigma": float(result.params["sigma"].value), "states": list(states), "statistic": statistic,
            **{f"residual_{m}": float(r) for m, r in zip(states, result.residual)}, "nfev": int(result.nfev)}


#: Relative changes of ea_rst on which the SPICE read map of the proposed second d2d source is taken.
MAP_EA = np.linspace(-0.3, 0.3, 13)


def ea_map(rel: np.ndarray = MAP_EA) -> dict[str, np.ndarray]:
    """SPICE reads after cycling with ea_rst scaled by (1 + ``rel``), defect densities nominal."""
    ea0 = get_device(CELL_DEVICE).param("ea_rst").default
    rows = [nominal(RERAM_CYCLING, {"ea_rst_sigma": 0.05, "c__ea_rst": ea0 * (1 + v)}) for v in rel]
    return {"rel": np.asarray(rel, float), **{m: np.array([r[m] for r in rows]) for m in ("R_LRS", "R_HRS")}}


def map_reads_2d(table: Mapping[str, np.ndarray], table_ea: Mapping[str, np.ndarray], ln_k: np.ndarray,
                 rel: np.ndarray) -> dict[str, np.ndarray]:
    """Reads with both d2d sources, separable in ln R: map over k times the relative change of the ea_rst map.

    Raises
    ------
    ValueError
        If a device lies outside either map.
    """
    from scipy.interpolate import PchipInterpolator

    if np.min(rel) < table_ea["rel"][0] or np.max(rel) > table_ea["rel"][-1]:
        raise ValueError(f"ea_rst changes [{np.min(rel):.3f}, {np.max(rel):.3f}] leave the map "
                         f"[{table_ea['rel'][0]:.3f}, {table_ea['rel'][-1]:.3f}]; widen MAP_EA or lower the sigma.")
    base = map_reads(table, ln_k)
    centre = int(np.argmin(np.abs(table_ea["rel"])))
    return {m: base[m] * np.exp(PchipInterpolator(table_ea["rel"], np.log(table_ea[m] / table_ea[m][centre]))(rel))
            for m in base}


def calibrate_ea_sigma(table: Mapping[str, np.ndarray], table_ea: Mapping[str, np.ndarray], sigma_n: float, *,
                       n: int = 10_000, seed: int = 1, target: float = PAPER["rel_sigma"]) -> dict[str, float]:
    """lmfit: relative d2d sigma of ea_rst that, with ``sigma_n`` on the defect densities, gives the
    HRS spread ``target`` (``n`` devices of ``seed``, both draws independent)."""
    import lmfit

    rng = np.random.default_rng(seed)
    ln_k = np.log(_d2d_variation(sigma_n).apply(1.0, rng.standard_normal(n)))
    z = rng.standard_normal(n)
    params = lmfit.Parameters()
    params.add("sigma", 0.05, min=1e-3, max=0.9 * table_ea["rel"][-1] / np.max(np.abs(z)))

    def residual(p: lmfit.Parameters) -> np.ndarray:
        reads = map_reads_2d(table, table_ea, ln_k, p["sigma"].value * z)
        return np.array([_stats(reads["R_HRS"])["rel_std"] / target - 1])

    result = lmfit.minimize(residual, params, method="least_squares")
    reads = map_reads_2d(table, table_ea, ln_k, result.params["sigma"].value * z)
    return {"sigma": float(result.params["sigma"].value), "residual_R_HRS": float(result.residual[0]),
            "nfev": int(result.nfev), "reads": _read_stats(reads)}


def _read_stats(reads: Mapping[str, np.ndarray]) -> dict[str, Any]:
    row: dict[str, Any] = {m: _stats(v) for m, v in reads.items()}
    row["deviation"] = {f"{m}_mean": _deviation(row[m]["mean"], PAPER[m]) for m in ("R_LRS", "R_HRS")}
    row["deviation"].update({f"{m}_rel_std": _deviation(row[m]["rel_std"], PAPER["rel_sigma"])
                             for m in ("R_LRS", "R_HRS")})
    return row


def d2d_study(out: Path, *, n_spice: int = 32, n_big: int = 10_000, seed_cal: int = 1, seed_check: int = 2,
              sigma: float | None = None) -> dict[str, Any]:
    """Device-to-device spread of the quasi-static reads (Fig. 2e) and the d2d sigma that matches it.

    1. SPICE read map R(k) over the common d2d factor k of the defect densities (:func:`read_map`);
    2. ``n_spice`` SPICE devices (``reram-cycling``, seed ``seed_check``) with the device's sigma (or
       ``sigma``): their reads against the map at the same k (agreement of the two renderings);
    3. ``n_big`` devices through the map: read distributions with that sigma;
    4. lmfit of the sigma on ``seed_cal`` (:func:`calibrate_d2d_sigma`), checked on ``seed_check``
       through the map and with ``n_spice`` SPICE devices.

    Writes ``d2d_cdf.png`` and ``d2d_summary.json`` into ``out``; returns the summary.
    """
    sigma = _check_sigma(sigma, "d2d sigma")
    sigma_dev = sigma or _d2d_variation(None).sigma
    table = read_map()
    fits = {"joint": calibrate_d2d_sigma(table, n=n_big, seed=seed_cal, start=sigma_dev),
            "LRS only": calibrate_d2d_sigma(table, n=n_big, seed=seed_cal, start=sigma_dev, states=("R_LRS",)),
            "HRS only": calibrate_d2d_sigma(table, n=n_big, seed=seed_cal, start=sigma_dev, states=("R_HRS",)),
            "joint (IQR)": calibrate_d2d_sigma(table, n=n_big, seed=seed_cal, start=sigma_dev,
                                               statistic="rel_std_iqr")}
    cache = out / "mc" / f"d2d_{defaults_key(CELL_DEVICE)}"
    runs: dict[str, Any] = {}
    spice: dict[str, Any] = {}
    for label, s in (("device sigma", sigma_dev), ("fitted sigma (joint)", fits["joint"]["sigma"])):
        frame = monte_carlo(RERAM_CYCLING, cache / f"s{seed_check}_{s:.6g}", n=n_spice, seed=seed_check,
                            sigmas={f"c__{name}": s for name in _d2d_params()})
        spice[label] = {"sigma": s, "frame": frame}
        runs[label] = {"sigma": s, **_spice_vs_map(table, frame, seed_check),
                       f"map_{n_big} (seed {seed_cal})": _read_stats(map_reads(table, draw_ln_k(n_big, seed_cal, s))),
                       f"map_{n_big} (seed {seed_check}, held-out)": _read_stats(
                           map_reads(table, draw_ln_k(n_big, seed_check, s)))}
    for label in ("LRS only", "HRS only", "joint (IQR)"):
        s = fits[label]["sigma"]
        runs[f"fitted sigma ({label})"] = {"sigma": s, f"map_{n_big} (seed {seed_check}, held-out)": _read_stats(
            map_reads(table, draw_ln_k(n_big, seed_check, s)))}
    summary = {"d2d_params": _d2d_params(), "map": {k: v.tolist() for k, v in table.items()}, "lmfit": fits,
               "runs": runs, "sigma_to_put_in_reram_cmo": fits["joint"]["sigma"],
               "proposal": _ea_proposal(table, fits["joint"]["sigma"], cache, n_big, seed_cal, seed_check)}
    summary["figures"] = [str(_plot_d2d(table, spice, n_big, seed_check, out / "d2d_cdf.png"))]
    _write_json(out / "d2d_summary.json", summary)
    return summary


#: SPICE devices of the check of the two-source proposal (32 would leave sigma/mu uncertain by 12 %).
N_PROPOSAL = 200


def _ea_proposal(table: Mapping[str, np.ndarray], sigma_n: float, cache: Path, n_big: int, seed_cal: int,
                 seed_check: int) -> dict[str, Any]:
    """Second d2d source for the HRS: fit the ea_rst sigma on ``seed_cal``, check with SPICE on ``seed_check``."""
    table_ea = ea_map()
    fit = calibrate_ea_sigma(table, table_ea, sigma_n, n=n_big, seed=seed_cal)
    settings = {"ea_rst_sigma": round(fit["sigma"], 4)}
    frame = monte_carlo(RERAM_CYCLING, cache / f"proposal_s{seed_check}_{sigma_n:.6g}_{settings['ea_rst_sigma']:g}",
                        n=N_PROPOSAL, seed=seed_check, settings=settings,
                        sigmas={f"c__{name}": sigma_n for name in _d2d_params()})
    first = _d2d_params()[0]
    ln_k = np.log(frame[f"c__{first}"].to_numpy() / get_device(CELL_DEVICE).param(first).default)
    rel = frame["c__ea_rst"].to_numpy() / get_device(CELL_DEVICE).param("ea_rst").default - 1
    mapped = map_reads_2d(table, table_ea, ln_k, rel)
    return {"sigma_n": sigma_n, "ea_rst_sigma_rel": settings["ea_rst_sigma"], "lmfit": fit,
            "ea_map": {k: v.tolist() for k, v in table_ea.items()},
            f"spice_{len(frame)} (seed {seed_check})": _read_stats({m: frame[m].to_numpy() for m in mapped}),
            f"map_{len(frame)}_same_devices": _read_stats(mapped),
            "map_vs_spice_max_rel_error": {m: float(np.max(np.abs(mapped[m] / frame[m].to_numpy() - 1)))
                                           for m in mapped}}


def _spice_vs_map(table: Mapping[str, np.ndarray], frame: Any, seed: int) -> dict[str, Any]:
    """Read statistics of SPICE devices and of the map at the same drawn d2d factors, and their worst gap."""
    first = _d2d_params()[0]
    ln_k = np.log(frame[f"c__{first}"].to_numpy() / get_device(CELL_DEVICE).param(first).default)
    mapped = map_reads(table, ln_k)
    n = len(frame)
    return {f"spice_{n} (seed {seed})": _read_stats({m: frame[m].to_numpy() for m in mapped}),
            f"map_{n}_same_devices": _read_stats(mapped),
            "map_vs_spice_max_rel_error": {m: float(np.max(np.abs(mapped[m] / frame[m].to_numpy() - 1)))
                                           for m in mapped}}


def _plot_d2d(table: Mapping[str, np.ndarray], spice: Mapping[str, Any], n_big: int, seed: int, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.0), dpi=150)
    for (label, run), style in zip(spice.items(), ("--", "-")):
        big = map_reads(table, draw_ln_k(n_big, seed, run["sigma"]))
        for m, color in (("R_LRS", "tab:red"), ("R_HRS", "tab:blue")):
            values = np.sort(big[m])
            ax.semilogx(values, 100 * (np.arange(values.size) + 0.5) / values.size, style, color=color, lw=1,
                        label=f"{m[2:]}, {n_big} dev. (map), $\\sigma_{{d2d}}$ = {run['sigma']:.3f}")
            if label.startswith("fitted"):
                dots = np.sort(run["frame"][m].to_numpy())
                ax.semilogx(dots, 100 * (np.arange(dots.size) + 0.5) / dots.size, "o", color=color, ms=3,
                            label=f"{m[2:]}, {dots.size} dev. (SPICE)")
    for m in ("R_LRS", "R_HRS"):
        ax.axvline(PAPER[m], color="k", ls=":", lw=1)
    ax.set_xlabel("Resistance at 0.2 V [$\\Omega$]")
    ax.set_ylabel("Cumulative probability [%]")
    ax.legend(fontsize=6, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("LRS/HRS d2d distributions (sim., cf. seed 004 Fig. 2e; dotted: paper means)", fontsize=8)
    return _save(fig, path)


# ----------------------------------------------------------------------------- relaxation study

#: Times of Fig. 4e (s): 1 s, 1 h, 1 day, 1 week, 10 years.
RELAX_TIMES = {"1 s": 1.0, "1 h": 3600.0, "1 d": 86400.0, "1 w": 7 * 86400.0, "10 y": 10 * 365.25 * 86400.0}


def _programmed(targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Closed-loop programmed conductances (uS): target + N(0, sigma_prog) of Fig. 3e (AR 0.2 %)."""
    from fitting.reram_stats import SIGMA_PROG_AR02

    sigma = SIGMA_PROG_AR02[0] + SIGMA_PROG_AR02[1] * targets
    return targets + sigma * rng.standard_normal(targets.shape)


def relaxation_study(out: Path, *, seed: int = 1, devices: int = 32) -> dict[str, Any]:
    """Relaxation experiments of seed 004 Fig. 4 replayed with the fitted model (:mod:`fitting.reram_stats`).

    * Fig. 4c/d: 400 targets 10-90 uS (0.2 uS apart), one device each, error G_1h - G_prog;
    * Fig. 4a/b: 35 levels over 10-90 uS on ``devices`` devices each, sigma during programming and at 10 min;
    * Fig. 4e: the 50 uS state on ``devices`` devices at 1 s ... 10 years.

    Writes ``relaxation_study.png`` and ``relaxation_study.json`` (and the shipped extraction files) into ``out``.
    """
    from fitting.reram_stats import adjacent_overlap, fit_relaxation, relax, ship

    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 2:
        raise ValueError(f"devices must be a whole number >= 2, got {devices!r}.")
    model = fit_relaxation().surrogate
    rng = np.random.default_rng(seed)
    targets = np.linspace(10.0, 90.0, 401)[:400]
    g_prog = _programmed(targets, rng)
    error_1h = relax(g_prog, 3600.0, rng=rng, surrogate=model) - g_prog
    levels = np.linspace(10.0, 90.0, 35)
    g_levels = _programmed(np.repeat(levels[:, None], devices, axis=1), rng)
    g_10min = relax(g_levels, 600.0, rng=rng, surrogate=model)
    g_50 = _programmed(np.full(devices, 50.0), rng)
    state_50 = {label: relax(g_50, t, rng=rng, surrogate=model) for label, t in RELAX_TIMES.items()}
    sigma_10min = g_10min.std(axis=1, ddof=1)
    summary = {
        "model": {"mean_shift": {"expression": model.expression, "params": dict(model.params)},
                  "sigma": {"expression": model.variation.expression, "params": dict(model.variation.params)}},
        "fig4d_mean_error_1h_uS": float(error_1h.mean()), "paper_mean_error_1h_uS": -0.68,
        "fig4b_sigma_programming_uS": float(g_levels.std(axis=1, ddof=1).mean()),
        "fig4b_sigma_10min_uS": float(sigma_10min.mean()), "paper_sigma_10min_uS": 0.6,
        "fig4a_adjacent_overlap_10min": adjacent_overlap(float(sigma_10min.mean()), float(levels[1] - levels[0])),
        "paper_adjacent_overlap_10min": 0.096,
        "fig4e_50uS": {label: _stats(v) for label, v in state_50.items()},
        "shipped": [str(p) for p in ship(out)],
    }
    summary["figures"] = [str(_plot_relaxation(g_prog, error_1h, levels, g_levels, g_10min, state_50,
                                               out / "relaxation_study.png"))]
    _write_json(out / "relaxation_study.json", summary)
    return summary


def _plot_relaxation(g_prog: np.ndarray, error_1h: np.ndarray, levels: np.ndarray, g_levels: np.ndarray,
                     g_10min: np.ndarray, state_50: Mapping[str, np.ndarray], path: Path) -> Path:
    plt = _pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(11.0, 3.4), dpi=150)
    a.plot(g_prog, error_1h, ".", ms=3)
    a.axhline(error_1h.mean(), color="k", ls="--", lw=1, label=f"mean {error_1h.mean():.2f} $\\mu$S (paper -0.68)")
    a.set_xlabel("Programmed conductance [$\\mu$S]")
    a.set_ylabel("$G_{1h} - G_{prog}$ [$\\mu$S]")
    a.legend(fontsize=7)
    b.plot(levels, g_levels.std(axis=1, ddof=1), "o", ms=3, label="during programming (AR 0.2 %)")
    b.plot(levels, g_10min.std(axis=1, ddof=1), "o", ms=3, label="10 min after programming")
    b.set_xlabel("Programmed conductance [$\\mu$S]")
    b.set_ylabel("Standard deviation [$\\mu$S]")
    b.legend(fontsize=7)
    grid = np.linspace(44.0, 56.0, 400)
    for label, values in state_50.items():
        mu, sd = values.mean(), max(values.std(ddof=1), 1e-3)
        c.plot(grid, np.exp(-0.5 * ((grid - mu) / sd) ** 2), label=label)
    c.set_xlabel("Conductance [$\\mu$S]")
    c.set_ylabel("Normalized probability density")
    c.legend(fontsize=7)
    for ax in (a, b, c):
        ax.grid(alpha=0.3)
    fig.suptitle("CMO/HfOx relaxation replayed with the fitted model (cf. seed 004 Fig. 4b, 4d, 4e)", fontsize=9)
    return _save(fig, path)


# ----------------------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("forming", "d2d", "relaxation"))
    parser.add_argument("--out", type=Path, default=Path("results/reram"), help="output folder")
    parser.add_argument("--n", type=int, help="devices: forming Monte Carlo (default 2000), d2d SPICE (default 32), "
                                              "relaxation devices per level (default 32)")
    parser.add_argument("--seed-cal", type=int, default=1, help="seed the spread is calibrated on")
    parser.add_argument("--seed-check", type=int, default=2, help="held-out seed")
    parser.add_argument("--sigma", type=float, help="override the device's d2d sigma (forming: t_ox; d2d: N)")
    args = parser.parse_args(argv)
    seeds = {"seed_cal": args.seed_cal, "seed_check": args.seed_check}
    if args.study == "forming":
        summary = forming_study(args.out, n=args.n or 2000, sigma=args.sigma, **seeds)
    elif args.study == "d2d":
        summary = d2d_study(args.out, n_spice=args.n or 32, sigma=args.sigma, **seeds)
    else:
        summary = relaxation_study(args.out, seed=args.seed_cal, devices=args.n or 32)
    print(json.dumps(summary, indent=2, default=float))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
