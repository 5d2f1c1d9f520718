"""``p2m-train``: accuracy of a spiking CNN whose first layer is the P²M MAC, vs f1/f2 noise (Table 1 style).

Registering the study imports no torch (the optional extra); running it does (:mod:`fitting.mdwmtj.train`).
"""
from __future__ import annotations

from typing import Any

from spicegen.files import write_json
from testbenches.mdwmtj.mac import CONFIG_LABELS
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study

LEVELS: dict[str, float | str] = {"0": 0.0, "10": 0.1, "20": 0.2, "40": 0.4, "fitted": "fitted"}
"""Measurement suffix → f1/f2 noise: the relative levels of the paper's Table 1, then f1's fitted σ(x)."""


@register_study
class P2mTrain(Study):
    """Accuracy of a spiking CNN with the P²M first layer (shipped f1/f2) vs f1/f2 noise, synthetic event clips."""

    name = "p2m-train"
    family = "mdwmtj"
    options = (Setting("config", "cmos", "weight configuration of the shipped f1", choices=("cmos", "mdwmtj", "cmosx")),
               Setting("epochs", 20, "training epochs per noise level", bounds=(1, 1000)),
               Setting("train", 800, "training clips", bounds=(1, 100_000)),
               Setting("test", 400, "test clips", bounds=(1, 100_000)))
    measures = {
        **{f"accuracy_noisy_{k}": Measure("%", f"test accuracy with the noise on, trained at noise {k}"
                                               f"{'' if k == 'fitted' else ' %'}") for k in LEVELS},
        **{f"accuracy_clean_{k}": Measure("%", f"test accuracy with the noise off, trained at noise {k}"
                                               f"{'' if k == 'fitted' else ' %'}") for k in LEVELS},
    }
    seed_default = 0

    def run(self, ctx: StudyContext) -> StudyResult:
        from .train import BINS, SHAPES, WINDOW, make_events, plot, shipped_surrogates, tensors, train_level

        options = ctx.options
        f1, f2, track, note = shipped_surrogates(options["config"])
        data = tensors(make_events(options["train"], ctx.rng("train-clips")),
                       make_events(options["test"], ctx.rng("test-clips")))
        rows = [train_level(f1, f2, level, track, data, options["epochs"], ctx.stream_seed("torch"))
                for level in ctx.bar(LEVELS.values(), total=len(LEVELS), desc="noise levels")]
        summary: dict[str, Any] = {
            "note": note, "config": options["config"],
            "f2_noise": "signal (relative level on V_pre - f2(0); fitting.mdwmtj.layer.F2Noise)",
            "classes": list(SHAPES), "bins": BINS, "window": WINDOW, "capacity_events": track, "results": rows,
            "f1_layer": f1.to_dict(), "f2": f2.to_dict()}
        write_json(ctx.out / "accuracy_vs_noise.json", summary)
        plot(rows, ctx.out / "accuracy_vs_noise.png", f"P²M first layer, synthetic events, 4 classes (cf. Kaiser et al. "
             f"Table 1)\nshipped f1 ({CONFIG_LABELS[options['config']]} weights) and f2 from the ngspice Monte Carlo")
        measurements = {}
        for key, row in zip(LEVELS, rows):
            measurements[f"accuracy_noisy_{key}"] = 100 * row["test_accuracy_noisy"]
            measurements[f"accuracy_clean_{key}"] = 100 * row["test_accuracy_clean"]
        return StudyResult(measurements, {k: v for k, v in summary.items() if k not in ("f1_layer", "f2")},
                           files=["accuracy_vs_noise.json", "accuracy_vs_noise.png"])
