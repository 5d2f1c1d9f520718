"""The headline job: emit, compile and check the whole device library, then write a report."""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tqdm import tqdm  # noqa: E402

from spicegen import __version__, registry  # noqa: E402
from veriloga.emit import write_library  # noqa: E402
from spicegen.numpy_code import format_numpy_module  # noqa: E402

from testbenches.core.equivalence import CheckReport, check_device  # noqa: E402


def plot_transient(report: CheckReport, path: Path) -> None:
    """Stimulus, terminal currents and states of the three renderings over time."""
    waves = report.waves
    factor, unit = next((f, u) for f, u in ((1.0, "s"), (1e3, "ms"), (1e6, "µs"), (1e9, "ns"))
                        if waves["time"][-1] * f >= 1.0)
    t = waves["time"] * factor
    quantities = sorted({k.rsplit(" ", 1)[0] for k in waves if k.endswith(" twin")})
    fig, axes = plt.subplots(len(quantities) + 1, 1, figsize=(7, 2.0 * (len(quantities) + 1)), sharex=True)
    for key in (k for k in waves if k.startswith("V(")):
        axes[0].plot(t, waves[key], label=key)
    axes[0].set_ylabel("stimulus (V)")
    axes[0].legend(loc="upper right", fontsize=7)
    for ax, q in zip(axes[1:], quantities):
        ax.plot(t, waves[f"{q} numpy"], lw=3, alpha=0.35, label="numpy ODE")
        ax.plot(t, waves[f"{q} twin"], lw=1.2, label="ngspice B-source twin")
        ax.plot(t, waves[f"{q} osdi"], "--", lw=1.0, label="ngspice OSDI (Verilog-A)")
        ax.set_ylabel(q)
    axes[1].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel(f"time ({unit})")
    fig.suptitle(f"{report.device}: transient equivalence")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_library_report(out: Path, *, echo: bool = True) -> list[CheckReport]:
    """Write ``out/library`` (.va, .cir, .py), ``out/<device>_transient.png`` and ``out/report.md``.

    Returns the check report of every device (``passed`` tells whether it agreed in every rendering);
    ``echo`` prints report.md.
    """
    out.mkdir(parents=True, exist_ok=True)
    library = out / "library"
    write_library(library)
    for name, model in registry().items():
        (library / f"{name}.py").write_text(format_numpy_module(model))
    reports, seconds = [], {}
    for name, model in tqdm(registry().items(), desc="checking devices", unit="device"):
        start = time.perf_counter()
        report = check_device(model)
        seconds[name] = time.perf_counter() - start
        if report.waves:
            plot_transient(report, out / f"{name}_transient.png")
        reports.append(report)
    (out / "report.md").write_text(_format_report(reports, seconds))
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
    lines += ["", "| device | check time (s) | figure |", "|---|---|---|"]
    lines += [f"| {r.device} | {seconds[r.device]:.2f} | ![{r.device}]({r.device}_transient.png) |" for r in reports]
    problems = [f"- {r.device}: {p}" for r in reports for p in r.problems]
    if problems:
        lines += ["", "## Problems", *problems]
    passed = sum(r.passed for r in reports)
    lines += ["", f"**{passed} of {len(reports)} devices pass.**", ""]
    return "\n".join(lines)
