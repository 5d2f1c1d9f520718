"""CMO/HfOx ReRAM studies of seed 004: forming, device-to-device spread of the reads, conductance relaxation.

Testbenches (``spicegen sim`` / ``spicegen mc``), all on the 1T1R cell of :mod:`testbenches.reram.cell`
(sky130 5 V NMOS, W = ``W_ACCESS``):

``reram-read``
    Quasi-static 8W cycling of the nominal ``reram_cmo`` (no variation); measurements ``R_LRS``,
    ``R_HRS``: the 0.2 V reads after the set and the reset sweep of the last cycle.
``reram-cycling``
    The same with the device's d2d variation (``n_lrs``, ``ea_rst``; c2c held at nominal);
    ``spicegen mc reram-cycling --n 200``.
``reram-forming``
    Positive quasi-static sweep to 3.6 V at V_G = 1.2 V of a pristine ``hfox_forming`` cell;
    ``V_form`` = V_1T1R - R_DS*I at the largest current increase (seed 004 Fig. S2), with the
    device's d2d variation (HfOx thickness).

Studies (figures and a JSON summary each)::

    python -m testbenches.reram.studies forming|d2d|relaxation --out results/reram

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
from spicegen.figures import pyplot
from spicegen.naming import format_number
from spicegen.pdk import CORNERS, sky130_include
from spicegen.testbench import Circuit, Option, Testbench, register_testbench
from spicegen.figures import save_figure
from testbenches.reram.cell import (L_ACCESS, RDS_TARGET, SWEEP_RATE, TRAN_OPTIONS, V_FORM, V_READ, VG_FORM,
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
    c.device(FORMING_DEVICE, "r", ("te", "d"), flavor=options["flavor"], settable=("p_dip",))
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
    c.device(CELL_DEVICE, "c", ("te", "d"), flavor=options["flavor"], variations=variations)
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
    """``reram_cmo`` 1T1R cell under quasi-static 8W cycling, with the device's d2d variation only
    (``n_lrs``, ``ea_rst``: docs/reram_studies.md section 3)."""
    return _cycling_circuit(options, "reram-cycling: quasi-static 8W cycling with d2d variation", _d2d_only())


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
    options=(FLAVOR, CORNER),
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
    V_form(t_ox) (least squares) and the standard-normal draws z of each device;
    sigma is then fitted so that the same devices (same z) have the target standard deviation.
    """
    import lmfit

    t0 = get_device(FORMING_DEVICE).param("t_ox").default
    formed = np.isfinite(v_form)
    x, v_form = (np.asarray(t_ox)[formed] - t0) / t0, np.asarray(v_form)[formed]
    response = np.polynomial.Polynomial.fit(x, v_form, 2).convert()
    z = x / sigma_used
    params = lmfit.Parameters()
    params.add("sigma", sigma_used, min=1e-4, max=0.5)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        spread = np.std(response(p["sigma"].value * z), ddof=1)
        return np.array([spread / target - 1])

    result = lmfit.minimize(residual, params, method="least_squares")
    return {"sigma": float(result.params["sigma"].value),
            "response": {f"c{k}": float(c) for k, c in enumerate(response.coef)},
            "response_rmse": float(np.sqrt(np.mean((response(x) - v_form) ** 2)))}


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
    plt = pyplot()
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
    return save_figure(fig, path)


def _plot_forming_iv(p_dip: float, path: Path) -> Path:
    v, i = forming_sweep(p_dip)
    v_cell, current = forming_point(v, i)
    plt = pyplot()
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
    return save_figure(fig, path)



def _write_json(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    return path


# ----------------------------------------------------------------------------- d2d study

#: Grid of each d2d coordinate on which the SPICE read map is taken, by the parameter's distribution:
#: ln(value/nominal) for a lognormal parameter (dense near nominal), value/nominal - 1 for a normal one.
MAP_GRID = {"lognormal": np.array(sorted({sign * v for v in (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
                                          for sign in (-1.0, 1.0)})),
            "normal": np.linspace(-0.3, 0.3, 13)}
#: Devices in the array of Fig. 2e (8x4, seed 004 section 2.1.2): the sampling uncertainty of the paper's
#: sigma/mu, 0.25*sqrt(1/(2*(32 - 1))) = 0.032, weights the lmfit residuals (and gives the sigmas' stderr).
PAPER_DEVICES = 32
#: SPICE devices of the d2d checks (32 would leave sigma/mu uncertain by 13 %; 200 by 5 %).
N_SPICE = 200


def _d2d_params() -> list[str]:
    """The reram_cmo parameters with a d2d variation (independent draws; docs/reram_studies.md section 3)."""
    names = [p.name for p in get_device(CELL_DEVICE).params if p.variation is not None and p.variation.kind == "d2d"]
    for name in names:
        variation = get_device(CELL_DEVICE).param(name).variation
        if variation.distribution not in MAP_GRID or variation.group is not None:
            raise ValueError(f"the d2d study maps ungrouped normal or lognormal variations; {name!r} has "
                             f"{variation.distribution!r} (group {variation.group!r}).")
    return names


def _d2d_variations(sigmas: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The device's d2d variations, with the relative sigmas in ``sigmas`` (by parameter name) overridden."""
    from dataclasses import replace

    sigmas = dict(sigmas or {})
    unknown = set(sigmas) - set(_d2d_params())
    if unknown:
        raise ValueError(f"no d2d variation on {sorted(unknown)}; the d2d parameters are {_d2d_params()}.")
    model = get_device(CELL_DEVICE)
    return {name: replace(model.param(name).variation, sigma=_check_sigma(sigmas[name], f"d2d sigma of {name!r}"))
            if name in sigmas else model.param(name).variation for name in _d2d_params()}


def _coordinate(name: str, values: np.ndarray) -> np.ndarray:
    """Map coordinate of parameter values: ln(value/nominal) (lognormal) or value/nominal - 1 (normal)."""
    param = get_device(CELL_DEVICE).param(name)
    ratio = np.asarray(values, float) / param.default
    return np.log(ratio) if param.variation.distribution == "lognormal" else ratio - 1.0


def _value(name: str, coordinate: float) -> float:
    param = get_device(CELL_DEVICE).param(name)
    ratio = math.exp(coordinate) if param.variation.distribution == "lognormal" else 1.0 + coordinate
    return param.default * ratio


def read_map() -> dict[str, Any]:
    """SPICE reads (R_LRS, R_HRS after quasi-static cycling) on the grid (:data:`MAP_GRID`) of every d2d parameter."""
    import itertools

    names = _d2d_params()
    axes = [MAP_GRID[get_device(CELL_DEVICE).param(name).variation.distribution] for name in names]
    shape = tuple(len(a) for a in axes)
    reads = {m: np.empty(shape) for m in ("R_LRS", "R_HRS")}
    for index in itertools.product(*(range(n) for n in shape)):
        row = nominal(RERAM_CYCLING, {f"c__{name}": _value(name, float(axis[i]))
                                      for name, axis, i in zip(names, axes, index)})
        for m in reads:
            reads[m][index] = row[m]
    return {"params": names, "axes": axes, **reads}


def map_reads(table: Mapping[str, Any], coords: np.ndarray) -> dict[str, np.ndarray]:
    """Reads of devices at map coordinates ``coords`` (n x d, :func:`_coordinate`): monotone (PCHIP) tensor
    interpolation of ln R over the SPICE map.

    Raises
    ------
    ValueError
        If a device lies outside the map (widen :data:`MAP_GRID` or lower the sigma).
    """
    from scipy.interpolate import RegularGridInterpolator

    coords = np.atleast_2d(np.asarray(coords, float))
    for j, (name, axis) in enumerate(zip(table["params"], table["axes"])):
        if np.min(coords[:, j]) < axis[0] or np.max(coords[:, j]) > axis[-1]:
            raise ValueError(f"d2d coordinates of {name!r} in [{np.min(coords[:, j]):.3f}, {np.max(coords[:, j]):.3f}] "
                             f"leave the SPICE map [{axis[0]:.3f}, {axis[-1]:.3f}]; widen MAP_GRID or lower the sigma.")
    return {m: np.exp(RegularGridInterpolator(tuple(table["axes"]), np.log(np.asarray(table[m])), method="pchip")(coords))
            for m in ("R_LRS", "R_HRS")}


def draw_coords(n: int, seed: int, sigmas: Mapping[str, float] | None = None) -> np.ndarray:
    """Map coordinates (n x d) of ``n`` devices with independent standard-normal draws per d2d parameter,
    mapped as the Monte Carlo engine maps them (``Variation.apply``)."""
    variations = _d2d_variations(sigmas)
    z = np.random.default_rng(seed).standard_normal((n, len(variations)))
    model = get_device(CELL_DEVICE)
    return np.column_stack([_coordinate(name, v.apply(model.param(name).default, z[:, j]))
                            for j, (name, v) in enumerate(variations.items())])


def _sigma_bound(distribution: str, axis: np.ndarray, z_max: float) -> float:
    """Largest relative sigma whose draws (|z| <= z_max) stay inside the map axis."""
    edge = min(-axis[0], axis[-1])
    if distribution == "normal":
        return 0.98 * edge / z_max
    s_max = 0.98 * (math.sqrt(z_max ** 2 + 2 * edge) - z_max)  # s*|z| + s^2/2 inside the map
    return math.sqrt(math.expm1(s_max ** 2))


def calibrate_d2d_sigmas(table: Mapping[str, Any], *, n: int = 10_000, seed: int = 1,
                         start: Mapping[str, float] | None = None, target: float = PAPER["rel_sigma"],
                         devices: int = PAPER_DEVICES) -> dict[str, Any]:
    """lmfit: the relative d2d sigmas of the mapped parameters whose read spreads (sigma/mu of R_LRS and
    R_HRS, ``n`` devices of ``seed`` through the SPICE map) match ``target``. Residuals are weighted by the
    sampling uncertainty of the paper's sigma/mu over ``devices`` devices and the covariance is not rescaled,
    so the stderr of each sigma is that uncertainty propagated."""
    import lmfit

    variations = _d2d_variations()
    z = np.random.default_rng(seed).standard_normal((n, len(variations)))
    z_max = float(np.max(np.abs(z)))
    uncertainty = target * math.sqrt(1.0 / (2 * (devices - 1)))
    model = get_device(CELL_DEVICE)
    params = lmfit.Parameters()
    for (name, v), axis in zip(variations.items(), table["axes"]):
        hi = _sigma_bound(v.distribution, axis, z_max)
        params.add(name, min((start or {}).get(name, v.sigma), 0.9 * hi), min=1e-3, max=hi)

    def reads_of(p: lmfit.Parameters) -> dict[str, np.ndarray]:
        from dataclasses import replace

        coords = np.column_stack([_coordinate(name, replace(v, sigma=p[name].value).apply(model.param(name).default,
                                                                                         z[:, j]))
                                  for j, (name, v) in enumerate(variations.items())])
        return map_reads(table, coords)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        reads = reads_of(p)
        return np.array([(_stats(reads[m])["rel_std"] - target) / uncertainty for m in ("R_LRS", "R_HRS")])

    result = lmfit.minimize(residual, params, method="least_squares", scale_covar=False)
    return {"sigma": {name: float(result.params[name].value) for name in variations},
            "stderr": {name: (float(result.params[name].stderr) if result.params[name].stderr is not None
                              else math.nan) for name in variations},
            "target_uncertainty": uncertainty, "residual": result.residual.tolist(), "nfev": int(result.nfev),
            "reads": _read_stats(reads_of(result.params))}


def _read_stats(reads: Mapping[str, np.ndarray]) -> dict[str, Any]:
    row: dict[str, Any] = {m: _stats(v) for m, v in reads.items()}
    row["deviation"] = {f"{m}_mean": _deviation(row[m]["mean"], PAPER[m]) for m in ("R_LRS", "R_HRS")}
    row["deviation"].update({f"{m}_rel_std": _deviation(row[m]["rel_std"], PAPER["rel_sigma"])
                             for m in ("R_LRS", "R_HRS")})
    return row


def d2d_study(out: Path, *, n_spice: int = N_SPICE, n_big: int = 10_000, seed_cal: int = 1, seed_check: int = 2,
              sigmas: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Device-to-device spread of the quasi-static reads (Fig. 2e) and the d2d sigmas that match it.

    1. SPICE read map R(n_lrs, ea_rst) over the device's d2d parameters (:func:`read_map`);
    2. lmfit of their sigmas on ``n_big`` devices of ``seed_cal`` through the map
       (:func:`calibrate_d2d_sigmas`; start: the device's sigmas or ``sigmas``);
    3. ``n_spice`` SPICE devices (``reram-cycling``) with the fitted sigmas on ``seed_cal`` (calibration) and
       ``seed_check`` (held-out), each against the map at the same drawn parameters;
    4. ``n_big`` devices through the map with the device's and the fitted sigmas on both seeds.

    Writes ``d2d_cdf.png`` and ``d2d_summary.json`` into ``out``; returns the summary.
    """
    device = {name: v.sigma for name, v in _d2d_variations(sigmas).items()}
    table = read_map()
    fit = calibrate_d2d_sigmas(table, n=n_big, seed=seed_cal, start=device)
    fitted = {name: float(f"{s:.3g}") for name, s in fit["sigma"].items()}  # as written into reram_cmo
    cache = out / "mc" / f"d2d_{defaults_key(CELL_DEVICE)}"
    spice: dict[str, Any] = {}
    for label, seed in (("calibration", seed_cal), ("held-out", seed_check)):
        tag = "_".join(f"{s:g}" for s in fitted.values())
        frame = monte_carlo(RERAM_CYCLING, cache / f"s{seed}_{tag}", n=n_spice, seed=seed,
                            sigmas={f"c__{name}": s for name, s in fitted.items()})
        spice[label] = {"seed": seed, "frame": frame, **_spice_vs_map(table, frame, seed)}
    runs = {label: {"sigma": s, **{f"map_{n_big} (seed {seed})": _read_stats(map_reads(table, draw_coords(n_big, seed, s)))
                                   for seed in (seed_cal, seed_check)}}
            for label, s in (("device sigma", device), ("fitted sigma", fitted))}
    summary = {"d2d_params": _d2d_params(),
               "distributions": {name: get_device(CELL_DEVICE).param(name).variation.distribution
                                 for name in _d2d_params()},
               "map": {"params": table["params"], "axes": [a.tolist() for a in table["axes"]],
                       **{m: np.asarray(table[m]).tolist() for m in ("R_LRS", "R_HRS")}},
               "lmfit": fit, "sigma_to_put_in_reram_cmo": fitted, "runs": runs,
               "spice": {label: {k: v for k, v in run.items() if k != "frame"} for label, run in spice.items()}}
    summary["figures"] = [str(_plot_d2d(table, fitted, spice, n_big, seed_check, out / "d2d_cdf.png"))]
    _write_json(out / "d2d_summary.json", summary)
    return summary


def _spice_vs_map(table: Mapping[str, Any], frame: Any, seed: int) -> dict[str, Any]:
    """Read statistics of SPICE devices and of the map at the same drawn d2d parameters, and their worst gap."""
    coords = np.column_stack([_coordinate(name, frame[f"c__{name}"].to_numpy()) for name in table["params"]])
    mapped = map_reads(table, coords)
    n = len(frame)
    return {f"spice_{n} (seed {seed})": _read_stats({m: frame[m].to_numpy() for m in mapped}),
            f"map_{n}_same_devices": _read_stats(mapped),
            "map_vs_spice_max_rel_error": {m: float(np.max(np.abs(mapped[m] / frame[m].to_numpy() - 1)))
                                           for m in mapped},
            "map_vs_spice_rms_rel_error": {m: float(np.sqrt(np.mean((mapped[m] / frame[m].to_numpy() - 1) ** 2)))
                                           for m in mapped}}


def _plot_d2d(table: Mapping[str, Any], sigmas: Mapping[str, float], spice: Mapping[str, Any], n_big: int,
              seed: int, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.8), dpi=150)
    big = map_reads(table, draw_coords(n_big, seed, sigmas))
    text = ", ".join(f"{name} {s:.3g}" for name, s in sigmas.items())
    for m, color in (("R_LRS", "tab:red"), ("R_HRS", "tab:blue")):
        values = np.sort(big[m])
        ax.semilogx(values, 100 * (np.arange(values.size) + 0.5) / values.size, "-", color=color, lw=1,
                    label=f"{m[2:]}, {n_big} dev. (map, seed {seed})")
        for (label, run), marker in zip(spice.items(), ("x", "o")):
            dots = np.sort(run["frame"][m].to_numpy())
            ax.semilogx(dots, 100 * (np.arange(dots.size) + 0.5) / dots.size, marker, color=color, ms=2.5,
                        mfc="none", label=f"{m[2:]}, {dots.size} dev. SPICE (seed {run['seed']}, {label})")
    for m in ("R_LRS", "R_HRS"):
        ax.axvline(PAPER[m], color="k", ls=":", lw=1)
    ax.set_xlabel("Resistance at 0.2 V [$\\Omega$]")
    ax.set_ylabel("Cumulative probability [%]")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"LRS/HRS d2d (sim., cf. seed 004 Fig. 2e; dotted: paper means)\nd2d sigma/mu: {text}", fontsize=8)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=("forming", "d2d"))
    parser.add_argument("--out", type=Path, default=Path("results/reram"), help="output folder")
    parser.add_argument("--n", type=int, help="devices: forming Monte Carlo (default 2000), d2d SPICE per seed (default 200)")
    parser.add_argument("--seed-cal", type=int, default=1, help="seed the spread is calibrated on")
    parser.add_argument("--seed-check", type=int, default=2, help="held-out seed")
    parser.add_argument("--sigma", type=float, help="forming: override the device's t_ox sigma")
    parser.add_argument("--d2d-sigma", action="append", default=[], metavar="NAME=S",
                        help="d2d: start lmfit from this relative sigma of a d2d parameter (repeatable)")
    args = parser.parse_args(argv)
    seeds = {"seed_cal": args.seed_cal, "seed_check": args.seed_check}
    if args.study == "forming":
        summary = forming_study(args.out, n=args.n or 2000, sigma=args.sigma, **seeds)
    elif args.study == "d2d":
        if args.sigma is not None:
            parser.error("--sigma is for forming; the d2d study takes --d2d-sigma NAME=S")
        sigmas = {}
        for item in args.d2d_sigma:
            name, _, value = item.partition("=")
            sigmas[name.strip()] = float(value)
        summary = d2d_study(args.out, n_spice=args.n or N_SPICE, sigmas=sigmas, **seeds)
    print(json.dumps(summary, indent=2, default=float))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
