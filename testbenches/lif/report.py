"""Figures of the LIF studies and the markdown report of ``spicegen study run lif-report``.

Each figure function takes the data a study computed and the PNG path; :func:`markdown` takes the
finished sub-study results (name → the ``result.json`` content) and compares them with the paper.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from spicegen.figures import pyplot, save_figure

from testbenches.lif.calibrate import POINTS, STAGES

__all__ = ["DPI", "fi_figure", "vpw_figure", "dc_traces_figure", "leak_figure", "pulsed_figure",
           "adaptive_figure", "chain_figure", "markdown"]

DPI = 120
"""Resolution of every figure (dots per inch)."""
Trace = Mapping[str, Sequence[float]]
"""A resampled waveform: ``{"t": [...], "y": [...]}`` (s, V)."""


def _paper(names: Sequence[str], x: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """(condition ``x`` × ``scale``, paper value) of the named points."""
    return [POINTS[n].args[x] * scale for n in names], [POINTS[n].paper for n in names]


def fi_figure(path: Path, isyn: Sequence[float], rates: Mapping[str, Sequence[float]]) -> Path:
    """f–I curves, one per threshold (``rates``: V_thr text → Hz per current), with Fig. 4A's points."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    paper = {0.8: ("rate_10u_thr08", "rate_200u_thr08"), 1.8: ("rate_10u_thr18", "rate_200u_thr18")}
    for k, (vthr, r) in enumerate(rates.items()):
        ax.loglog(np.asarray(isyn) * 1e6, r, "o-", color=f"C{k}", label=f"sim, V_thr = {vthr} V")
        if float(vthr) in paper:
            ax.loglog(*_paper(paper[float(vthr)], "isyn", 1e6), "x", ms=10, mew=2, color=f"C{k}",
                      label=f"paper, V_thr = {vthr} V")
    ax.set(xlabel="I_syn (µA)", ylabel="firing rate (Hz)", title="f-I (cf. Garg et al. Fig. 4A)")
    ax.legend(fontsize=7)
    return save_figure(fig, path, DPI)


def vpw_figure(path: Path, vpw: Sequence[float], values: Sequence[float], paper: Sequence[str], ylabel: str,
               title: str) -> Path:
    """A quantity against V_pw (log scale) with the named paper points."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogy(vpw, values, "o-", label="sim")
    ax.semilogy(*_paper(paper, "vpw"), "x", ms=10, mew=2, color="k", label="paper")
    ax.set(xlabel="V_pw (V)", ylabel=ylabel, title=title)
    ax.legend()
    return save_figure(fig, path, DPI)


def dc_traces_figure(path: Path, traces: Mapping[tuple[float, float], Trace]) -> Path:
    """Membrane under DC input, one panel per current (``traces``: (I_syn A, V_thr V) → trace)."""
    plt = pyplot()
    currents = sorted({i for i, _ in traces})
    fig, axes = plt.subplots(1, len(currents), figsize=(5 * len(currents), 3.8), squeeze=False)
    for ax, isyn in zip(axes[0], currents):
        for (i, vthr), tr in traces.items():
            if i == isyn:
                ax.plot(np.asarray(tr["t"]) * 1e3, tr["y"], lw=0.8, label=f"V_thr = {vthr:g} V")
        ax.set(xlabel="t (ms)", ylabel="V_mem (V)", title=f"I_syn = {isyn * 1e6:g} µA (cf. Garg et al. Fig. 4B-C)")
        ax.legend(fontsize=7)
    return save_figure(fig, path, DPI)


def leak_figure(path: Path, down: Mapping[float, Trace], up: Mapping[float, Trace], leaked: float) -> Path:
    """Membrane leaking toward V_rest from above (per V_taun) and from below (per V_taup), with the paper's
    leak times of Fig. 6D (the downward leak reaches ``leaked`` volts, 90 % of the way to V_rest, then)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    for bias, traces, style in (("V_taun", down, "-"), ("V_taup", up, "--")):
        for v, tr in traces.items():
            ax.plot(tr["t"], tr["y"], style, lw=0.8, label=f"{bias} = {v:g} V")
    for name, marker, when in (("leak_135", "x", f"at {POINTS['leak_135'].paper * 1e3:g} ms"),
                               ("leak_100", ">", f"after more than {POINTS['leak_100'].paper:g} s")):
        ax.plot([POINTS[name].paper], [leaked], marker, ms=9, mew=2, color="k",
                label=f"paper, V_taun = {POINTS[name].args['vtaun']:g} V: 90 % leaked {when}")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set(xlabel="t (s)", ylabel="V_mem (V)", title="leak toward V_rest (cf. Garg et al. Fig. 6D-E)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return save_figure(fig, path, DPI)


def pulsed_figure(path: Path, widths: Sequence[float], rates: Sequence[float], traces: Mapping[float, Trace],
                  spikes: Mapping[float, Sequence[float]], amplitude: float, frequency: float) -> Path:
    """Rate against input-pulse width (pulses of ``amplitude`` A at ``frequency`` Hz) with Fig. 6B's points,
    and the membrane of each run (spikes marked)."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(np.asarray(widths) * 1e6, rates, "o-", label=f"sim ({amplitude * 1e6:g} µA, {frequency:g} Hz)")
    a.plot(*_paper(("pulsed_7us", "pulsed_10us", "pulsed_15us"), "width", 1e6), "x", ms=10, mew=2, color="k",
           label="paper (40 µA, 100 Hz)")
    a.set(xlabel="input pulse width (µs)", ylabel="output rate (Hz)", title="pulsed input (cf. Garg et al. Fig. 6A-B)")
    a.legend(fontsize=7)
    for k, (width, tr) in enumerate(traces.items()):
        b.plot(np.asarray(tr["t"]) * 1e3, tr["y"], lw=0.8, color=f"C{k}", label=f"{width * 1e6:g} µs pulses")
        b.plot(np.asarray(spikes[width]) * 1e3, np.full(len(spikes[width]), 1.25 + 0.05 * k), "|", ms=10,
               color=f"C{k}")
    b.set(xlabel="t (ms)", ylabel="V_mem (V)", title="membrane (ticks: output spikes)")
    b.legend(fontsize=7)
    return save_figure(fig, path, DPI)


def adaptive_figure(path: Path, mem: Trace, thr: Trace, isi: Sequence[float],
                    paper: Mapping[str, Sequence[float]]) -> Path:
    """The adaptive pair: primary membrane, regulator membrane (= primary threshold), primary ISIs, with the
    paper's values (``paper``: ``thr`` start and end in V, ``isi`` first and last in s)."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 6))
    a.plot(np.asarray(mem["t"]) * 1e3, mem["y"], lw=0.6, label="primary V_mem")
    a.plot(np.asarray(thr["t"]) * 1e3, thr["y"], lw=1.2, label="regulator V_mem = primary V_thr")
    for k, v in enumerate(paper["thr"]):
        a.axhline(v, ls=":", color="k", label="paper threshold: 0.6 V → 2 V" if k else None)
    a.set(xlabel="t (ms)", ylabel="voltage (V)", title="adaptive pair (cf. Garg et al. Fig. 7B)")
    a.legend(fontsize=7)
    b.plot(np.arange(1, len(isi) + 1), np.asarray(isi) * 1e3, "o-", label="sim")
    for k, v in enumerate(paper["isi"]):
        b.axhline(v * 1e3, ls=":", color="k", label="paper: first 2 ms → last 5 ms" if k else None)
    b.set(xlabel="ISI index", ylabel="primary ISI (ms)")
    b.legend(fontsize=7)
    return save_figure(fig, path, DPI)


def chain_figure(path: Path, chain: Mapping[str, Sequence[float]]) -> Path:
    """Attenuation K and LDO clamp error against the input current."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.8))
    isyn = np.asarray(chain["isyn"]) * 1e6
    a.semilogx(isyn, chain["k"], "o-")
    a.axhline(500, ls=":", color="k", label="paper: K = 500")
    a.legend(fontsize=7)
    a.set(xlabel="I_syn (µA)", ylabel="K = I_syn / I_neuron", title="attenuation (cf. Garg et al. §II.B)")
    b.semilogx(isyn, np.asarray(chain["clamp_error"]) * 1e3, "o-")
    b.set(xlabel="I_syn (µA)", ylabel="V(syn) − V_ref (mV)", title=f"LDO clamp at V_ref = {chain['vref']:g} V")
    fig.suptitle("LDO and current attenuator (sim., cf. Garg et al. Fig. 2A)", fontsize=9)
    return save_figure(fig, path, DPI)


# ----------------------------------------------------------------------------- markdown


def _number(value: Any, digits: str = ".4g") -> str:
    return "—" if value is None or not math.isfinite(float(value)) else format(float(value), digits)


def _points_table(measurements: Mapping[str, Any], names: Sequence[str], kind: str,
                  skipped: Sequence[str]) -> list[str]:
    lines = [f"| {kind} point | paper | simulated | error | source |", "|---|---|---|---|---|"]
    for name in names:
        point, sim = POINTS[name], measurements.get(name)
        value = math.nan if sim is None else float(sim)
        if name in skipped:
            err = "not simulated"
        elif point.bound == "lower":
            err = "met" if point.residual(value) == 0 else "not met"
        else:
            err = f"{math.exp(point.residual(value)) - 1:+.0%}" if math.isfinite(value) else "no value"
        lines.append(f"| {name} | {point.paper:.4g} {point.unit} | {_number(value)} {point.unit} | {err} | "
                     f"{point.source} |")
    return lines


def _chain(result: Mapping[str, Any]) -> list[str]:
    c = result["data"]
    lines = [f"## LDO + attenuator (DC, V_ref = {c['vref']:g} V)", "", "| I_syn (µA) | K | clamp error (mV) |",
             "|---|---|---|"]
    lines += [f"| {i * 1e6:.3g} | {k:.1f} | {e * 1e3:.3f} |"
              for i, k, e in zip(c["isyn_nominal"], c["k"], c["clamp_error"])]
    m = result["measurements"]
    return [*lines, "", "## Power (paper §III.E: LDO 10 µW static, LIF 5 µW static, 200 pJ/spike)", "",
            f"- LIF static {_number(m['p_lif_static'] * 1e6, '.2f')} µW, "
            f"LDO static {_number(m['p_ldo_static'] * 1e6, '.2f')} µW",
            f"- at {c['i_power'] * 1e6:g} µA DC: LIF {_number(m['p_lif_spiking'] * 1e6, '.2f')} µW, "
            f"LDO {_number(m['p_ldo_spiking'] * 1e6, '.2f')} µW, LIF energy per spike above static "
            f"{_number(m['energy_per_spike'] * 1e12, '.1f')} pJ", ""]


def _fi(result: Mapping[str, Any]) -> list[str]:
    d = result["data"]
    head = " | ".join(f"V_thr {v} V (Hz)" for v in d["rates"])
    lines = ["## f–I (DC input; Fig. 4A)", "", f"| I_syn (µA) | {head} |", "|---" * (1 + len(d["rates"])) + "|"]
    for k, i in enumerate(d["isyn"]):
        lines.append(f"| {i * 1e6:.3g} | " + " | ".join(_number(r[k]) for r in d["rates"].values()) + " |")
    return [*lines, ""]


def _pulse_width(result: Mapping[str, Any]) -> list[str]:
    d = result["data"]
    lines = [f"## Pulse width and maximum rate (I_syn = {d['isyn'] * 1e6:g} µA; Figs. 4D-E)", "",
             "| V_pw (V) | T_pw (s) | rate (Hz) |", "|---|---|---|"]
    rates = dict(zip(d["max_rate_vpw"], d["max_rate"]))
    lines += [f"| {v:.3g} | {_number(t)} | {_number(rates.get(v))} |" for v, t in zip(d["vpw"], d["t_pw"])]
    return [*lines, ""]


def _pulsed(result: Mapping[str, Any]) -> list[str]:
    d = result["data"]
    lines = [f"## Pulsed input ({d['amplitude'] * 1e6:g} µA pulses at {d['frequency']:g} Hz; Fig. 6B)", "",
             "| pulse width (µs) | rate (Hz) |", "|---|---|"]
    lines += [f"| {w * 1e6:.3g} | {_number(r)} |" for w, r in zip(d["width"], d["rate"])]
    return [*lines, ""]


def _leak(result: Mapping[str, Any]) -> list[str]:
    d = result["data"]
    lines = [f"## Leak ({d['t_stop']:g} s runs; time to cover 90 % of the way to V_rest; paper Fig. 6D-E)", "",
             f"| run | time (s) | V_mem after {d['t_stop']:g} s (V) |", "|---|---|---|"]
    for direction, bias in (("down", "V_taun"), ("up", "V_taup")):
        lines += [f"| {direction}, {bias} = {r['bias']:g} V | {_number(r['time_90'], '.3g')} | "
                  f"{_number(r['v_end'], '.3f')} |" for r in d[direction]]
    return [*lines, ""]


def _adaptive(result: Mapping[str, Any]) -> list[str]:
    m, isi = result["measurements"], result["data"]["isi"]
    return ["## Adaptive pair (paper §III.D: threshold 0.6 → 2 V, ISI 2 → 5 ms)", "",
            f"- primary ISIs (ms): {', '.join(f'{x * 1e3:.2f}' for x in isi)}",
            f"- regulator V_mem (= primary threshold) from {_number(m['thr_start'], '.2f')} V to "
            f"{_number(m['thr_end'], '.2f')} V", ""]


def markdown(results: Mapping[str, Mapping[str, Any]], skipped: Sequence[str] = ()) -> str:
    """The report: every table of the sub-studies, the calibration and held-out points against the paper.

    Parameters
    ----------
    results
        Study name → its ``result.json`` content (``measurements``, ``data``, ``files``); the study's
        folder is its name, beside the report.
    skipped
        Paper points that were not simulated (their study ran with ``paper=no``).
    """
    measurements = {k: v for r in results.values() for k, v in r["measurements"].items()}
    lines = ["# LIF chain (Garg et al.): simulated (sky130, ngspice) vs paper", "",
             "Generated by `spicegen study run lif-report`; design and assumptions in `docs/lif_neuron.md`.", ""]
    lines += _chain(results["lif-chain"])
    lines += ["## Calibration and held-out points", ""]
    for stage in STAGES:
        lines += [f"### {stage.name}", "",
                  *_points_table(measurements, stage.calibration, "calibration", skipped), ""]
        if stage.held_out:
            lines += [*_points_table(measurements, stage.held_out, "held-out", skipped), ""]
    lines += [*_fi(results["lif-fi"]), *_pulse_width(results["lif-pulse-width"]), *_pulsed(results["lif-pulsed"]),
              *_leak(results["lif-leak"]), *_adaptive(results["lif-adaptive-pair"])]
    lines += ["## Figures", ""]
    lines += [f"- `{name}/{f}`" for name, r in results.items() for f in r["files"] if f.endswith(".png")]
    return "\n".join(lines) + "\n"
