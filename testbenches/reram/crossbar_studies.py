"""Crossbar studies: MVM accuracy after programming (Falcone et al. Fig. 4f, S6) and device presets.

``crossbar-mvm``: RMSE against floating point of a size x size CMO/HfOx array (one weight draw, one
programming draw, one relaxation draw per time, shared by every configuration) from programming to
10 years, for the configurations of Fig. S6a (no IR drop with floating-point I/O, IR drop with FP I/O,
IR drop with 6/8-bit I/O), under two wiring models side by side (the default, the resistance of the
column wires only, aihwkit's IR-drop model, which the paper used; and row and column wires), with the
relaxation coefficients of the authors' aihwkit noise model beside ours, and a large array (Fig. S6b).

``crossbar-presets``: RMSE and the distribution of the output error of every device preset
(:mod:`testbenches.reram.presets`) on its own array, the on/off ratio and the ADC resolution swept.

Both use the numpy nodal solver (:func:`testbenches.reram.crossbar.nodal_currents`), which agrees with
ngspice and VACASK on the full array (``crossbar-mvm`` re-checks it on small arrays).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from spicegen.figures import pyplot, save_figure
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study
from testbenches.reram import cell
from testbenches.reram.crossbar import SOLVER_RTOL, Crossbar, paper_operands, rmse, solver_agreement
from testbenches.reram.nonideal import NonIdealities, Wires, analog_reads, at_time, digitize, program, read
from testbenches.reram.nonideal import physical_columns, target_conductances
from testbenches.reram.presets import PRESETS, preset

YEAR = 365.25 * 86400.0
#: Times after programming (s); ``prog`` (0) is programming noise only, before any relaxation.
TIMES: dict[str, float] = {"prog": 0.0, "1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": YEAR, "10y": 10 * YEAR}
#: Paper numbers (Falcone et al. §2.2.2, Fig. 4f, Fig. S6a).
PAPER = {"rmse_1s": 0.03, "rmse_10y": 0.2, "rmse_prog_fp_noir": 6e-3, "wan2022_rmse": 0.58}
#: Configurations of Fig. S6a: (IR drop, quantized 6/8-bit I/O).
CONFIGS: dict[str, tuple[bool, bool]] = {"fp_noir": (False, False), "fp_ir": (True, False), "q_ir": (True, True)}
LABELS = {"fp_noir": "no IR drop, FP I/O", "fp_ir": "IR drop, FP I/O", "q_ir": "IR drop, 6/8-bit I/O"}
#: The alternative of each wiring model, reported beside it.
OTHER_WIRES: dict[str, Wires] = {"columns": "both", "both": "columns", "rows": "columns"}
WIRE_LABELS = {"columns": "column wires", "both": "row + column wires", "rows": "row wires"}
Streams = Callable[..., np.random.Generator]
"""``rng(name, *index)``: the generator of a named random stream (:meth:`spicegen.study.StudyContext.rng`)."""


def configure(ni: NonIdealities, ir: bool, quant: bool, wires: Wires | None = None) -> NonIdealities:
    """``ni`` with or without its wire resistance and its DAC/ADC, on the wiring ``wires`` (default: its own)."""
    return replace(ni, r_wire=ni.r_wire if ir else 0.0, wires=wires or ni.wires, dac_bits=ni.dac_bits if quant else 0,
                   adc_bits=ni.adc_bits if quant else 0)


@dataclass
class TimeSeries:
    """RMSE vs floating point per configuration and time of one array, with the outputs behind them.

    Attributes
    ----------
    size
        Array size (size x size weights).
    rmse
        ``rmse[config][time]``.
    components
        Single-effect RMSEs at the exact targets (no programming noise, no relaxation).
    y_fp
        Floating-point outputs.
    samples
        Analog outputs ``samples[config][time]``.
    seconds
        Wall time.
    """

    size: int
    rmse: dict[str, dict[str, float]]
    components: dict[str, float]
    y_fp: np.ndarray
    samples: dict[str, dict[str, np.ndarray]]
    seconds: float


def rmse_vs_time(size: int, vectors: int, rng: Streams, ni: NonIdealities, configs: Mapping[str, NonIdealities],
                 times: Sequence[str] = tuple(TIMES), components: Mapping[str, NonIdealities] | None = None,
                 bar: Callable[..., Any] | None = None) -> TimeSeries:
    """RMSE vs floating point of every configuration at every time.

    Parameters
    ----------
    size, vectors
        Array size and input vectors (:func:`~testbenches.reram.crossbar.paper_operands`).
    rng
        Named streams ``operands``, ``programming`` and ``relaxation`` (one per time).
    ni
        The device: programming and time effects (the configurations only change wires and I/O).
    configs
        Read settings by name.
    times
        Keys of :data:`TIMES`.
    components
        Read settings applied to the exact targets (single effects).
    bar
        ``bar(iterable, total=, desc=)`` progress bar.
    """
    start = time.perf_counter()
    w, x = paper_operands(size, vectors, rng("operands"))
    y_fp = x @ w
    target = target_conductances(w, ni)
    programmed = program(target, ni, rng("programming"))
    table: dict[str, dict[str, float]] = {name: {} for name in configs}
    samples: dict[str, dict[str, np.ndarray]] = {name: {} for name in configs}
    for key in (bar or (lambda it, **_: it))(list(times), total=len(times), desc=f"{size}x{size} MVM"):
        g = at_time(programmed, TIMES[key], ni, rng("relaxation", list(TIMES).index(key)))
        for name, setting in configs.items():
            samples[name][key] = read(g, x, setting)
            table[name][key] = rmse(samples[name][key], y_fp)
    single = {name: rmse(read(target, x, setting), y_fp) for name, setting in (components or {}).items()}
    return TimeSeries(size, table, single, y_fp, samples, time.perf_counter() - start)


def fig_s6_configs(ni: NonIdealities, wires: Wires) -> dict[str, NonIdealities]:
    """The Fig. S6a configurations on ``wires`` and, suffixed ``_<other>``, the IR-drop ones on the other wiring."""
    other = OTHER_WIRES[wires]
    configs = {name: configure(ni, ir, quant, wires) for name, (ir, quant) in CONFIGS.items()}
    return configs | {f"{name}_{other}": configure(ni, ir, quant, other) for name, (ir, quant) in CONFIGS.items() if ir}


def components_of(ni: NonIdealities, wires: Wires) -> dict[str, NonIdealities]:
    """Single effects: IR drop on ``wires`` and on the other wiring, 6/8-bit quantization."""
    return {"ir_only": configure(ni, True, False, wires), f"ir_only_{OTHER_WIRES[wires]}":
            configure(ni, True, False, OTHER_WIRES[wires]), "quant_only": configure(ni, False, True)}


# ----------------------------------------------------------------------------- figures


def plot_mvm(series: TimeSeries, path: Path, config: str = "q_ir") -> Path:
    """Fig. 4f style: analog vs FP outputs of ``config`` at several times."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4), dpi=150)
    for key, color in zip(("prog", "1s", "1h", "10y"), ("tab:purple", "tab:blue", "tab:green", "tab:red")):
        if key in series.samples[config]:
            ax.plot(series.y_fp.ravel(), series.samples[config][key].ravel(), ".", ms=2, color=color, alpha=0.5,
                    label=f"{key}: RMSE {series.rmse[config][key]:.3f}")
    lim = np.abs(series.y_fp).max() * 1.1
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set(xlabel="expected inner product, floating point (weight units)",
           ylabel="ReRAM inner product (weight units)",
           title=f"{series.size}x{series.size} CMO/HfOx array, {LABELS[config]}\n(sim., cf. Falcone et al. Fig. 4f)")
    ax.legend(markerscale=4, fontsize=7, title="time after programming", title_fontsize=7)
    return save_figure(fig, path)


def plot_breakdown(main: TimeSeries, alternatives: Mapping[str, TimeSeries], large: TimeSeries | None, wires: Wires,
                   path: Path) -> Path:
    """Fig. S6 style: RMSE vs time per configuration, wiring model, relaxation source and array size."""
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.2), dpi=150)
    other = OTHER_WIRES[wires]
    curves = {f"{LABELS[name]} ({WIRE_LABELS[wires]})": main.rmse[name] for name in CONFIGS}
    curves |= {f"{LABELS[name]} ({WIRE_LABELS[other]})": main.rmse[f"{name}_{other}"] for name in ("fp_ir", "q_ir")}
    _rmse_panel(ax, curves)
    ax.plot([TIMES["1s"], TIMES["10y"]], [PAPER["rmse_1s"], PAPER["rmse_10y"]], "*", color="k", ms=10,
            label="paper, IR drop, 6/8-bit I/O (Fig. 4f)")
    ax.axhline(PAPER["rmse_prog_fp_noir"], color="k", ls=":", lw=1.0, label="paper, programming, no IR, FP (Fig. S6a)")
    ax.legend(fontsize=6)
    ax.set_title(f"{main.size}x{main.size}: quantization, IR drop, relaxation (cf. Fig. S6a)\n"
                 "dashed: programming only (before relaxation)", fontsize=8)
    more = {f"{main.size}x{main.size} ours": main.rmse["q_ir"]}
    more |= {f"{main.size}x{main.size} {label}": s.rmse["q_ir"] for label, s in alternatives.items()}
    if large is not None:
        more |= {f"{large.size}x{large.size} ours": large.rmse["q_ir"]}
    _rmse_panel(ax2, more)
    ax2.set_title(f"IR drop, 6/8-bit I/O, {WIRE_LABELS[wires]}: relaxation source, array size (cf. Fig. S6b)",
                  fontsize=8)
    return save_figure(fig, path)


def _rmse_panel(ax: Any, curves: Mapping[str, Mapping[str, float]]) -> None:
    for (label, values), marker in zip(curves.items(), "oxsd^v<>p"):
        keys = [k for k in TIMES if k in values and k != "prog"]
        line, = ax.loglog([TIMES[k] for k in keys], [values[k] for k in keys], marker=marker, label=label)
        if "prog" in values:
            ax.axhline(values["prog"], color=line.get_color(), ls="--", lw=0.8)
    ax.set(xlabel="time after programming (s)", ylabel="RMSE vs floating point (weight units)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)


# ----------------------------------------------------------------------------- study crossbar-mvm

#: The noise lines of the cmo-hfox preset as study options: (unit, description, bounds, scale to SI).
NOISE_OPTIONS = {
    "sigma_prog_slope": ("", "sigma_prog slope at acceptance 0.2 % (extraction reram-sigma-prog)", (0.0, 0.1), 1.0),
    "sigma_prog_offset": ("S", "sigma_prog offset at acceptance 0.2 %", (-1e-6, 1e-6), 1.0),
    "relax_mean_1s": ("uS", "relaxation mean shift at 1 s: the immediate jump of the mean", (-10.0, 10.0), 1e-6),
    "relax_mean_per_decade": ("uS", "relaxation mean shift per decade of time (extraction reram-relaxation)",
                              (-10.0, 10.0), 1e-6),
    "relax_sigma_1s": ("uS", "relaxation spread at 1 s: the immediate jump of the spread", (0.0, 10.0), 1e-6),
    "relax_sigma_per_decade": ("uS", "relaxation spread per decade of time", (-10.0, 10.0), 1e-6),
}


def _sizes(text: str, option: str, bounds: tuple[int, int]) -> list[int]:
    """The array sizes of a comma-separated option (empty: none)."""
    sizes = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if not part.isdigit() or not bounds[0] <= int(part) <= bounds[1]:
            raise ValueError(f"option {option!r} = {text!r}: {part!r} is not an array size in "
                             f"[{bounds[0]}, {bounds[1]}]; give sizes separated by commas, or nothing to skip.")
        sizes.append(int(part))
    return sizes


def _mvm_measures() -> dict[str, Measure]:
    held = {f"rmse_{k}": PAPER[f"rmse_{k}"] for k in ("1s", "10y")}
    measures = {f"rmse_{k}": Measure("", f"RMSE vs FP at {k}, IR drop (default wiring), 6/8-bit I/O",
                                     paper=held.get(f"rmse_{k}"), spec=_within(held.get(f"rmse_{k}"), 0.3),
                                     role="held out" if f"rmse_{k}" in held else "") for k in TIMES}
    measures |= {f"rmse_{k}_other_wires": Measure("", f"RMSE at {k}, the other wiring model, 6/8-bit I/O")
                 for k in ("prog", "1s", "10y")}
    measures |= {f"rmse_{k}_aihwkit_relaxation": Measure("", f"RMSE at {k} with the relaxation and sigma_prog of "
                                                             "aihwkit's ReRamCMONoiseModel") for k in ("1s", "10y")}
    return measures | {
        "rmse_prog_fp_noir": Measure("", "RMSE after programming, no IR drop, FP I/O", paper=PAPER["rmse_prog_fp_noir"],
                                     role="held out"),
        "rmse_1s_fp_noir": Measure("", "RMSE 1 s after programming, no IR drop, FP I/O (after the immediate jump)"),
        "rmse_prog_fp_noir_dummy": Measure("", "RMSE after programming, no IR, FP I/O, one device per weight and a "
                                               "dummy column"),
        "rmse_ir_only": Measure("", "IR drop alone on the default wiring (exact targets, FP I/O)"),
        "rmse_ir_only_other_wires": Measure("", "IR drop alone on the other wiring model"),
        "rmse_quant_only": Measure("", "6/8-bit quantization alone"),
        "quant_share_1s": Measure("", "share of the squared 1 s RMSE due to quantization (Fig. S6a: main < 1 h)",
                                  spec=(0.5, 1.0)),
        "relax_share_1d": Measure("", "share of the squared 1 d RMSE present without IR drop and quantization "
                                      "(Fig. S6a: relaxation dominates > 1 h)", spec=(0.5, 1.0)),
        "rmse_large_prog": Measure("", "large array: RMSE after programming, 6/8-bit I/O (NaN: large = 0)"),
        "rmse_large_1s": Measure("", "large array: RMSE at 1 s"),
        "rmse_large_10y": Measure("", "large array: RMSE at 10 y"),
        "large_ir_share_1s": Measure("", "large array: squared IR-drop-alone RMSE over the squared 1 s RMSE "
                                         "(Fig. S6b: IR drop dominates)", spec=(0.5, None)),
        "spice_vs_numpy_rel": Measure("", "largest |numpy - ngspice| output over the largest output, over the "
                                          "check sizes (NaN: none)", spec=(None, SOLVER_RTOL)),
    }


def _within(value: float | None, rel: float) -> tuple[float, float] | None:
    return None if value is None else (value * (1 - rel), value * (1 + rel))


CODE = (__name__, "testbenches.reram.crossbar", "testbenches.reram.nonideal", "testbenches.reram.presets",
        "testbenches.reram.cell")
"""Modules whose source the crossbar studies' definitions hold (:attr:`spicegen.study.Study.code`)."""


@register_study
class CrossbarMvm(Study):
    """CMO/HfOx crossbar MVM accuracy vs time after programming (Falcone et al. Fig. 4f, S6a, S6b).

    RMSE against floating point of a size x size array for the configurations of Fig. S6a at every time,
    under the default wiring model and the other side by side, with the relaxation of the authors' aihwkit
    model beside ours, single-effect components, a large array, and the numpy solver checked against
    ngspice; ``crossbar_mvm.png`` (Fig. 4f style), ``crossbar_mvm_breakdown.png`` (Fig. S6 style).
    """

    name = "crossbar-mvm"
    code = CODE
    family = "reram"
    options = (
        Setting("size", 64, "array size N (N x N weights, 2N physical columns)", bounds=(2, 256)),
        Setting("vectors", 100, "input vectors (paper: 100)", bounds=(1, 10000)),
        Setting("r_wire", 0.35, "wire segment resistance (paper: 0.35)", unit="Ohm", bounds=(0.0, 100.0)),
        Setting("wires", "columns", "default wiring model: column wires only (aihwkit's IR drop, the paper's) or "
                                    "row and column wires", choices=("columns", "both")),
        Setting("large", 512, "size of the large array (Fig. S6b: 512; 0: skip)", bounds=(0, 1024)),
        Setting("check_sizes", "8", "array sizes of the ngspice-vs-numpy check, comma-separated, 2-32 (empty: skip)"),
        *(Setting(name, getattr(preset("cmo-hfox"), name) / scale, desc, unit=unit, bounds=bounds)
          for name, (unit, desc, bounds, scale) in NOISE_OPTIONS.items()),
    )
    measures = _mvm_measures()
    devices = (cell.DEVICE,)
    seed_default = 0

    def resolve(self, settings: Mapping[str, object] | None = None) -> dict[str, Any]:
        """The options, with the comma-separated ones checked too (before anything is written)."""
        values = super().resolve(settings)
        _sizes(values["check_sizes"], "check_sizes", (2, 32))
        return values

    def run(self, ctx: StudyContext) -> StudyResult:
        o = ctx.options
        ni = replace(preset("cmo-hfox"), r_wire=o["r_wire"], wires=o["wires"],
                     **{name: o[name] * scale for name, (_, _, _, scale) in NOISE_OPTIONS.items()})
        main = rmse_vs_time(o["size"], o["vectors"], ctx.rng, ni, fig_s6_configs(ni, o["wires"]),
                            components=components_of(ni, o["wires"]), bar=ctx.bar)
        aihwkit = replace(preset("cmo-hfox-aihwkit"), r_wire=o["r_wire"], wires=o["wires"])
        alternatives = {
            "aihwkit relaxation": rmse_vs_time(o["size"], o["vectors"], ctx.rng, aihwkit,
                                               {"q_ir": configure(aihwkit, True, True)}),
            "dummy column": rmse_vs_time(o["size"], o["vectors"], ctx.rng, replace(ni, mapping="dummy"),
                                         {"fp_noir": configure(replace(ni, mapping="dummy"), False, False)},
                                         times=("prog",))}
        large = None
        if o["large"]:
            large = rmse_vs_time(o["large"], o["vectors"], ctx.rng, ni, {"q_ir": configure(ni, True, True)},
                                 components={"ir_only": configure(ni, True, False)}, bar=ctx.bar)
        agreement = {f"{n}x{n}": self._check(ctx, n, o["r_wire"]) for n in _sizes(o["check_sizes"], "check_sizes",
                                                                                   (2, 32))}
        files = [plot_mvm(main, ctx.out / "crossbar_mvm.png"),
                 plot_breakdown(main, {k: v for k, v in alternatives.items() if "q_ir" in v.rmse}, large, o["wires"],
                                ctx.out / "crossbar_mvm_breakdown.png")]
        arrays = {"main": main, **alternatives, **({"large": large} if large else {})}
        return StudyResult(self._measurements(main, alternatives, large, o["wires"], agreement), data={
            "settings": {"non_idealities": ni.__dict__, "times_s": TIMES, "wires": o["wires"],
                         "other_wires": OTHER_WIRES[o["wires"]]},
            "arrays": {k: {"size": s.size, "rmse": s.rmse, "components": s.components, "seconds": s.seconds}
                       for k, s in arrays.items()},
            "solver_agreement": agreement, "paper": PAPER}, files=[str(p.relative_to(ctx.out)) for p in files])

    @staticmethod
    def _check(ctx: StudyContext, size: int, r_wire: float) -> dict[str, float]:
        ctx.say(f"crossbar-mvm: ngspice vs numpy on {size}x{size}")
        start = time.perf_counter()
        return solver_agreement(size, 2, ctx.rng("check", size), Crossbar(r_wire=r_wire)) | {
            "seconds": time.perf_counter() - start}

    @staticmethod
    def _measurements(main: TimeSeries, alternatives: Mapping[str, TimeSeries], large: TimeSeries | None, wires: Wires,
                      agreement: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
        other = OTHER_WIRES[wires]
        r, c = main.rmse, main.components
        out = {f"rmse_{k}": r["q_ir"][k] for k in TIMES}
        out |= {f"rmse_{k}_other_wires": r[f"q_ir_{other}"][k] for k in ("prog", "1s", "10y")}
        out |= {f"rmse_{k}_aihwkit_relaxation": alternatives["aihwkit relaxation"].rmse["q_ir"][k] for k in ("1s", "10y")}
        out |= {"rmse_prog_fp_noir": r["fp_noir"]["prog"], "rmse_1s_fp_noir": r["fp_noir"]["1s"],
                "rmse_prog_fp_noir_dummy": alternatives["dummy column"].rmse["fp_noir"]["prog"],
                "rmse_ir_only": c["ir_only"], "rmse_ir_only_other_wires": c[f"ir_only_{other}"],
                "rmse_quant_only": c["quant_only"],
                "quant_share_1s": 1.0 - (r["fp_ir"]["1s"] / r["q_ir"]["1s"]) ** 2,
                "relax_share_1d": (r["fp_noir"]["1d"] / r["q_ir"]["1d"]) ** 2}
        big = large.rmse["q_ir"] if large else {}
        out |= {f"rmse_large_{k}": big.get(k, math.nan) for k in ("prog", "1s", "10y")}
        out["large_ir_share_1s"] = (large.components["ir_only"] / big["1s"]) ** 2 if large else math.nan
        out["spice_vs_numpy_rel"] = max((a["max_rel_output"] for a in agreement.values()), default=math.nan)
        return out


# ----------------------------------------------------------------------------- study crossbar-presets


def _numbers(text: str, option: str, low: float, integer: bool = False) -> list[float]:
    """The numbers of a comma-separated option, each > ``low``."""
    values = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not value > low or (integer and value != int(value)):
            raise ValueError(f"option {option!r} = {text!r}: {part!r} is not a {'whole ' if integer else ''}number "
                             f"> {low:g}; give numbers separated by commas.")
        values.append(int(value) if integer else value)
    return values


def _preset_names(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()] or list(PRESETS)
    for name in names:
        preset(name)  # the error lists the presets
    return names


def preset_operands(ni: NonIdealities, vectors: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The weights filling the preset's array (all rows, every weight column its mapping allows; 64 rows
    when the preset has no size) and ``vectors`` inputs, as :func:`~testbenches.reram.crossbar.paper_operands`."""
    rows = ni.array_size or 64
    columns = rows // 2 if ni.mapping == "differential" else rows - 1
    w, x = paper_operands(rows, vectors, rng)
    w = w[:, :columns]
    return w / np.abs(w).max(), x


@dataclass
class PresetResult:
    """One preset: its RMSE, output errors, and the sweeps."""

    rmse: float
    errors: np.ndarray
    on_off: dict[float, float]
    adc: dict[str, dict[int, float]]
    shape: tuple[int, int]


def evaluate_preset(ni: NonIdealities, vectors: int, rng: Streams, t: float, on_off: Sequence[float],
                    adc_bits: Sequence[int], variation: float) -> PresetResult:
    """RMSE of a preset at ``t``, its output errors, RMSE vs on/off ratio (with ``variation`` added, so that level 0
    carries noise) and vs ADC bits (linear and non-linear, on the same analog reads)."""
    w, x = preset_operands(ni, vectors, rng("operands"))
    y_fp = x @ w

    def conductances(setting: NonIdealities) -> np.ndarray:
        return at_time(program(target_conductances(w, setting), setting, rng("programming")), t, setting,
                       rng("relaxation"))

    reads = analog_reads(conductances(ni), x, ni, rng("read"))
    share = min(ni.parallel_rows or w.shape[0], w.shape[0]) / w.shape[0]
    y = digitize(reads, ni, share)
    sweep = {}
    for ratio in on_off:
        setting = replace(ni, on_off=ratio, variation=max(ni.variation, variation))
        sweep[ratio] = rmse(read(conductances(setting), x, setting, rng("read")), y_fp)
    adc = {mode: {bits: rmse(digitize(reads, replace(ni, adc_bits=bits, adc_mode=mode), share), y_fp)
                  for bits in adc_bits} for mode in ("linear", "nonlinear")}
    return PresetResult(rmse(y, y_fp), (y - y_fp).ravel(), sweep, adc, (w.shape[0], physical_columns(w.shape[1], ni)))


def nonlinear_gain_bits(adc: Mapping[str, Mapping[int, float]], bits: int) -> float:
    """ADC bits a linear ADC needs to match the non-linear one at ``bits`` (log-RMSE interpolation), minus ``bits``."""
    linear = sorted(adc["linear"].items())
    target = math.log(adc["nonlinear"][bits])
    xs, ys = [b for b, _ in linear], [-math.log(v) for _, v in linear]
    return float(np.interp(-target, ys, xs)) - bits if ys == sorted(ys) else math.nan


def plot_presets(results: Mapping[str, PresetResult], t: float, path: Path) -> Path:
    """RMSE and error distribution per preset, RMSE vs on/off and vs ADC bits."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=150)
    names = list(results)
    axes[0, 0].barh(names, [results[n].rmse for n in names], color="tab:blue")
    axes[0, 0].set(xscale="log", xlabel="RMSE vs floating point (weight units)",
                   title=f"each preset on its own array, {t:g} s after programming")
    for name in names:
        e = results[name].errors
        lim = max(np.percentile(np.abs(e), 99.5), 1e-3)
        axes[0, 1].hist(np.clip(e, -lim, lim), bins=60, histtype="step", density=True, label=name)
        axes[1, 0].loglog(list(results[name].on_off), list(results[name].on_off.values()), "o-", ms=3, label=name)
        line, = axes[1, 1].semilogy(list(results[name].adc["linear"]), list(results[name].adc["linear"].values()),
                                    "o-", ms=3, label=name)
        axes[1, 1].semilogy(list(results[name].adc["nonlinear"]), list(results[name].adc["nonlinear"].values()),
                            "s--", ms=3, color=line.get_color())
    axes[0, 1].set(xlabel="output error y - y_FP (weight units)", ylabel="probability density (1/weight unit)",
                   yscale="log", title="output error distribution")
    axes[1, 0].set(xlabel="on/off ratio G_max/G_min", ylabel="RMSE (weight units)",
                   title="on/off ratio swept (with device variation)")
    axes[1, 1].set(xlabel="ADC resolution (bits)", ylabel="RMSE (weight units)",
                   title="ADC bits swept: linear (solid), non-linear (dashed)")
    for ax in axes.ravel()[1:]:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("Crossbar MVM error per device preset (sim., NeuroSim Table VI, SpikeSim Table III, CMO/HfOx)",
                 fontsize=9)
    return save_figure(fig, path)


def _measure_name(name: str) -> str:
    return "rmse_" + name.replace("-", "_")


@register_study
class CrossbarPresets(Study):
    """RMSE and output error distribution of every device preset; on/off ratio and ADC resolution swept.

    Each preset runs on its own array size (NeuroSim 128 x 128 with a dummy column, SpikeSim 64 x 64
    differential, CMO/HfOx 64 x 64) with the weights and inputs of ``crossbar-mvm``; ``crossbar_presets.png``.
    """

    name = "crossbar-presets"
    code = CODE
    family = "reram"
    options = (
        Setting("presets", "", "presets, comma-separated (empty: all)"),
        Setting("vectors", 100, "input vectors", bounds=(1, 10000)),
        Setting("time", 1.0, "time after programming of the reads (0: programmed state)", unit="s",
                bounds=(0.0, 10 * YEAR)),
        Setting("on_off", "2,3,10,30,100,1000", "on/off ratios of the sweep, comma-separated (each > 1)"),
        Setting("adc_bits", "3,4,5,6,8", "ADC resolutions of the sweep, comma-separated (2-16 bits)"),
        Setting("variation", 0.05, "device variation in the on/off sweep (NeuroSim --vari), so level 0 carries noise",
                bounds=(0.0, 1.0)),
    )
    measures = {_measure_name(name): Measure("", f"RMSE vs FP of preset {name} with its own settings")
                for name in PRESETS} | {
        "nonlinear_adc_gain_bits": Measure("", "bits a linear ADC needs beyond a 5-bit non-linear one for the same "
                                               "RMSE, NeuroSim 22 nm RRAM (NeuroSim: ~1)"),
    }
    seed_default = 0

    def resolve(self, settings: Mapping[str, object] | None = None) -> dict[str, Any]:
        """The options, with the comma-separated ones checked too (before anything is written)."""
        values = super().resolve(settings)
        _preset_names(values["presets"])
        _numbers(values["on_off"], "on_off", 1.0)
        if any(b < 2 or b > 16 for b in _numbers(values["adc_bits"], "adc_bits", 1.0, integer=True)):
            raise ValueError(f"option 'adc_bits' = {values['adc_bits']!r}: use 2..16 bits.")
        return values

    def run(self, ctx: StudyContext) -> StudyResult:
        o = ctx.options
        names = _preset_names(o["presets"])
        on_off, bits = _numbers(o["on_off"], "on_off", 1.0), _numbers(o["adc_bits"], "adc_bits", 1.0, integer=True)
        results = {}
        for k, name in enumerate(ctx.bar(names, total=len(names), desc="presets")):
            results[name] = evaluate_preset(preset(name), o["vectors"], lambda s, *i, k=k: ctx.rng(s, k, *i),
                                            o["time"], on_off, bits, o["variation"])
        path = plot_presets(results, o["time"], ctx.out / "crossbar_presets.png")
        measurements = {_measure_name(n): results[n].rmse if n in results else math.nan for n in PRESETS}
        reference = results.get("rram-22nm-intel")
        measurements["nonlinear_adc_gain_bits"] = (nonlinear_gain_bits(reference.adc, 5)
                                                   if reference and 5 in bits else math.nan)
        data = {name: {"rmse": r.rmse, "on_off": r.on_off, "adc": r.adc,
                       "error_percentiles": dict(zip(("p1", "p5", "p50", "p95", "p99"),
                                                     np.percentile(r.errors, [1, 5, 50, 95, 99]).tolist())),
                       "error_std": float(r.errors.std()), "rows_columns": r.shape, "settings": preset(name).__dict__, "source": PRESETS[name].source}
                for name, r in results.items()}
        return StudyResult(measurements, data=data, files=[str(path.relative_to(ctx.out))])
