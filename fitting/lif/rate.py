"""Firing rate f(I, V_thr, V_pw) of the sky130 LIF neuron chain (Garg et al.), from ngspice, as a surrogate.

Study ``lif-rate-grid``: ``testbenches.lif.neuron.firing_rate`` (LDO + attenuator + DPI LIF,
transistor level, the calibrated design) on a grid of DC synaptic currents (log-spaced) ×
thresholds × pulse-width biases (fitted), plus ``checks`` random points inside the grid's box
(held out, never fitted; drawn from the run's ``held-out`` stream). Each point is one ngspice run
of 2–8 s (longest at the lowest currents, whose periods are about 2 ms), written to
``lif_rate_data.csv`` in the run folder.

Extraction ``lif-rate`` (``spicegen extract lif-rate --from RUN --out DIR``): the fit, written as
``lif_rate.json`` (surrogate citing the run), ``lif_rate_fit.json``, ``report.md``, ``lif_rate.png``
and a copy of the table; shipped in ``fitting/extractions/lif``.

Form (physical, :class:`fitting.sympy_model.SympyForm`): the period is the time C1 needs to
integrate to the threshold plus the pulse (= refractory) time of the timer::

    f = 1e6 / (c·(V_thr − v0)/g(I) + t0 + tp·exp(−(V_pw − 1 V)/v_s))     [Hz; I in µA, times in µs]
    g(I) = a·I^q + s_k(I/i_tau − 1),   s_k(x) = max(x, 0) + k·ln(1 + exp(−|x|/k))

g is the membrane current in units of the DPI gain current: the differential-pair integrator gives
I_gain·(I/I_tau − 1) above its input threshold I_tau and nothing below, and a small direct share
a·I^q of the input charges C1 at every current (q absorbs that share's departure from
proportionality), so the rate rises slowly below i_tau, steeply above it, and saturates at
1/(pulse time). s_k is a softplus, the DPI's (x)+ rounded over k (written so that it does not
overflow for small k). v0 absorbs the membrane's start from the reset level. The pulse term is the
subthreshold discharge of C2 through M_pw (exponential in V_pw) plus a fixed
latch/comparator delay t0. Fitted with lmfit to the rate, weighted by 1/rate (relative errors).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import sympy as sp

from spicegen.figures import pyplot, save_figure
from spicegen.files import write_text
from spicegen.params import Param
from spicegen.study import (Extraction, Measure, Setting, Study, StudyContext, StudyResult, StudyRun,
                            register_extraction, register_study)
from testbenches.lif.sweeps import named_bar, spaced, sweep_options, sweep_values

from fitting.sympy_model import SympyForm

__all__ = ["ISYN_UA", "VTHR", "VPW", "CHECKS", "DATA", "FORM", "softplus", "rate_model", "points", "simulate_point",
           "fit", "format_report", "format_figure", "write", "LifRateGrid", "LifRate"]

ISYN_UA = tuple(map(float, spaced(10.0, 200.0, 25, log=True)))
"""DC synaptic currents of the default grid (µA, log-spaced over the range of Garg et al. Fig. 4D), 25, a ratio
of 1.13 between neighbours: the rate rises ×2.7–3.6 across the DPI's knee (I_tau 27–29 µA), and with 13 or 17
currents (ratios 1.28, 1.21) a held-out point near the knee was missed by 5–18 % whenever no current fell on it."""
VTHR = tuple(map(float, spaced(0.8, 1.8, 3)))
"""Comparator thresholds of the default grid (V)."""
VPW = tuple(map(float, spaced(0.8, 1.1, 3)))
"""Pulse-width biases of the default grid (V)."""
CHECKS = 12
"""Held-out random points of the default run (log-uniform I, uniform V_thr and V_pw inside the grid's box)."""
DATA = "lif_rate_data.csv"
"""The simulated table, in the study folder and among the shipped files."""
FORM = ("1e6/(c*(vthr - v0)/(a*isyn_ua**q + softplus_k(isyn_ua/i_tau - 1)) + t0 + tp*exp(-(vpw - 1)/v_s)), "
        "softplus_k(x) = max(x, 0) + k*log(1 + exp(-|x|/k))")
"""The form in words (the expression itself comes from :func:`rate_model`)."""
INPUT_NAMES = ("isyn_ua", "vthr", "vpw")
"""The surrogate's inputs: DC synaptic current (µA), threshold (V), pulse-width bias (V)."""

INPUTS = tuple(sp.Symbol(n, positive=True) for n in ("isyn_ua", "vthr", "vpw"))
PARAMS = (Param("c", 15.0, "us", "integration time per volt of threshold at one DPI gain current", (1e-3, 1e7)),
          Param("v0", 0.1, "V", "threshold offset (membrane start after reset)", (-1.0, 0.7)),
          Param("a", 0.001, "uA^-q", "direct share of the input, in DPI gain currents at 1 uA", (0.0, 10.0)),
          Param("q", 1.0, "", "current exponent of the direct share", (0.3, 3.0)),
          Param("i_tau", 30.0, "uA", "DPI input threshold (synaptic current)", (1.0, 200.0)),
          Param("k", 0.05, "", "rounding of the DPI threshold (relative to i_tau)", (1e-3, 5.0)),
          Param("t0", 5.0, "us", "fixed pulse delay (latch, comparator)", (0.0, 100.0)),
          Param("tp", 15.0, "us", "pulse time at V_pw = 1 V above t0", (0.01, 1e4)),
          Param("v_s", 0.1, "V", "V_pw per e-fold of the pulse time", (0.01, 1.0)))


def softplus(x: sp.Expr, k: sp.Expr) -> sp.Expr:
    """``max(x, 0)`` rounded over ``k``: ``k·ln(1 + exp(x/k))``, in a form whose exponent is never positive."""
    return sp.Max(x, 0) + k * sp.log(1 + sp.exp(-sp.Abs(x) / k))


def rate_model() -> SympyForm:
    """The firing-rate form as an lmfit model of (isyn_ua, vthr, vpw)."""
    isyn, vthr, vpw = INPUTS
    c, v0, a, q, i_tau, k, t0, tp, v_s = (param.symbol for param in PARAMS)
    drive = a * isyn ** q + softplus(isyn / i_tau - 1, k)
    period = c * (vthr - v0) / drive + t0 + tp * sp.exp(-(vpw - 1) / v_s)
    return SympyForm(1e6 / period, inputs=list(INPUTS), params=list(PARAMS))


def points(rng: np.random.Generator | None = None, isyn_ua: Sequence[float] = ISYN_UA,
           vthr: Sequence[float] = VTHR, vpw: Sequence[float] = VPW, checks: int = CHECKS) -> pd.DataFrame:
    """The grid (``set = "grid"``) and ``checks`` held-out points (``set = "check"``) to simulate.

    Parameters
    ----------
    rng
        Generator of the held-out points (the study passes its ``held-out`` stream; default: seeded 0).
    isyn_ua, vthr, vpw
        Grid axes (µA, V, V).
    checks
        Number of held-out points, log-uniform in I and uniform in V_thr, V_pw inside the grid's box.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    grid = [(float(i), float(t), float(w), "grid") for i in isyn_ua for t in vthr for w in vpw]
    log_i = rng.uniform(np.log(min(isyn_ua)), np.log(max(isyn_ua)), checks)
    check = zip(np.exp(log_i), rng.uniform(min(vthr), max(vthr), checks), rng.uniform(min(vpw), max(vpw), checks))
    rows = grid + [(float(i), float(t), float(w), "check") for i, t, w in check]
    return pd.DataFrame(rows, columns=[*INPUT_NAMES, "set"])


def simulate_point(isyn_ua: float, vthr: float, vpw: float) -> dict[str, float]:
    """``firing_rate`` of the calibrated chain (ngspice): ``rate_hz`` and the number of ``spikes``."""
    from testbenches.lif.circuit import Biases
    from testbenches.lif.neuron import firing_rate

    train = firing_rate(isyn_ua * 1e-6, biases=Biases(vthr=vthr, vpw=vpw))
    return {"rate_hz": float(train.rate), "spikes": int(train.spikes.size)}


def fit(table: pd.DataFrame, citation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fit the form on the grid rows; the surrogate, its statistics and the held-out errors.

    ``citation`` is the study run the table comes from (:meth:`spicegen.study.StudyRun.citation`),
    recorded in the surrogate's provenance.

    Raises
    ------
    ValueError
        If a simulated rate is not finite or not positive (the neuron did not fire).
    """
    from fitting.extract import _version, dataset_hash, fit_stats
    from fitting.forms import format_expression
    from fitting.surrogate import Provenance, Surrogate

    bad = table[~(np.isfinite(table["rate_hz"]) & (table["rate_hz"] > 0))]
    if len(bad):
        raise ValueError(f"the neuron did not fire at {bad[['isyn_ua', 'vthr', 'vpw']].to_dict('records')}; "
                         "raise the current or lower the threshold of those points.")
    grid, check = table[table["set"] == "grid"], table[table["set"] == "check"]
    model = rate_model()
    inputs = {str(s): grid[str(s)].to_numpy(float) for s in INPUTS}
    rate = grid["rate_hz"].to_numpy(float)
    with np.errstate(invalid="ignore"):  # lmfit takes the sqrt of a singular covariance's diagonal (handled below)
        result = model.fit(rate, model.make_params(), weights=1 / rate, method="least_squares", **inputs)
    knee = result.params["k"]
    if knee.stderr is None or knee.stderr > 100 * abs(knee.value):
        # A knee sharper than the grid's current spacing leaves the rates blind to its rounding k: the
        # covariance is singular and no parameter gets an error, or k's error is many times k itself (a
        # nearly singular one). Held at its fitted value, k is a constant of the form and the others'
        # errors are defined (conditional on k).
        pinned = result.params.copy()
        pinned["k"].set(vary=False)
        result = model.fit(rate, pinned, weights=1 / rate, method="least_squares", **inputs)
    stats = fit_stats(result, rate, True)
    names = [str(s) for s in INPUTS]
    provenance = Provenance(version=_version(), dataset_hash=dataset_hash({**inputs, "rate_hz": rate}),
                            statistic="value", form=f"sympy: {FORM}",
                            columns={**{n: n for n in names}, "y": "rate_hz"}, device="lif (sky130, Garg et al.)",
                            testbench="testbenches.lif.neuron.firing_rate", source=DATA,
                            note="LIF firing rate (Hz) vs DC synaptic current (uA), V_thr (V), V_pw (V)",
                            study=citation)
    domain = {n: (float(grid[n].min()), float(grid[n].max())) for n in names}
    surrogate = Surrogate("lif_rate", format_expression(model), tuple(names),
                          {k: p.value for k, p in result.params.items()}, domain, "rate_hz", stats, provenance)
    rel_fit = surrogate(*(grid[n].to_numpy(float) for n in names)) / rate - 1
    rel_check = surrogate(*(check[n].to_numpy(float) for n in names)) / check["rate_hz"].to_numpy(float) - 1
    return {"surrogate": surrogate, "result": result, "rel_fit": rel_fit, "rel_check": rel_check,
            "grid": grid, "check": check}


def _axis(grid: pd.DataFrame, name: str) -> str:
    return ", ".join(f"{v:.3g}" for v in sorted(grid[name].unique()))


def _rel_rms(errors: np.ndarray) -> str:
    return (f"relative RMS error {100 * float(np.sqrt(np.mean(errors ** 2))):.2f} %, "
            f"max {100 * float(np.max(np.abs(errors))):.2f} %") if len(errors) else "no points"


def _param_row(name: str, p: Any) -> str:
    """One parameter's table row; its error and interval read "not estimated" when lmfit gave none."""
    if p.stderr is None:
        return f"| `{name}` | {p.value:.5g} (s.e. not estimated) | not estimated |"
    return f"| `{name}` | {p.value:.5g} ± {p.stderr:.2g} | {p.low:.5g} … {p.high:.5g} |"


def format_report(fitted: dict[str, Any]) -> str:
    """Markdown summary of the fit and the held-out check."""
    s, grid = fitted["surrogate"], fitted["grid"]
    stats = s.stats
    runs = len(grid) + len(fitted["check"])
    lines = ["# LIF firing rate f(I, V_thr, V_pw) (Garg et al. neuron, sky130, ngspice)", "",
             f"Regenerate: `spicegen study run lif-rate-grid --out DIR` ({runs} ngspice runs of 2–8 s), then "
             "`spicegen extract lif-rate --from DIR --out OUT` (a few s).",
             "", "Form: `f = 1e6/(c·(V_thr − v0)/g(I) + t0 + tp·exp(−(V_pw − 1)/v_s))` Hz with "
             "`g(I) = a·I^q + s_k(I/i_tau − 1)`, `s_k(x) = max(x, 0) + k·ln(1 + exp(−|x|/k))` (the DPI's output above "
             "its input threshold plus a direct share of the input), I in µA, times in µs; "
             f"fitted with lmfit (weights 1/f) on the {len(grid)}-point grid I = {_axis(grid, 'isyn_ua')} µA × "
             f"V_thr = {_axis(grid, 'vthr')} V × V_pw = {_axis(grid, 'vpw')} V.", "",
             f"- fit: {_rel_rms(fitted['rel_fit'])}; R² {stats.r2:.5f}",
             f"- held out ({len(fitted['check'])} random points inside the grid box, never fitted): "
             f"{_rel_rms(fitted['rel_check'])}", "",
             "| parameter | value ± s.e. | 95 % interval |", "|---|---|---|"]
    lines += [_param_row(k, p) for k, p in stats.params.items()]
    unestimated = [f"`{k}`" for k, p in stats.params.items() if p.stderr is None]
    if len(unestimated) == len(stats.params):
        lines += ["", "No standard errors where the fit's covariance is singular: a parameter the rates do not "
                  "depend on near its value (e.g. the knee's rounding k once the knee is sharper than the grid's "
                  "spacing) leaves the others' errors undefined too."]
    elif unestimated:
        lines += ["", f"No standard error for {', '.join(unestimated)}: the rates do not depend on it near its value "
                  "(the knee's rounding, once the knee is sharper than the grid's spacing), so it is held at its "
                  "fitted value and the other errors are conditional on it."]
    lines += ["", "Files: `lif_rate.json` (surrogate, 3 inputs), `lif_rate_fit.json` (statistics, residuals), "
              "`lif_rate_data.csv` (the ngspice table), `lif_rate.png` (data and fit)."]
    return "\n".join(lines) + "\n"


def format_figure(fitted: dict[str, Any], path: Path) -> Path:
    """PNG: rate vs I per (V_thr, lowest and highest V_pw) with the fit, and the relative residuals."""
    plt = pyplot()
    s, grid, check = fitted["surrogate"], fitted["grid"], fitted["check"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    fine = np.geomspace(grid["isyn_ua"].min(), grid["isyn_ua"].max(), 100)
    vpw = sorted(grid["vpw"].unique())
    for k, vthr in enumerate(sorted(grid["vthr"].unique())):
        for w, marker in zip(sorted({vpw[0], vpw[-1]}), ("o", "s")):
            part = grid[(grid["vthr"] == vthr) & (grid["vpw"] == w)]
            left.loglog(part["isyn_ua"], part["rate_hz"], marker, ms=4, color=f"C{k}",
                        mfc="none" if marker == "s" else None, label=f"V_thr {vthr:.3g} V, V_pw {w:.3g} V")
            left.loglog(fine, s(fine, vthr, w), "-", lw=1, color=f"C{k}")
    left.set(xlabel="I_syn (µA)", ylabel="firing rate (Hz)")
    left.legend(fontsize=7)
    right.semilogx(grid["isyn_ua"], 100 * fitted["rel_fit"], "o", ms=3, label="grid (fitted)")
    right.semilogx(check["isyn_ua"], 100 * fitted["rel_check"], "x", ms=6, label="held out")
    right.axhline(0, color="k", lw=0.8)
    right.set(xlabel="I_syn (µA)", ylabel="fit / ngspice − 1 (%)")
    right.legend(fontsize=8)
    return save_figure(fig, path, 120)


def write(out: Path, table: pd.DataFrame, citation: Mapping[str, Any] | None) -> list[Path]:
    """Fit ``table`` and write the surrogate, its statistics, report, figure and the table into ``out``."""
    from fitting.extract import _finite

    fitted = fit(table, citation)
    s = fitted["surrogate"]
    summary = {"stats": s.to_dict()["stats"], "rel_error_fit": fitted["rel_fit"].tolist(),
               "rel_error_held_out": fitted["rel_check"].tolist(),
               "held_out_points": fitted["check"][[*INPUT_NAMES, "rate_hz"]].to_dict("records")}
    texts = {DATA: table.to_csv(index=False), "lif_rate.json": s.to_json(),
             "lif_rate_fit.json": json.dumps(_finite(summary), indent=2) + "\n", "report.md": format_report(fitted)}
    return [*(write_text(out / name, text) for name, text in texts.items()),
            format_figure(fitted, out / "lif_rate.png")]


@register_study
class LifRateGrid(Study):
    """Firing rate of the calibrated LIF chain on a grid of DC current × V_thr × V_pw, plus held-out random points."""

    name = "lif-rate-grid"
    code = (__name__, "testbenches.lif.circuit", "testbenches.lif.neuron")
    family = "lif"
    options = (*sweep_options("i", 10.0, 200.0, len(ISYN_UA), "µA", (1.0, 500.0), "DC synaptic current", most=40,
                             log=True),
               *sweep_options("vthr", 0.8, 1.8, 3, "V", (0.3, 3.0), "threshold V_thr", most=10),
               *sweep_options("vpw", 0.8, 1.1, 3, "V", (0.6, 2.0), "pulse-width bias V_pw", most=10),
               Setting("checks", CHECKS, "held-out random points inside the grid's box", bounds=(0, 100)))
    measures = {"points": Measure("", "points simulated (grid and held out)"),
                "silent": Measure("", "points where the neuron fired fewer than two spikes (no rate)", spec=(0, 0)),
                "rate_min": Measure("Hz", "lowest simulated rate"),
                "rate_max": Measure("Hz", "highest simulated rate")}
    seed_default = 0

    def run(self, ctx: StudyContext) -> StudyResult:
        table = points(ctx.rng("held-out"), sweep_values(ctx, "i", log=True), sweep_values(ctx, "vthr"),
                       sweep_values(ctx, "vpw"), ctx.options["checks"])
        rows = list(table.itertuples(index=False))
        results = [ctx.step(f"rate_{r.set}{k}", lambda r=r: simulate_point(r.isyn_ua, r.vthr, r.vpw))
                   for k, r in enumerate(named_bar(ctx, "grid", rows, lambda r: f"I = {r.isyn_ua:.3g} µA, "
                                                   f"V_thr = {r.vthr:.3g} V, V_pw = {r.vpw:.3g} V ({r.set})"))]
        table = table.assign(rate_hz=[np.nan if r["rate_hz"] is None else r["rate_hz"] for r in results],
                             spikes=[r["spikes"] for r in results])
        write_text(ctx.out / DATA, table.to_csv(index=False))
        rate = table["rate_hz"].to_numpy(float)
        m = {"points": float(len(table)), "silent": float(np.sum(~np.isfinite(rate))),
             "rate_min": float(np.nanmin(rate)) if np.isfinite(rate).any() else np.nan,
             "rate_max": float(np.nanmax(rate)) if np.isfinite(rate).any() else np.nan}
        counts = {k: int((table["set"] == s).sum()) for k, s in (("grid", "grid"), ("checks", "check"))}
        return StudyResult(m, counts, [DATA])


@register_extraction
class LifRate(Extraction):
    """LIF firing rate f(I, V_thr, V_pw): a physical form fitted to the lif-rate-grid table, checked held out."""

    name = "lif-rate"
    source = "lif-rate-grid"
    statistic = "value"
    form = f"sympy: {FORM}"
    package = "fitting"
    folder = "extractions/lif"

    def fit(self, run: StudyRun, out: Path) -> list[Path]:
        """Fit the table of ``run`` and write the shipped files into ``out``, citing ``run``."""
        return write(Path(out), pd.read_csv(run.folder / DATA), run.citation())
