"""The LIF chain's studies (``spicegen study run NAME``): the experiments of Garg et al., the report, the calibration.

==========================  ==========================================================================
study                       what
==========================  ==========================================================================
``lif-chain``               LDO clamp and K = 500 attenuation over DC currents
``lif-rsyn``                rate over R_syn x V_read at V_ref = 1 V (Fig. 3A), traces (Figs. 3B-C)
``lif-fi``                  firing rate against DC input current at two thresholds (Fig. 4A), traces
``lif-vpw``                 spike (= refractory) width and maximum rate against V_pw (Figs. 4D-E)
``lif-pulsed``              rate under input pulses against the pulse width (Fig. 6A-B) and V_taun (Fig. 6C)
``lif-leak``                leak toward V_rest against V_taun / V_taup (Fig. 6D-E), rest level over both
``lif-adaptive``            a regulator neuron raising the threshold of one primary (Fig. 7B) or of a
                            population (Fig. 7C)
``lif-power``               power of LDO, attenuator and neuron, energy per spike, low-bias comparator
                            (§III.E)
``lif-report``              all of the above and ``report.md`` (``--set size=quick``: coarser sweeps)
``lif-calibration``         lmfit of C1, C2 and two gate lengths to the paper's numbers
==========================  ==========================================================================

Every simulated point is a resumable step, run on the study's worker processes (``ctx.steps``): a
killed run recomputes nothing finished, and a paper point that coincides with a sweep point is
simulated once. The measurements are the
paper's numbers (:data:`testbenches.lif.calibrate.POINTS`), simulated at the paper's conditions
whatever the sweep options (``--set paper=no`` skips them: the sweeps alone, measurements NaN).
The studies depend on no random draw: the seed changes nothing. ``lif-rsyn``, ``lif-adaptive`` and
``lif-power`` live in :mod:`testbenches.lif.rsyn`, :mod:`testbenches.lif.adaptive` and
:mod:`testbenches.lif.power`.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from spicegen import study as studies
from spicegen.files import write_text
from spicegen.figures import engineering_unit
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, StudyRun, register_study

from testbenches.lif import report
from testbenches.lif.adaptive import LifAdaptive
from testbenches.lif.calibrate import PARAMETERS, STAGES, Point, calibrate, fit_note, point_rate, sizes
from testbenches.lif.checks import VREF_MIN
from testbenches.lif.circuit import CALIBRATION, Biases, Design
from testbenches.lif.common import (CORNER, PAPER, TRACE_POINTS, LifStudy, Run, cached, design_of, number,
                                    paper_measures, paper_runs, paper_values, simulate, trace, with_goals)
from testbenches.lif.neuron import (chain_dc, firing_rate, ldo_loop_gain, leak_time, pulse_width, pulsed_rate,
                                    rest_levels, window_rate)
from testbenches.lif.power import LifPower
from testbenches.lif.rsyn import LifRsyn
from testbenches.lif.sweeps import si, sweep_options, sweep_values

__all__ = ["LifStudy", "LifChain", "LifFi", "LifVpw", "LifPulsed", "LifLeak", "LifReport", "LifCalibration",
           "PARTS", "SIZES", "TRACE_POINTS", "part_settings"]

MAX_RATE_VPW = 0.8
"""Lowest V_pw (V) at which ``lif-vpw`` simulates the maximum rate: Fig. 4D's range (below it a
pulse lasts milliseconds and each run is long)."""
FI_TRACES = ((10e-6, 40e-6), (0.8, 1.2, 1.8))
"""Currents (A) and thresholds (V) of the membrane traces of Figs. 4B-C."""
REST_TOLERANCE = 0.02
"""Largest |rest level - V_rest| (V) the leak may leave at any V_taun / V_taup."""


# ----------------------------------------------------------------------------- LDO + attenuator


LOOP_READS = ((10e3, 10e-6), (10e3, 40e-6), (10e3, 200e-6), (1e6, 100e-9), (1e6, 400e-9))
"""(R_syn in Ω, I_syn in A) of the loop-gain analyses: the f-I range through R_IC and Fig. 3A's reads through
1 MΩ (100 and 400 mV), where the pole of ``syn`` is lowest."""


def _si(value: float, unit: str) -> str:
    """``value`` with an engineering prefix: ``1 MΩ``, ``100 nA``."""
    prefixed, factor = engineering_unit(unit, [value])
    return f"{value * factor:.3g} {prefixed}"


def _read_label(r_syn: float, isyn: float) -> str:
    """``10k_40uA``, ``1M_100nA``: a read condition in a measurement or step name."""
    return f"{_si(r_syn, 'Ω')}_{_si(isyn, 'A')}".replace(" ", "").replace("Ω", "").replace("µ", "u")


@register_study
class LifChain(LifStudy):
    """LDO clamp and K = 500 current attenuation over DC input currents (the power is ``lif-power``)."""

    name = "lif-chain"
    options = (*sweep_options("i", 10.0, 200.0, 5, "µA", (0.1, 1000.0), "DC synaptic current", log=True),
               Setting("vref", 2.4, "LDO reference (Table I: 2.4 V; §III.A: 1 V)", unit="V", bounds=(VREF_MIN, 3.3)),
               CORNER)
    measures = {
        "k_min": Measure("", "smallest attenuation I_syn / I_neuron over the sweep (paper: K = 500)"),
        "k_max": Measure("", "largest attenuation over the sweep"),
        "clamp_error_min": Measure("V", "smallest V(syn) − V_ref over the sweep"),
        "clamp_error_max": Measure("V", "largest V(syn) − V_ref over the sweep"),
        "phase_margin_min": Measure("deg", "smallest phase margin of the LDO's loop over the read conditions "
                                           "(> 0: stable; ≥ 45: well damped)"),
        **{f"phase_margin_{_read_label(r, i)}": Measure("deg", f"phase margin of the LDO's loop reading "
                                                               f"{_si(i, 'A')} through {_si(r, 'Ω')}")
           for r, i in LOOP_READS},
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        design, biases = design_of(ctx), Biases(vref=ctx.options["vref"])
        currents = sweep_values(ctx, "i", 1e-6, log=True)
        ctx.say(f"{self.name}: DC sweep of {len(currents)} currents")
        chain = ctx.step("chain_dc", lambda: {k: v.tolist() for k, v in
                                              chain_dc(currents, biases=biases, design=design).items()})
        data = {**chain, "isyn_nominal": currents.tolist(), "vref": biases.vref}
        m = {"k_min": min(chain["k"]), "k_max": max(chain["k"]), "clamp_error_min": min(chain["clamp_error"]),
             "clamp_error_max": max(chain["clamp_error"])}
        report.chain_figure(ctx.out / "chain.png", data)
        ctx.say(f"{self.name}: LDO loop gain at {len(LOOP_READS)} read conditions")
        loops = {(r, i): ctx.step(f"loop_{_read_label(r, i)}", lambda r=r, i=i: _loop(i, r, biases, design))
                 for r, i in LOOP_READS}
        m |= {f"phase_margin_{_read_label(*read)}": loop["phase_margin"] for read, loop in loops.items()}
        m["phase_margin_min"] = min(loop["phase_margin"] for loop in loops.values())
        data["loop_gain"] = {_read_label(*read): loop for read, loop in loops.items()}
        report.loop_figure(ctx.out / "ldo_loop.png",
                           {f"{_si(r, 'Ω')}, {_si(i, 'A')}: margin {loop['phase_margin']:.0f}°": loop
                            for (r, i), loop in loops.items()}, design.corner)
        return StudyResult(m, data, ["chain.png", "ldo_loop.png"])


def _loop(isyn: float, r_syn: float, biases: Biases, design: Design) -> dict[str, Any]:
    """The loop gain as a JSON-able step: frequency, |T| in dB, phase, crossover and phase margin."""
    loop = ldo_loop_gain(isyn, r_syn=r_syn, biases=biases, design=design)
    return {"frequency": loop.frequency.tolist(), "gain_db": (20 * np.log10(np.abs(loop.gain))).tolist(),
            "phase": loop.phase.tolist(), "crossover": loop.crossover, "phase_margin": loop.phase_margin}


# ----------------------------------------------------------------------------- f-I


@register_study
class LifFi(LifStudy):
    """Firing rate against DC input current (f–I) at a set of thresholds, with the paper's Fig. 4A points."""

    name = "lif-fi"
    options = (*sweep_options("i", 10.0, 200.0, 5, "µA", (0.1, 1000.0), "DC synaptic current", log=True),
               *sweep_options("vthr", 0.8, 1.8, 2, "V", (0.3, 3.0), "firing threshold V_thr", most=10),
               Setting("vpw", 1.0, "pulse-width bias of the sweep", unit="V", bounds=(0.4, 2.0)),
               Setting("traces", True, "simulate the membrane traces of Figs. 4B-C "
                       "(10 and 40 µA, V_thr 0.8/1.2/1.8 V)"),
               PAPER, CORNER)
    measures = paper_measures("rate_10u_thr18", "rate_200u_thr18", "rate_10u_thr08", "rate_200u_thr08")

    def run(self, ctx: StudyContext) -> StudyResult:
        design, vpw = design_of(ctx), ctx.options["vpw"]
        currents, thresholds = sweep_values(ctx, "i", 1e-6, log=True), sweep_values(ctx, "vthr")
        runs: dict[Any, Run] = {("rate", float(i), float(v)): Run(
            "rate", {"isyn": float(i), "vthr": float(v), "vpw": vpw}, point_rate,
            {"design": design, "isyn": float(i), "vthr": float(v), "vpw": vpw}) for v in thresholds for i in currents}
        if ctx.options["traces"]:
            runs |= {("trace", i, v): Run("dc_trace", {"isyn": i, "vthr": v}, dc_trace,
                                          {"design": design, "isyn": i, "vthr": v})
                     for i in FI_TRACES[0] for v in FI_TRACES[1]}
        done = simulate(ctx, paper_runs(ctx, design, self.measures) | runs, "f-I runs")
        table = {f"{v:.3g}": [number(done[("rate", float(i), float(v))]) for i in currents] for v in thresholds}
        files = [report.fi_figure(ctx.out / "fi_curves.png", currents, table).name]
        if ctx.options["traces"]:
            traces = {key[1:]: value for key, value in done.items() if key[0] == "trace"}
            files.append(report.dc_traces_figure(ctx.out / "membrane_dc.png", traces).name)
        data = {"isyn": currents.tolist(), "vthr": thresholds.tolist(), "vpw": vpw, "rates": table}
        return StudyResult(paper_values(done, self.measures), data, files)


def dc_trace(design: Design, isyn: float, vthr: float) -> dict[str, list[float]]:
    """The membrane under a DC ``isyn`` (A) at threshold ``vthr`` (V), resampled for a figure."""
    train = firing_rate(isyn, biases=Biases(vthr=vthr), design=design)
    return trace(train.time, train.mem)


# ----------------------------------------------------------------------------- pulse width


def _tpw_guess(vpw: float) -> float:
    """First run length (s) for the pulse width at ``vpw`` (V): about 2 T_pw of the calibrated timer."""
    return 30e-6 + 2e-5 * 10 ** (6 * (1.0 - vpw))


@register_study
class LifVpw(LifStudy):
    """Spike (= refractory) width T_pw and maximum firing rate against the pulse-width bias V_pw (Figs. 4D-E)."""

    name = "lif-vpw"
    options = (*sweep_options("vpw", 0.45, 1.1, 6, "V", (0.4, 2.0), "pulse-width bias V_pw"),
               Setting("isyn", 200.0, "DC input current of the sweep", unit="µA", bounds=(1.0, 500.0)),
               PAPER, CORNER)
    measures = paper_measures("tpw_045", "tpw_100", "max_rate_vpw08", "max_rate_vpw11")

    def run(self, ctx: StudyContext) -> StudyResult:
        design, isyn = design_of(ctx), si(ctx.options["isyn"], 1e-6)
        vpw = [float(v) for v in sweep_values(ctx, "vpw")]
        fast = [v for v in vpw if v >= MAX_RATE_VPW]
        runs: dict[Any, Run] = {("t_pw", v): Run("t_pw", {"isyn": isyn, "vpw": v}, pulse_width, {
            "isyn": isyn, "biases": Biases(vpw=v), "design": design, "t_first": _tpw_guess(v)}) for v in vpw}
        runs |= {("rate", v): Run("rate", {"isyn": isyn, "vthr": Biases.vthr, "vpw": v}, point_rate,
                                  {"design": design, "isyn": isyn, "vthr": Biases.vthr, "vpw": v}) for v in fast}
        done = simulate(ctx, paper_runs(ctx, design, self.measures) | runs, "V_pw runs")
        widths = [number(done[("t_pw", v)]) for v in vpw]
        rates = [number(done[("rate", v)]) for v in fast]
        files = [report.vpw_figure(ctx.out / "pulse_width_vpw.png", vpw, widths, ("tpw_045", "tpw_100"),
                                   "T_pw at V_dd/2 (s)", "pulse width vs V_pw (cf. Garg et al. Fig. 4E)").name]
        if fast:
            files.append(report.vpw_figure(ctx.out / "max_rate_vpw.png", fast, rates,
                                           ("max_rate_vpw08", "max_rate_vpw11"), f"rate at {isyn * 1e6:g} µA (Hz)",
                                           "maximum rate vs V_pw (cf. Garg et al. Fig. 4D)").name)
        data = {"isyn": isyn, "vpw": vpw, "t_pw": widths, "max_rate_vpw": fast, "max_rate": rates}
        return StudyResult(paper_values(done, self.measures), data, files)


# ----------------------------------------------------------------------------- pulsed input


def _pulsed_guess(design: Design, amplitude: float, width: float, frequency: float) -> float:
    """First run length (s): 2.5 periods of an ideal integrator that needs V_thr / ΔV input pulses."""
    step = amplitude / design.attenuator.k * width / design.lif.c1
    return 2.5 * max(1.0, Biases.vthr / step) / frequency


VTAUN_READING = {"pulsed_vtaun11": (1.1, 12.0), "pulsed_vtaun12": (1.2, 8.0), "pulsed_vtaun13": (1.3, 2.0)}
"""Fig. 6C as read here: paper point -> (V_taun in V, rate in Hz) under 40 µA x 10 µs pulses at 100 Hz."""


def _vtaun_measures() -> dict[str, Measure]:
    text = {1.1: "lowered leak", 1.2: "typical", 1.3: "raised leak"}
    out = {name: Measure("Hz", f"rate under 40 µA x 10 µs pulses at 100 Hz, V_taun = {v:g} V ({text[v]}; Garg et al. "
                               f"§III.C, Fig. 6C: {rate:g} Hz)", paper=rate,
                         # the typical bias is the calibration point pulsed_10us
                         role="calibration" if v == Biases.vtaun else "held out")
           for name, (v, rate) in VTAUN_READING.items()}
    out["vtaun_span"] = Measure("", "rate at V_taun 1.1 V / rate at 1.3 V (Garg et al. Fig. 6C: 12 Hz / 2 Hz)",
                                paper=6.0, role="held out")
    return with_goals(out)


@register_study
class LifPulsed(LifStudy):
    """Firing rate under trains of input current pulses against the pulse width (Fig. 6A-B) and V_taun (Fig. 6C).

    Fig. 6C's V_taun values are not stated: the paper gives 8 Hz at the typical 1.2 V, 12 Hz "by
    lowering the leak rate" and 2 Hz "increasing the leak rate". This study reads them as one step of
    0.1 V either way, the spacing of Fig. 6D's V_taun sweep: 12 Hz at 1.1 V and 2 Hz at 1.3 V (a higher
    V_taun leaks faster). A run without a spike is 0 Hz (:func:`~testbenches.lif.neuron.window_rate`).
    """

    name = "lif-pulsed"
    options = (*sweep_options("width", 7.0, 15.0, 3, "µs", (1.0, 500.0), "input pulse width", most=20),
               *sweep_options("vtaun", 1.1, 1.3, 3, "V", (0.5, 2.0), "downward leak bias V_taun (10 µs pulses)",
                              most=20),
               Setting("amplitude", 40.0, "input pulse current", unit="µA", bounds=(1.0, 500.0)),
               Setting("frequency", 100.0, "input pulse frequency", unit="Hz", bounds=(1.0, 1e4)),
               PAPER, CORNER)
    measures = {**paper_measures("pulsed_10us", "pulsed_7us", "pulsed_15us"), **_vtaun_measures()}

    def run(self, ctx: StudyContext) -> StudyResult:
        design = design_of(ctx)
        amplitude, frequency = si(ctx.options["amplitude"], 1e-6), ctx.options["frequency"]
        widths = [float(w) for w in sweep_values(ctx, "width", 1e-6)]
        if max(widths) >= 1.0 / frequency:
            raise ValueError(f"pulses of {max(widths) * 1e6:g} µs do not fit in the period of {frequency:g} Hz; "
                             "lower 'width_max' or 'frequency'.")
        vtaun = [float(v) for v in sweep_values(ctx, "vtaun")]
        runs: dict[Any, Run] = {("width", w): _pulsed(design, amplitude, w, frequency) for w in widths}
        runs |= {("vtaun", v): _pulsed(design, amplitude, 10e-6, frequency, v) for v in vtaun}
        if ctx.options["paper"]:
            runs |= {("reading", n): _pulsed(design, 40e-6, 10e-6, 100.0, v) for n, (v, _) in VTAUN_READING.items()}
        paper = ("pulsed_10us", "pulsed_7us", "pulsed_15us")
        done = simulate(ctx, paper_runs(ctx, design, paper) | runs, "pulsed runs")
        by_width = {w: done[("width", w)] for w in widths}
        by_vtaun = {v: done[("vtaun", v)] for v in vtaun}
        rates = [number(r["rate"]) for r in by_width.values()]
        figure = report.pulsed_figure(ctx.out / "pulsed.png", widths, rates, {w: r["trace"] for w, r in by_width.items()},
                                      {w: r["spikes"] for w, r in by_width.items()}, amplitude, frequency)
        vtaun_rates = [number(r["rate"]) for r in by_vtaun.values()]
        leak_figure = report.vtaun_figure(ctx.out / "pulsed_vtaun.png", vtaun, vtaun_rates,
                                          {v: r["trace"] for v, r in by_vtaun.items()}, amplitude, frequency,
                                          VTAUN_READING)
        data = {"amplitude": amplitude, "frequency": frequency, "width": widths, "rate": rates, "vtaun": vtaun,
                "vtaun_rate": vtaun_rates}
        return StudyResult({**paper_values(done, paper), **_vtaun_points(done)}, data, [figure.name, leak_figure.name])


def _pulsed(design: Design, amplitude: float, width: float, frequency: float, vtaun: float = Biases.vtaun) -> Run:
    """One pulsed run (the typical V_taun keeps the step name of the width sweep)."""
    args = {"amplitude": amplitude, "width": width, "frequency": frequency}
    if vtaun != Biases.vtaun:
        args["vtaun"] = vtaun
    return Run("pulsed", args, pulsed_run, {"design": design, **args, "vtaun": vtaun})


def pulsed_run(design: Design, amplitude: float, width: float, frequency: float, vtaun: float) -> dict[str, Any]:
    """Rate (:func:`~testbenches.lif.neuron.window_rate`), spike times and membrane trace under a pulse train."""
    train = pulsed_rate(amplitude=amplitude, width=width, frequency=frequency, biases=Biases(vtaun=vtaun),
                        design=design, t_first=_pulsed_guess(design, amplitude, width, frequency))
    return {"rate": window_rate(train), "spikes": train.spikes.tolist(), "trace": trace(train.time, train.mem)}


def _vtaun_points(done: Mapping[Any, Any]) -> dict[str, float]:
    """Fig. 6C's measurements from the reading runs (NaN without them)."""
    if not any(key[0] == "reading" for key in done):
        return {n: math.nan for n in (*VTAUN_READING, "vtaun_span")}
    rates = {n: number(done[("reading", n)]["rate"]) for n in VTAUN_READING}
    low = rates["pulsed_vtaun13"]
    return {**rates, "vtaun_span": rates["pulsed_vtaun11"] / low if low > 0 else math.nan}


# ----------------------------------------------------------------------------- leak


def _worst(levels: list[float], vrest: float) -> float:
    """The rest level farthest from ``vrest`` (V); NaN when there is none."""
    return max(levels, key=lambda v: abs(v - vrest)) if levels else math.nan


@register_study
class LifLeak(LifStudy):
    """Bi-directional leak: time to return to V_rest from above (V_taun) and below (V_taup), rest level over both.

    The rest level is where the membrane ends after the leak, over the grid of every V_taun in Fig. 6D's
    range and every V_taup in Fig. 6E's; it should be V_rest (0.6 V) within 20 mV. At each point two
    runs: the stable zero of the net current into C1 with no input
    (:func:`~testbenches.lif.neuron.rest_levels`: the equilibrium, however slow the leak), and a transient
    of ``rest_t_stop`` started there, whose excursion over its second half catches a leak that does not
    settle but cycles around the level. A point's error is the value farthest from V_rest.
    """

    name = "lif-leak"
    options = (*sweep_options("vtaun", 1.0, 1.35, 3, "V", (0.5, 2.0), "downward leak bias V_taun", most=10),
               *sweep_options("vtaup", 1.1, 1.6, 3, "V", (0.5, 2.0), "upward leak bias V_taup", most=10),
               Setting("t_stop", 2.0, "longest sweep run (a run stops earlier once the membrane rests at V_rest)",
                       unit="s", bounds=(0.01, 10.0)),
               *sweep_options("rest_vtaun", 1.0, 1.35, 8, "V", (0.5, 2.0), "V_taun of the rest-level grid"),
               *sweep_options("rest_vtaup", 1.1, 1.6, 6, "V", (0.5, 2.0), "V_taup of the rest-level grid"),
               Setting("rest_t_stop", 20.0, "transient at each rest-level grid point", unit="ms", bounds=(0.1, 5000.0)),
               PAPER, CORNER)
    measures = {**paper_measures("leak_135", "leak_100"),
                "v_settle_typical": Measure("V", "membrane at the end of the leak from V_thr − 20 mV at the Table I "
                                                 "biases (V_taun = V_taup = 1.2 V; V_rest = 0.6 V): after t_stop, or "
                                                 "once it rested within 2 mV of V_rest for the second half of a run"),
                "rest_error_max": Measure("V", "rest level − V_rest farthest from 0 over the V_taun x V_taup grid, "
                                               "equilibrium and transient excursion (NaN: a point without a rest "
                                               "level below V_thr)",
                                          spec=(-REST_TOLERANCE, REST_TOLERANCE)),
                "rest_min": Measure("V", "lowest rest level or transient excursion over the grid"),
                "rest_max": Measure("V", "highest rest level or transient excursion over the grid"),
                "rest_missing": Measure("", "grid points without a rest level below V_thr", spec=(0.0, 0.0))}

    def run(self, ctx: StudyContext) -> StudyResult:
        design, t_stop = design_of(ctx), ctx.options["t_stop"]
        sweep = [("down", float(v)) for v in sweep_values(ctx, "vtaun")]
        sweep += [("up", float(v)) for v in sweep_values(ctx, "vtaup")]
        runs: dict[Any, Run] = {("leak", d, b): _leak(design, d, b, t_stop) for d, b in [*sweep, ("down", Biases.vtaun)]}
        vtaun, vtaup = sweep_values(ctx, "rest_vtaun"), sweep_values(ctx, "rest_vtaup")
        rest_t_stop = si(ctx.options["rest_t_stop"], 1e-3)
        grid = [(float(n), float(p)) for n in vtaun for p in vtaup]
        runs |= {("rest", n, p): Run("rest", {"vtaun": n, "vtaup": p, "t_stop": rest_t_stop}, rest_point,
                                     {"design": design, "vtaun": n, "vtaup": p, "t_stop": rest_t_stop})
                 for n, p in grid}
        done = simulate(ctx, paper_runs(ctx, design, ("leak_135", "leak_100")) | runs, "leak runs")
        side = {d: {b: done[("leak", d, b)] for direction, b in sweep if direction == d} for d in ("down", "up")}
        rest = {"vtaun": vtaun.tolist(), "vtaup": vtaup.tolist(), "t_stop": rest_t_stop,
                "points": [{"vtaun": n, "vtaup": p, **done[("rest", n, p)]} for n, p in grid]}
        data = {"t_stop": t_stop, **{d: [{k: v for k, v in r.items() if k != "trace"} for r in side[d].values()]
                                     for d in side}, "rest": rest}
        start = Biases.vthr - 0.02
        files = [report.leak_figure(ctx.out / "leak.png", *({b: r["trace"] for b, r in side[d].items()}
                                                            for d in ("down", "up")),
                                    leaked=Biases.vrest + 0.1 * (start - Biases.vrest)).name,
                 report.rest_figure(ctx.out / "rest_level.png", rest, Biases.vrest, REST_TOLERANCE).name]
        worst = [_worst(p["levels"] + p["band"], Biases.vrest) if p["levels"] else math.nan for p in rest["points"]]
        found = [v for v in worst if math.isfinite(v)]
        errors = [v - Biases.vrest for v in found]
        m = {**paper_values(done, ("leak_135", "leak_100")),
             "v_settle_typical": number(done[("leak", "down", Biases.vtaun)]["v_end"]),
             "rest_error_max": max(errors, key=abs) if len(found) == len(worst) else math.nan,
             "rest_min": min(found, default=math.nan), "rest_max": max(found, default=math.nan),
             "rest_missing": float(len(worst) - len(found))}
        return StudyResult(m, data, files)


def _leak(design: Design, direction: str, bias: float, t_stop: float) -> Run:
    return Run(f"leak_{direction}", {"bias": bias, "t_stop": t_stop}, leak_run,
               {"design": design, "direction": direction, "bias": bias, "t_stop": t_stop})


def leak_run(design: Design, direction: str, bias: float, t_stop: float) -> dict[str, Any]:
    """The leak from V_thr − 20 mV down (``direction="down"``, V_taun = ``bias``) or from 0 V up (V_taup), in a
    run that starts at :data:`LEAK_FIRST` and stops once the membrane rests at V_rest, at most ``t_stop``
    (:func:`~testbenches.lif.neuron.leak_time`)."""
    b = Biases(vtaun=bias) if direction == "down" else Biases(vtaup=bias)
    time, train = leak_time(b.vthr - 0.02 if direction == "down" else 0.0, biases=b, design=design, t_stop=t_stop,
                            t_first=LEAK_FIRST)
    return {"bias": bias, "time_90": time, "v_end": float(train.mem[-1]), "t_end": float(train.time[-1]),
            "trace": trace(train.time, train.mem)}


LEAK_FIRST = 0.05
"""First run length (s) of a leak sweep run (see :func:`leak_run`)."""


def rest_point(design: Design, vtaun: float, vtaup: float, t_stop: float) -> dict[str, list[float]]:
    """Rest levels at one (V_taun, V_taup): the stable zeros of the net current, and the band of a ``t_stop``
    transient's second half started at the worst of them."""
    biases = Biases(vtaun=vtaun, vtaup=vtaup)
    levels = rest_levels(biases=biases, design=design).tolist()
    start = _worst(levels, biases.vrest) if levels else biases.vrest
    _, train = leak_time(start, biases=biases, design=design, t_stop=t_stop)
    tail = train.mem[train.time >= t_stop / 2]
    return {"levels": levels, "band": [float(tail.min()), float(tail.max())]}


# ----------------------------------------------------------------------------- report


PARTS: tuple[type[Study], ...] = (LifChain, LifRsyn, LifFi, LifVpw, LifPulsed, LifLeak, LifAdaptive, LifPower)


SIZES: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "full": {},
    "quick": {"lif-chain": {"i_points": 3}, "lif-rsyn": {"rsyn_points": 3, "vread_points": 3},
              "lif-fi": {"i_points": 3}, "lif-vpw": {"vpw_points": 3}, "lif-pulsed": {"width_points": 2},
              "lif-leak": {"rest_vtaun_points": 4, "rest_vtaup_points": 3}},
    "smoke": {"lif-chain": {"i_points": 2},
              "lif-rsyn": {"rsyn_points": 2, "vread_points": 2, "window": 0.05, "traces": False},
              "lif-fi": {"i_points": 2, "traces": False},
              "lif-vpw": {"vpw_points": 2},
              "lif-pulsed": {"width_points": 1, "vtaun_points": 1, "amplitude": 200.0, "frequency": 1000.0,
                             "paper": False},
              "lif-leak": {"vtaun_points": 1, "vtaup_points": 1, "t_stop": 0.05, "rest_vtaun_points": 2,
                           "rest_vtaup_points": 2, "rest_t_stop": 5.0},
              "lif-adaptive": {"t_stop": 15.0, "n": 2, "pop_t_stop": 10.0}, "lif-power": {"low_bias": False}},
}
"""Report size → study → options that differ from the study's defaults."""


def part_settings(name: str, size: str, corner: str) -> dict[str, Any]:
    """Options of the study ``name`` inside a report of ``size`` (see :data:`SIZES`)."""
    return {"corner": corner, **SIZES[size].get(name, {})}


@register_study
class LifReport(LifStudy):
    """Every LIF study (each in its sub-folder) and report.md: the simulated chain against the paper."""

    name = "lif-report"
    options = (Setting("size", "full", "sweep sizes: full (each study's defaults), quick (3 currents, 3 x 3 R_syn x "
                       "V_read, 3 V_pw values, 2 pulse widths, 4 x 3 rest grid), smoke (1-2 points per "
                       "sweep, pulsed-input paper points and the low-bias search skipped, 15 ms adaptive pair: a "
                       "check that everything runs)",
                       choices=tuple(SIZES)),
               CORNER)
    measures = {k: v for part in PARTS for k, v in part.measures.items()}

    def run(self, ctx: StudyContext) -> StudyResult:
        results: dict[str, Any] = {}
        skipped: list[str] = []
        for part in ctx.bar(PARTS, desc="studies"):
            ctx.say(f"{self.name}: study {part.name} -> {ctx.out / part.name}")
            run = studies.run(part.name, ctx.out / part.name, progress=ctx.progress, workers=ctx.workers,
                              settings=part_settings(part.name, ctx.options["size"], ctx.options["corner"]))
            results[part.name] = run.result
            if not run.definition["options"].get("paper", True):
                skipped += list(part.measures)
        write_text(ctx.out / "report.md", report.markdown(results, skipped))
        measurements = {k: number(v) for r in results.values() for k, v in r["measurements"].items()}
        files = [f"{n}/{f}" for n, r in results.items() for f in r["files"]]
        return StudyResult(measurements, {"studies": {n: r["key"] for n, r in results.items()}},
                           ["report.md", *files])


# ----------------------------------------------------------------------------- calibration


@register_study
class LifCalibration(LifStudy):
    """lmfit calibration of C1, C2, the DPI's C_syn, M_pw's size and source resistor and the bias devices' gate lengths."""

    name = "lif-calibration"
    options = (Setting("stages", "timer,membrane", "stages to fit, in order (timer: C2, W, L and R_pw of M_pw; membrane: C1, C_syn, "
                       "L(DPI gain, DPI threshold, input share, leak bias))",
                       choices=("timer,membrane", "timer", "membrane")),
               Setting("max_evals", 30, "most residual evaluations per stage (lmfit max_nfev)", bounds=(1, 500)),
               Setting("start", "stage", "where each stage starts: stage (the initial sizes listed with the stage) or "
                       "shipped (the package's calibrated sizes)", choices=("stage", "shipped")),
               Setting("ship", False, "also update the package's calibration file "
                       f"(testbenches/lif/{CALIBRATION.name})"),
               CORNER)
    measures = {
        **{n: Measure(u, f"fitted {n} (NaN: its stage was not run)") for n, u in PARAMETERS.items()},
        **{f"chisqr_{s.name}": Measure("", f"Σ (ln(sim / paper) / ln(1 + goal))² over the {s.name} stage's "
                                           "calibration points") for s in STAGES},
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        stages = ctx.options["stages"].split(",")
        citation = StudyRun.open(ctx.out).citation()

        def measure(point: Point, design: Design) -> float:
            return number(cached(ctx, point.name, sizes(design), lambda: point.measure(design)))

        bars: dict[str, Any] = {}

        def progress(stage: str, values: Mapping[str, float], residuals: np.ndarray) -> None:
            bar = bars.setdefault(stage, ctx.bar(total=ctx.options["max_evals"], desc=f"stage {stage}"))
            bar.set_postfix_str(", ".join(f"{k} = {v:.4g}" for k, v in values.items()) +
                                f"; |residual| = {float(np.linalg.norm(residuals)):.3g}")
            bar.update()

        fitted = calibrate(design_of(ctx), stages, max_evals=ctx.options["max_evals"], measure=measure,
                           progress=progress, start="design" if ctx.options["start"] == "shipped" else "stage")
        for bar in bars.values():
            bar.close()
        values = {k: v for stage in fitted.values() for k, v in stage["values"].items()}
        detail = {k: {"stage": s.name, "note": fit_note(s.name, fitted[s.name])}
                  for s in STAGES if s.name in fitted for k in s.params}
        files = self._write(ctx, values, detail, citation)
        m = {**{k: values.get(k, math.nan) for k in PARAMETERS},
             **{f"chisqr_{s.name}": fitted[s.name]["chisqr"] if s.name in fitted else math.nan for s in STAGES}}
        return StudyResult(m, {"stages": fitted}, files)

    @staticmethod
    def _write(ctx: StudyContext, values: Mapping[str, float], detail: Mapping[str, Mapping[str, str]],
               citation: Mapping[str, Any]) -> list[str]:
        """``calibration.json`` (the shipped file with the fitted entries replaced, each citing the run, its stage
        and how the stage fitted it) into the run folder and, with ``ship``, into the package."""
        CALIBRATION.update(ctx.out, values=values, source=citation, detail=detail, ship=ctx.options["ship"])
        return [CALIBRATION.out_name]
