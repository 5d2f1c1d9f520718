"""Figures and the markdown report of ``python -m testbenches.lif.neuron`` (seed 000 reproduction).

Figures (PNG): ``fi_curves`` (Fig. 4A), ``max_rate_vpw`` (Fig. 4D), ``pulse_width_vpw`` (Fig. 4E),
``membrane_traces`` (Figs. 4B-C, 6A, 6D-E) and ``adaptive_pair`` (Fig. 7B). ``measurements.json``
holds every number; ``report.md`` compares them with the paper.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spicegen.figures import pyplot

from testbenches.lif.calibrate import POINTS, STAGES, evaluate
from testbenches.lif.circuit import Biases, Design
from testbenches.lif.neuron import adaptive_pair, chain_dc, firing_rate, leak_time, pulse_width, pulsed_rate, static_power

__all__ = ["write_report"]



def _fi(currents: np.ndarray, design: Design) -> dict[str, list[float]]:
    return {f"{vthr:g}": [firing_rate(float(i), biases=Biases(vthr=vthr), design=design).rate for i in currents]
            for vthr in (0.8, 1.8)}


def _fi_figure(out: Path, currents: np.ndarray, rates: dict[str, list[float]]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    paper = {"0.8": (800.0, 68e3), "1.8": (419.0, 59e3)}
    for (vthr, r), color in zip(rates.items(), ("C0", "C1")):
        ax.loglog(currents * 1e6, r, "o-", color=color, label=f"sim, V_thr = {vthr} V")
        ax.loglog([10, 200], paper[vthr], "x", ms=10, mew=2, color=color, label=f"paper, V_thr = {vthr} V")
    ax.set(xlabel="I_syn (µA)", ylabel="firing rate (Hz)", title="f-I (cf. [000] Fig. 4A)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "fi_curves.png", dpi=120)
    plt.close(fig)


def _vpw_figure(out: Path, name: str, vpw: np.ndarray, values: list[float], paper: dict[float, float],
                ylabel: str, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogy(vpw, values, "o-", label="sim")
    ax.semilogy(list(paper), list(paper.values()), "x", ms=10, mew=2, color="k", label="paper")
    ax.set(xlabel="V_pw (V)", ylabel=ylabel, title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=120)
    plt.close(fig)


def _traces(design: Design) -> dict[str, Any]:
    traces: dict[str, Any] = {}
    for isyn in (10e-6, 40e-6):
        for vthr in (0.8, 1.2, 1.8):
            tr = firing_rate(isyn, biases=Biases(vthr=vthr), design=design)
            traces[f"dc_{isyn * 1e6:g}u_thr{vthr:g}"] = (tr.time, tr.mem)
    for vtaun in (1.0, 1.2, 1.35):
        b = Biases(vtaun=vtaun)
        traces[f"down_{vtaun:g}"] = leak_time(b.vthr - 0.02, biases=b, design=design, t_stop=2.0)
    for vtaup in (1.1, 1.2, 1.6):
        traces[f"up_{vtaup:g}"] = leak_time(0.0, biases=Biases(vtaup=vtaup), design=design, t_stop=2.0)
    traces["pulsed"] = pulsed_rate(design=design, t_first=0.5, spikes=3)
    return traces


def _traces_figure(out: Path, traces: dict[str, Any]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for key, (t, mem) in ((k, v) for k, v in traces.items() if k.startswith("dc_")):
        ax = axes[0, 0] if "_10u_" in key else axes[0, 1]
        ax.plot(t * 1e3, mem, lw=0.8, label=f"V_thr = {key.split('thr')[1]} V")
    for ax, isyn in zip(axes[0], (10, 40)):
        ax.set(xlabel="t (ms)", ylabel="V_mem (V)", title=f"I_syn = {isyn} µA (cf. Fig. 4{'B' if isyn == 10 else 'C'})")
        ax.legend(fontsize=7)
    for key, (_, tr) in ((k, v) for k, v in traces.items() if k.startswith(("down_", "up_"))):
        bias = "V_taun" if key.startswith("down") else "V_taup"
        axes[1, 0].plot(tr.time, tr.mem, lw=0.8, label=f"{bias} = {key.split('_')[1]} V")
    axes[1, 0].set(xlabel="t (s)", ylabel="V_mem (V)", title="leak toward V_rest (cf. Fig. 6D-E)")
    axes[1, 0].legend(fontsize=7)
    pulsed = traces["pulsed"]
    axes[1, 1].plot(pulsed.time * 1e3, pulsed.mem, lw=0.8, label="V_mem")
    axes[1, 1].plot(pulsed.time * 1e3, pulsed.out / 3.3, lw=0.5, label="OUT / V_dd")
    axes[1, 1].set(xlabel="t (ms)", ylabel="V", title="40 µA x 10 µs pulses at 100 Hz (cf. Fig. 6A)")
    axes[1, 1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "membrane_traces.png", dpi=120)
    plt.close(fig)


def _adaptive_figure(out: Path, train, memr: np.ndarray) -> None:
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 6))
    a.plot(train.time * 1e3, train.mem, lw=0.6, label="primary V_mem")
    a.plot(train.time * 1e3, memr, lw=1.2, label="regulator V_mem = primary V_thr")
    a.set(xlabel="t (ms)", ylabel="V", title="adaptive pair (cf. [000] Fig. 7B)")
    a.legend(fontsize=7)
    b.plot(np.arange(1, train.isi.size + 1), train.isi * 1e3, "o-")
    b.axhline(2.0, ls=":", color="k")
    b.axhline(5.0, ls=":", color="k")
    b.set(xlabel="ISI index", ylabel="primary ISI (ms)", title="paper: 2 ms → 5 ms (dotted)")
    fig.tight_layout()
    fig.savefig(out / "adaptive_pair.png", dpi=120)
    plt.close(fig)


def _power(design: Design) -> dict[str, float]:
    static = static_power(design=design)
    train = firing_rate(40e-6, design=design, spikes=5)
    p_lif = train.energy_lif / train.duration
    return {"p_lif_static": static["p_lif"], "p_ldo_static": static["p_ldo"], "p_lif_40u": p_lif,
            "p_ldo_40u": train.energy_ldo / train.duration,
            "energy_per_spike_40u": (p_lif - static["p_lif"]) / train.rate}


def _table(rows: dict[str, dict[str, Any]], kind: str) -> list[str]:
    lines = [f"| {kind} point | paper | simulated | error | source |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        err = np.exp(float(r["log_error"])) - 1.0 if POINTS[name].bound != "lower" else float("nan")
        err_text = f"{err:+.0%}" if np.isfinite(err) else ("met" if r["log_error"] == 0 else "not met")
        paper, sim = f"{r['paper']:.4g} {r['unit']}", f"{r['sim']:.4g} {r['unit']}"
        lines.append(f"| {name} | {paper} | {sim} | {err_text} | {r['source']} |")
    return lines


def _markdown(m: dict[str, Any]) -> str:
    k = m["chain"]
    lines = ["# Seed 000 LIF chain: simulated (sky130, ngspice) vs paper", "",
             "Generated by `python -m testbenches.lif.neuron`; design and assumptions in `docs/lif_neuron.md`.", "",
             "## LDO + attenuator (DC, V_ref = 2.4 V)", "", "| I_syn (µA) | K | clamp error (mV) |", "|---|---|---|"]
    lines += [f"| {i * 1e6:.0f} | {kk:.1f} | {e * 1e3:.3f} |" for i, kk, e in zip(k["isyn"], k["k"], k["clamp_error"])]
    lines += ["", "## Calibration and held-out points", ""]
    for stage in STAGES:
        lines += [f"### {stage.name}", "", *_table({n: m["points"][n] for n in stage.calibration}, "calibration"), ""]
        if stage.held_out:
            lines += [*_table({n: m["points"][n] for n in stage.held_out}, "held-out"), ""]
    p = m["power"]
    isi = m["adaptive_isi_ms"]
    lines += ["## Leak (2 s runs; time to cover 90 % of the way to V_rest; paper Fig. 6D-E)", "",
              "| run | time (s) | V_mem after 2 s (V) |", "|---|---|---|"]
    lines += [f"| {k} V | {v['time_90pct']:.3g} | {v['v_end']:.3f} |" for k, v in m["leak"].items()]
    lines += [""]
    lines += ["## Power (paper §III.E: LDO 10 µW static, LIF 5 µW static, 200 pJ/spike)", "",
              f"- LIF static {p['p_lif_static'] * 1e6:.2f} µW, LDO static {p['p_ldo_static'] * 1e6:.2f} µW",
              f"- at 40 µA DC: LIF {p['p_lif_40u'] * 1e6:.2f} µW, LDO {p['p_ldo_40u'] * 1e6:.2f} µW, "
              f"LIF energy per spike above static {p['energy_per_spike_40u'] * 1e12:.1f} pJ", "",
              "## Adaptive pair (paper §III.D: threshold 0.6 → 2 V, ISI 2 → 5 ms)", "",
              f"- primary ISIs (ms): {', '.join(f'{x:.2f}' for x in isi)}",
              "- regulator V_mem (= primary threshold) from {:.2f} V to {:.2f} V".format(*m["adaptive_thr"]),
              ""]
    return "\n".join(lines)


def write_report(out: Path, *, quick: bool = False, design: Design = Design()) -> Path:
    """Simulate everything, write the figures, ``measurements.json`` and ``report.md`` into ``out``.

    ``quick`` uses three currents and three V_pw values instead of five and six.
    """
    out.mkdir(parents=True, exist_ok=True)
    currents = np.array([10e-6, 40e-6, 200e-6] if quick else [10e-6, 20e-6, 40e-6, 100e-6, 200e-6])
    vpw = np.array([0.45, 0.8, 1.1] if quick else [0.45, 0.55, 0.65, 0.8, 1.0, 1.1])
    rates = _fi(currents, design)
    _fi_figure(out, currents, rates)
    max_rates = [firing_rate(200e-6, biases=Biases(vpw=float(v)), design=design).rate for v in vpw if v >= 0.8]
    _vpw_figure(out, "max_rate_vpw", vpw[vpw >= 0.8], max_rates, {0.8: 20e3, 1.1: 92e3}, "rate at 200 µA (Hz)",
                "maximum rate vs V_pw (cf. Fig. 4D)")
    widths = [pulse_width(isyn=200e-6, biases=Biases(vpw=float(v)), design=design,
                          t_first=30e-6 + 2e-5 * 10 ** (6 * (1.0 - v))) for v in vpw]
    _vpw_figure(out, "pulse_width_vpw", vpw, widths, {0.45: 20e-3, 1.0: 10e-6}, "T_pw at V_dd/2 (s)",
                "pulse width vs V_pw (cf. Fig. 4E)")
    traces = _traces(design)
    _traces_figure(out, traces)
    train, memr = adaptive_pair(design=design)
    _adaptive_figure(out, train, memr)
    m: dict[str, Any] = {
        "chain": {k: v.tolist() for k, v in chain_dc(currents, design=design).items()},
        "fi": {"isyn": currents.tolist(), "rates": rates},
        "max_rate": dict(zip(map(float, vpw[vpw >= 0.8]), max_rates)),
        "pulse_width": dict(zip(map(float, vpw), widths)),
        "points": evaluate(list(POINTS), design),
        "power": _power(design),
        "leak": {k: {"time_90pct": v[0], "v_end": float(v[1].mem[-1])} for k, v in traces.items()
                 if k.startswith(("down_", "up_"))},
        "adaptive_isi_ms": (train.isi * 1e3).tolist(),
        "adaptive_thr": [float(memr[0]), float(memr.max())],
    }
    (out / "measurements.json").write_text(json.dumps(m, indent=2, default=float) + "\n")
    path = out / "report.md"
    path.write_text(_markdown(m))
    return path
