"""Firing rate f(I, V_thr, V_pw) of the sky130 LIF neuron chain (seed 000), from ngspice, as a surrogate.

Data: ``testbenches.lif.neuron.firing_rate`` (LDO + attenuator + DPI LIF, transistor level, the
calibrated design) at DC synaptic currents :data:`ISYN_UA` × thresholds :data:`VTHR` × pulse-width
biases :data:`VPW` (the grid, fitted), plus :data:`CHECKS` seeded random points inside the grid's
box (held out, never fitted). The simulations are cached in ``lif_rate_data.csv``; ``resimulate``
runs them again (about 1.5 s each).

Form (physical, :class:`fitting.sympy_model.SympyForm`): the period is the time C1 needs to
integrate to the threshold plus the pulse (= refractory) time of the timer::

    f = 1e6 / (c·(V_thr − v0)/I^p + t0 + tp·exp(−(V_pw − 1 V)/v_s))     [Hz; I in µA, times in µs]

The integration term is C1·V_thr·K/I for an ideal DPI (p = 1, v0 = 0); v0 and p absorb the
membrane's start from the reset level and the DPI's gain. The pulse term is the subthreshold
discharge of C2 through M_pw (exponential in V_pw) plus a fixed latch/comparator delay t0.
Fitted with lmfit to the rate, weighted by 1/rate (relative errors).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sympy as sp

from spicegen.figures import pyplot
from spicegen.params import Param

from fitting.sympy_model import SympyForm

ISYN_UA = (10.0, 20.0, 40.0, 100.0, 200.0)
"""DC synaptic currents of the grid (µA; the range of Fig. 4D of [000])."""
VTHR = (0.8, 1.2, 1.8)
"""Comparator thresholds of the grid (V)."""
VPW = (0.8, 0.9, 1.0, 1.1)
"""Pulse-width biases of the grid (V)."""
CHECKS = 8
"""Held-out random points (log-uniform I, uniform V_thr and V_pw inside the grid's box)."""
SEED = 0
"""Seed of the held-out points."""
DATA = "lif_rate_data.csv"
"""Cached simulation table, in the output folder."""
FORM = "1e6/(c*(vthr - v0)/isyn_ua**p + t0 + tp*exp(-(vpw - 1)/v_s))"
"""The form in words (the expression itself comes from :func:`rate_model`)."""

INPUTS = tuple(sp.Symbol(n, positive=True) for n in ("isyn_ua", "vthr", "vpw"))
PARAMS = (Param("c", 4000.0, "us uA^p/V", "integration time per volt of threshold at 1 uA", (1.0, 1e6)),
          Param("v0", 0.05, "V", "threshold offset (membrane start after reset)", (-1.0, 0.7)),
          Param("p", 1.0, "", "current exponent of the integration time", (0.5, 1.5)),
          Param("t0", 3.0, "us", "fixed pulse delay (latch, comparator)", (0.0, 100.0)),
          Param("tp", 6.0, "us", "pulse time at V_pw = 1 V above t0", (0.01, 1e4)),
          Param("v_s", 0.08, "V", "V_pw per e-fold of the pulse time", (0.01, 1.0)))


def rate_model() -> SympyForm:
    """The firing-rate form as an lmfit model of (isyn_ua, vthr, vpw)."""
    isyn, vthr, vpw = INPUTS
    c, v0, p, t0, tp, v_s = (q.symbol for q in PARAMS)
    period = c * (vthr - v0) / isyn ** p + t0 + tp * sp.exp(-(vpw - 1) / v_s)
    return SympyForm(1e6 / period, inputs=list(INPUTS), params=list(PARAMS))


def points() -> pd.DataFrame:
    """The grid (``set = "grid"``) and the held-out points (``set = "check"``) to simulate."""
    grid = [(i, t, w, "grid") for i in ISYN_UA for t in VTHR for w in VPW]
    rng = np.random.default_rng(SEED)
    log_i = rng.uniform(np.log(min(ISYN_UA)), np.log(max(ISYN_UA)), CHECKS)
    check = zip(np.exp(log_i), rng.uniform(min(VTHR), max(VTHR), CHECKS), rng.uniform(min(VPW), max(VPW), CHECKS))
    rows = grid + [(float(i), float(t), float(w), "check") for i, t, w in check]
    return pd.DataFrame(rows, columns=["isyn_ua", "vthr", "vpw", "set"])


def simulate(table: pd.DataFrame) -> pd.DataFrame:
    """Run ``firing_rate`` for every row (ngspice); adds ``rate_hz`` and ``spikes``."""
    from testbenches.lif.circuit import Biases
    from testbenches.lif.neuron import firing_rate

    rates, spikes = [], []
    for row in table.itertuples():
        train = firing_rate(row.isyn_ua * 1e-6, biases=Biases(vthr=row.vthr, vpw=row.vpw))
        rates.append(float(train.rate))
        spikes.append(int(train.spikes.size))
    return table.assign(rate_hz=rates, spikes=spikes)


def load_or_simulate(out: Path, resimulate: bool = False) -> pd.DataFrame:
    """The cached table in ``out`` when it holds exactly the planned points, else a new simulation."""
    from fitting.surrogate import write_atomic

    planned = points()
    path = out / DATA
    if path.is_file() and not resimulate:
        cached = pd.read_csv(path)
        if cached[planned.columns].round(12).equals(planned.round(12)):
            return cached
    table = simulate(planned)
    write_atomic(path, table.to_csv(index=False))
    return table


def fit(table: pd.DataFrame) -> dict[str, Any]:
    """Fit the form on the grid rows; the surrogate, its statistics and the held-out errors.

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
    result = model.fit(rate, model.make_params(), weights=1 / rate, **inputs)
    stats = fit_stats(result, rate, True)
    names = [str(s) for s in INPUTS]
    provenance = Provenance(version=_version(), dataset_hash=dataset_hash({**inputs, "rate_hz": rate}),
                            statistic="value", form=f"sympy: {FORM}",
                            columns={**{n: n for n in names}, "y": "rate_hz"}, device="lif (sky130, seed 000)",
                            testbench="testbenches.lif.neuron.firing_rate", source=DATA,
                            note="LIF firing rate (Hz) vs DC synaptic current (uA), V_thr (V), V_pw (V)")
    domain = {n: (float(grid[n].min()), float(grid[n].max())) for n in names}
    surrogate = Surrogate("lif_rate", format_expression(model), tuple(names),
                          {k: p.value for k, p in result.params.items()}, domain, "rate_hz", stats, provenance)
    rel_fit = surrogate(*(grid[n].to_numpy(float) for n in names)) / rate - 1
    rel_check = surrogate(*(check[n].to_numpy(float) for n in names)) / check["rate_hz"].to_numpy(float) - 1
    return {"surrogate": surrogate, "result": result, "rel_fit": rel_fit, "rel_check": rel_check,
            "grid": grid, "check": check}


def format_report(fitted: dict[str, Any]) -> str:
    """Markdown summary of the fit and the held-out check."""
    s = fitted["surrogate"]
    stats = s.stats
    lines = ["# LIF firing rate f(I, V_thr, V_pw) (seed 000 neuron, sky130, ngspice)", "",
             "Regenerate: `python -m fitting.ship --only lif` (fit on the cached `lif_rate_data.csv`, a few s; "
             f"`--resimulate` reruns the {len(fitted['grid']) + len(fitted['check'])} ngspice runs, about 3.5 min "
             "on the shared machine).",
             "", "Form: `f = 1e6/(c·(V_thr − v0)/I^p + t0 + tp·exp(−(V_pw − 1)/v_s))` Hz, I in µA, times in µs; "
             f"fitted with lmfit (weights 1/f) on the {len(fitted['grid'])}-point grid I = "
             f"{', '.join(f'{v:g}' for v in ISYN_UA)} µA × V_thr = {', '.join(f'{v:g}' for v in VTHR)} V × "
             f"V_pw = {', '.join(f'{v:g}' for v in VPW)} V.", "",
             f"- fit: relative RMS error {100 * float(np.sqrt(np.mean(fitted['rel_fit'] ** 2))):.2f} %, "
             f"max {100 * float(np.max(np.abs(fitted['rel_fit']))):.2f} %; R² {stats.r2:.5f}",
             f"- held out ({len(fitted['check'])} random points inside the grid box, never fitted): relative RMS "
             f"error {100 * float(np.sqrt(np.mean(fitted['rel_check'] ** 2))):.2f} %, max "
             f"{100 * float(np.max(np.abs(fitted['rel_check']))):.2f} %", "",
             "| parameter | value ± s.e. | 95 % interval |", "|---|---|---|"]
    lines += [f"| `{k}` | {p.value:.5g} ± {p.stderr:.2g} | {p.low:.5g} … {p.high:.5g} |" for k, p in stats.params.items()]
    lines += ["", "Files: `lif_rate.json` (surrogate, 3 inputs), `lif_rate_fit.json` (statistics, residuals), "
              "`lif_rate_data.csv` (the ngspice table), `lif_rate.png` (data and fit)."]
    return "\n".join(lines) + "\n"


def format_figure(fitted: dict[str, Any]) -> bytes:
    """PNG: rate vs I per (V_thr, V_pw) with the fit, and the relative residuals."""
    plt = pyplot()

    s, grid, check = fitted["surrogate"], fitted["grid"], fitted["check"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    fine = np.geomspace(min(ISYN_UA), max(ISYN_UA), 100)
    for k, vthr in enumerate(VTHR):
        for vpw, marker in zip((min(VPW), max(VPW)), ("o", "s")):
            part = grid[(grid["vthr"] == vthr) & (grid["vpw"] == vpw)]
            left.loglog(part["isyn_ua"], part["rate_hz"], marker, ms=4, color=f"C{k}", mfc="none" if marker == "s" else None,
                        label=f"V_thr {vthr:g} V, V_pw {vpw:g} V")
            left.loglog(fine, s(fine, vthr, vpw), "-", lw=1, color=f"C{k}")
    left.set_xlabel("I_syn (µA)")
    left.set_ylabel("firing rate (Hz)")
    left.legend(fontsize=7)
    right.semilogx(grid["isyn_ua"], 100 * fitted["rel_fit"], "o", ms=3, label="grid (fitted)")
    right.semilogx(check["isyn_ua"], 100 * fitted["rel_check"], "x", ms=6, label="held out")
    right.axhline(0, color="k", lw=0.8)
    right.set_xlabel("I_syn (µA)")
    right.set_ylabel("fit / ngspice − 1 (%)")
    right.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def ship(out: Path, resimulate: bool = False) -> list[Path]:
    """Simulate (or reuse the cache), fit, and write the surrogate, report, statistics and figure into ``out``."""
    from fitting.extract import _finite
    from fitting.surrogate import write_atomic

    table = load_or_simulate(out, resimulate)
    fitted = fit(table)
    s = fitted["surrogate"]
    summary = {"stats": s.to_dict()["stats"], "rel_error_fit": fitted["rel_fit"].tolist(),
               "rel_error_held_out": fitted["rel_check"].tolist(),
               "held_out_points": fitted["check"][["isyn_ua", "vthr", "vpw", "rate_hz"]].to_dict("records")}
    texts = {"lif_rate.json": s.to_json(), "lif_rate_fit.json": json.dumps(_finite(summary), indent=2) + "\n",
             "report.md": format_report(fitted)}
    png = format_figure(fitted)
    files = [write_atomic(out / name, text) for name, text in texts.items()]
    return [out / DATA, *files, write_atomic(out / "lif_rate.png", png)]
