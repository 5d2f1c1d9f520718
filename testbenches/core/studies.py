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
