"""Monte Carlo of the LIF chain under transistor mismatch and process corners: ``spicegen study run lif-mc``.

Every transistor of the LDO, the attenuator and the neuron gets a threshold and a width mismatch
(:func:`testbenches.lif.testbench.mismatch`: Pelgrom A_VT = 10 mV·µm, σ_W = 5 nm). Per corner the
study runs, through the Monte Carlo engine (resumable, one folder per run), the same samples
(same seed, so sample k has the same mismatch draws in every run and at every corner):

- ``lif-attenuation``: operating points of three chains at 100 nA, 10 µA and 200 µA, K = I_syn / I_neuron;
- ``lif-neuron`` at 10, 40 and 200 µA: the firing rate from the first few inter-spike intervals (the
  transient lasts the nominal first spike plus ``isis`` nominal intervals, times :data:`SLACK`), and at
  40 µA the width of the first output pulse (V_pw = 1 V, Table I of Garg et al.).

It reports the spread of each quantity per corner (mean, σ, σ/mean, 5 % and 95 % points), histograms
per corner, and which devices drive the spread of the rate (the share of its variance each device's
two draws explain linearly).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from spicegen.calibration import significant
from spicegen.figures import axis_label, pyplot, save_figure
from spicegen.measure import Waves
from spicegen.naming import format_number
from spicegen.pdk import CORNERS
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, Subset, register_study
from spicegen.testbench import Circuit, Option, Testbench, get_testbench, register_testbench

from testbenches.lif.circuit import LDO_BIASES, R_IC, Biases, Design, chain_lines
from testbenches.lif.neuron import corner_biases
from testbenches.lif.testbench import chain_circuit, check_chain_biases

__all__ = ["K_CURRENTS", "RATE_CURRENTS", "WIDTH_CURRENT", "SLACK", "QUANTITIES", "Attenuation", "ClampError",
           "build_attenuation", "LIF_ATTENUATION", "spread", "device_shares", "LifMc", "histogram_figure",
           "sensitivity_figure"]

K_CURRENTS = (100e-9, 10e-6, 200e-6)
"""Synaptic currents (A) at which K is measured by an operating point."""
RATE_CURRENTS = (10e-6, 40e-6, 200e-6)
"""Synaptic currents (A) at which the firing rate is measured."""
WIDTH_CURRENT = 40e-6
"""Input (A) of the run whose first output pulse gives the pulse width (the 40 µA of Garg et al. Fig. 4C)."""
SLACK = 1.6
"""Transient length over the nominal time to the last wanted spike: a sample up to 1.6x slower still gives
every interval."""


def _label(current: float, space: str = "", micro: str = "u") -> str:
    """``100nA``, ``10uA``, ``200uA``: a current in a measurement or folder name (``space=" ", micro="µ"``: in
    words, ``10 µA``)."""
    if current < 1e-6:
        return f"{significant(current * 1e9, 3):g}{space}nA"
    return f"{significant(current * 1e6, 3):g}{space}{micro}A"


def _words(current: float) -> str:
    return _label(current, " ", "µ")


@dataclass(frozen=True)
class Attenuation:
    """K = I_syn / I_neuron of the chain tagged ``tag`` at its operating point (dimensionless)."""

    unit: ClassVar[str] = ""
    tag: str

    def __call__(self, waves: Waves) -> float:
        i_syn = (waves[f"in{self.tag}"][0] - waves[f"syn{self.tag}"][0]) / R_IC
        return float(i_syn / waves[f"i(vi{self.tag})"][0])


@dataclass(frozen=True)
class ClampError:
    """V(syn) - V_ref of the chain tagged ``tag`` at its operating point (V): the LDO's offset."""

    unit: ClassVar[str] = "V"
    tag: str

    def __call__(self, waves: Waves) -> float:
        return float(waves[f"syn{self.tag}"][0] - waves["vref"][0])


def build_attenuation(options: Mapping[str, Any]) -> Circuit:
    """Three chains fed by the :data:`K_CURRENTS`, membranes held at V_rest, solved for their operating point.

    A current source drives each synapse, so the attenuator sees exactly its current whatever the
    LDO's offset (a voltage input V_ref + I·R_IC at 100 nA is only 1 mV above V_ref, less than a
    mismatched LDO's offset, and would deliver almost nothing). Holding the membrane (as the DC
    sweep of ``lif-chain`` does) keeps the neuron input at its integrating operating point instead
    of one of an oscillator's states.
    """
    c = chain_circuit("lif-attenuation: K of three LDO + attenuator + neuron chains by operating points",
                      options["corner"])
    for k, current in enumerate(K_CURRENTS):
        c.element(f"Iink{k} 0 ink{k} {format_number(current)}")
        c.element(f"Vmemk{k} memk{k} 0 {{vrest}}")
        for line in chain_lines(f"k{k}", vdd_ldo="vdda", vdd_lif="vddl", vin=f"ink{k}", thr="thr"):
            c.element(line)
    c.analysis(".op")
    return c


LIF_ATTENUATION = register_testbench(Testbench(
    name="lif-attenuation",
    doc="LIF chain (sky130): K = I_syn / I_neuron at 100 nA, 10 uA and 200 uA by operating points; "
        "transistor mismatch",
    build=build_attenuation,
    measurements={**{f"k_{_label(i)}": Attenuation(f"k{k}") for k, i in enumerate(K_CURRENTS)},
                  **{f"clamp_{_label(i)}": ClampError(f"k{k}") for k, i in enumerate(K_CURRENTS)}},
    options=(Option("corner", "tt", CORNERS, "sky130 process corner"),),
    check=check_chain_biases,
))

QUANTITIES = {**{f"k_{_label(i)}": ("", f"K = I_syn / I_neuron at {_words(i)} (operating point)") for i in K_CURRENTS},
              **{f"rate_{_label(i)}": ("Hz", f"firing rate at {_words(i)} (first inter-spike intervals)")
                 for i in RATE_CURRENTS},
              "width": ("s", f"width of the first output pulse at {_words(WIDTH_CURRENT)}, V_pw 1 V"),
              "clamp_10uA": ("V", "LDO offset V(syn) - V_ref at 10 µA")}
"""Quantity name → (unit, meaning): what each sample measures."""
SPREAD_COLUMNS = ("n_ok", "nominal", "mean", "std", "cv", "p5", "p95")
"""Columns of the spread table (``cv`` = σ/mean)."""
TOP_DEVICES = 10
"""Devices drawn in the sensitivity figure, per quantity."""


def spread(values: Sequence[float], nominal: float = math.nan) -> dict[str, float]:
    """Spread of the finite ``values``: count, ``nominal``, mean, σ (ddof 1), σ/mean, 5 % and 95 % points."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return {"n_ok": float(v.size), "nominal": nominal, **dict.fromkeys(SPREAD_COLUMNS[2:], math.nan)}
    mean, std = float(v.mean()), float(v.std(ddof=1))
    p5, p95 = np.percentile(v, [5.0, 95.0])
    return {"n_ok": float(v.size), "nominal": nominal, "mean": mean, "std": std, "cv": std / mean,
            "p5": float(p5), "p95": float(p95)}


def device_shares(frame: Any, quantity: str) -> list[dict[str, Any]]:
    """Per transistor, the share of ``quantity``'s variance its threshold and width draws explain linearly.

    The draws are independent, so a draw's share is its squared correlation with the quantity; with n
    samples a draw that does not matter still shows about 1/(n - 1) by chance.

    Parameters
    ----------
    frame
        One row per sample: the quantity and the drawn ``dvt_<block>_<device>`` / ``dw_<block>_<device>``.
    quantity
        Column to explain.

    Returns
    -------
    list of dict
        ``device`` (``lif.mpw``), ``vt`` and ``width`` (shares, 0 ... 1) and ``rho_vt`` (correlation
        of the threshold draw with the quantity), largest total share first.
    """
    ok = frame[np.isfinite(frame[quantity].to_numpy(float))]
    y = ok[quantity].to_numpy(float)
    rows = []
    for column in (c for c in ok.columns if str(c).startswith("dvt_")):
        device = column[len("dvt_"):]
        r_vt = _correlation(ok[column].to_numpy(float), y)
        r_w = _correlation(ok[f"dw_{device}"].to_numpy(float), y)
        rows.append({"device": device.replace("_", ".", 1), "vt": r_vt ** 2, "width": r_w ** 2, "rho_vt": r_vt})
    return sorted(rows, key=lambda r: -(r["vt"] + r["width"]))


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 3 or np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


LDO_BIAS_OPTION = Setting("ldo_bias", "held", "V_opa at each corner: 'held' re-tunes it so that the LDO draws its tt "
                          "supply power (at Table I's 2.4 V the LDO's OTA current spans 0.26-7.6 µA over the corners "
                          "and its loop oscillates at ff, fs, ss and sf); 'table': 2.4 V at every corner",
                          choices=LDO_BIASES)

CORNERS_OPTION = Subset("corners", ",".join(CORNERS), "sky130 process corners, one Monte Carlo each (the same "
                        "mismatch draws at every corner; the sizes were calibrated at tt)", choices=CORNERS)


@register_study
class LifMc(Study):
    """Monte Carlo of the LIF chain: transistor mismatch (threshold and width) at each process corner."""

    name = "lif-mc"
    code = (__name__, "testbenches.lif.testbench")
    family = "lif"
    options = (CORNERS_OPTION, LDO_BIAS_OPTION,
               Setting("isis", 3, "inter-spike intervals per rate (the transient is cut after them)",
                       bounds=(1, 20)))
    measures = {
        **{f"{q}_mean_{c}": Measure(unit, f"{c}: mean {desc}") for q, (unit, desc) in QUANTITIES.items()
           for c in CORNERS},
        **{f"{q}_cv_{c}": Measure("%", f"{c}: σ/mean of {desc}") for q, (_, desc) in QUANTITIES.items()
           for c in CORNERS},
        **{f"failed_{c}": Measure("", f"{c}: samples that failed to simulate in any run", spec=(0.0, 0.0))
           for c in CORNERS},
        "seconds_per_sample": Measure("s", "simulation time of one sample, all four runs (mean over samples)"),
    }
    n_default = 200
    n_min = 2
    n_desc = "Monte Carlo samples per corner (each: one operating point and three transients)"
    seed_default = 1

    def depends_on(self) -> Mapping[str, Any]:
        """The netlists of both testbenches at tt (every size, calibrated or chosen, is in them)."""
        text = "".join(get_testbench(name).circuit().format() for name in ("lif-attenuation", "lif-neuron"))
        return {"netlists": hashlib.sha256(text.encode()).hexdigest()[:16]}

    def run(self, ctx: StudyContext) -> StudyResult:
        corners = ctx.options["corners"].split(",")
        results = {corner: self._corner(ctx, corner) for corner in corners}
        frames = {corner: info.pop("frame") for corner, info in results.items()}
        files = [histogram_figure(ctx.out / "histograms.png", frames, results).name]
        first = corners[0]
        shares = {q: device_shares(frames[first], q) for q in QUANTITIES if not q.startswith("k_")}
        files.append(sensitivity_figure(ctx.out / "sensitivity.png", shares, len(frames[first]), first).name)
        data = {"corners": results, "sensitivity_corner": first,
                "sensitivity": {q: rows[:TOP_DEVICES] for q, rows in shares.items()},
                "currents": {"k": list(K_CURRENTS), "rate": list(RATE_CURRENTS), "width": WIDTH_CURRENT}}
        return StudyResult(_headline(results), data, files)

    @staticmethod
    def _corner(ctx: StudyContext, corner: str) -> dict[str, Any]:
        """The Monte Carlo runs of one corner: spread table, run lengths, failures, seconds and the samples."""
        isis = ctx.options["isis"]
        bias = _corner_settings(ctx, corner)
        lengths = ctx.step(f"run_lengths_{corner}", lambda: {_label(i): _run_length(ctx, bias, i, isis)
                                                              for i in RATE_CURRENTS})
        frame = ctx.monte_carlo("lif-attenuation", ctx.n, folder=f"{corner}_k", settings=bias)
        merged = frame.set_index("sample")
        seconds = _seconds(ctx.out / f"{corner}_k")
        failed = set(frame.loc[frame["status"] != "ok", "sample"])
        for current in RATE_CURRENTS:
            label = _label(current)
            settings = {**bias, "isyn": current, "t_stop": lengths[label]["t_stop"]}
            run = ctx.monte_carlo("lif-neuron", ctx.n, folder=f"{corner}_rate_{label}", settings=settings)
            failed |= set(run.loc[run["status"] != "ok", "sample"])
            indexed = run.set_index("sample")
            merged[f"rate_{label}"] = indexed["rate"].where(indexed["status"] == "ok")
            if current == WIDTH_CURRENT:
                merged["width"] = indexed["width"].where(indexed["status"] == "ok")
            seconds += _seconds(ctx.out / f"{corner}_rate_{label}")
        nominal = {**ctx.step(f"nominal_k_{corner}", lambda: ctx.simulate("lif-attenuation", bias)),
                   **{f"rate_{label}": info["rate"] for label, info in lengths.items()},
                   "width": lengths[_label(WIDTH_CURRENT)]["width"]}
        for q in QUANTITIES:
            merged.loc[list(failed), q] = math.nan
        table = {q: spread(merged[q], nominal[q]) for q in QUANTITIES}
        return {"spread": table, "run_lengths": lengths, "failed": len(failed), "samples": len(frame),
                "seconds_per_sample": seconds, "vopa": bias.get("vopa", Biases.vopa), "frame": merged.reset_index()}


def _corner_settings(ctx: StudyContext, corner: str) -> dict[str, Any]:
    """The testbench settings of ``corner``: the corner, and V_opa where ``ldo_bias`` moves it from Table I's
    (:func:`~testbenches.lif.neuron.corner_biases`, as in every netlist of the chain)."""
    design = Design(corner=corner, ldo_bias=ctx.options["ldo_bias"])
    if corner == "tt" or design.ldo_bias == "table":
        return {"corner": corner}
    return {"corner": corner, "vopa": ctx.step(f"vopa_{corner}", lambda: corner_biases(Biases(), design).vopa)}


def _run_length(ctx: StudyContext, bias: Mapping[str, Any], current: float, isis: int) -> dict[str, float]:
    """Nominal first spike, rate and pulse width at ``current`` with the corner's testbench settings ``bias``,
    and the transient length of its Monte Carlo (:data:`SLACK` times the nominal time of spike ``isis + 1``,
    two significant digits).

    The nominal run starts at 2 ms · (10 µA / current) and doubles until it holds ``isis + 1`` spikes.

    Raises
    ------
    RuntimeError
        If the nominal chain does not fire ``isis + 1`` times within 1 s.
    """
    t_stop = min(2e-3 * 10e-6 / current, 1.0)
    while True:
        values = ctx.simulate("lif-neuron", {**bias, "isyn": current, "t_stop": t_stop})
        if values["spikes"] >= isis + 1:
            break
        if t_stop >= 1.0:
            raise RuntimeError(f"lif-mc: the nominal chain at {bias['corner']}, {_label(current)} fires "
                               f"{values['spikes']:g} times in 1 s; the rate needs {isis + 1} spikes.")
        t_stop = min(2 * t_stop, 1.0)
    length = SLACK * (values["t_first"] + isis / values["rate"])
    return {"t_first": values["t_first"], "rate": values["rate"], "width": values["width"],
            "t_stop": min(max(significant(length, 2), 1e-5), 1.0)}


def _seconds(folder: Path) -> float:
    """Mean simulation time of one stored sample (s)."""
    from spicegen.montecarlo import load_dataframe

    return float(load_dataframe(folder, meta=True)["elapsed"].mean())


def _headline(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The declared measurements: NaN for corners not run; σ/mean in %."""
    out: dict[str, float] = {}
    for c in CORNERS:
        table = results[c]["spread"] if c in results else {}
        for q in QUANTITIES:
            out[f"{q}_mean_{c}"] = table[q]["mean"] if q in table else math.nan
            out[f"{q}_cv_{c}"] = 100 * table[q]["cv"] if q in table else math.nan
        out[f"failed_{c}"] = float(results[c]["failed"]) if c in results else math.nan
    out["seconds_per_sample"] = float(np.mean([r["seconds_per_sample"] for r in results.values()]))
    return out


def histogram_figure(path: Path, frames: Mapping[str, Any], results: Mapping[str, Mapping[str, Any]]) -> Path:
    """One panel per quantity, one step histogram per corner, the nominal value of each corner dashed."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    for ax, (q, (unit, desc)) in zip(axes.flat, QUANTITIES.items()):
        everything = np.concatenate([f[q].to_numpy(float) for f in frames.values()])
        xlabel, factor = axis_label(q, unit, everything[np.isfinite(everything)])
        finite = everything[np.isfinite(everything)] * factor
        bins = np.histogram_bin_edges(finite, bins=min(40, max(5, finite.size // 8))) if finite.size else 10
        for k, (corner, f) in enumerate(frames.items()):
            v = f[q].to_numpy(float)
            v = v[np.isfinite(v)] * factor
            info = results[corner]["spread"][q]
            spread = (f"σ/mean {100 * info['cv']:.2g} %" if abs(info["mean"]) > info["std"]  # an offset: σ itself
                      else f"σ {info['std'] * factor:.2g} {xlabel.rsplit('(', 1)[-1].rstrip(')')}")
            ax.hist(v, bins=bins, histtype="step", color=f"C{k}", lw=1.2, label=f"{corner}: {spread}")
            ax.axvline(info["nominal"] * factor, color=f"C{k}", ls="--", lw=0.8)
        ax.set_title(desc, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("samples (count)")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(QUANTITIES):]:
        ax.set_axis_off()
    n = max(len(f) for f in frames.values())
    fig.suptitle(f"LIF chain under transistor mismatch (A_VT 10 mV·µm, σ_W 5 nm), {n} samples per corner; "
                 "dashed: nominal chain (sim.)", fontsize=10)
    return save_figure(fig, path, dpi=110, check_labels=True)


def sensitivity_figure(path: Path, shares: Mapping[str, Sequence[Mapping[str, Any]]], n: int, corner: str) -> Path:
    """Per quantity, the :data:`TOP_DEVICES` transistors whose draws explain most of its variance
    (threshold and width stacked), with the share a draw shows by chance."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(shares), figsize=(4.2 * len(shares), 4.5), squeeze=False)
    chance = 100.0 / max(n - 1, 1)
    for ax, (q, rows) in zip(axes[0], shares.items()):
        top = list(rows[:TOP_DEVICES])[::-1]
        y = np.arange(len(top))
        vt = np.array([100 * r["vt"] for r in top])
        w = np.array([100 * r["width"] for r in top])
        ax.barh(y, vt, color="C0", label="threshold")
        ax.barh(y, w, left=vt, color="C1", label="width")
        ax.axvline(chance, color="k", ls=":", lw=0.8, label=f"chance level of one draw ({chance:.2g} %)")
        ax.set_yticks(y, [r["device"] for r in top], fontsize=7)
        ax.set_title(QUANTITIES[q][1], fontsize=8)
        ax.set_xlabel(f"share of the variance of {q} (%)")
        ax.set_ylabel("transistor (subcircuit.instance)")
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"Which transistors drive the spread ({corner}, {n} samples; linear share of each draw)",
                 fontsize=10)
    return save_figure(fig, path, dpi=110, check_labels=True)
