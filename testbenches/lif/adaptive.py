"""Study ``lif-adaptive``: threshold adaptation by a regulator neuron (Garg et al. §III.D, Figs. 7B-C).

Fig. 7B: a primary neuron driven by 1 kHz input pulses; its output feeds a regulator neuron through
10 kΩ + LDO + attenuator, and the regulator's membrane is the primary's threshold (paper: the
threshold rises from 0.6 V to 2 V and the inter-spike interval from 2 ms to 5 ms). Fig. 7C: one
regulator shared by a population of primaries; the paper draws the scheme and gives no numbers.
Here ``n`` primaries (option) get pulses of different amplitudes, each primary's spike reads its own
10 kΩ synapse (access switch gated by the spike) onto the regulator's synapse node, and the regulator's
membrane is the threshold of all.
A population run the simulator cannot finish leaves its measurements NaN and its message in the data.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from spicegen.ngspice import SimError
from spicegen.study import Measure, Setting, StudyContext, StudyResult, register_study

from testbenches.lif import report
from testbenches.lif.circuit import Biases
from testbenches.lif.common import CORNER, LifStudy, design_of, trace, with_goals
from testbenches.lif.neuron import adaptive_pair, adaptive_population
from testbenches.lif.sweeps import si, spaced

__all__ = ["LifAdaptive"]


def _isi_ends(spikes: list[float]) -> tuple[float, float]:
    isi = np.diff(spikes)
    return (float(isi[0]), float(isi[-1])) if isi.size else (math.nan, math.nan)


@register_study
class LifAdaptive(LifStudy):
    """Adaptive neuron: a regulator's membrane is the threshold of one primary (Fig. 7B) or of a population
    (Fig. 7C)."""

    name = "lif-adaptive"
    options = (Setting("amplitude", 60.0, "input pulse current of the pair (not given in the paper; sets the first "
                       "ISI)", unit="µA", bounds=(1.0, 500.0)),
               Setting("regulator_vgain", 1.1, "V_gain of the regulator neuron (not given in the paper; sets how far "
                       "one primary spike raises the threshold)", unit="V", bounds=(0.0, 3.3)),
               Setting("width", 10.0, "input pulse width", unit="µs", bounds=(1.0, 500.0)),
               Setting("frequency", 1000.0, "input pulse frequency (Fig. 7B: 1 kHz)", unit="Hz", bounds=(10.0, 1e5)),
               Setting("t_stop", 50.0, "simulated time of the pair", unit="ms", bounds=(1.0, 1000.0)),
               Setting("n", 4, "primaries sharing the regulator (Fig. 7C); 0: the pair only", bounds=(0, 16)),
               Setting("pop_amplitude_min", 50.0, "smallest input pulse current of the population", unit="µA",
                       bounds=(1.0, 500.0)),
               Setting("pop_amplitude_max", 70.0, "largest input pulse current of the population (the others "
                       "evenly between)", unit="µA", bounds=(1.0, 500.0)),
               Setting("pop_t_stop", 50.0, "simulated time of the population", unit="ms", bounds=(1.0, 1000.0)),
               CORNER)
    measures = with_goals({
        # the regulator starts at its V_rest, the paper's 0.6 V (Table I)
        "thr_start": Measure("V", "primary threshold (regulator membrane) at the start (Garg et al. §III.D)",
                             paper=0.6, role="calibration"),
        # the regulator's V_gain (not in the paper) was chosen to reach this threshold within t_stop
        "thr_end": Measure("V", "highest primary threshold reached (Garg et al. §III.D)", paper=2.0,
                           role="calibration"),
        # the input amplitude (not in the paper) was chosen to give this first interval
        "isi_first": Measure("s", "first inter-spike interval of the primary (Garg et al. Fig. 7B)", paper=2e-3,
                             role="calibration"),
        "isi_last": Measure("s", "last inter-spike interval of the primary (Garg et al. Fig. 7B)", paper=5e-3,
                            role="held out"),
        "spikes": Measure("", "spikes of the primary"),
        "pop_thr_end": Measure("V", "highest shared threshold reached by the population's regulator (Fig. 7C)"),
        "pop_spikes": Measure("", "spikes of all primaries of the population"),
        "pop_isi_first_mean": Measure("s", "first inter-spike interval, mean over the primaries that fired twice"),
        "pop_isi_last_mean": Measure("s", "last inter-spike interval, mean over the primaries that fired twice"),
        "pop_silent": Measure("", "primaries with fewer than two spikes"),
    })

    def run(self, ctx: StudyContext) -> StudyResult:
        o = ctx.options
        if o["width"] * 1e-6 >= 1.0 / o["frequency"]:
            raise ValueError(f"pulses of {o['width']:g} µs do not fit in the period of {o['frequency']:g} Hz; "
                             "lower 'width' or 'frequency'.")
        if o["pop_amplitude_min"] > o["pop_amplitude_max"]:
            raise ValueError(f"option 'pop_amplitude_min' = {o['pop_amplitude_min']!r} is above 'pop_amplitude_max' "
                             f"= {o['pop_amplitude_max']!r}; swap them.")
        done = ctx.steps({"adaptive_pair": (pair_run, self._pair(ctx)),
                          **({"adaptive_population": (population_run, self._population(ctx))} if o["n"] else {})},
                         desc="transients")
        pair = done["adaptive_pair"]
        isi = np.diff(pair["spikes"])
        paper = {"thr": [self.measures[k].paper for k in ("thr_start", "thr_end")],
                 "isi": [self.measures[k].paper for k in ("isi_first", "isi_last")]}
        files = [report.adaptive_figure(ctx.out / "adaptive_pair.png", pair["mem"], pair["thr"], isi, paper).name]
        first, last = _isi_ends(pair["spikes"])
        m = {"thr_start": pair["thr_start"], "thr_end": pair["thr_end"], "isi_first": first, "isi_last": last,
             "spikes": float(len(pair["spikes"]))}
        data: dict[str, Any] = {"isi": isi.tolist(), "spikes": pair["spikes"]}
        pop = done.get("adaptive_population", {})
        if "error" in pop:
            ctx.say(f"{self.name}: the population run failed: {pop['error']}")
            data["population_error"] = pop["error"]
        if "spikes" in pop:
            files.append(report.population_figure(ctx.out / "adaptive_population.png", pop).name)
            ends = [_isi_ends(s) for s in pop["spikes"]]
            fired = [e for e in ends if math.isfinite(e[0])]
            m |= {"pop_thr_end": pop["thr_end"], "pop_spikes": float(sum(len(s) for s in pop["spikes"])),
                  "pop_isi_first_mean": float(np.mean([e[0] for e in fired])) if fired else math.nan,
                  "pop_isi_last_mean": float(np.mean([e[1] for e in fired])) if fired else math.nan,
                  "pop_silent": float(len(ends) - len(fired))}
            data["population"] = {"amplitudes": pop["amplitudes"], "spikes": pop["spikes"]}
        else:
            m |= {k: math.nan for k in self.measures if k.startswith("pop_")}
        return StudyResult(m, data, files)

    def _pair(self, ctx: StudyContext) -> dict[str, Any]:
        """Arguments of :func:`pair_run`."""
        o = ctx.options
        ctx.say(f"{self.name}: the pair, one transient of {o['t_stop']:g} ms (two chains)")
        return {"amplitude": si(o["amplitude"], 1e-6), "width": si(o["width"], 1e-6), "frequency": o["frequency"],
                "t_stop": si(o["t_stop"], 1e-3), "design": design_of(ctx), "regulator": Biases(vgain=o["regulator_vgain"])}

    def _population(self, ctx: StudyContext) -> dict[str, Any]:
        """Arguments of :func:`population_run`."""
        o = ctx.options
        amplitudes = [float(a) for a in spaced(si(o["pop_amplitude_min"], 1e-6), si(o["pop_amplitude_max"], 1e-6),
                                               o["n"])]
        ctx.say(f"{self.name}: the population, one transient of {o['pop_t_stop']:g} ms ({o['n'] + 1} chains)")
        return {"amplitudes": amplitudes, "width": si(o["width"], 1e-6), "frequency": o["frequency"],
                "t_stop": si(o["pop_t_stop"], 1e-3), "design": design_of(ctx),
                "regulator_biases": Biases(vgain=o["regulator_vgain"])}


def pair_run(**kwargs: Any) -> dict[str, Any]:
    """The adaptive pair (:func:`~testbenches.lif.neuron.adaptive_pair`): spikes, threshold range, traces."""
    train, memr = adaptive_pair(**kwargs)
    return {"spikes": train.spikes.tolist(), "thr_start": float(memr[0]), "thr_end": float(memr.max()),
            "mem": trace(train.time, train.mem), "thr": trace(train.time, memr)}


def population_run(amplitudes: list[float], **kwargs: Any) -> dict[str, Any]:
    """A population under one regulator (:func:`~testbenches.lif.neuron.adaptive_population`); a failed run
    is kept as its result (the measurements say NaN, the data says why)."""
    try:
        trains, memr = adaptive_population(amplitudes=amplitudes, **kwargs)
    except SimError as exc:
        return {"error": str(exc)}
    time = trains[0].time
    return {"amplitudes": amplitudes, "spikes": [t.spikes.tolist() for t in trains], "thr_end": float(memr.max()),
            "thr": trace(time, memr), "mem": [trace(time, t.mem) for t in trains]}
