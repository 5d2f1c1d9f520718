"""The headline job: emit, compile and check the whole device library, then write a report."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from spicegen import __version__, registry
from spicegen.figures import axis_label, pyplot, save_figure
from spicegen.files import write_text
from spicegen.numpy_code import format_numpy_module
from veriloga.emit import write_library

from testbenches.core.equivalence import CheckReport, check_device

RENDERINGS = {"numpy": "numpy (ODE / algebra)", "twin": "ngspice B-source twin", "osdi": "ngspice OSDI (Verilog-A)",
              "vacask": "VACASK OSDI"}
"""Legend text of each rendering."""
ROUND_OFF = 1e-17
"""Differences below this fraction of a quantity's full scale are round-off and not drawn."""


def transient_figure(report: CheckReport) -> Any:
    """Stimulus, then per compared quantity its three renderings over time and, under it, the differences
    |twin − numpy| and |OSDI − twin| on a log axis (so agreement to 1e-12 shows), down to
    :data:`ROUND_OFF` of the quantity's full scale."""
    plt = pyplot()
    waves = report.waves
    xlabel, tfactor = axis_label("time", "s", waves["time"])
    t = waves["time"] * tfactor
    quantities = sorted({k.rsplit(" ", 1)[0] for k in waves if k.endswith(" twin")})
    ratios = [1.5] + [2.0, 1.0] * len(quantities)
    # constrained layout: tight_layout puts a tall figure's title over the first axes
    fig, axes = plt.subplots(len(ratios), 1, figsize=(7, 1.3 * sum(ratios) + 0.6), sharex=True,
                             height_ratios=ratios, layout="constrained")
    stimulus = [k for k in waves if k.startswith("V(")]
    vlabel, vfactor = axis_label("stimulus", "V", np.concatenate([waves[k] for k in stimulus]))
    for key in stimulus:
        axes[0].plot(t, waves[key] * vfactor, label=key)
    axes[0].set_ylabel(vlabel)
    axes[0].legend(loc="upper right", fontsize=7)
    for k, q in enumerate(quantities):
        value_ax, error_ax = axes[1 + 2 * k], axes[2 + 2 * k]
        unit = report.units.get(q)
        label, factor = axis_label(q, unit, waves[f"{q} twin"])
        value_ax.plot(t, waves[f"{q} numpy"] * factor, lw=3, alpha=0.35, label=RENDERINGS["numpy"])
        value_ax.plot(t, waves[f"{q} twin"] * factor, lw=1.2, label=RENDERINGS["twin"])
        value_ax.plot(t, waves[f"{q} osdi"] * factor, "--", lw=1.0, label=RENDERINGS["osdi"])
        value_ax.set_ylabel(label)
        differences = {"|twin − numpy|": np.abs(waves[f"{q} twin"] - waves[f"{q} numpy"]),
                       "|OSDI − twin|": np.abs(waves[f"{q} osdi"] - waves[f"{q} twin"])}
        floor = ROUND_OFF * float(np.nanmax(np.abs(waves[f"{q} twin"]), initial=0.0))
        for (text, difference), color in zip(differences.items(), ("C1", "C2")):
            error_ax.plot(t, np.where(difference > floor, difference, np.nan), color=color, lw=1.0, label=text)
        error_ax.set_yscale("log", nonpositive="mask")
        if floor > 0:
            top = max(floor * 10.0, *(float(np.nanmax(d, initial=0.0)) for d in differences.values()))
            error_ax.set_ylim(floor, top * 2.0)
        error_ax.set_ylabel(axis_label(f"|Δ{q}|", unit)[0], fontsize=8)
        error_ax.legend(loc="best", fontsize=6, ncols=2)
    axes[1].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel(xlabel)
    fig.suptitle(f"{report.device}: transient, three renderings of one model and their differences")
    return fig


def dc_figure(report: CheckReport) -> Any:
    """Per compared quantity, at each random DC point: |rendering − numpy| against the numpy value, log axis."""
    plt = pyplot()
    quantities = sorted({k.rsplit(" ", 1)[0] for k in report.dc if k.endswith(" twin")})
    columns = min(3, len(quantities))
    rows = -(-len(quantities) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.2 * rows), squeeze=False)
    for ax, q in zip(grid.flat, quantities):
        unit = report.units.get(q)
        reference = report.dc[f"{q} numpy"]
        xlabel, factor = axis_label(f"{q}, numpy", unit, reference)
        differences = {rendering: np.abs(report.dc[f"{q} {rendering}"] - reference)
                       for rendering in ("twin", "osdi", "vacask") if f"{q} {rendering}" in report.dc}
        for marker, (rendering, difference) in zip("os^", differences.items()):
            ax.plot(reference * factor, difference, marker, ms=4, mfc="none", label=RENDERINGS[rendering])
        if any(np.any(d > 0) for d in differences.values()):
            ax.set_yscale("log", nonpositive="mask")
        else:  # a log axis has nothing to show
            ax.text(0.5, 0.5, "every rendering equal to numpy\nto the last bit at every point", ha="center",
                    va="center", transform=ax.transAxes, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(axis_label(f"|Δ{q}| from numpy", unit)[0])
        ax.set_title(q, fontsize=9)
        ax.legend(fontsize=6)
    for ax in list(grid.flat)[len(quantities):]:
        ax.set_axis_off()
    fig.suptitle(f"{report.device}: DC at {len(next(iter(report.dc.values())))} random bias points "
                 "(a rendering equal to numpy is not drawn on the log axis)", fontsize=10)
    return fig


def plot_transient(report: CheckReport, path: Path) -> Path:
    """Write :func:`transient_figure` to ``path``."""
    return save_figure(transient_figure(report), path, dpi=110, check_labels=True)


def plot_dc(report: CheckReport, path: Path) -> Path:
    """Write :func:`dc_figure` to ``path``."""
    return save_figure(dc_figure(report), path, dpi=110, check_labels=True)


def run_library_report(out: Path, *, echo: bool = True, progress: bool = True) -> list[CheckReport]:
    """Write ``out/library`` (.va, .cir, .py), ``out/<device>_transient.png``, ``out/<device>_dc.png`` and
    ``out/report.md``.

    Returns the check report of every device (``passed`` tells whether it agreed in every rendering);
    ``echo`` prints report.md; ``progress`` shows a bar over the devices.
    """
    out.mkdir(parents=True, exist_ok=True)
    library = out / "library"
    write_library(library)
    for name, model in registry().items():
        write_text(library / f"{name}.py", format_numpy_module(model))
    reports, seconds = [], {}
    for name, model in tqdm(registry().items(), desc="checking devices", unit="device", disable=not progress):
        start = time.perf_counter()
        report = check_device(model)
        seconds[name] = time.perf_counter() - start
        if report.waves:
            plot_transient(report, out / f"{name}_transient.png")
        if report.dc:
            plot_dc(report, out / f"{name}_dc.png")
        reports.append(report)
    write_text(out / "report.md", _format_report(reports, seconds))
    if echo:
        print((out / "report.md").read_text())
    return reports


def _format_report(reports: list[CheckReport], seconds: dict[str, float]) -> str:
    lines = [
        f"# spicegen {__version__}: library equivalence report",
        "",
        "Every device is rendered three ways from its one sympy source: Verilog-A (compiled by openvaf-r,",
        "run in ngspice through OSDI), an ngspice B-source twin, and a numpy module. DC: seeded random bias",
        "points, relative error per point. Transient: twin and OSDI share time steps; the numpy reference is",
        "an ODE integration (LSODA, rtol 1e-10); errors are normalised by full scale.",
        "",
        "| device | analysis | pair | worst quantity | max error | tolerance | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        for (analysis, pair), row in sorted(report.worst().items()):
            verdict = "pass" if row.passed else "**FAIL**"
            lines.append(f"| {report.device} | {analysis} | {pair} | {row.quantity} | {row.error:.2e} | "
                         f"{row.tolerance:.0e} | {verdict} |")
    lines += ["", "| device | check time (s) | transient | DC |", "|---|---|---|---|"]
    lines += [f"| {r.device} | {seconds[r.device]:.2f} | ![{r.device} transient]({r.device}_transient.png) | "
              f"![{r.device} DC]({r.device}_dc.png) |" for r in reports]
    problems = [f"- {r.device}: {p}" for r in reports for p in r.problems]
    if problems:
        lines += ["", "## Problems", *problems]
    passed = sum(r.passed for r in reports)
    lines += ["", f"**{passed} of {len(reports)} devices pass.**", ""]
    return "\n".join(lines)
