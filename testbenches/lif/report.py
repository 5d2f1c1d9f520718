"""Figures of the LIF studies and the markdown report of ``spicegen study run lif-report``.

Each figure function takes the data a study computed and the PNG path; :func:`markdown` takes the
finished sub-study results (name → the ``result.json`` content) and compares them with the paper.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.ticker import NullFormatter

from spicegen.figures import pyplot, save_figure

from testbenches.lif.calibrate import POINTS, STAGES

__all__ = ["DPI", "fi_figure", "vpw_figure", "dc_traces_figure", "leak_figure", "pulsed_figure",
           "adaptive_figure", "chain_figure", "loop_figure", "rsyn_figure", "rsyn_traces_figure", "vtaun_figure",
           "rest_figure", "population_figure", "power_figure", "markdown"]

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


def loop_figure(path: Path, loops: Mapping[str, Mapping[str, Sequence[float]]], corner: str) -> Path:
    """Bode plot of the LDO's loop gain, one curve per read condition (``frequency``, ``gain_db``, ``phase``)."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True)
    for k, (label, loop) in enumerate(loops.items()):
        a.semilogx(loop["frequency"], loop["gain_db"], color=f"C{k}", label=label)
        b.semilogx(loop["frequency"], loop["phase"], color=f"C{k}")
    a.axhline(0, color="k", lw=0.6)
    b.axhline(-180, color="k", lw=0.6, ls=":")
    a.legend(fontsize=7)
    a.set(ylabel="|T| (dB)", title=f"LDO loop gain, opened at the OTA input ({corner})")
    b.set(xlabel="frequency (Hz)", ylabel="phase of T (°)")
    for ax in (a, b):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("LDO stability (sim., the LDO of Garg et al. Fig. 2A)", fontsize=9)
    return save_figure(fig, path, DPI)


def rsyn_figure(path: Path, rsyn: Sequence[float], rates: Mapping[str, Sequence[float]],
                paper_range: tuple[float, float], vref: float) -> Path:
    """Rate against R_syn, one line per V_read (``rates``: V_read text in mV -> Hz per R_syn), log-log as Fig. 3A;
    points without a spike (0 Hz) as triangles on the bottom edge; the paper's extremes as dotted lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    r = np.asarray(rsyn) / 1e3
    positive = [v for line in rates.values() for v in line if v > 0]
    floor = min([*positive, paper_range[0]]) / 3
    for k, (vread, line) in enumerate(rates.items()):
        y = np.asarray(line, dtype=float)
        ax.loglog(r[y > 0], y[y > 0], "o-", color=f"C{k}", label=f"V_read = {vread} mV")
        ax.plot(r[y == 0], np.full(int(np.sum(y == 0)), floor), "v", color=f"C{k}", ms=8)
    for v in paper_range:
        ax.axhline(v, ls=":", color="k")
    ax.plot([], [], "v", color="gray", label="0 Hz (no spike in the window)")
    ax.plot([], [], ":", color="k", label=f"paper extremes {paper_range[0]:g} Hz / {paper_range[1] / 1e3:g} kHz")
    ax.set(xlabel="R_syn (kΩ)", ylabel="firing rate (Hz)",
           title=f"rate vs R_syn at V_ref = {vref:g} V (cf. Garg et al. Fig. 3A)")
    ax.legend(fontsize=7)
    return save_figure(fig, path, DPI)


def rsyn_traces_figure(path: Path, traces: Mapping[float, Mapping[str, Any]]) -> Path:
    """Membrane and output for each R_syn (``traces``: ohm -> ``mem``, ``out`` traces, ``vread``), as Figs. 3B-C."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(traces), figsize=(5 * len(traces), 5), squeeze=False, sharex="col")
    for k, (r, tr) in enumerate(traces.items()):
        for ax, (node, label) in zip(axes[:, k], (("mem", "V_mem (V)"), ("out", "OUT (V)"))):
            ax.plot(np.asarray(tr[node]["t"]) * 1e3, tr[node]["y"], lw=0.8, color=f"C{k}")
            ax.set(ylabel=label)
        axes[0, k].set_title(f"R_syn = {float(r) / 1e3:g} kΩ, V_read = {tr['vread'] * 1e3:g} mV "
                             f"(cf. Garg et al. Fig. 3{'BC'[k] if k < 2 else ''})", fontsize=9)
        axes[1, k].set(xlabel="t (ms)")
    return save_figure(fig, path, DPI)


def vtaun_figure(path: Path, vtaun: Sequence[float], rates: Sequence[float], traces: Mapping[float, Trace],
                 amplitude: float, frequency: float, paper: Mapping[str, tuple[float, float]]) -> Path:
    """Rate under input pulses against V_taun with the paper's rates as read (``paper``: name -> (V_taun, Hz)),
    and the membrane of each run (Fig. 6C)."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(vtaun, rates, "o-", label=f"sim ({amplitude * 1e6:g} µA x 10 µs, {frequency:g} Hz)")
    a.plot(*zip(*paper.values()), "x", ms=10, mew=2, color="k", label="paper (40 µA, 100 Hz; V_taun as read)")
    a.set(xlabel="V_taun (V)", ylabel="output rate (Hz)", title="rate vs V_taun (cf. Garg et al. Fig. 6C)")
    a.legend(fontsize=7)
    for k, (v, tr) in enumerate(traces.items()):
        b.plot(tr["t"], tr["y"], lw=0.8, color=f"C{k}", label=f"V_taun = {v:g} V")
    b.set(xlabel="t (s)", ylabel="V_mem (V)", title="membrane under the pulses")
    b.legend(fontsize=7)
    return save_figure(fig, path, DPI)


def rest_figure(path: Path, rest: Mapping[str, Any], vrest: float, tolerance: float) -> Path:
    """Rest level − V_rest over the V_taun x V_taup grid (``rest``: ``vtaun``, ``vtaup``, ``points`` with
    ``levels`` and the transient's ``band``), the farthest value per point; "none": no rest level."""
    plt = pyplot()
    vtaun, vtaup = rest["vtaun"], rest["vtaup"]
    error = np.full((len(vtaun), len(vtaup)), np.nan)
    for p in rest["points"]:
        if p["levels"]:
            worst = max(p["levels"] + p["band"], key=lambda v: abs(v - vrest))
            error[vtaun.index(p["vtaun"]), vtaup.index(p["vtaup"])] = (worst - vrest) * 1e3
    fig, ax = plt.subplots(figsize=(6, 4.5))
    limit = max(tolerance * 1e3, float(np.nanmax(np.abs(error))) if np.isfinite(error).any() else 0.0)
    image = ax.imshow(error, origin="lower", cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    for (i, j), e in np.ndenumerate(error):
        ax.text(j, i, "none" if np.isnan(e) else f"{e:+.0f}", ha="center", va="center", fontsize=7,
                color="k" if np.isnan(e) or abs(e) <= tolerance * 1e3 else "w")
    ax.set_xticks(range(len(vtaup)), [f"{v:g}" for v in vtaup])
    ax.set_yticks(range(len(vtaun)), [f"{v:g}" for v in vtaun])
    fig.colorbar(image, label=f"rest level − V_rest (mV); goal ±{tolerance * 1e3:g} mV")
    ax.set(xlabel="V_taup (V)", ylabel="V_taun (V)",
           title=f"rest level after the leak, V_rest = {vrest:g} V (cf. Garg et al. Figs. 6D-E)")
    return save_figure(fig, path, DPI)


def population_figure(path: Path, pop: Mapping[str, Any]) -> Path:
    """A regulator shared by primaries (Fig. 7C): shared threshold and primary membranes; each primary's ISIs."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 6))
    for k, (amp, mem) in enumerate(zip(pop["amplitudes"], pop["mem"])):
        a.plot(np.asarray(mem["t"]) * 1e3, mem["y"], lw=0.5, color=f"C{k + 1}", label=f"N{k + 1} V_mem "
               f"({amp * 1e6:.3g} µA)")
        spikes = np.asarray(pop["spikes"][k])
        if spikes.size > 1:
            b.plot(spikes[1:] * 1e3, np.diff(spikes) * 1e3, "o-", ms=3, color=f"C{k + 1}", label=f"N{k + 1}")
    a.plot(np.asarray(pop["thr"]["t"]) * 1e3, pop["thr"]["y"], lw=1.5, color="C0",
           label="regulator V_mem = shared threshold")
    a.set(xlabel="t (ms)", ylabel="voltage (V)",
          title=f"{len(pop['amplitudes'])} primaries sharing one regulator (cf. Garg et al. Fig. 7C)")
    a.legend(fontsize=6, ncol=2)
    b.set(xlabel="t (ms)", ylabel="ISI (ms)")
    if b.lines:
        b.legend(fontsize=7)
    else:
        b.text(0.5, 0.5, "no primary fired twice", ha="center", va="center", transform=b.transAxes)
    return save_figure(fig, path, DPI)


_POWER_ROWS = (("p_ldo_static", "LDO static"), ("p_ldo_dynamic", "LDO reading"), ("p_pass", "pass device M1 reading"),
               ("p_att_static", "attenuator static"), ("p_att_dynamic", "attenuator reading"),
               ("p_lif_static", "neuron static"), ("p_lif_dynamic", "neuron firing"),
               ("p_lif_static_low", "neuron static, low-bias comparator"))


def power_figure(path: Path, m: Mapping[str, float], paper: Mapping[str, float],
                 sweep: Sequence[Mapping[str, float]] = ()) -> Path:
    """Power of each block (W, log scale), energy per spike (J), simulated bars with the paper's values; with a
    ``sweep`` of :func:`~testbenches.lif.neuron.block_power` results, the LDO's and attenuator's power over
    the read current beside them."""
    plt = pyplot()
    panels = 3 if sweep else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 + 3 * panels, 4),
                             gridspec_kw={"width_ratios": (3, 1, 2)[:panels]})

    def bars(ax: Any, rows: Sequence[tuple[str, str]], scale: float) -> None:
        y = np.arange(len(rows))
        ax.barh(y, [abs(m[k]) * scale for k, _ in rows], color="C0", label="sim")
        marked = [(i, paper[k] * scale) for i, (k, _) in enumerate(rows) if k in paper]
        ax.plot([v for _, v in marked], [i for i, _ in marked], "x", ms=10, mew=2, color="k", label="paper")
        ax.set_yticks(y, [text for _, text in rows], fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=7)

    bars(axes[0], _POWER_ROWS, 1.0)
    axes[0].set(xlabel="power (W)", title="power of the chain (cf. Garg et al. §III.E)")
    bars(axes[1], (("energy_per_spike", "typical V_bcomp"), ("energy_per_spike_low", "low-bias")), 1.0)
    axes[1].set(xlabel="energy per spike (J)")
    if sweep:
        c = axes[2]
        current = np.array([p["isyn"] for p in sweep]) * 1e6
        for key, label, colour in (("p_ldo", "LDO supply", "C0"), ("p_att", "attenuator", "C1"),
                                   ("p_pass", "pass device M1", "C2")):
            c.plot(current, [p[key] * 1e6 for p in sweep], "o-", ms=3, color=colour, label=label)
        for key, colour in (("p_ldo_dynamic", "C0"), ("p_att_dynamic", "C1")):
            c.axhline(paper[key] * 1e6, ls="--", lw=1, color=colour)
        c.set(xscale="log", yscale="log", xlabel="read current I_syn (µA)", ylabel="power (µW)",
              title="while reading (dashed: paper)")
        c.legend(fontsize=7)
    return save_figure(fig, path, DPI)


# ----------------------------------------------------------------------------- markdown


def _number(value: Any, digits: str = ".4g") -> str:
    return "—" if value is None or not math.isfinite(float(value)) else format(float(value), digits)


def _scaled(value: Any, scale: float) -> float:
    """A stored measurement (``None``: NaN) times ``scale``."""
    return math.nan if value is None else float(value) * scale


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
    return [*lines, ""]


def _power(result: Mapping[str, Any]) -> list[str]:
    m, d = result["measurements"], result["data"]
    rows = [(k, text) for k, text in (*_POWER_ROWS, ("energy_per_spike", "energy per spike"),
                                      ("energy_per_spike_low", "energy per spike, low-bias comparator"))]
    lines = [f"## Power (paper §III.E; reading at {d['i_read'] * 1e6:g} µA, neuron firing at "
             f"{d['i_spike'] * 1e6:g} µA)", "", "| block | paper | simulated | role |", "|---|---|---|---|"]
    for key, text in rows:
        paper, role = result["paper"].get(key), result["roles"].get(key, "")
        unit = "J" if key.startswith("energy") else "W"
        shown = "—" if paper is None else f"{paper:.3g} {unit}"
        lines.append(f"| {text} | {shown} | {_number(m[key], '.3g')} {unit} | {role or '—'} |")
    read = [f"- read current at which the {text} reaches the paper's dynamic power: "
            + ("not reached between 0.1 and 500 µA" if m.get(key) is None or not math.isfinite(m[key])
               else f"{m[key] * 1e6:.3g} µA") for key, text in (("i_read_ldo_paper", "LDO"),
                                                                ("i_read_att_paper", "attenuator"))]
    return [*lines, "", *read, f"- low-bias comparator mode: V_bcomp = {_number(m['vbcomp_low'], '.4g')} V "
            "(typical 2.4 V)", ""]


def _rsyn(result: Mapping[str, Any]) -> list[str]:
    d, m = result["data"], result["measurements"]
    head = " | ".join(f"{v} mV (Hz)" for v in d["rates"])
    lines = [f"## Rate over R_syn x V_read (V_ref = {d['vref']:g} V, window {d['window']:g} s; Fig. 3A)", "",
             f"| R_syn (kΩ) | {head} |", "|---" * (1 + len(d["rates"])) + "|"]
    for k, r in enumerate(d["rsyn"]):
        lines.append(f"| {r / 1e3:.3g} | " + " | ".join(_number(rates[k]) for rates in d["rates"].values()) + " |")
    return [*lines, "", f"- extremes {_number(m['rate_min'])} Hz … {_number(m['rate_max'])} Hz "
            "(paper 8 Hz … 25 kHz; 0 Hz: no spike in the window)", ""]


def _paper_table(results: Mapping[str, Mapping[str, Any]], skipped: Sequence[str]) -> list[str]:
    """Every measurement with a paper value, from every study: paper, simulated, deviation, role."""
    lines = ["## Every paper number", "", "| study | measurement | paper | simulated | deviation | role |",
             "|---|---|---|---|---|---|"]
    for study, r in results.items():
        for name, paper in r["paper"].items():
            sim = r["measurements"].get(name)
            value = math.nan if sim is None else float(sim)
            deviation = ("not simulated" if name in skipped else
                         f"{value / paper - 1:+.0%}" if math.isfinite(value) and paper else "no value")
            unit = r["units"].get(name, "")
            lines.append(f"| {study} | {name} | {paper:.4g} {unit} | {_number(value)} {unit} | {deviation} | "
                         f"{r['roles'].get(name, '')} |")
    return [*lines, ""]


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
    lines += ["", "| V_taun (V), 10 µs pulses (Fig. 6C) | rate (Hz) |", "|---|---|"]
    lines += [f"| {v:.3g} | {_number(r)} |" for v, r in zip(d["vtaun"], d["vtaun_rate"])]
    return [*lines, ""]


def _leak(result: Mapping[str, Any]) -> list[str]:
    d = result["data"]
    lines = [f"## Leak ({d['t_stop']:g} s runs; time to cover 90 % of the way to V_rest; paper Fig. 6D-E)", "",
             f"| run | time (s) | V_mem after {d['t_stop']:g} s (V) |", "|---|---|---|"]
    for direction, bias in (("down", "V_taun"), ("up", "V_taup")):
        lines += [f"| {direction}, {bias} = {r['bias']:g} V | {_number(r['time_90'], '.3g')} | "
                  f"{_number(r['v_end'], '.3f')} |" for r in d[direction]]
    m = result["measurements"]
    return [*lines, "", f"- rest level after the leak over V_taun {d['rest']['vtaun'][0]:g} … "
            f"{d['rest']['vtaun'][-1]:g} V x V_taup {d['rest']['vtaup'][0]:g} … {d['rest']['vtaup'][-1]:g} V: "
            f"{_number(m['rest_min'], '.3f')} … {_number(m['rest_max'], '.3f')} V, largest error "
            f"{_number(_scaled(m['rest_error_max'], 1e3), '+.1f')} mV (goal ±20 mV), "
            f"{int(m['rest_missing'])} points without a rest level", ""]


def _adaptive(result: Mapping[str, Any]) -> list[str]:
    m, isi = result["measurements"], result["data"]["isi"]
    return ["## Adaptive neuron (paper §III.D: threshold 0.6 → 2 V, ISI 2 → 5 ms)", "",
            f"- primary ISIs (ms): {', '.join(f'{x * 1e3:.2f}' for x in isi)}",
            f"- regulator V_mem (= primary threshold) from {_number(m['thr_start'], '.2f')} V to "
            f"{_number(m['thr_end'], '.2f')} V",
            f"- population sharing the regulator (Fig. 7C): threshold up to {_number(m['pop_thr_end'], '.2f')} V, "
            f"{_number(m['pop_spikes'], '.0f')} spikes, mean first / last ISI "
            f"{_number(_scaled(m['pop_isi_first_mean'], 1e3), '.2f')} / "
            f"{_number(_scaled(m['pop_isi_last_mean'], 1e3), '.2f')} ms, "
            f"{_number(m['pop_silent'], '.0f')} silent", ""]


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
    lines += _paper_table(results, skipped)
    lines += [*_rsyn(results["lif-rsyn"]), *_fi(results["lif-fi"]), *_pulse_width(results["lif-vpw"]),
              *_pulsed(results["lif-pulsed"]), *_leak(results["lif-leak"]), *_adaptive(results["lif-adaptive"]),
              *_power(results["lif-power"])]
    lines += ["## Figures", ""]
    lines += [f"- `{name}/{f}`" for name, r in results.items() for f in r["files"] if f.endswith(".png")]
    return "\n".join(lines) + "\n"
