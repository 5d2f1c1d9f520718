"""CMO/HfOx ReRAM studies of Falcone et al.: forming and the device-to-device spread of the reads.

Testbenches (``spicegen sim`` / ``spicegen mc``), all on the 1T1R cell of :mod:`testbenches.reram.cell`
(sky130 5 V NMOS, W = ``W_ACCESS``):

``reram-read``
    Quasi-static 8W cycling of the nominal ``reram_cmo`` (no variation); measurements ``R_LRS``,
    ``R_HRS``: the 0.2 V reads after the set and the reset sweep of the last cycle.
``reram-cycling``
    The same with the device's d2d variation (``n_lrs``, ``gam_rst``; c2c held at nominal);
    ``spicegen mc reram-cycling --n 200``.
``reram-forming``
    Positive quasi-static sweep to 3.6 V at V_G = 1.2 V of a pristine ``hfox_forming`` cell;
    ``V_form`` = V_1T1R - R_DS*I at the largest current increase (Falcone et al. Fig. S2), with the
    device's d2d variation (HfOx thickness).

Study (``spicegen study run NAME --out DIR``), a calibration with a held-out seed:

``reram-forming``
    lmfit of ``p_dip`` (mean forming voltage) and of the d2d sigma of ``t_ox`` (its spread) of
    ``hfox_forming`` on Monte Carlo runs of ``reram-forming``.

It writes the fitted values into ``calibration_<device>.json`` of its output folder, and into the
package's calibration file only with ``--set ship=yes``. The d2d law of ``reram_cmo`` is fitted by the study
``reram-d2d`` (:mod:`fitting.reram.d2d_joint`) on the SPICE read map of :func:`read_map`. Sources, assumptions
and results: ``docs/reram_studies.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import numpy as np

from spicegen import calibration, get_device
from spicegen.calibration import significant
from spicegen.figures import pyplot, save_figure
from spicegen.montecarlo import simulated
from spicegen.naming import format_number
from spicegen.pdk import CORNERS, sky130_include
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study
from spicegen.testbench import Circuit, Option, Testbench, register_testbench
from testbenches.reram.cell import (L_ACCESS, RDS_TARGET, SWEEP_RATE, TRAN_OPTIONS, V_FORM, V_READ, VG_FORM,
                                    W_ACCESS, cycling_protocol)

FORMING_DEVICE = "hfox_forming"
CELL_DEVICE = "reram_cmo"
#: Paper numbers (Falcone et al.): forming (§2.1.1, Fig. S2), reads (Fig. 2e, read off the figure).
PAPER = {"V_form_mean": 3.17, "V_form_sigma": 0.075, "V_form_1T1R_mean": 3.38, "I_form_mean": 258e-6,
         "R_LRS": 18e3, "R_HRS": 256e3, "rel_sigma": 0.25}
#: Voltage step of the quasi-static forming sweep on which dI/dV is taken (V). Not stated in Falcone et al.;
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
    """(V_1T1R, I) at the largest current increase of a rising sweep, Falcone et al. Fig. S2a/b.

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
    V_1T1R - R_DS*I, Falcone et al. Fig. S2d), ``"cell"`` (V_1T1R) or ``"current"`` (I_form); NaN if unformed."""

    what: str
    rds: float = RDS_TARGET

    @property
    def unit(self) -> str:
        """A for the forming current, V for the forming voltages."""
        return "A" if self.what == "current" else "V"

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
    doc="pristine HfOx 1T1R forming sweep to 3.6 V at V_G = 1.2 V: V_form = V_1T1R - R_DS*I (Falcone et al. Fig. S2)",
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

    unit: ClassVar[str] = "Ohm"
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
    (``n_lrs``, ``gam_rst``: docs/reram_studies.md section 3)."""
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

Simulate = Callable[[Mapping[str, Any]], dict[str, float]]
"""One nominal run of a testbench with the given settings: measurement name → value."""

#: Bounds of a seed option (numpy's SeedSequence takes any whole number >= 0).
SEED_BOUNDS = (0, 2 ** 32 - 1)


def on_seed(ctx: StudyContext, seed: int) -> StudyContext:
    """``ctx`` with another seed: its Monte Carlo runs and device draws are those of ``seed``."""
    return replace(ctx, seed=seed)


def held_out_seed(ctx: StudyContext) -> int:
    """The ``held_out_seed`` option, refused when it equals the calibration seed (``--seed``)."""
    seed = int(ctx.options["held_out_seed"])
    if seed == ctx.seed:
        raise ValueError(f"held_out_seed = {seed} is the calibration seed (--seed {ctx.seed}); a held-out check "
                         "needs other devices: choose another held_out_seed or --seed.")
    return seed



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


# ----------------------------------------------------------------------------- forming study

def calibrate_forming_mean(simulate: Simulate, target: float = PAPER["V_form_mean"], *,
                           start: float | None = None) -> dict[str, float]:
    """lmfit: the dipole moment ``p_dip`` whose nominal forming sweep gives V_form = ``target``.

    ``simulate`` runs ``reram-forming`` once with the settings it is given. V_form is read on a
    10 mV staircase, so the finite-difference step is 2 % of p_dip (tens of mV).
    """
    import lmfit

    p0 = start or get_device(FORMING_DEVICE).param("p_dip").default
    params = lmfit.Parameters()
    params.add("p_dip_nm", p0 * 1e9, min=0.5, max=20.0)

    def residual(p: lmfit.Parameters) -> np.ndarray:
        value = simulate({"r__p_dip": p["p_dip_nm"].value * 1e-9})["V_form"]
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


@register_study
class FormingStudy(Study):
    """Forming voltage of pristine HfOx 1T1R cells (Fig. 2c, S2): p_dip and the t_ox spread fitted, held-out seed."""

    name = "reram-forming"
    code = (__name__, "testbenches.reram.cell")
    family = "reram"
    options = (
        Setting("held_out_seed", 2, "seed of the held-out Monte Carlo run (--seed is the calibration seed)",
                bounds=SEED_BOUNDS),
        Setting("t_ox_sigma", 0.0, "relative d2d sigma of t_ox in the first Monte Carlo run (0: the device's)",
                bounds=(0.0, 0.5)),
        Setting("ship", False, "also update the package's calibration file (hfox_forming.json)"),
    )
    measures = {
        "p_dip": Measure("m", "fitted dipole moment (e m): nominal V_form = 3.17 V"),
        "t_ox_sigma": Measure("", "fitted relative d2d sigma of t_ox: V_form spread of 75 mV on the calibration seed"),
        # p_dip was fitted to this value on the nominal cell; other devices move the mean only by their spread
        "V_form_mean": Measure("V", "mean V_form,ReRAM = V_1T1R - R_DS*I at the largest current step, held-out seed",
                               paper=PAPER["V_form_mean"], role="calibration"),
        "V_form_sigma": Measure("V", "standard deviation of V_form,ReRAM, held-out seed", paper=PAPER["V_form_sigma"],
                                role="held out"),
        "V_form_sigma_cal": Measure("V", "standard deviation of V_form,ReRAM, calibration seed (fitted)",
                                    paper=PAPER["V_form_sigma"], role="calibration"),
        "V_form_1T1R_mean": Measure("V", "mean V_1T1R at the largest current step, held-out seed",
                                    paper=PAPER["V_form_1T1R_mean"], role="held out"),
        "I_form_mean": Measure("A", "mean current at the largest current step, held-out seed",
                               paper=PAPER["I_form_mean"], role="held out"),
        "yield": Measure("", "fraction of the devices of both runs that formed below 3.6 V"),
    }
    devices = (FORMING_DEVICE,)
    n_default = 2000
    n_min = 10
    n_desc = "devices per Monte Carlo run (three runs)"
    seed_default = 1

    def run(self, ctx: StudyContext) -> StudyResult:
        held_out = held_out_seed(ctx)
        sigma_used = ctx.options["t_ox_sigma"] or get_device(FORMING_DEVICE).param("t_ox").variation.sigma
        mean_fit = ctx.step("p_dip", lambda: calibrate_forming_mean(lambda s: ctx.simulate("reram-forming", s)))
        settings = {"r__p_dip": mean_fit["p_dip"]}
        first = simulated(ctx.monte_carlo("reram-forming", ctx.n, folder="mc/first", settings=settings,
                                    sigmas={"r__t_ox": sigma_used}))
        sigma_fit = calibrate_forming_sigma(first["r__t_ox"].to_numpy(), first["V_form"].to_numpy(), sigma_used)
        sigmas = {"r__t_ox": sigma_fit["sigma"]}
        runs = {f"calibration (seed {ctx.seed})": simulated(ctx.monte_carlo(
                    "reram-forming", ctx.n, folder="mc/calibration", settings=settings, sigmas=sigmas)),
                f"held-out (seed {held_out})": simulated(on_seed(ctx, held_out).monte_carlo(
                    "reram-forming", ctx.n, folder="mc/held_out", settings=settings, sigmas=sigmas))}
        unformed = {k: int(ctx.n - np.isfinite(v["V_form"]).sum()) for k, v in runs.items()}
        rate = sum(unformed.values()) / (ctx.n * len(runs))
        rows = {label: _forming_row(frame) for label, frame in runs.items()}
        summary = {"p_dip": mean_fit["p_dip"], "nominal_V_form": mean_fit["V_form"], "lmfit_nfev": mean_fit["nfev"],
                   "t_ox_sigma_used": sigma_used, "t_ox_sigma_fit": sigma_fit["sigma"],
                   "response_V_form_vs_dt_rel": sigma_fit["response"], "response_rmse_V": sigma_fit["response_rmse"],
                   "unformed_below_3p6V": unformed, "yield": 1 - rate, "p_all_32_formed": (1 - rate) ** 32,
                   "runs": rows}
        _plot_forming_cdf(runs, ctx.out / "forming_cdf.png")
        _plot_forming_iv(mean_fit["p_dip"], ctx.out / "forming_iv.png")
        written = calibration.update(FORMING_DEVICE, ctx.out, values={"p_dip": significant(mean_fit["p_dip"], 5)},
                                     variations={"t_ox": {"sigma": significant(sigma_fit["sigma"], 4)}},
                                     source=ctx.citation(), ship=ctx.options["ship"])
        cal, check = rows.values()
        return StudyResult(
            {"p_dip": mean_fit["p_dip"], "t_ox_sigma": sigma_fit["sigma"], "V_form_mean": check["V_form"]["mean"],
             "V_form_sigma": check["V_form"]["std"], "V_form_sigma_cal": cal["V_form"]["std"],
             "V_form_1T1R_mean": check["V_form_1T1R"]["mean"], "I_form_mean": check["I_form"]["mean"],
             "yield": 1 - rate},
            data=summary, files=["forming_cdf.png", "forming_iv.png", written[0].name])


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
    from scipy.stats import norm

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.8), dpi=150)
    for label, frame in runs.items():
        values = np.sort(frame["V_form"].dropna().to_numpy())
        ax.plot(values, 100 * (np.arange(values.size) + 0.5) / values.size, ".", ms=3,
                label=f"{label}: {values.mean():.3f} V, $\\sigma$ = {1e3 * values.std(ddof=1):.0f} mV")
    ax.axvline(PAPER["V_form_mean"], color="k", ls="--", lw=1, label="paper mean 3.17 V (Fig. 2c)")
    grid = np.linspace(*ax.get_xlim(), 200)
    paper_cdf = 100 * norm.cdf(grid, PAPER["V_form_mean"], PAPER["V_form_sigma"])
    ax.plot(grid, paper_cdf, "k:", lw=1, label="paper: normal, mean 3.17 V, $\\sigma$ = 75 mV")
    ax.set_xlabel("$V_{ReRAM\\ forming}$ [V]")
    ax.set_ylabel("Cumulative probability [%]")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_title("HfOx forming voltage (sim., cf. Falcone et al. Fig. 2c / S2d)", fontsize=9)
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
    ax.plot([PAPER["V_form_1T1R_mean"]], [PAPER["I_form_mean"]], "*", color="k", ms=9,
            label=f"paper mean (Fig. S2a): {PAPER['V_form_1T1R_mean']:g} V, {PAPER['I_form_mean'] * 1e6:.0f} $\\mu$A")
    ax.set_xlabel("Voltage$_{1T1R}$ [V]")
    ax.set_ylabel("Current$_{1T1R}$ [A]")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Forming sweep, $V_G$ = 1.2 V (sim., cf. Falcone et al. Fig. 2a)", fontsize=9)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- d2d study

#: Grids of each d2d coordinate on which the SPICE read map is taken, by the parameter's distribution:
#: ln(value/nominal) for a lognormal parameter (dense near nominal), value/nominal - 1 for a normal one.
#: ``coarse`` (4 x 4 transients, the fewest a PCHIP interpolation takes) is for quick checks only.
MAP_GRIDS = {
    "fine": {"lognormal": sorted({sign * v for v in (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
                                  for sign in (-1.0, 1.0)}),
             "normal": np.linspace(-0.3, 0.3, 13).tolist()},
    "coarse": {"lognormal": [-1.5, -0.5, 0.5, 1.5], "normal": [-0.3, -0.1, 0.1, 0.3]},
}
#: Devices in the array of Fig. 2e (8x4, Falcone et al. §2.1.2): the sampling uncertainty of the paper's
#: sigma/mu, 0.25*sqrt(1/(2*(32 - 1))) = 0.032, weights the lmfit residuals (and gives the sigmas' stderr).
PAPER_DEVICES = 32
#: SPICE devices of the d2d checks (32 would leave sigma/mu uncertain by 13 %; 200 by 5 %).
N_SPICE = 200
READS = ("R_LRS", "R_HRS")


def _d2d_params() -> list[str]:
    """The reram_cmo parameters with a d2d variation (docs/reram_studies.md section 3), the axes of the read map."""
    names = [p.name for p in get_device(CELL_DEVICE).params if p.variation is not None and p.variation.kind == "d2d"]
    for name in names:
        v = get_device(CELL_DEVICE).param(name).variation
        if v.distribution not in MAP_GRIDS["fine"] or not v.relative or v.p_zero:
            raise ValueError(f"the read map takes relative normal or lognormal variations; {name!r} has "
                             f"{v.distribution!r} (relative {v.relative}, p_zero {v.p_zero}).")
    return names


def parse_sigmas(text: str) -> dict[str, float]:
    """``"n_lrs=0.3,gam_rst=0.3"`` → ``{"n_lrs": 0.3, "gam_rst": 0.3}`` (empty text: none).

    Raises
    ------
    ValueError
        For an item that is not ``NAME=NUMBER``.
    """
    sigmas: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            sigmas[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"start value {item!r} is not NAME=NUMBER; write e.g. 'n_lrs=0.3,gam_rst=0.3'.") from None
    return sigmas


def _coordinate(name: str, values: np.ndarray) -> np.ndarray:
    """Map coordinate of parameter values: ln(value/nominal) (lognormal) or value/nominal - 1 (normal)."""
    param = get_device(CELL_DEVICE).param(name)
    ratio = np.asarray(values, float) / param.default
    return np.log(ratio) if param.variation.distribution == "lognormal" else ratio - 1.0


def _value(name: str, coordinate: float) -> float:
    param = get_device(CELL_DEVICE).param(name)
    ratio = math.exp(coordinate) if param.variation.distribution == "lognormal" else 1.0 + coordinate
    return param.default * ratio


def read_map(simulate: Simulate, grid: str = "fine",
             bar: Callable[[Iterable[Any], int], Iterable[Any]] = lambda items, total: items) -> dict[str, Any]:
    """SPICE reads (R_LRS, R_HRS after quasi-static cycling) on the grid :data:`MAP_GRIDS` ``[grid]`` of
    every d2d parameter; ``simulate`` runs ``reram-cycling`` once, ``bar`` wraps the grid points (progress).

    Returns
    -------
    dict
        ``params``, ``axes`` (one list per parameter) and ``R_LRS``, ``R_HRS`` (nested lists), JSON-able.
    """
    import itertools

    names = _d2d_params()
    axes = [MAP_GRIDS[grid][get_device(CELL_DEVICE).param(name).variation.distribution] for name in names]
    shape = tuple(len(a) for a in axes)
    reads = {m: np.empty(shape) for m in READS}
    for index in bar(itertools.product(*(range(n) for n in shape)), int(np.prod(shape))):
        row = simulate({f"c__{name}": _value(name, float(axis[i])) for name, axis, i in zip(names, axes, index)})
        for m in reads:
            reads[m][index] = row[m]
    return {"params": names, "axes": [list(map(float, a)) for a in axes], **{m: r.tolist() for m, r in reads.items()}}


def tensor_pchip(axes: Sequence[Sequence[float]], values: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Tensor-product PCHIP of ``values`` on the grid ``axes`` at the points ``coords`` (m x d, inside the grid):
    scipy's ``RegularGridInterpolator(method="pchip")``, the same 1-D splines along the last axis first, with
    the per-point passes vectorised (scipy builds one spline per point and axis, ~0.4 ms each).

    Returns
    -------
    numpy.ndarray
        The m interpolated values.
    """
    from scipy.interpolate import PchipInterpolator

    coords = np.atleast_2d(np.asarray(coords, float))
    values = np.asarray(values, float)
    folded = PchipInterpolator(np.asarray(axes[-1], float), np.moveaxis(values, -1, 0), axis=0)(coords[:, -1])
    rows = np.arange(len(coords))
    for i in range(coords.shape[1] - 2, -1, -1):
        x = np.asarray(axes[i], float)
        coefficients = PchipInterpolator(x, np.moveaxis(folded, -1, 0), axis=0).c
        k = np.clip(np.searchsorted(x, coords[:, i], side="right") - 1, 0, len(x) - 2)
        c = coefficients[:, k, rows]
        dx = (coords[:, i] - x[k]).reshape((-1,) + (1,) * (c.ndim - 2))
        folded = ((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3]
    return folded


def map_reads(table: Mapping[str, Any], coords: np.ndarray) -> dict[str, np.ndarray]:
    """Reads of devices at map coordinates ``coords`` (n x d, :func:`_coordinate`): monotone (PCHIP) tensor
    interpolation of ln R over the SPICE map.

    Raises
    ------
    ValueError
        If a device lies outside the map (widen :data:`MAP_GRIDS` or lower the sigma).
    """
    coords = np.atleast_2d(np.asarray(coords, float))
    axes = tuple(np.asarray(a, float) for a in table["axes"])
    for j, (name, axis) in enumerate(zip(table["params"], axes)):
        if np.min(coords[:, j]) < axis[0] or np.max(coords[:, j]) > axis[-1]:
            raise ValueError(f"d2d coordinates of {name!r} in [{np.min(coords[:, j]):.3f}, "
                             f"{np.max(coords[:, j]):.3f}] leave the SPICE map [{axis[0]:.3f}, {axis[-1]:.3f}]; "
                             "widen MAP_GRIDS or lower the sigma.")
    return {m: np.exp(tensor_pchip(axes, np.log(np.asarray(table[m])), coords)) for m in READS}


def _read_stats(reads: Mapping[str, np.ndarray]) -> dict[str, Any]:
    row: dict[str, Any] = {m: _stats(v) for m, v in reads.items()}
    row["deviation"] = {f"{m}_mean": _deviation(row[m]["mean"], PAPER[m]) for m in READS}
    row["deviation"].update({f"{m}_rel_std": _deviation(row[m]["rel_std"], PAPER["rel_sigma"]) for m in READS})
    return row


def spice_vs_map(table: Mapping[str, Any], frame: Any, seed: int) -> dict[str, Any]:
    """Read statistics of SPICE devices and of the map at the same drawn d2d parameters, and their worst gap."""
    coords = np.column_stack([_coordinate(name, frame[f"c__{name}"].to_numpy()) for name in table["params"]])
    mapped = map_reads(table, coords)
    n = len(frame)
    error = {m: mapped[m] / frame[m].to_numpy() - 1 for m in mapped}
    return {f"spice_{n} (seed {seed})": _read_stats({m: frame[m].to_numpy() for m in mapped}),
            f"map_{n}_same_devices": _read_stats(mapped),
            "map_vs_spice_max_rel_error": {m: float(np.max(np.abs(e))) for m, e in error.items()},
            "map_vs_spice_rms_rel_error": {m: float(np.sqrt(np.mean(e ** 2))) for m, e in error.items()}}


def plot_d2d(sigmas: Mapping[str, float], spice: Mapping[str, Any], big: Mapping[str, np.ndarray], seed: int,
             path: Path) -> Path:
    """Cumulative distributions of R_LRS and R_HRS over devices against Falcone et al. Fig. 2e.

    ``big`` holds the map's reads of many drawn devices (seed ``seed``), ``spice`` the simulated runs by
    label (``{"seed": int, "frame": DataFrame}``), ``sigmas`` the d2d sigma/mu per parameter for the title.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.8), dpi=150)
    text = ", ".join(f"{D2D_SYMBOLS.get(name, name)} {s:.3g}" for name, s in sigmas.items())
    for m, color in (("R_LRS", "tab:red"), ("R_HRS", "tab:blue")):
        values = np.sort(big[m])
        ax.semilogx(values, 100 * (np.arange(values.size) + 0.5) / values.size, "-", color=color, lw=1,
                    label=f"{m[2:]}, {values.size} dev. (map, seed {seed})")
        for (label, run), marker in zip(spice.items(), ("x", "o")):
            dots = np.sort(run["frame"][m].to_numpy())
            ax.semilogx(dots, 100 * (np.arange(dots.size) + 0.5) / dots.size, marker, color=color, ms=2.5,
                        mfc="none", label=f"{m[2:]}, {dots.size} dev. SPICE (seed {run['seed']}, {label})")
    for m in READS:
        ax.axvline(PAPER[m], color="k", ls=":", lw=1, label="paper means 18 / 256 k$\\Omega$" if m == "R_LRS" else None)
        ax.semilogx(*_paper_cdf(PAPER[m], PAPER["rel_sigma"]), "k--", lw=0.8,
                    label="paper: lognormal with that mean, $\\sigma/\\mu$ = 0.25" if m == "R_LRS" else None)
    ax.set_xlabel("Resistance at 0.2 V [$\\Omega$]")
    ax.set_ylabel("Cumulative probability [%]")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(f"LRS/HRS device-to-device spread (sim., cf. Falcone et al. Fig. 2e)\nfitted d2d $\\sigma/\\mu$: {text}",
                 fontsize=8)
    return save_figure(fig, path)


#: Symbols of the d2d parameters in figures.
D2D_SYMBOLS = {"n_lrs": "$N_{LRS}$", "gam_rst": "$\\gamma_{reset}$"}


def _paper_cdf(mean: float, rel_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Resistances and cumulative probability (%) of the lognormal with ``mean`` and sigma/mu ``rel_sigma``."""
    from scipy.stats import lognorm

    s = math.sqrt(math.log1p(rel_sigma ** 2))
    law = lognorm(s, scale=mean * math.exp(-s * s / 2))
    r = np.geomspace(law.ppf(0.001), law.ppf(0.999), 200)
    return r, 100 * law.cdf(r)
