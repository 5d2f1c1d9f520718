"""``p2m-accuracy``: the P²M paper's hardware-aware accuracy table (Kaiser et al. 2024, Table 1) on saccade clips.

Registering the study imports no torch (the optional extra); running it does (:mod:`fitting.mdwmtj.train`).
"""
from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np

from spicegen.files import write_json
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study
from testbenches.mdwmtj.mac import CONFIG_LABELS

LEVELS: dict[str, float | str] = {"baseline": "baseline", "0": 0.0, "10": 0.1, "20": 0.2, "40": 0.4,
                                  "fitted": "fitted"}
"""Measurement suffix → table row: the first layer without custom functions, the P²M layer at the relative
f1/f2 noise levels of the paper's Table 1, and (option ``fitted``, on by default) with f1's Monte-Carlo σ(x)."""
TABLE1: dict[str, list[float]] = {"NMNIST": [98.10, 98.04, 97.82, 97.71, 95.42],
                                  "CIFAR10-DVS": [80.72, 80.25, 79.17, 77.80, 65.58],
                                  "DVS128-Gesture": [97.22, 96.53, 95.99, 95.15, 87.25]}
"""Table 1 of Kaiser et al. (2024), test accuracy (%): baseline, then noise 0 / 10 / 20 / 40 %."""
DIGITS = 1797
"""Clips in the data set (scikit-learn's digits)."""


def _row(key: str) -> str:
    return "the baseline (no custom functions)" if key == "baseline" else (
        "f1's Monte-Carlo σ(x)" if key == "fitted" else f"f1/f2 noise {key} %")


@register_study
class P2mAccuracy(Study):
    """Accuracy of a spiking CNN with the P²M first layer (shipped f1/f2) vs f1/f2 noise, and without custom
    functions, on scikit-learn's digits recorded as N-MNIST-like saccade event clips; mean ± σ over seeds."""

    name = "p2m-accuracy"
    code = (__name__, "fitting.mdwmtj.saccades", "fitting.mdwmtj.train")
    family = "mdwmtj"
    options = (Setting("config", "cmos", "weight configuration of the shipped f1", choices=("cmos", "mdwmtj", "cmosx")),
               Setting("seeds", 3, "training seeds per row (each: its own train/test split, initial weights, "
                                   "batch order and noise)", bounds=(1, 100)),
               Setting("epochs", 10, "training epochs", bounds=(1, 1000)),
               Setting("train", 1347, "training clips per seed", bounds=(10, DIGITS)),
               Setting("test", 450, "held-out test clips per seed", bounds=(10, DIGITS)),
               Setting("channels", 8, "output channels of the first layer", bounds=(1, 256)),
               Setting("fitted", True, "also train with f1's Monte-Carlo σ(x) instead of a relative level"))
    measures = {
        **{f"accuracy_{k}": Measure("%", f"test accuracy, mean over seeds, noise on, {_row(k)}") for k in LEVELS},
        **{f"accuracy_std_{k}": Measure("%", f"test accuracy, σ over seeds, noise on, {_row(k)}") for k in LEVELS},
        **{f"accuracy_clean_{k}": Measure("%", f"test accuracy, mean over seeds, noise off, trained at {_row(k)}")
           for k in LEVELS if k != "baseline"},
        **{f"drop_{k}": Measure("points", f"baseline minus accuracy (noise on, paired by seed), {_row(k)}",
                                paper=round(TABLE1['NMNIST'][0] - TABLE1['NMNIST'][-1], 2) if k == "40" else None,
                                role="held out" if k == "40" else "")
           for k in LEVELS if k != "baseline"},
    }
    seed_default = 0

    def depends_on(self) -> Mapping[str, Any]:
        """The shipped f1/f2 files the layer reads: a new extraction changes the key."""
        from fitting.mdwmtj.f1f2 import P2mF1Extraction, P2mF2Extraction

        f1, f2 = P2mF1Extraction().shipped(), P2mF2Extraction().shipped()
        files = [f1 / f"f1_{c}.json" for c in CONFIG_LABELS] + [f1 / "summary.json", f2 / "f2_lower.json"]
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in files if p.is_file()}

    def run(self, ctx: StudyContext) -> StudyResult:
        from .saccades import Camera, load_digits, plot_clip, record
        from .train import plot, shipped_surrogates, summarize, tensors, train_row

        options = ctx.options
        if options["train"] + options["test"] > DIGITS:
            raise ValueError(f"train + test = {options['train']} + {options['test']} clips exceeds the {DIGITS} "
                             "digits; lower train or test.")
        f1, f2, track, note = shipped_surrogates(options["config"])
        camera = Camera()
        splits = [self._split(ctx, k) for k in range(options["seeds"])]
        needed = np.unique(np.concatenate([np.r_[train, test] for train, test in splits]))
        images, labels = load_digits()
        clips = record(images[needed], camera, ctx.rng("camera"))  # only the digits some seed uses
        where = np.zeros(DIGITS, dtype=int)
        where[needed] = np.arange(len(needed))
        levels = [v for k, v in LEVELS.items() if k != "fitted" or options["fitted"]]
        rows = []
        for k, (train, test) in enumerate(ctx.bar(splits, desc="seeds")):
            data = tensors(clips[where[train]], labels[train], clips[where[test]], labels[test])
            rows += [train_row(level, (f1, f2, track), data, epochs=options["epochs"], channels=options["channels"],
                               window=camera.bins, seed=ctx.stream_seed(f"torch-{k}")) for level in levels]
        table = summarize(rows, levels)
        summary: dict[str, Any] = {
            "note": note, "config": options["config"], "camera": camera.__dict__,
            "events_per_clip": float(clips.reshape(len(clips), -1).sum(axis=1).mean()), "digits_recorded": len(needed),
            "f2_noise": "signal (relative level on V_pre - f2(0); fitting.mdwmtj.layer.F2Noise)",
            "capacity_events": track, "table": table, "runs": rows, "paper_table1": TABLE1}
        write_json(ctx.out / "accuracy_table.json", summary)
        plot(table, TABLE1, ctx.out / "accuracy_table.png",
             f"P²M first layer vs the baseline, digit saccade clips, mean ± σ over {options['seeds']} seeds "
             f"(cf. Kaiser et al. 2024, Table 1)\nshipped f1 ({CONFIG_LABELS[options['config']]} weights) and f2 "
             "from the ngspice Monte Carlo")
        plot_clip(images[needed[0]], clips[0], labels[needed[0]], camera, ctx.out / "saccade_clip.png")
        return StudyResult(self._measurements(table), summary,
                           files=["accuracy_table.json", "accuracy_table.png", "saccade_clip.png"])

    @staticmethod
    def _split(ctx: StudyContext, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Digit indices ``(train, test)`` of seed ``k``."""
        order = ctx.rng("split", k).permutation(DIGITS)
        test = ctx.options["test"]
        return order[test:test + ctx.options["train"]], order[:test]

    @staticmethod
    def _measurements(table: list[dict[str, Any]]) -> dict[str, float]:
        found = {r["row"]: r for r in table}
        out = {}
        for key, level in LEVELS.items():
            r = found.get(level, {})
            out[f"accuracy_{key}"] = r.get("noisy_mean", np.nan)
            out[f"accuracy_std_{key}"] = r.get("noisy_std", np.nan)
            if key != "baseline":
                out[f"accuracy_clean_{key}"] = r.get("clean_mean", np.nan)
                out[f"drop_{key}"] = r.get("drop_mean", np.nan)
        return out
