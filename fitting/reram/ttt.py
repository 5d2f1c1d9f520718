"""Trap-to-trap tunnelling (TTT) transport parameters of the ``reram_cmo`` device from simulated I–V curves.

The device's transport is Falcone et al. Eq. 6 (Mott–Gurney hopping)::

    I = 2·A·e·a·ν0·N·exp(−ΔE/kT)·sinh(a·E/(2kT)),   A = π·r_cf²,  E = V_CMO/d_CMO

The study ``reram-ttt`` simulates the device alone in ngspice (OSDI build, state frozen at the
paper's HRS point x = 0 and LRS point x = 1) as DC sweeps 0.02–1 V at four ambient temperatures and
draws the measured currents: Gaussian measurement noise (2 % by default) from the run's seed, one
replica for the fit and further replicas for the coverage check. The extraction ``reram-ttt``
recovers the defect density N, the hopping barrier ΔE and the hopping distance a with Eq. 6 as a
sympy expression turned into an lmfit model (:class:`fitting.sympy_model.SympyForm`), fitted to log|I|.

What is assumed known, as in a lab extraction: the filament radius and CMO thickness (geometry),
the attempt frequency ν0 (only the product ν0·N is identifiable from I–V, so ν0 is held at the
device's assumed 1e13 /s), the series resistance r_s and the thermal resistance r_th (measured
separately), which convert the terminal data into V_CMO = V − I·r_s and the hot-spot temperature
T = T_amb + r_th·|I·V_CMO|. The temperatures are needed: at one temperature only N·exp(−ΔE/kT)
is identifiable. Recovery check: each true device value must lie inside the 95 % interval.

Regenerate the shipped files (``fitting/extractions/reram_ttt``)::

    spicegen study run reram-ttt --out studies/reram-ttt
    spicegen extract reram-ttt --from studies/reram-ttt --out built --ship
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import sympy as sp

from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE
from spicegen.figures import pyplot, save_figure
from spicegen.files import write_json, write_text
from spicegen.params import Param
from spicegen.study import (Extraction, Measure, Setting, Study, StudyContext, StudyResult, StudyRun,
                            register_extraction, register_study)

from fitting.sympy_model import SympyForm

TEMPERATURES = (250.0, 300.0, 350.0, 400.0)
"""Ambient temperatures of the I–V sweeps (K)."""
VOLTAGES = (0.02, 1.0, 0.02)
"""DC sweep start, stop, step (V)."""
STATES = {"hrs": 0.0, "lrs": 1.0}
"""Frozen device states: the paper's HRS (x = 0) and LRS (x = 1) points of Fig. 2d."""
NOISE = 0.02
"""Relative Gaussian noise added to every simulated current (default of the study's ``noise``)."""
REPLICAS = 30
"""Further noise replicas over which the coverage of the 95 % intervals is counted (study default)."""
K_EV = BOLTZMANN / ELEMENTARY_CHARGE
"""Boltzmann constant (eV/K)."""

V_CMO, TEMP = sp.Symbol("v_cmo", real=True), sp.Symbol("temp", positive=True)
LG_N = Param("lg_n", 24.0, "log10(1/m^3)", "log10 of the defect density N", (18.0, 30.0))
DE = Param("de", 0.1, "eV", "hopping barrier ΔE", (0.0, 0.5))
A_NM = Param("a_nm", 3.0, "nm", "hopping distance a", (0.1, 50.0))


def device_values(state: float) -> dict[str, float]:
    """The ``reram_cmo`` parameters at ``state`` (the truth of the recovery) and the known constants."""
    from testbenches.reram.cell import device_model

    p = {q.name: float(q.default) for q in device_model().params}
    n = p["n_hrs"] * (p["n_lrs"] / p["n_hrs"]) ** state
    return {"lg_n": float(np.log10(n)), "de": p["de_hrs"] + (p["de_lrs"] - p["de_hrs"]) * state,
            "a_nm": p["a_hop"] * 1e9, "r_cf": p["r_cf"], "d_cmo": p["d_cmo"], "nu0": p["nu0"], "rs": p["rs"],
            "rth": p["rth"]}


def ttt_model(known: dict[str, float]) -> SympyForm:
    """Eq. 6 as ln|I| of (v_cmo, temp): an lmfit model with parameters lg_n, de, a_nm."""
    kt = K_EV * TEMP
    a = A_NM.symbol * 1e-9
    prefactor = 2 * sp.pi * known["r_cf"] ** 2 * ELEMENTARY_CHARGE * a * known["nu0"] * 10 ** LG_N.symbol
    expr = sp.log(prefactor) - DE.symbol / kt + sp.log(sp.sinh(a * V_CMO / known["d_cmo"] / (2 * kt)))
    return SympyForm(expr, inputs=[V_CMO, TEMP], params=[LG_N, DE, A_NM])


def simulate_iv() -> dict[str, Any]:
    """ngspice DC sweeps of the device at every state (one instance each) and temperature.

    Returns ``{"v": [V], "temperature": [K], "current": {state: [[A per V] per T]}}``.
    """
    from spicegen.naming import format_number
    from spicegen.netlist import format_instance
    from testbenches.reram.cell import device_model, simulate

    start, stop, step = VOLTAGES
    currents: dict[str, list[list[float]]] = {name: [] for name in STATES}
    v = None
    for temp in TEMPERATURES:
        lines = ["* reram_cmo TTT I-V", f".options reltol=1e-9 abstol=1e-15 temp={format_number(temp - 273.15)}"]
        for name, x in STATES.items():  # one instance per state, all on te, each with a 0 V ammeter below
            lines += format_instance(device_model(), name, ["te", f"be_{name}"], {"x0": x, "freeze": 1.0}, "osdi")
            lines.append(f"Vam_{name} be_{name} 0 0")
        lines += ["Vte te 0 0", ".dc Vte {} {} {}".format(*map(format_number, VOLTAGES)), ".end"]
        result = simulate("\n".join(lines), "osdi")
        v = np.asarray(result["v-sweep"], dtype=float)
        for name in STATES:
            currents[name].append(np.asarray(result[f"i(vam_{name})"], dtype=float).tolist())
    return {"v": v.tolist(), "temperature": list(TEMPERATURES), "current": currents}


def terminal_current(core: SympyForm, values: dict[str, float], v: np.ndarray, t_amb: np.ndarray,
                     known: dict[str, float]) -> np.ndarray:
    """The current Eq. 6 draws at terminal voltage ``v`` with r_s and self-heating (bisection).

    Solves ``I = I_Eq6(V − I·r_s, T_amb + r_th·|I·(V − I·r_s)|)`` for 0 < I < V/r_s; the left side
    minus the right grows monotonically in I, so 64 halvings give it to double precision.
    """
    lo, hi = np.zeros_like(v), v / known["rs"]
    for _ in range(64):
        mid = (lo + hi) / 2
        v_cmo = v - mid * known["rs"]
        above = mid > np.exp(core.func(v_cmo, t_amb + known["rth"] * np.abs(mid * v_cmo), **values))
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return (lo + hi) / 2


def terminal_model(known: dict[str, float]) -> Any:
    """ln I of the terminal voltage ``v`` and ambient temperature ``t_amb``: Eq. 6 (:func:`ttt_model`)
    in series with r_s and with the self-heated temperature, solved per point; same parameters."""
    from lmfit import Model

    core = ttt_model(known)

    def log_terminal_current(v: np.ndarray, t_amb: np.ndarray, lg_n: float = LG_N.default, de: float = DE.default,
                             a_nm: float = A_NM.default) -> np.ndarray:
        return np.log(terminal_current(core, {"lg_n": lg_n, "de": de, "a_nm": a_nm}, v, t_amb, known))

    model = Model(log_terminal_current, independent_vars=["v", "t_amb"])
    for p in (LG_N, DE, A_NM):
        model.set_param_hint(p.name, value=p.default, min=p.bounds[0], max=p.bounds[1])
    return model



def add_noise(current: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """``current`` with relative Gaussian measurement noise of standard deviation ``noise``."""
    current = np.asarray(current, dtype=float)
    return current * (1 + noise * rng.standard_normal(current.shape))


def fit_measured(v: np.ndarray, temps: np.ndarray, measured: np.ndarray, known: dict[str, float]) -> dict[str, Any]:
    """Fit Eq. 6 with r_s and self-heating to measured currents (temperature x voltage); 95 % intervals.

    Step 1 fits Eq. 6 to ln I against V_CMO and T computed from the *measured* current (quick, but
    the noise then enters the inputs too: errors in variables, a bias of about one standard error
    in LRS, where I·r_s is most of V). Step 2 starts from it and fits :func:`terminal_model`, in
    which V_CMO and T follow from the model's own current, so the noise stays in ln I alone and the
    intervals are those of an ordinary least-squares fit.
    """
    from fitting.extract import fit_stats

    measured = np.asarray(measured, dtype=float)
    vv, tt = np.broadcast_to(v, measured.shape).ravel(), np.broadcast_to(temps[:, None], measured.shape).ravel()
    measured = measured.ravel()
    core = ttt_model(known)
    v_cmo = vv - measured * known["rs"]
    first = core.fit(np.log(measured), core.make_params(), v_cmo=v_cmo,
                     temp=tt + known["rth"] * np.abs(measured * v_cmo))
    model = terminal_model(known)
    start = model.make_params(**{k: p.value for k, p in first.params.items()})
    result = model.fit(np.log(measured), start, v=vv, t_amb=tt)
    i = terminal_current(core, {k: p.value for k, p in result.params.items()}, vv, tt, known)
    v_cmo = vv - i * known["rs"]
    return {"stats": fit_stats(result, np.log(measured), False), "result": result, "core": core, "v_cmo": v_cmo,
            "temp": tt + known["rth"] * np.abs(i * v_cmo), "log_i": np.log(measured)}


def fit_state(v: np.ndarray, temps: np.ndarray, current: np.ndarray, known: dict[str, float],
              rng: np.random.Generator) -> dict[str, Any]:
    """:func:`fit_measured` of ``current`` with :data:`NOISE` drawn from ``rng`` (:func:`add_noise`)."""
    return fit_measured(v, temps, add_noise(current, rng), known)


Replica = Mapping[str, Sequence[Sequence[float]]]
"""Measured currents of one noise replica: state → [[A per voltage] per temperature]."""


def fit_iv(data: Mapping[str, Any], replicas: Sequence[Replica]) -> dict[str, Any]:
    """Fit every state of replica 0; the summary with the truth, the estimates and whether the intervals
    cover it, and the coverage over the further replicas."""
    v, temps = np.asarray(data["v"]), np.asarray(data["temperature"])
    summary: dict[str, Any] = {"noise": data["noise"], "temperatures_K": list(data["temperature"]),
                               "voltages_V": list(VOLTAGES), "states": {}}
    fits = {}
    for name, x in STATES.items():
        known = device_values(x)
        fit = fit_measured(v, temps, np.asarray(replicas[0][name]), known)
        fits[name] = fit
        stats = fit["stats"]
        params = {k: {"true": known[k], "value": p.value, "stderr": p.stderr, "low": p.low, "high": p.high,
                      "covered": bool(p.low <= known[k] <= p.high)} for k, p in stats.params.items()}
        summary["states"][name] = {"x": x, "points": stats.points, "rmse_log_i": stats.rmse, "r2": stats.r2,
                                   "redchi": float(fit["result"].redchi), "params": params,
                                   "all_covered": all(p["covered"] for p in params.values()),
                                   "max_self_heating_K": float(np.max(fit["temp"] - np.repeat(temps, v.size)))}
    summary["replicas"] = len(replicas) - 1
    summary["interval_coverage"] = interval_coverage(data, replicas[1:])
    return {"summary": summary, "fits": fits}


def interval_coverage(data: Mapping[str, Any], replicas: Sequence[Replica]) -> dict[str, dict[str, float]]:
    """Fraction of the noise ``replicas`` whose 95 % interval covers the true value, per state and parameter."""
    v, temps = np.asarray(data["v"]), np.asarray(data["temperature"])
    out = {}
    for name, x in STATES.items():
        known = device_values(x)
        hits = {k: 0 for k in (LG_N.name, DE.name, A_NM.name)}
        for replica in replicas:
            stats = fit_measured(v, temps, np.asarray(replica[name]), known)["stats"]
            for k in hits:
                hits[k] += stats.params[k].low <= known[k] <= stats.params[k].high
        out[name] = {k: n / len(replicas) if replicas else float("nan") for k, n in hits.items()}
    return out


def format_report(summary: Mapping[str, Any], seed: int) -> str:
    """Markdown: recovered parameters against the device values (``seed``: the study run's)."""
    noise = summary["noise"]
    lines = ["# ReRAM trap-to-trap tunnelling (Falcone et al., Eq. 6): parameters from I–V", "",
             "Regenerate: `spicegen study run reram-ttt --out DIR`, then "
             "`spicegen extract reram-ttt --from DIR --out OUT --ship` (about 30 s; ngspice + OSDI).", "",
             f"Data: `reram_cmo` alone in ngspice, DC 0.02–1 V at "
             f"{', '.join(f'{t:g}' for t in summary['temperatures_K'])} K, state frozen; {100 * noise:g} % Gaussian "
             f"noise on I (study seed {seed}, replica 0). Fit: Eq. 6 (sympy → lmfit `SympyForm`) to ln|I| with "
             "V_CMO = V − I·r_s and T = T_amb + r_th·|I·V_CMO| from the known r_s, r_th; ν0 held at 1e13 /s (only "
             "ν0·N is identifiable). The fit solves the series r_s and the self-heating per point with the model's "
             "own current (noise only in ln I; no errors in variables).", "",
             "| state | parameter | true | fitted ± s.e. | 95 % interval | covered |", "|---|---|---|---|---|---|"]
    for name, s in summary["states"].items():
        for k, p in s["params"].items():
            lines.append(f"| {name} | `{k}` | {p['true']:.5g} | {p['value']:.5g} ± {p['stderr']:.2g} | "
                         f"{p['low']:.5g} … {p['high']:.5g} | {'yes' if p['covered'] else 'NO'} |")
    lines.append("")
    for name, s in summary["states"].items():
        lines.append(f"- {name}: {s['points']} points, RMSE of ln I {s['rmse_log_i']:.4f} (noise {noise:g}), "
                     f"R² {s['r2']:.6f}, largest self-heating {s['max_self_heating_K']:.1f} K.")
    cover = summary["interval_coverage"]
    lines += ["", f"Coverage of the 95 % intervals over {summary['replicas']} further noise replicas: "
              + "; ".join(f"{name}: " + ", ".join(f"`{k}` {100 * c:.0f} %" for k, c in v.items())
                          for name, v in cover.items()) + "."]
    lines += ["", "`lg_n` = log10(N / m⁻³), `de` in eV, `a_nm` in nm. Files: `ttt_fit.json` (this table and the "
              "study run it came from), `ttt_iv.json` (the simulated curves and the fitted replica), "
              "`ttt_iv.png` (data and fits)."]
    return "\n".join(lines) + "\n"


def plot_fits(data: Mapping[str, Any], fits: Mapping[str, Any], path: Path) -> Path:
    """Measured |I| vs V_CMO per temperature and state, with the fitted Eq. 6."""
    plt = pyplot()

    fig, axes = plt.subplots(1, len(fits), figsize=(10, 4), sharey=True)
    n = len(data["v"])
    for ax, (name, fit) in zip(np.atleast_1d(axes), fits.items()):
        values = {k: p.value for k, p in fit["result"].params.items()}
        for k, temp in enumerate(data["temperature"]):
            part = slice(k * n, (k + 1) * n)
            ax.semilogy(fit["v_cmo"][part], np.exp(fit["log_i"][part]), ".", ms=3, color=f"C{k}",
                        label=f"{temp:g} K")
            ax.semilogy(fit["v_cmo"][part], np.exp(fit["core"].func(fit["v_cmo"][part], fit["temp"][part], **values)),
                        "-", lw=1, color=f"C{k}")
        ax.set_title(f"{name.upper()}: simulated currents with noise (dots), Eq. 6 fit (lines)", fontsize=10)
        ax.set_xlabel("$V_{CMO}$ (V)")
        ax.legend(fontsize=8, title="ambient", title_fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("|I| (A)")
    fig.suptitle("Trap-to-trap tunnelling parameters from I-V at four temperatures (cf. Falcone et al. Eq. 6, "
                 "Fig. 2d)", fontsize=10)
    return save_figure(fig, path, dpi=120)


@register_study
class TttStudy(Study):
    """I–V of the reram_cmo device alone (HRS and LRS, 4 temperatures) with seeded measurement noise."""

    name = "reram-ttt"
    code = (__name__, "testbenches.reram.cell")
    family = "reram"
    options = (Setting("noise", NOISE, "relative Gaussian noise of every measured current", bounds=(0.0, 0.5)),
               Setting("replicas", REPLICAS, "further noise replicas (coverage of the 95 % intervals)",
                       bounds=(0, 1000)))
    measures = {f"I_{name}_1V_300K": Measure("A", f"device current at 1 V, 300 K, {name.upper()} (x = {x:g}), "
                                                  "noise-free")
                for name, x in STATES.items()}
    devices = ("reram_cmo",)
    seed_default = 0

    def run(self, ctx: StudyContext) -> StudyResult:
        data = {**simulate_iv(), "noise": ctx.options["noise"]}
        replicas = []
        for k in range(ctx.options["replicas"] + 1):
            rng = ctx.rng("noise", k)
            replicas.append({name: add_noise(np.asarray(data["current"][name]), rng, ctx.options["noise"])
                             for name in STATES})
        write_json(ctx.out / "ttt_iv.json", data)
        write_json(ctx.out / "ttt_measured.json", replicas)
        at = int(np.argmin(np.abs(np.asarray(data["v"]) - 1.0)))
        hot = TEMPERATURES.index(300.0)
        return StudyResult({f"I_{name}_1V_300K": data["current"][name][hot][at] for name in STATES},
                           data={"temperatures_K": list(TEMPERATURES), "voltages_V": list(VOLTAGES)},
                           files=["ttt_iv.json", "ttt_measured.json"])


@register_extraction
class TttExtraction(Extraction):
    """N, ΔE and a of reram_cmo (Falcone et al. Eq. 6) with 95 % intervals from the study's measured I–V."""

    name = "reram-ttt"
    source = "reram-ttt"
    statistic = "value and 95 % interval"
    form = "Falcone et al. Eq. 6 with r_s and self-heating (sympy -> lmfit)"
    folder = "extractions/reram_ttt"

    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        data = json.loads((run.folder / "ttt_iv.json").read_text())
        replicas = json.loads((run.folder / "ttt_measured.json").read_text())
        fitted = fit_iv(data, replicas)
        summary = {"provenance": {"study": run.citation()}, **fitted["summary"]}
        return [write_json(out / "ttt_iv.json", {**data, "measured": replicas[0]}, indent=1),
                write_json(out / "ttt_fit.json", summary),
                write_text(out / "report.md", format_report(summary, int(run.definition["seed"]))),
                plot_fits(data, fitted["fits"], out / "ttt_iv.png")]
