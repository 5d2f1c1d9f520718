"""``snn-nonideal``: accuracy of a small LIF SNN on ReRAM crossbars vs timesteps, with and without IR drop and read noise.

Registering the study imports no torch (the optional extra); running it does (:mod:`fitting.reram.snn`).
"""
from __future__ import annotations

import math
from typing import Any

from spicegen.files import write_json
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study
from testbenches.reram.presets import PRESETS

STEPS = (1, 2, 4, 8, 16)
"""Default timesteps (one network trained per value)."""


def _steps(text: str) -> list[int]:
    try:
        steps = sorted({int(s) for s in str(text).split(",") if s.strip()})
    except ValueError:
        raise ValueError(f"timesteps = {text!r}: give comma-separated integers, e.g. '1,2,4,8,16'.") from None
    if not steps or steps[0] < 1 or steps[-1] > 256:
        raise ValueError(f"timesteps = {text!r}: each must lie in 1..256.")
    return steps


@register_study
class SnnNonideal(Study):
    """Accuracy vs timesteps of a LIF SNN (digits) on 64x64 RRAM crossbars with r_par = 5 Ω and read noise σ = 0.1."""

    name = "snn-nonideal"
    code = (__name__, "fitting.reram.snn")
    family = "reram"
    options = (Setting("timesteps", ",".join(map(str, STEPS)), "timesteps T, comma-separated (one network per T)"),
               Setting("epochs", 30, "training epochs per T", bounds=(1, 1000)),
               Setting("hidden", 64, "hidden LIF neurons per layer (one 64x64 crossbar)", bounds=(2, 64)),
               Setting("depth", 4, "hidden LIF layers, each on its own crossbars", bounds=(1, 8)),
               Setting("mapping", "differential", "signed weights: a G+/G- pair, or one device and SpikeSim's "
                                                  "digital offset subtraction", choices=("differential", "offset")),
               Setting("weight_bits", 8, "weight precision, sliced over 4-bit devices (pairs) of significance "
                                         "16**k", bounds=(4, 16)),
               Setting("crossbar_size", 64, "rows and columns of one crossbar, each with its own wires (a layer's "
                                            "columns fill as many as needed)", bounds=(64, 1024)),
               Setting("device", "spikesim-rram", "cells: a device preset's G_on, on/off ratio and read voltage, "
                                                  "in 4-bit slices", choices=tuple(PRESETS)),
               Setting("leak", 0.9, "membrane leak per timestep (1 = integrate-and-fire)", bounds=(0.0, 1.0)),
               Setting("r_par", 5.0, "wire segment resistance", unit="Ohm", bounds=(0.0, 100.0)),
               Setting("read_noise", 0.1, "relative read noise per cell and read", bounds=(0.0, 1.0)),
               Setting("adc_bits", 0, "ADC bits of every crossbar column's partial sum, full scale = rows x G_on x "
                                      "V_read (0 = ideal read-out)", bounds=(0, 16)),
               Setting("encoding", "rate", "input encoding: Poisson spikes of rate pixel/16, or the intensities at "
                                           "every timestep through the row DAC (direct)", choices=("rate", "direct")),
               Setting("input_bits", 6, "row DAC bits of the first crossbar under direct encoding", bounds=(1, 16)),
               Setting("batch_norm", True, "batch norm on every hidden layer's crossbar output (off: unnormalised, "
                                           "as the networks of SpikeSim's training code)"),
               Setting("through_time", False, "a batch norm per timestep, scale only (batch norm through time, as "
                                              "SpikeSim's VGG networks; needs batch_norm)"),
               Setting("train_timesteps", 0, "0: one network trained per T; N: one network trained at N timesteps, "
                                             "run at every T", bounds=(0, 1000)),
               Setting("repeats", 2, "test passes (input spikes and read noise redrawn)", bounds=(1, 100)))
    measures = {
        **{f"accuracy_{k}_T{t}": Measure("%", f"test accuracy at T = {t}, {label}")
           for t in STEPS for k, label in (("ideal", "ideal crossbar"), ("nonideal", "all non-idealities"),
                                           ("adapted", "all non-idealities, batch norm adapted (nan without "
                                                       "batch norm)"),
                                           ("adc", "ADC alone (nan without an ADC)"))},
        **{f"spike_rate_error_T{t}": Measure("", f"mean |spike rate difference| of the deepest hidden layer's "
                                                 f"neurons, IR drop + read noise vs floating point, at T = {t}")
           for t in STEPS},
        **{f"adc_error_{k}": Measure("", f"first layer's ADC output error at the largest T, {desc}, relative to "
                                          f"the RMS output (nan without an ADC)")
           for k, desc in (("per_read", "RMS of one read"), ("over_reads", "RMS of the mean over the T reads"),
                           ("bias", "RMS over outputs of the mean over every read"))},
        "loss_growth": Measure("%", "ideal minus non-ideal accuracy at the largest T minus that at the smallest T"),
        "fast_model_mean_error": Measure("", "largest relative error of the noise-free layer outputs vs the nodal "
                                             "solver (float32 round-off)", spec=(None, 1e-5)),
        "fast_model_noise_ratio": Measure("", "spread of nodal-solver read-noise outputs over the layer model's",
                                          spec=(0.9, 1.1)),
    }
    seed_default = 0

    def resolve(self, settings: Any = None) -> dict[str, Any]:
        options = super().resolve(settings)
        _steps(options["timesteps"])
        if options["through_time"] and not options["batch_norm"]:
            raise ValueError("through_time=yes (a batch norm per timestep) needs batch_norm=yes")
        if options["through_time"] and options["train_timesteps"]:
            raise ValueError(f"through_time=yes gives a network a batch norm for each of the timesteps it is trained "
                             f"at, so it runs only at those; train_timesteps = {options['train_timesteps']} runs it "
                             "at other T: set train_timesteps=0 or through_time=no")
        return options

    def run(self, ctx: StudyContext) -> StudyResult:
        from .snn import SpikeSimCrossbar, digits, plot, run_timesteps

        o = ctx.options
        steps = _steps(o["timesteps"])
        xbar = SpikeSimCrossbar.with_device(o["device"], r_par=o["r_par"], read_noise=o["read_noise"],
                                            mapping=o["mapping"], weight_bits=o["weight_bits"],
                                            size=o["crossbar_size"], adc_bits=o["adc_bits"] or None,
                                            input_bits=o["input_bits"])
        data = digits(ctx.rng("split"))
        seed = ctx.stream_seed("torch") % 2 ** 31
        rows = [ctx.step(f"T{t}", lambda t=t: run_timesteps(data, t, xbar, o["epochs"], o["hidden"], o["leak"],
                                                              seed, o["repeats"], o["depth"], o["encoding"],
                                                              o["batch_norm"], o["through_time"],
                                                              o["train_timesteps"] or None))
                for t in ctx.bar(steps, desc="timesteps")]
        plot(rows, ctx.out / "accuracy_vs_timesteps.png", "-".join(map(str, [64] + [o["hidden"]] * o["depth"] + [10])),
             PRESETS[o["device"]].device)
        write_json(ctx.out / "accuracy_vs_timesteps.json", {"crossbar": vars(xbar), "rows": rows})
        m: dict[str, float] = dict.fromkeys(self.measures, math.nan)
        for r in (r for r in rows if r["timesteps"] in STEPS):
            for key, name in (("ideal", "ideal"), ("both", "nonideal"), ("adapted", "adapted"), ("adc", "adc")):
                m[f"accuracy_{name}_T{r['timesteps']}"] = 100 * r["accuracy"].get(key, math.nan)
            m[f"spike_rate_error_T{r['timesteps']}"] = r["spike_rates"]["abs_difference"][-1]
        loss = [100 * (r["accuracy"]["ideal"] - r["accuracy"]["both"]) for r in rows]
        m["loss_growth"] = loss[-1] - loss[0]
        for k in ("per_read", "over_reads", "bias"):
            m[f"adc_error_{k}"] = rows[-1].get("adc_error", {}).get(k, math.nan)
        m["fast_model_mean_error"] = max(r["fast_model"]["mean_rel_error"] for r in rows)
        m["fast_model_noise_ratio"] = rows[0]["fast_model"]["noise_std_ratio"]
        return StudyResult(m, {"rows": rows}, files=["accuracy_vs_timesteps.png", "accuracy_vs_timesteps.json"])
