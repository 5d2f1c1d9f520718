"""Study ``lif-rsyn``: the neuron's sensitivity to the synaptic resistance (Garg et al. Fig. 3).

The paper reads a synapse R_syn = R_ext + R_IC from 10 kΩ to 1 MΩ at five read voltages V_read from
100 mV to 400 mV, with V_ref = 1 V, each for 1 s, and reports firing rates from 8 Hz to 25 kHz
(Fig. 3A; the extremes are stated in its conclusion), with the membrane and output at 10 kΩ and
50 kΩ for 250 mV (Figs. 3B-C). Here I_syn = V_read / R_syn enters through the LDO clamped at V_ref.
Each point runs until the neuron has fired a few times or the 1 s window is over (the run length
comes from a rate estimate and grows 4x per try), so the fast corner costs milliseconds of simulated
time, not a second; a point without a spike in its window is 0 Hz and is drawn as such.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from spicegen.study import Measure, Setting, StudyContext, StudyResult, register_study

from testbenches.lif import report
from testbenches.lif.checks import VREF_MIN
from testbenches.lif.circuit import Biases, Design
from testbenches.lif.calibrate import POINTS
from testbenches.lif.common import CORNER, LifStudy, Run, design_of, number, paper_measures, simulate, trace
from testbenches.lif.neuron import read_train, window_rate
from testbenches.lif.sweeps import sweep_options, sweep_values

__all__ = ["LifRsyn", "RSYN_TRACES", "PAPER_RANGE"]

RSYN_TRACES = ((10e3, 50e3), 0.25)
"""R_syn values (ohm) and V_read (V) of the traces of Garg et al. Figs. 3B-C."""
PAPER_RANGE = (8.0, 25e3)
"""Lowest and highest rate (Hz) over Fig. 3A's grid (Garg et al., Conclusion)."""
SPAN = 1.5
"""Factor within which the grid's extremes should meet :data:`PAPER_RANGE`."""
_CORNERS = {"rlo_vlo": (0, 0), "rlo_vhi": (0, -1), "rhi_vlo": (-1, 0), "rhi_vhi": (-1, -1)}
_CORNER_TEXT = {"rlo": "lowest R_syn", "rhi": "highest R_syn", "vlo": "lowest V_read", "vhi": "highest V_read"}


def _corner_measure(name: str) -> Measure:
    r, v = name.split("_")
    return Measure("Hz", f"rate at the grid corner {_CORNER_TEXT[r]}, {_CORNER_TEXT[v]} (0: no spike in the window)")


@register_study
class LifRsyn(LifStudy):
    """Firing rate over synaptic resistance R_syn x read voltage V_read at V_ref = 1 V (Fig. 3A), traces
    (Figs. 3B-C)."""

    name = "lif-rsyn"
    options = (*sweep_options("rsyn", 10.0, 1000.0, 5, "kΩ", (1.0, 10000.0), "synaptic resistance R_syn", log=True),
               *sweep_options("vread", 100.0, 400.0, 5, "mV", (10.0, 2000.0), "read voltage V_read", most=10),
               Setting("vref", 1.0, "LDO reference (Garg et al. §III.A: 1 V)", unit="V", bounds=(VREF_MIN, 3.3)),
               Setting("window", 1.0, "read window per point: the longest run (Garg et al.: 1 s)", unit="s",
                       bounds=(1e-3, 10.0)),
               Setting("traces", True, "simulate the membrane and output traces of Figs. 3B-C (10 and 50 kΩ, 250 mV)"),
               CORNER)
    measures = {
        "rate_min": Measure("Hz", "lowest rate over the grid (Garg et al. Fig. 3A and Conclusion: 8 Hz)",
                            spec=(PAPER_RANGE[0] / SPAN, PAPER_RANGE[0] * SPAN), paper=PAPER_RANGE[0],
                            role="held out"),
        # The paper's 25 kHz is compared once, as the paper point rsyn_max (the same run at the default grid).
        "rate_max": Measure("Hz", "highest rate over the grid (Garg et al. Fig. 3A and Conclusion: 25 kHz, compared "
                            "as rsyn_max)",
                            spec=(PAPER_RANGE[1] / SPAN, PAPER_RANGE[1] * SPAN)),
        **{f"rate_{c}": _corner_measure(c) for c in _CORNERS},
        "silent_points": Measure("", "grid points without a spike in their window"),
        **paper_measures("rsyn_max"),
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        o, design = ctx.options, design_of(ctx)
        biases = Biases(vref=o["vref"])
        rsyn, vread = sweep_values(ctx, "rsyn", 1e3, log=True), sweep_values(ctx, "vread", 1e-3)
        grid = [(float(r), float(v)) for v in vread for r in rsyn]

        runs: dict[Any, Run] = {("grid", r, v): _read_run(design, r, v, o["vref"], o["window"]) for r, v in grid}
        # The paper point at its own conditions whatever the grid options; on the default grid it is the corner's
        # run (same step), so it is simulated once.
        runs[("paper", "rsyn_max")] = _read_run(design, **POINTS["rsyn_max"].args)
        if o["traces"]:
            r_traces, v_trace = RSYN_TRACES
            runs |= {("trace", r): Run("rsyn_trace", {"rsyn": r, "vread": v_trace, "vref": o["vref"]}, rsyn_trace,
                                       {"design": design, "biases": biases, "rsyn": r, "vread": v_trace,
                                        "window": o["window"]})
                     for r in r_traces}
        done = simulate(ctx, runs, "R_syn x V_read runs")
        points = {key[1:]: value for key, value in done.items() if key[0] == "grid"}
        rates = np.array([[number(points[(float(r), float(v))]["rate"]) for v in vread] for r in rsyn])
        table = {f"{v * 1e3:.4g}": rates[:, k].tolist() for k, v in enumerate(vread)}
        files = [report.rsyn_figure(ctx.out / "rate_rsyn.png", rsyn, table, PAPER_RANGE, o["vref"]).name]
        if o["traces"]:
            traces = {key[1]: value for key, value in done.items() if key[0] == "trace"}
            files.append(report.rsyn_traces_figure(ctx.out / "traces_rsyn.png", traces).name)
        m = {"rate_min": float(np.nanmin(rates)), "rate_max": float(np.nanmax(rates)),
             **{f"rate_{c}": float(rates[i, j]) for c, (i, j) in _CORNERS.items()},
             "silent_points": float(np.sum(rates == 0)), "rsyn_max": number(done[("paper", "rsyn_max")]["rate"])}
        data = {"rsyn": rsyn.tolist(), "vread": vread.tolist(), "vref": o["vref"], "window": o["window"],
                "rates": table, "runs": [{"rsyn": r, "vread": v, **run} for (r, v), run in points.items()]}
        return StudyResult(m, data, files)


def _read_run(design: Design, rsyn: float, vread: float, vref: float, window: float) -> Run:
    """The run of one grid point: ``vread`` (V) across ``rsyn`` (Ω) through the LDO at ``vref`` (V), at most
    ``window`` (s)."""
    return Run("rsyn", {"rsyn": rsyn, "vread": vread, "vref": vref, "window": window}, rsyn_point,
               {"design": design, "biases": Biases(vref=vref), "rsyn": rsyn, "vread": vread, "window": window})


def rsyn_point(design: Design, biases: Biases, rsyn: float, vread: float, window: float) -> dict[str, Any]:
    """Rate, spike count and run length with ``vread`` (V) across ``rsyn`` (Ω) for at most ``window`` (s)."""
    train = read_train(vread, rsyn, window=window, biases=biases, design=design)
    return {"rate": window_rate(train), "spikes": int(train.spikes.size), "duration": train.duration}


def rsyn_trace(design: Design, biases: Biases, rsyn: float, vread: float, window: float) -> dict[str, Any]:
    """Membrane and output traces of six spikes (Figs. 3B-C)."""
    train = read_train(vread, rsyn, window=window, spikes=6, biases=biases, design=design)
    return {"mem": trace(train.time, train.mem), "out": trace(train.time, train.out),
            "rate": window_rate(train), "vread": vread}
