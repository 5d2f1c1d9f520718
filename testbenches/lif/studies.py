"""The LIF chain's studies (``spicegen study run NAME``): the experiments of Garg et al., the report, the calibration.

==========================  ==========================================================================
study                       what
==========================  ==========================================================================
``lif-chain``               LDO clamp and K = 500 attenuation over DC currents; static and spiking power
``lif-fi``                  firing rate against DC input current at two thresholds (Fig. 4A), traces
``lif-pulse-width``         spike (= refractory) width and maximum rate against V_pw (Figs. 4D-E)
``lif-pulsed``              rate under input pulses against the pulse width (Fig. 6A-B)
``lif-leak``                bi-directional leak toward V_rest against V_taun / V_taup (Fig. 6D-E)
``lif-adaptive-pair``       a regulator neuron raising the primary's threshold (Fig. 7B)
``lif-report``              all of the above and ``report.md`` (``--set quick=yes``: coarser sweeps)
``lif-calibration``         lmfit of C1, C2 and two gate lengths to the paper's numbers
==========================  ==========================================================================

Every simulated point is a resumable step (``ctx.step``): a killed run recomputes nothing finished,
and a paper point that coincides with a sweep point is simulated once. The measurements are the
paper's numbers (:data:`testbenches.lif.calibrate.POINTS`), simulated at the paper's conditions
whatever the sweep options (``--set paper=no`` skips them: the sweeps alone, measurements NaN).
The studies depend on no random draw: the seed changes nothing.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from spicegen import study as studies
from spicegen.files import write_text
from spicegen.pdk import CORNERS
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, StudyRun, register_study

from testbenches.lif import report
from testbenches.lif.calibrate import PARAMETERS, POINTS, STAGES, Point, calibrate, point_rate, sizes
from testbenches.lif.circuit import CALIBRATION, Biases, Design
from testbenches.lif.neuron import (adaptive_pair, chain_dc, firing_rate, leak_time, pulse_width, pulsed_rate,
                                    static_power)
from testbenches.lif.sweeps import named_bar, si, sweep_options, sweep_values

__all__ = ["LifChain", "LifFi", "LifPulseWidth", "LifPulsed", "LifLeak", "LifAdaptivePair", "LifReport",
           "LifCalibration", "PARTS", "SIZES", "TRACE_POINTS", "part_settings"]

TRACE_POINTS = 2000
"""Samples of a waveform kept for a figure (resampled on a uniform time grid)."""
MAX_RATE_VPW = 0.8
"""Lowest V_pw (V) at which ``lif-pulse-width`` simulates the maximum rate: Fig. 4D's range (below it a
pulse lasts milliseconds and each run is long)."""
FI_TRACES = ((10e-6, 40e-6), (0.8, 1.2, 1.8))
"""Currents (A) and thresholds (V) of the membrane traces of Figs. 4B-C."""

CORNER = Setting("corner", "tt", "sky130 process corner (the sizes were calibrated at tt)", choices=CORNERS)
PAPER = Setting("paper", True, "simulate the paper's points (the measurements); no: the sweeps only, measurements NaN")


# ----------------------------------------------------------------------------- helpers


def _number(value: Any) -> float:
    """A step's stored number (``None`` is how JSON keeps NaN)."""
    return math.nan if value is None else float(value)


def _step_name(kind: str, args: Mapping[str, float]) -> str:
    return kind + "".join(f"_{k}{v:.6g}" for k, v in sorted(args.items()))


def _cached(ctx: StudyContext, kind: str, args: Mapping[str, float], compute: Callable[[], Any]) -> Any:
    """``compute()`` as the resumable step named after ``kind`` and ``args`` (same condition, same step)."""
    return ctx.step(_step_name(kind, args), compute)


def _paper_measures(*names: str) -> dict[str, Measure]:
    fitted = {n for stage in STAGES for n in stage.calibration}
    return {n: Measure(POINTS[n].unit, POINTS[n].describe(), spec=(POINTS[n].paper, None) if POINTS[n].bound else None,
                       paper=POINTS[n].paper, role="calibration" if n in fitted else "held out") for n in names}


def _paper_points(ctx: StudyContext, design: Design, names: Iterable[str]) -> dict[str, float]:
    """The named paper points, simulated (``paper=yes``) or NaN."""
    names = list(names)
    if not ctx.options["paper"]:
        return {n: math.nan for n in names}
    return {n: _number(_cached(ctx, POINTS[n].kind, POINTS[n].args, lambda p=POINTS[n]: p.measure(design)))
            for n in named_bar(ctx, "paper points", names, lambda n: n)}


def _design(ctx: StudyContext) -> Design:
    return Design(corner=ctx.options["corner"])


def _trace(time: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """A waveform resampled on :data:`TRACE_POINTS` uniform times (for figures)."""
    t = np.linspace(float(time[0]), float(time[-1]), TRACE_POINTS)
    return {"t": t.tolist(), "y": np.interp(t, time, y).tolist()}


# ----------------------------------------------------------------------------- LDO + attenuator, power


class LifStudy(Study):
    """A study of the LIF chain: its results depend on the calibrated design sizes, so they enter the key."""

    family = "lif"

    def depends_on(self) -> Mapping[str, Any]:
        """The calibrated sizes of the shipped design (``testbenches/lif/calibration.json``)."""
        return {"design": CALIBRATION.read()["values"]}


@register_study
class LifChain(LifStudy):
    """LDO clamp and K = 500 current attenuation over DC input currents; static and spiking supply power."""

    name = "lif-chain"
    options = (*sweep_options("i", 10.0, 200.0, 5, "µA", (0.1, 1000.0), "DC synaptic current", log=True),
               Setting("vref", 2.4, "LDO reference (Table I: 2.4 V; §III.A: 1 V)", unit="V", bounds=(0.8, 3.0)),
               Setting("i_power", 40.0, "DC current of the spiking-power run", unit="µA", bounds=(1.0, 500.0)),
               CORNER)
    measures = {
        "k_min": Measure("", "smallest attenuation I_syn / I_neuron over the sweep (paper: K = 500)"),
        "k_max": Measure("", "largest attenuation over the sweep"),
        "clamp_error_min": Measure("V", "smallest V(syn) − V_ref over the sweep"),
        "clamp_error_max": Measure("V", "largest V(syn) − V_ref over the sweep"),
        # the OTA and comparator bias devices were sized to these static powers
        "p_ldo_static": Measure("W", "LDO supply power without input (Garg et al. §III.E, SPICE)", paper=10e-6,
                                role="calibration"),
        "p_lif_static": Measure("W", "neuron supply power without input (Garg et al. §III.E)", paper=5e-6,
                                role="calibration"),
        "p_lif_spiking": Measure("W", "neuron supply power while spiking at i_power"),
        "p_ldo_spiking": Measure("W", "LDO supply power at i_power"),
        "energy_per_spike": Measure("J", "neuron energy per spike above static at i_power (Garg et al. §III.E)",
                                    paper=200e-12, role="held out"),
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        design, biases = _design(ctx), Biases(vref=ctx.options["vref"])
        currents = sweep_values(ctx, "i", 1e-6, log=True)
        ctx.say(f"{self.name}: DC sweep of {len(currents)} currents, then two power runs")
        chain = ctx.step("chain_dc", lambda: {k: v.tolist() for k, v in
                                              chain_dc(currents, biases=biases, design=design).items()})
        static = ctx.step("static_power", lambda: static_power(biases=biases, design=design))
        i_power = si(ctx.options["i_power"], 1e-6)

        def spiking() -> dict[str, float]:
            train = firing_rate(i_power, biases=biases, design=design, spikes=5)
            return {"p_lif": train.energy_lif / train.duration, "p_ldo": train.energy_ldo / train.duration,
                    "rate": train.rate}

        power = ctx.step("spiking_power", spiking)
        data = {**chain, "isyn_nominal": currents.tolist(), "vref": biases.vref, "i_power": i_power,
                "spiking_rate": power["rate"]}
        m = {"k_min": min(chain["k"]), "k_max": max(chain["k"]), "clamp_error_min": min(chain["clamp_error"]),
             "clamp_error_max": max(chain["clamp_error"]), "p_ldo_static": static["p_ldo"],
             "p_lif_static": static["p_lif"], "p_lif_spiking": power["p_lif"], "p_ldo_spiking": power["p_ldo"],
             "energy_per_spike": (power["p_lif"] - static["p_lif"]) / _number(power["rate"])}
        report.chain_figure(ctx.out / "chain.png", data)
        return StudyResult(m, data, ["chain.png"])


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
    measures = _paper_measures("rate_10u_thr18", "rate_200u_thr18", "rate_10u_thr08", "rate_200u_thr08")

    def run(self, ctx: StudyContext) -> StudyResult:
        design, vpw = _design(ctx), ctx.options["vpw"]
        currents, thresholds = sweep_values(ctx, "i", 1e-6, log=True), sweep_values(ctx, "vthr")
        grid = [(float(i), float(v)) for v in thresholds for i in currents]
        rates = {(i, v): _number(_cached(ctx, "rate", {"isyn": i, "vthr": v, "vpw": vpw},
                                         lambda i=i, v=v: point_rate(design, i, v, vpw)))
                 for i, v in named_bar(ctx, "f-I", grid, lambda p: f"I = {p[0] * 1e6:.3g} µA, V_thr = {p[1]:.3g} V")}
        table = {f"{v:.3g}": [rates[(float(i), float(v))] for i in currents] for v in thresholds}
        files = [report.fi_figure(ctx.out / "fi_curves.png", currents, table).name]
        if ctx.options["traces"]:
            files.append(report.dc_traces_figure(ctx.out / "membrane_dc.png", self._traces(ctx, design)).name)
        data = {"isyn": currents.tolist(), "vthr": thresholds.tolist(), "vpw": vpw, "rates": table}
        return StudyResult(_paper_points(ctx, design, self.measures), data, files)

    @staticmethod
    def _traces(ctx: StudyContext, design: Design) -> dict[tuple[float, float], Any]:
        def trace(isyn: float, vthr: float) -> dict[str, list[float]]:
            train = firing_rate(isyn, biases=Biases(vthr=vthr), design=design)
            return _trace(train.time, train.mem)

        points = [(i, v) for i in FI_TRACES[0] for v in FI_TRACES[1]]
        return {(i, v): _cached(ctx, "dc_trace", {"isyn": i, "vthr": v}, lambda i=i, v=v: trace(i, v))
                for i, v in named_bar(ctx, "traces", points, lambda p: f"I = {p[0] * 1e6:g} µA, V_thr = {p[1]:g} V")}


# ----------------------------------------------------------------------------- pulse width


def _tpw_guess(vpw: float) -> float:
    """First run length (s) for the pulse width at ``vpw`` (V): about 2 T_pw of the calibrated timer."""
    return 30e-6 + 2e-5 * 10 ** (6 * (1.0 - vpw))


@register_study
class LifPulseWidth(LifStudy):
    """Spike (= refractory) width T_pw and maximum firing rate against the pulse-width bias V_pw (Figs. 4D-E)."""

    name = "lif-pulse-width"
    options = (*sweep_options("vpw", 0.45, 1.1, 6, "V", (0.4, 2.0), "pulse-width bias V_pw"),
               Setting("isyn", 200.0, "DC input current of the sweep", unit="µA", bounds=(1.0, 500.0)),
               PAPER, CORNER)
    measures = _paper_measures("tpw_045", "tpw_100", "max_rate_vpw08", "max_rate_vpw11")

    def run(self, ctx: StudyContext) -> StudyResult:
        design, isyn = _design(ctx), si(ctx.options["isyn"], 1e-6)
        vpw = [float(v) for v in sweep_values(ctx, "vpw")]
        widths = [_number(_cached(ctx, "t_pw", {"isyn": isyn, "vpw": v}, lambda v=v: pulse_width(
            isyn=isyn, biases=Biases(vpw=v), design=design, t_first=_tpw_guess(v))))
            for v in named_bar(ctx, "T_pw", vpw, lambda v: f"V_pw = {v:.3g} V")]
        fast = [v for v in vpw if v >= MAX_RATE_VPW]
        rates = [_number(_cached(ctx, "rate", {"isyn": isyn, "vthr": Biases.vthr, "vpw": v},
                                 lambda v=v: point_rate(design, isyn, Biases.vthr, v)))
                 for v in named_bar(ctx, "max rate", fast, lambda v: f"V_pw = {v:.3g} V")]
        files = [report.vpw_figure(ctx.out / "pulse_width_vpw.png", vpw, widths, ("tpw_045", "tpw_100"),
                                   "T_pw at V_dd/2 (s)", "pulse width vs V_pw (cf. Garg et al. Fig. 4E)").name]
        if fast:
            files.append(report.vpw_figure(ctx.out / "max_rate_vpw.png", fast, rates,
                                           ("max_rate_vpw08", "max_rate_vpw11"), f"rate at {isyn * 1e6:g} µA (Hz)",
                                           "maximum rate vs V_pw (cf. Garg et al. Fig. 4D)").name)
        data = {"isyn": isyn, "vpw": vpw, "t_pw": widths, "max_rate_vpw": fast, "max_rate": rates}
        return StudyResult(_paper_points(ctx, design, self.measures), data, files)


# ----------------------------------------------------------------------------- pulsed input


def _pulsed_guess(design: Design, amplitude: float, width: float, frequency: float) -> float:
    """First run length (s): 2.5 periods of an ideal integrator that needs V_thr / ΔV input pulses."""
    step = amplitude / design.attenuator.k * width / design.lif.c1
    return 2.5 * max(1.0, Biases.vthr / step) / frequency


@register_study
class LifPulsed(LifStudy):
    """Firing rate under trains of input current pulses against the pulse width (Fig. 6A-B)."""

    name = "lif-pulsed"
    options = (*sweep_options("width", 7.0, 15.0, 3, "µs", (1.0, 500.0), "input pulse width", most=20),
               Setting("amplitude", 40.0, "input pulse current", unit="µA", bounds=(1.0, 500.0)),
               Setting("frequency", 100.0, "input pulse frequency", unit="Hz", bounds=(1.0, 1e4)),
               PAPER, CORNER)
    measures = _paper_measures("pulsed_10us", "pulsed_7us", "pulsed_15us")

    def run(self, ctx: StudyContext) -> StudyResult:
        design = _design(ctx)
        amplitude, frequency = si(ctx.options["amplitude"], 1e-6), ctx.options["frequency"]
        widths = [float(w) for w in sweep_values(ctx, "width", 1e-6)]
        if max(widths) >= 1.0 / frequency:
            raise ValueError(f"pulses of {max(widths) * 1e6:g} µs do not fit in the period of {frequency:g} Hz; "
                             "lower 'width_max' or 'frequency'.")

        def simulate(width: float) -> dict[str, Any]:
            train = pulsed_rate(amplitude=amplitude, width=width, frequency=frequency, design=design,
                                t_first=_pulsed_guess(design, amplitude, width, frequency))
            return {"rate": train.rate, "spikes": train.spikes.tolist(), "trace": _trace(train.time, train.mem)}

        runs = {w: _cached(ctx, "pulsed", {"amplitude": amplitude, "width": w, "frequency": frequency},
                           lambda w=w: simulate(w))
                for w in named_bar(ctx, "pulse width", widths, lambda w: f"{w * 1e6:.3g} µs pulses")}
        rates = [_number(r["rate"]) for r in runs.values()]
        figure = report.pulsed_figure(ctx.out / "pulsed.png", widths, rates, {w: r["trace"] for w, r in runs.items()},
                                      {w: r["spikes"] for w, r in runs.items()}, amplitude, frequency)
        data = {"amplitude": amplitude, "frequency": frequency, "width": widths, "rate": rates}
        return StudyResult(_paper_points(ctx, design, self.measures), data, [figure.name])


# ----------------------------------------------------------------------------- leak


@register_study
class LifLeak(LifStudy):
    """Bi-directional leak: time for the membrane to return to V_rest from above (V_taun) and below (V_taup)."""

    name = "lif-leak"
    options = (*sweep_options("vtaun", 1.0, 1.35, 3, "V", (0.5, 2.0), "downward leak bias V_taun", most=10),
               *sweep_options("vtaup", 1.1, 1.6, 3, "V", (0.5, 2.0), "upward leak bias V_taup", most=10),
               Setting("t_stop", 2.0, "length of each sweep run", unit="s", bounds=(0.01, 10.0)),
               PAPER, CORNER)
    measures = {**_paper_measures("leak_135", "leak_100"),
                "v_settle_typical": Measure("V", "membrane after t_stop from V_thr − 20 mV at the Table I biases "
                                                 "(V_taun = V_taup = 1.2 V; V_rest = 0.6 V)")}

    def run(self, ctx: StudyContext) -> StudyResult:
        design, t_stop = _design(ctx), ctx.options["t_stop"]

        def leak(direction: str, bias: float) -> dict[str, Any]:
            b = Biases(vtaun=bias) if direction == "down" else Biases(vtaup=bias)
            time, train = leak_time(b.vthr - 0.02 if direction == "down" else 0.0, biases=b, design=design,
                                    t_stop=t_stop)
            return {"bias": bias, "time_90": time, "v_end": float(train.mem[-1]),
                    "trace": _trace(train.time, train.mem)}

        def cached(run: tuple[str, float]) -> dict[str, Any]:
            return _cached(ctx, f"leak_{run[0]}", {"bias": run[1], "t_stop": t_stop}, lambda: leak(*run))

        runs = [("down", float(v)) for v in sweep_values(ctx, "vtaun")]
        runs += [("up", float(v)) for v in sweep_values(ctx, "vtaup")]
        done = {run: cached(run) for run in named_bar(ctx, "leak", runs, lambda r: f"{r[0]}, bias {r[1]:.3g} V")}
        typical = cached(("down", Biases.vtaun))
        side = {d: {bias: r for (direction, bias), r in done.items() if direction == d} for d in ("down", "up")}
        data = {"t_stop": t_stop, **{d: [{k: v for k, v in r.items() if k != "trace"} for r in side[d].values()]
                                     for d in side}}
        start = Biases.vthr - 0.02
        figure = report.leak_figure(ctx.out / "leak.png", *({b: r["trace"] for b, r in side[d].items()}
                                                            for d in ("down", "up")),
                                    leaked=Biases.vrest + 0.1 * (start - Biases.vrest))
        m = {**_paper_points(ctx, design, ("leak_135", "leak_100")), "v_settle_typical": _number(typical["v_end"])}
        return StudyResult(m, data, [figure.name])


# ----------------------------------------------------------------------------- adaptive pair


@register_study
class LifAdaptivePair(LifStudy):
    """Adaptive pair: a regulator neuron integrates the primary's spikes; its membrane is the primary's threshold."""

    name = "lif-adaptive-pair"
    options = (Setting("amplitude", 200.0, "input pulse current (not given in the paper; sets the first ISI)",
                       unit="µA", bounds=(1.0, 500.0)),
               Setting("width", 10.0, "input pulse width", unit="µs", bounds=(1.0, 500.0)),
               Setting("frequency", 1000.0, "input pulse frequency (Fig. 7B: 1 kHz)", unit="Hz", bounds=(10.0, 1e5)),
               Setting("t_stop", 100.0, "simulated time", unit="ms", bounds=(1.0, 1000.0)),
               CORNER)
    measures = {
        # the regulator starts at its V_rest, the paper's 0.6 V (Table I)
        "thr_start": Measure("V", "primary threshold (regulator membrane) at the start (Garg et al. §III.D)",
                             paper=0.6, role="calibration"),
        "thr_end": Measure("V", "highest primary threshold reached (Garg et al. §III.D)", paper=2.0,
                           role="held out"),
        # the input amplitude (not in the paper) was chosen to give this first interval
        "isi_first": Measure("s", "first inter-spike interval of the primary (Garg et al. Fig. 7B)", paper=2e-3,
                             role="calibration"),
        "isi_last": Measure("s", "last inter-spike interval of the primary (Garg et al. Fig. 7B)", paper=5e-3,
                            role="held out"),
        "spikes": Measure("", "spikes of the primary"),
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        o, design = ctx.options, _design(ctx)
        if o["width"] * 1e-6 >= 1.0 / o["frequency"]:
            raise ValueError(f"pulses of {o['width']:g} µs do not fit in the period of {o['frequency']:g} Hz; "
                             "lower 'width' or 'frequency'.")
        ctx.say(f"{self.name}: one transient of {o['t_stop']:g} ms (two chains)")

        def simulate() -> dict[str, Any]:
            train, memr = adaptive_pair(amplitude=si(o["amplitude"], 1e-6), width=si(o["width"], 1e-6),
                                        frequency=o["frequency"], t_stop=si(o["t_stop"], 1e-3), design=design)
            return {"spikes": train.spikes.tolist(), "thr_start": float(memr[0]), "thr_end": float(memr.max()),
                    "mem": _trace(train.time, train.mem), "thr": _trace(train.time, memr)}

        r = ctx.step("adaptive_pair", simulate)
        isi = np.diff(r["spikes"])
        m = {"thr_start": r["thr_start"], "thr_end": r["thr_end"], "isi_first": float(isi[0]) if isi.size else math.nan,
             "isi_last": float(isi[-1]) if isi.size else math.nan, "spikes": float(len(r["spikes"]))}
        paper = {"thr": [self.measures[k].paper for k in ("thr_start", "thr_end")],
                 "isi": [self.measures[k].paper for k in ("isi_first", "isi_last")]}
        figure = report.adaptive_figure(ctx.out / "adaptive_pair.png", r["mem"], r["thr"], isi, paper)
        return StudyResult(m, {"isi": isi.tolist(), "spikes": r["spikes"]}, [figure.name])


# ----------------------------------------------------------------------------- report


PARTS: tuple[type[Study], ...] = (LifChain, LifFi, LifPulseWidth, LifPulsed, LifLeak, LifAdaptivePair)


SIZES: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "full": {},
    "quick": {"lif-chain": {"i_points": 3}, "lif-fi": {"i_points": 3}, "lif-pulse-width": {"vpw_points": 3},
              "lif-pulsed": {"width_points": 2}},
    "smoke": {"lif-chain": {"i_points": 2}, "lif-fi": {"i_points": 2, "traces": False},
              "lif-pulse-width": {"vpw_points": 2},
              "lif-pulsed": {"width_points": 1, "amplitude": 200.0, "frequency": 1000.0, "paper": False},
              "lif-leak": {"vtaun_points": 1, "vtaup_points": 1, "t_stop": 0.05},
              "lif-adaptive-pair": {"t_stop": 12.0}},
}
"""Report size → study → options that differ from the study's defaults."""


def part_settings(name: str, size: str, corner: str) -> dict[str, Any]:
    """Options of the study ``name`` inside a report of ``size`` (see :data:`SIZES`)."""
    return {"corner": corner, **SIZES[size].get(name, {})}


@register_study
class LifReport(LifStudy):
    """Every LIF study (each in its sub-folder) and report.md: the simulated chain against the paper."""

    name = "lif-report"
    options = (Setting("size", "full", "sweep sizes: full (each study's defaults, about 4 min), quick (3 currents, "
                       "3 V_pw values, 2 pulse widths), smoke (1-2 points per sweep, pulsed-input paper points "
                       "skipped, 12 ms adaptive pair: a check that everything runs)", choices=tuple(SIZES)),
               CORNER)
    measures = {k: v for part in PARTS for k, v in part.measures.items()}

    def run(self, ctx: StudyContext) -> StudyResult:
        results: dict[str, Any] = {}
        skipped: list[str] = []
        for part in ctx.bar(PARTS, desc="studies"):
            ctx.say(f"{self.name}: study {part.name} -> {ctx.out / part.name}")
            run = studies.run(part.name, ctx.out / part.name, progress=ctx.progress,
                              settings=part_settings(part.name, ctx.options["size"], ctx.options["corner"]))
            results[part.name] = run.result
            if not run.definition["options"].get("paper", True):
                skipped += list(part.measures)
        write_text(ctx.out / "report.md", report.markdown(results, skipped))
        measurements = {k: _number(v) for r in results.values() for k, v in r["measurements"].items()}
        files = [f"{n}/{f}" for n, r in results.items() for f in r["files"]]
        return StudyResult(measurements, {"studies": {n: r["key"] for n, r in results.items()}},
                           ["report.md", *files])


# ----------------------------------------------------------------------------- calibration


@register_study
class LifCalibration(LifStudy):
    """lmfit calibration of C1, C2 and the gate lengths of M_pw and the leak bias devices against the paper."""

    name = "lif-calibration"
    options = (Setting("stages", "timer,membrane", "stages to fit, in order (timer: C2, L(M_pw); membrane: C1, "
                       "L(leak bias))", choices=("timer,membrane", "timer", "membrane")),
               Setting("max_evals", 30, "most residual evaluations per stage (lmfit max_nfev)", bounds=(1, 500)),
               Setting("ship", False, "also update the package's calibration file "
                       f"(testbenches/lif/{CALIBRATION.name})"),
               CORNER)
    measures = {
        **{n: Measure(u, f"fitted {n} (NaN: its stage was not run)") for n, u in PARAMETERS.items()},
        **{f"chisqr_{s.name}": Measure("", f"Σ ln²(sim / paper) over the {s.name} stage's calibration points")
           for s in STAGES},
    }

    def run(self, ctx: StudyContext) -> StudyResult:
        stages = ctx.options["stages"].split(",")
        citation = StudyRun.open(ctx.out).citation()

        def measure(point: Point, design: Design) -> float:
            return _number(_cached(ctx, point.name, sizes(design), lambda: point.measure(design)))

        bars: dict[str, Any] = {}

        def progress(stage: str, values: Mapping[str, float], residuals: np.ndarray) -> None:
            bar = bars.setdefault(stage, ctx.bar(total=ctx.options["max_evals"], desc=f"stage {stage}"))
            bar.set_postfix_str(", ".join(f"{k} = {v:.4g}" for k, v in values.items()) +
                                f"; |residual| = {float(np.linalg.norm(residuals)):.3g}")
            bar.update()

        fitted = calibrate(_design(ctx), stages, max_evals=ctx.options["max_evals"], measure=measure,
                           progress=progress)
        for bar in bars.values():
            bar.close()
        values = {k: v for stage in fitted.values() for k, v in stage["values"].items()}
        stage_of = {k: s.name for s in STAGES if s.name in fitted for k in s.params}
        files = self._write(ctx, values, stage_of, citation)
        m = {**{k: values.get(k, math.nan) for k in PARAMETERS},
             **{f"chisqr_{s.name}": fitted[s.name]["chisqr"] if s.name in fitted else math.nan for s in STAGES}}
        return StudyResult(m, {"stages": fitted}, files)

    @staticmethod
    def _write(ctx: StudyContext, values: Mapping[str, float], stage_of: Mapping[str, str],
               citation: Mapping[str, Any]) -> list[str]:
        """``calibration.json`` (the shipped file with the fitted entries replaced) into the run folder and,
        with ``ship``, into the package."""
        CALIBRATION.update(ctx.out, values=values, source=citation, detail={k: {"stage": s} for k, s in stage_of.items()},
                           ship=ctx.options["ship"])
        return [CALIBRATION.out_name]
