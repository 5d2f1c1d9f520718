"""The Monte Carlo demo as a study: every variation kind on a 1T1R cell and a diode pair, with its report."""
from __future__ import annotations

from spicegen.montecarlo.report import summary_table, write_report
from spicegen.montecarlo.results import load_dataset
from spicegen.pdk import CORNERS
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study

from .mc_demo import MC_DEMO


@register_study
class McDemo(Study):
    """Monte Carlo of the mc-demo testbench (global, local, d2d, c2c, jitter) with histograms and yield."""

    name = "mc-demo"
    code = (__name__, "testbenches.core.mc_demo")
    family = "core"
    options = (Setting("corner", "tt", "sky130 process corner", choices=CORNERS),
               Setting("pulses", 4, "programming pulses per sample", bounds=(1, 50)))
    measures = {
        "w_final_mean": Measure("", "mean memristor state after programming"),
        "w_final_std": Measure("", "its standard deviation"),
        "w_final_yield": Measure("", "fraction of samples with w_final >= 0.4", spec=(0.9, None)),
        "failed": Measure("", "samples that failed to simulate"),
    }
    devices = ("sinh_memristor", "diode_rs")
    n_default = 500
    n_min = 2
    seed_default = 2026

    def run(self, ctx: StudyContext) -> StudyResult:
        ctx.monte_carlo("mc-demo", ctx.n, settings=dict(ctx.options))
        folder = ctx.out / "mc-demo"
        report = write_report(folder, MC_DEMO.specs, ctx.out / "report")
        table = summary_table(load_dataset(folder), MC_DEMO.specs).set_index("measurement")
        w = table.loc["w_final"]
        files = sorted(str(p.relative_to(ctx.out)) for p in report.iterdir())
        return StudyResult({"w_final_mean": float(w["mean"]), "w_final_std": float(w["std"]),
                            "w_final_yield": float(w["yield"]), "failed": float(w["n_failed"])}, files=files)


#: (analysis, pair) of the equivalence check → measurement name and what it compares.
LIBRARY_PAIRS = {
    ("dc", "numpy~twin"): ("dc_numpy_twin", "DC: numpy vs ngspice B-source twin, worst relative error"),
    ("dc", "numpy~osdi"): ("dc_numpy_osdi", "DC: numpy vs ngspice OSDI (Verilog-A), worst relative error"),
    ("dc", "numpy~vacask"): ("dc_numpy_vacask", "DC: numpy vs VACASK OSDI, worst relative error"),
    ("dc", "exact~fudged"): ("dc_twin_division", "DC: twin expressions with and without ngspice's denominator "
                                                  "fudge (1e-32), worst relative change"),
    ("tran", "twin~osdi"): ("tran_twin_osdi", "transient: twin vs OSDI on shared time steps, worst error / full scale"),
    ("tran", "numpy-ode~twin"): ("tran_ode_twin", "transient: numpy ODE vs twin, worst error / full scale"),
    ("tran", "numpy-ode~vacask"): ("tran_ode_vacask", "transient: numpy ODE vs VACASK, worst error / full scale"),
}


@register_study
class LibraryCheck(Study):
    """Emit, compile and check every registered device: numpy == ngspice twin == ngspice OSDI == VACASK."""

    name = "library-check"
    code = (__name__, "testbenches.core.library_report")
    family = "core"
    measures = {
        "devices": Measure("", "devices checked"),
        "passed": Measure("", "devices that agree in every rendering within tolerance"),
        **{name: Measure("", desc) for name, desc in LIBRARY_PAIRS.values()},
    }

    def depends_on(self) -> dict[str, object]:
        """Every registered device with the digest of its defining module and values: an edited device is checked
        again, not answered from the run before the edit."""
        from spicegen.device import registry, source_digest

        return {"devices": {name: source_digest(name) for name in sorted(registry())}}

    def run(self, ctx: StudyContext) -> StudyResult:
        from .library_report import run_library_report

        reports = run_library_report(ctx.out, echo=False, progress=ctx.progress)
        worst = {name: 0.0 for name, _ in LIBRARY_PAIRS.values()}
        rows = []
        for report in reports:
            for (analysis, pair), row in sorted(report.worst().items()):
                name = LIBRARY_PAIRS[(analysis, pair)][0]
                worst[name] = max(worst[name], row.error)
                rows.append({"device": report.device, "analysis": analysis, "pair": pair, "quantity": row.quantity,
                             "error": row.error, "tolerance": row.tolerance, "passed": row.passed})
        files = sorted(str(p.relative_to(ctx.out)) for p in ctx.out.rglob("*")
                       if p.is_file() and p.name not in ("study.json", "result.json"))
        return StudyResult({"devices": float(len(reports)), "passed": float(sum(r.passed for r in reports)), **worst},
                           data={"rows": rows, "problems": {r.device: r.problems for r in reports if r.problems}},
                           files=files)
