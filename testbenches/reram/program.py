"""Identical-pulse closed-loop programming of the CMO/HfOx 1T1R cell (Falcone et al. §4.5, Fig. 3c/e, Fig. S5b).

Pulse by pulse on the SPICE cell of :mod:`testbenches.reram.cell`:

1. reset to the HRS by a quasi-static sweep 0 -> -1.5 V (V_G = 3.3 V), once: the targets are then
   programmed in ascending order, each from the state the previous one left (``docs/reram.md`` section 2
   item 12; ``start="hrs"`` resets before every target instead);
2. read G at 0.2 V (V_G = 3.3 V);
3. stop if |G - G_target| <= AR * G_target; else one 2.5 us set pulse (V_G = 1.4 V) if G is below the
   target, one reset pulse (V_G = 3.3 V) if above; amplitudes by target range:
   10-30 uS: +1.35 / -1.5 V, 30-60 uS: +1.35 / -1.3 V, 60-90 uS: +1.5 / -1.3 V;
4. repeat from 2, at most ``max_pulses`` pulses (a run that cannot converge stops there and says so).

Two engines give the pulse: ``"map"`` (default), the :class:`~testbenches.reram.pulse.PulseMap` of
the cell (device rate at the cell's ngspice operating point, integrated exactly; ~1e4 times faster,
checked against the transient in ``tests/reram/test_reram.py``), and ``"spice"``, one ngspice transient
per pulse and one ``.op`` per read (~0.1 s per pulse). The quasi-static reset to the HRS is run once
in ngspice: it ends in the same state from any programmed state (the reset is self-limiting).

Cycle-to-cycle noise: every pulse draws the set or reset attempt rate from the device parameter's own
``c2c`` :class:`~spicegen.params.Variation` (seeded ``numpy`` generator, one per cell and acceptance
range); the rate is proportional to it, so the draw acts as a pulse of width ``width*nu_drawn/nu``.
The device's law is a zero-inflated lognormal: about one pulse in five does not switch
(``docs/reram.md`` section 2 item 13).

sigma_prog (Fig. 3e): the standard deviation of the final read conductance over the cells of one
target, linear in G_target per acceptance range. The study reports a plain least-squares line
(:func:`sigma_prog_lines`); the extraction ``reram-sigma-prog`` fits it with lmfit from the study's
``runs.csv`` and ships it as surrogates.

Study ``reram-program`` (the full section 4.5 study: ``--n 32``, 35 targets)::

    spicegen study run reram-program --n 32 --out results/reram-program
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

from spicegen.figures import pyplot, save_figure
from spicegen.files import write_text
from spicegen.params import Variation
from spicegen.study import Measure, Setting, Study, StudyContext, StudyResult, register_study
from testbenches.reram import cell
from testbenches.reram.pulse import PulseMap, c2c_variations, c2c_width

#: Section 4.5 of Falcone et al.
PULSE_WIDTH = 2.5e-6
VG_SET_PULSE, VG_RESET_PULSE = 1.4, 3.3
ACCEPTANCE_RANGES = (0.02, 0.002)
TARGET_RANGE = (10e-6, 90e-6)
#: Paper values (section 2.2.1, Fig. 3c/e; the sigma_prog lines are FIG*, labels as the text implies).
PAPER = {"pulses_2pct": 11.0, "pulses_02pct": 89.0,
         "sigma_prog_line": {"0.02": (11.3e-3, 11.2e-9), "0.002": (1.1e-3, 0.8e-9)}}
#: Pulse limit of the section 4.5 studies: high enough that every run converges, so the mean pulse count
#: is over all runs as in the paper (a run at the limit still stops there and says so).
STUDY_PULSE_LIMIT = 5000
BIASES = ((1.35, VG_SET_PULSE), (1.5, VG_SET_PULSE), (-1.3, VG_RESET_PULSE), (-1.5, VG_RESET_PULSE))
Engine = Literal["map", "spice"]
Start = Literal["sequential", "hrs"]
#: Highest target of the "unsaturated" sigma_prog fit: above it the 1.5 V set pulse of the model
#: saturates (G_max(1.5 V) ~ 89 uS), runs creep up from below and end on the window's lower edge.
G_UNSATURATED = 80e-6


def pulse_amplitudes(g_target: float) -> tuple[float, float]:
    """(V_set, V_reset) of the identical pulses for ``g_target`` (S), section 4.5."""
    if g_target < 30e-6:
        return 1.35, -1.5
    if g_target < 60e-6:
        return 1.35, -1.3
    return 1.5, -1.3


class Cell(Protocol):
    """What the closed loop needs of a cell: its device parameters, a read and a pulse."""

    params: dict[str, float]
    c2c: dict[str, Variation]

    def conductance(self, x: float) -> float: ...

    def pulse(self, x: float, bias: tuple[float, float], width: float = PULSE_WIDTH) -> float: ...


@dataclass
class SpiceCell:
    """The 1T1R cell in ngspice: one transient per pulse, one ``.op`` per read."""

    params: dict[str, float]
    c2c: dict[str, Variation] = field(default_factory=c2c_variations)

    def conductance(self, x: float) -> float:
        """0.2 V read conductance (S) at state ``x``."""
        return read_conductance(x, self.params)

    def pulse(self, x: float, bias: tuple[float, float], width: float = PULSE_WIDTH) -> float:
        """State after one pulse of ``bias`` = (V_te, V_G) from state ``x``; a zero-width equivalent
        pulse (a c2c draw of zero rate: the pulse does not switch) leaves ``x`` as it is."""
        return cell.apply_pulse(x, bias[0], bias[1], width, self.params) if width > 0 else x


def make_cell(params: Mapping[str, float] | None = None, engine: Engine = "map") -> Cell:
    """The cell for ``engine``: ``"map"`` (:class:`PulseMap`, all section 4.5 biases) or ``"spice"``."""
    if engine == "map":
        return PulseMap.build(params, BIASES)
    if engine == "spice":
        return SpiceCell({**cell.device_model().defaults, **dict(params or {})})
    raise ValueError(f"engine must be 'map' or 'spice', got {engine!r}")


@dataclass
class ProgramResult:
    """One closed-loop run."""

    g_target: float
    ar: float
    converged: bool
    pulses: int
    g_final: float
    x_final: float
    trace: list[tuple[str, float]] = field(default_factory=list)
    """(action, read conductance after it): ``"start"``, ``"set"``, ``"reset"``."""
    message: str = ""


def reset_to_hrs(x0: float, params: Mapping[str, float] | None = None) -> float:
    """State after the initial quasi-static reset sweep 0 -> -1.5 V at V_G = 3.3 V from ``x0``."""
    schedule = cell.CyclingSchedule()
    schedule.sweep("reset", cell.V_RESET, cell.VG_RESET)
    netlist = cell.protocol_netlist(schedule, params={**(params or {}), "x0": float(x0)})
    return float(cell.state_vector(cell.simulate(netlist))[-1])


def read_conductance(x: float, params: Mapping[str, float] | None = None) -> float:
    """0.2 V read of the cell (V_G = 3.3 V) with the state at ``x`` (S)."""
    return float(1.0 / cell.read_resistance([x], params)[0])


def program(g_target: float, ar: float, *, params: Mapping[str, float] | None = None, x_start: float = 0.5,
            rng: np.random.Generator | None = None, max_pulses: int = 500, width: float = PULSE_WIDTH,
            device: Cell | None = None, x_hrs: float | None = None, read_noise: float = 0.0) -> ProgramResult:
    """Program one cell to ``g_target`` (S) within ``ar`` (relative) by identical pulses.

    Parameters
    ----------
    g_target, ar
        Target read conductance (S) and acceptance range (relative, e.g. 0.02).
    params
        Device parameters (defaults for the rest); ignored when ``device`` is given.
    x_start
        State before the initial quasi-static reset (used when ``x_hrs`` is not given).
    rng
        Cycle-to-cycle noise per pulse (``None``: deterministic).
    max_pulses
        Pulse limit: the run stops there with ``converged=False`` and a message saying so.
    width
        Pulse width (s).
    device
        The cell (:func:`make_cell`); default: the ngspice transient cell of ``params``.
    x_hrs
        State to start from, if already known (skips the initial reset sweep): the HRS, or in a
        sequential study the state the previous target left.
    read_noise
        Relative standard deviation of each verify read (section 2.2.1 cites 0.2-2 % of G_target for
        these devices; 0 by default, as the paper's MVM simulations); drawn from ``rng``. The loop
        decides on, and ``g_final`` reports, the noisy read, as the experiment does.
    """
    if not 0 <= read_noise < 1:
        raise ValueError(f"read_noise is a relative standard deviation in [0, 1), got {read_noise!r}")
    if read_noise and rng is None:
        raise ValueError("read_noise needs rng, the numpy Generator to draw the read noise from")
    if not 0 < ar < 1:
        raise ValueError(f"acceptance range must lie in (0, 1), got {ar!r}")
    if not g_target > 0:
        raise ValueError(f"target conductance must be > 0 S, got {g_target!r}")
    if max_pulses < 0:
        raise ValueError(f"max_pulses must be >= 0, got {max_pulses!r}")
    device = device or make_cell(params, "spice")
    v_set, v_reset = pulse_amplitudes(g_target)
    x = reset_to_hrs(x_start, device.params) if x_hrs is None else x_hrs

    def read(state: float) -> float:
        g = float(device.conductance(state))
        return g * (1.0 + read_noise * rng.standard_normal()) if read_noise else g

    g = read(x)
    trace = [("start", g)]
    for n in range(max_pulses + 1):
        if abs(g - g_target) <= ar * g_target:
            return ProgramResult(g_target, ar, True, n, g, x, trace)
        if n == max_pulses:
            break
        up = g < g_target
        bias, name = ((v_set, VG_SET_PULSE), "nu_set") if up else ((v_reset, VG_RESET_PULSE), "nu_rst")
        x = device.pulse(x, bias, c2c_width(device.c2c, name, rng, width))
        g = read(x)
        trace.append(("set" if up else "reset", g))
    message = (f"did not converge to {g_target * 1e6:.2f} uS within {ar:.1%} after the pulse limit of "
               f"{max_pulses} pulses (last read {g * 1e6:.3f} uS); raise max_pulses or widen the acceptance range")
    return ProgramResult(g_target, ar, False, max_pulses, g, x, trace, message)


def program_study(targets: Sequence[float], ars: Sequence[float] = ACCEPTANCE_RANGES, repeats: int = 4,
                  seed: int = 0, params: Mapping[str, float] | None = None, max_pulses: int = STUDY_PULSE_LIMIT,
                  engine: Engine = "map", start: Start = "sequential", device: Cell | None = None,
                  read_noise: float = 0.0, cells: Sequence[Cell] | None = None,
                  bar: Callable[[Iterable], Iterable] | None = None, x_hrs: float | None = None) -> list[ProgramResult]:
    """Every target x acceptance range x repeat, each repeat (one cell) an independent c2c noise stream.

    Each repeat begins at the HRS of one quasi-static reset sweep (computed once, from x = 0.5).
    ``start="sequential"`` (default) programs the targets in ascending order, each from the state the
    previous one left, as section 4.5 and the Fig. 3 caption describe the experiment: "Starting from the
    HRS, this procedure is applied [...] to sequentially program 35 representative conductance levels";
    "for each distribution, the entire [...] array was programmed to the corresponding G target".
    ``start="hrs"`` programs every target from the HRS (a reset sweep before each target).

    Parameters
    ----------
    targets, ars, repeats
        Target conductances (S), acceptance ranges, cells per target and acceptance range.
    seed
        Seed of the c2c noise: acceptance range ``a``, cell ``r`` draws from child ``a*repeats + r`` of
        ``SeedSequence(seed)``.
    params, engine, device
        The cell of every repeat: ``device``, else :func:`make_cell` of ``params`` and ``engine``.
    max_pulses, read_noise
        Passed to :func:`program`.
    cells
        One cell per repeat instead (an array of different devices), each from its own HRS.
    bar
        Wraps the iteration over (acceptance range, cell) pairs, e.g. a progress bar.
    x_hrs
        The HRS state every cell starts from, where it is known (e.g. from a law the cell's ``params`` do not
        hold); default: one quasi-static reset sweep of each distinct cell from x = 0.5.
    """
    if start not in ("sequential", "hrs"):
        raise ValueError(f"start must be 'sequential' or 'hrs', got {start!r}")
    if cells is not None and len(cells) != repeats:
        raise ValueError(f"cells must hold one cell per repeat ({repeats}), got {len(cells)}")
    cells = list(cells) if cells is not None else [device or make_cell(params, engine)] * repeats
    hrs_of = {id(c): reset_to_hrs(0.5, c.params) if x_hrs is None else x_hrs for c in cells}  # one sweep per cell
    children = np.random.SeedSequence(seed).spawn(len(ars) * repeats)
    pairs = [(ar, one_cell, children[a * repeats + r]) for a, ar in enumerate(ars) for r, one_cell in enumerate(cells)]
    out = []
    for ar, one_cell, child in (bar or iter)(pairs):
        x_hrs = hrs_of[id(one_cell)]
        rng, x = np.random.default_rng(child), x_hrs
        for g in sorted(targets):
            run = program(g, ar, rng=rng, max_pulses=max_pulses, device=one_cell, x_hrs=x, read_noise=read_noise)
            x = run.x_final if start == "sequential" else x_hrs
            out.append(run)
    return out


def runs_frame(results: Sequence[ProgramResult]) -> pd.DataFrame:
    """One row per closed-loop run: ``ar``, ``g_target``, ``converged``, ``pulses``, ``g_final``, ``x_final`` (S)."""
    columns = ("ar", "g_target", "converged", "pulses", "g_final", "x_final")
    return pd.DataFrame([{k: getattr(r, k) for k in columns} for r in results], columns=list(columns))


def summarize(runs: pd.DataFrame) -> dict[str, dict]:
    """Mean pulses to converge and sigma_prog (std of the programmed G) per acceptance range and target
    of the runs ``runs`` (:func:`runs_frame`)."""
    table: dict[str, dict] = {}
    for ar, by_ar in runs.groupby("ar"):
        rows = []
        for g, one in by_ar.groupby("g_target"):
            done = one[one["converged"]]
            rows.append({"g_target_uS": g * 1e6, "runs": len(one), "converged": len(done),
                         "pulses_mean": float(done["pulses"].mean()) if len(done) else None,
                         "sigma_prog_uS": float(done["g_final"].std(ddof=1) * 1e6) if len(done) > 1 else None})
        done = by_ar[by_ar["converged"]]
        table[f"{ar:g}"] = {"pulses_mean": float(done["pulses"].mean()) if len(done) else None,
                            "converged": len(done), "runs": len(by_ar), "targets": rows}
    return table


def sigma_prog_lines(runs: pd.DataFrame, g_limit: float | None = None) -> dict[str, dict]:
    """Least-squares line sigma_prog(G_target) = slope*G + offset per acceptance range, through the
    per-target standard deviations of the programmed G (targets <= ``g_limit``, all by default).

    The lmfit extraction with intervals and surrogates is the extraction ``reram-sigma-prog``.

    Raises
    ------
    ValueError
        If an acceptance range has fewer than 3 targets with >= 2 converged runs.
    """
    out = {}
    for ar, table in summarize(runs).items():
        rows = [row for row in table["targets"]
                if row["sigma_prog_uS"] is not None and (g_limit is None or row["g_target_uS"] <= g_limit * 1e6)]
        if len(rows) < 3:
            raise ValueError(f"sigma_prog line for AR {ar} needs >= 3 targets with >= 2 converged runs, "
                             f"got {len(rows)}; run more targets or cells")
        g = np.array([row["g_target_uS"] for row in rows]) * 1e-6
        sigma = np.array([row["sigma_prog_uS"] for row in rows]) * 1e-6
        slope, offset = np.polyfit(g, sigma, 1)
        residual = sigma - (slope * g + offset)
        paper_slope, paper_offset = PAPER["sigma_prog_line"][ar]
        out[ar] = {"slope": float(slope), "offset_S": float(offset), "paper_slope": paper_slope,
                   "paper_offset_S": paper_offset,
                   "r2": float(1 - residual @ residual / np.sum((sigma - sigma.mean()) ** 2))}
    return out


def plot_study(runs: pd.DataFrame, sigma: Mapping[str, dict], path: Path) -> Path:
    """Fig. 3c/e-like figure: pulses to converge and sigma_prog vs G_target, both acceptance ranges,
    with the lines ``sigma`` (:func:`sigma_prog_lines`) and the paper's lines."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=130)
    colors = {0.02: "tab:green", 0.002: "tab:purple"}
    summary = summarize(runs)
    for ar, by_ar in runs.groupby("ar"):
        done = by_ar[by_ar["converged"]]
        color, table = colors.get(ar, "k"), summary[f"{ar:g}"]
        ax1.semilogy(done["g_target"] * 1e6, np.maximum(done["pulses"], 0.8), ".", color=color, alpha=0.3)
        rows = [row for row in table["targets"] if row["pulses_mean"] is not None]
        ax1.semilogy([row["g_target_uS"] for row in rows], [row["pulses_mean"] for row in rows], "o", color=color,
                     label=f"AR {ar:.1%}: mean {table['pulses_mean']:.1f}")
        rows = [row for row in rows if row["sigma_prog_uS"] is not None]
        ax2.semilogy([row["g_target_uS"] for row in rows], [row["sigma_prog_uS"] for row in rows], "o", color=color,
                     label=f"AR {ar:.1%}")
        g = np.linspace(*TARGET_RANGE, 50)
        fit = sigma.get(f"{ar:g}")
        if fit is not None:
            ax2.semilogy(g * 1e6, (fit["slope"] * g + fit["offset_S"]) * 1e6, "--", color=color)
        paper_slope, paper_offset = PAPER["sigma_prog_line"][f"{ar:g}"]
        ax2.semilogy(g * 1e6, (paper_slope * g + paper_offset) * 1e6, ":", color=color, lw=1.2,
                     label=f"paper, AR {ar:.1%} (Fig. 3e)")
    for ar, tag in ((0.02, "2pct"), (0.002, "02pct")):
        ax1.axhline(PAPER[f"pulses_{tag}"], color=colors[ar], ls=":", lw=1.2,
                    label=f"paper mean, AR {ar:.1%}: {PAPER[f'pulses_{tag}']:g}")
    ax1.set_xlabel("G$_{target}$ [$\\mu$S]")
    ax1.set_ylabel("pulses to converge")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("G$_{target}$ [$\\mu$S]")
    ax2.set_ylabel("$\\sigma_{prog}$ [$\\mu$S]")
    ax2.set_title(f"dashed: linear fit, targets $\\leq$ {G_UNSATURATED * 1e6:.0f} $\\mu$S", fontsize=8)
    ax2.legend(fontsize=7)
    fig.suptitle("Closed-loop identical-pulse programming (sim., cf. Falcone et al. Fig. 3c, 3e)", fontsize=9)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- study reram-program

#: Measurement name tag of each acceptance range.
TAGS = {"0.02": "2pct", "0.002": "02pct"}
#: File of the study's runs (one row per closed-loop run), read by the extraction ``reram-sigma-prog``.
RUNS_FILE = "runs.csv"
#: Key of the sigma_prog lines below the 1.5 V set saturation in the study's data.
UNSATURATED_FIT = f"sigma_prog_fit_le_{G_UNSATURATED * 1e6:.0f}uS"


#: Role of each pulse count: the per-pulse noise law was fitted to the AR 0.2 % count (reram-c2c-calibration,
#: on seed 1); the AR 2 % count is held out.
PULSES_ROLE = {"2pct": "held out", "02pct": "calibration"}


def _paper_line(ar: str, g: float | None = None) -> float:
    slope, offset = PAPER["sigma_prog_line"][ar]
    return slope if g is None else slope * g + offset


def _program_measures() -> dict[str, Measure]:
    measures = {"converged_fraction": Measure("", "fraction of runs that reached the window", spec=(1.0, None))}
    for ar, tag in TAGS.items():
        pct = f"{float(ar) * 100:g} %"
        measures |= {
            f"pulses_{tag}": Measure("", f"mean pulses to converge at AR {pct} (converged runs)",
                                     paper=PAPER[f"pulses_{tag}"], role=PULSES_ROLE[tag]),
            f"sigma_prog_{tag}_slope": Measure("", f"sigma_prog line slope at AR {pct}, all targets",
                                               paper=_paper_line(ar), role="held out"),
            f"sigma_prog_{tag}_slope_le80us": Measure("", f"sigma_prog line slope at AR {pct}, targets <= 80 uS "
                                                      "(below the 1.5 V set saturation)", paper=_paper_line(ar),
                                                      role="held out"),
            f"sigma_prog_{tag}_10us": Measure("S", f"sigma_prog line at 10 uS, AR {pct}, all targets",
                                              paper=_paper_line(ar, 10e-6), role="held out"),
            f"sigma_prog_{tag}_90us": Measure("S", f"sigma_prog line at 90 uS, AR {pct}, all targets",
                                              paper=_paper_line(ar, 90e-6), role="held out"),
            f"sigma_prog_{tag}_r2": Measure("", f"R^2 of the sigma_prog line at AR {pct}, all targets (Fig. 3e: "
                                                "linear)", spec=(0.9, None)),
            f"targets_outside_x2_{tag}": Measure("", f"targets whose mean count lies outside x2 of the mean over "
                                                     f"targets at AR {pct} (Fig. 3c: 'almost independent of "
                                                     "G_target')", spec=(0, 0)),
        }
    return measures


def targets_outside(table: Mapping[str, Any], factor: float = 2.0) -> list[float]:
    """Targets (uS) of one acceptance range of :func:`summarize` whose mean pulse count lies outside
    ``factor`` of the mean over the targets' means (targets with no converged run count as outside)."""
    means = [row["pulses_mean"] for row in table["targets"]]
    centre = float(np.mean([m for m in means if m is not None])) if any(m is not None for m in means) else math.nan
    return [row["g_target_uS"] for row, m in zip(table["targets"], means)
            if m is None or not centre / factor <= m <= centre * factor]


@register_study
class ReramProgram(Study):
    """Closed-loop identical-pulse programming of the 1T1R cell (Falcone et al. §4.5, Fig. 3c/e): pulses, sigma_prog.

    Every target is programmed on ``n`` cells at acceptance ranges 2 % and 0.2 %; ``runs.csv`` holds
    every run (the source of the extraction ``reram-sigma-prog``), ``reram_program.png`` the figure.
    """

    name = "reram-program"
    code = (__name__, "testbenches.reram.pulse", "testbenches.reram.cell")
    family = "reram"
    options = (
        Setting("targets", 35, "targets, linearly spaced 10-90 uS (paper: 35; the sequential climb depends "
                               "on their spacing)", bounds=(3, 200)),
        Setting("max_pulses", STUDY_PULSE_LIMIT, "pulse limit per run", bounds=(1, 100000)),
        Setting("engine", "map", "pulse engine: the cell's pulse map, or one ngspice transient per pulse "
                                 "(~0.1 s per pulse)", choices=("map", "spice")),
        Setting("start", "sequential", "targets in ascending order from the previous state (section 4.5), "
                                       "or each from the HRS", choices=("sequential", "hrs")),
        Setting("read_noise", 0.0, "relative sigma of each verify read (paper §2.2.1: 0.002-0.02)",
                bounds=(0.0, 0.5)),
        Setting("d2d", False, "one device-to-device sample per cell (~2.5 s each to tabulate) instead of "
                              "the nominal device"),
    )
    measures = _program_measures()
    devices = (cell.DEVICE,)
    n_default = 8
    n_min = 2
    n_desc = "cells per target and acceptance range, each its own c2c stream (paper: 32)"
    seed_default = 0

    def run(self, ctx: StudyContext) -> StudyResult:
        o = ctx.options
        cells = None
        if o["d2d"]:
            drawn = ctx.sample_devices(cell.DEVICE, ctx.n, stream="devices")
            cells = [make_cell(p, o["engine"]) for p in ctx.bar(drawn, desc="d2d cells")]
        results = program_study(np.linspace(*TARGET_RANGE, o["targets"]), repeats=ctx.n,
                                seed=ctx.stream_seed("c2c"), max_pulses=o["max_pulses"], engine=o["engine"],
                                start=o["start"], read_noise=o["read_noise"], cells=cells,
                                bar=lambda pairs: ctx.bar(pairs, desc="cells x acceptance ranges"))
        runs = runs_frame(results)
        write_text(ctx.out / RUNS_FILE, runs.to_csv(index=False))
        summary = summarize(runs)
        lines = {"all": self._lines(ctx, runs, None), "le80": self._lines(ctx, runs, G_UNSATURATED)}
        measurements = {"converged_fraction": float(runs["converged"].mean())}
        for ar, tag in TAGS.items():
            fit, low = lines["all"].get(ar, {}), lines["le80"].get(ar, {})
            slope, offset = fit.get("slope", np.nan), fit.get("offset_S", np.nan)
            pulses = summary.get(ar, {}).get("pulses_mean")
            measurements |= {f"pulses_{tag}": np.nan if pulses is None else pulses,
                             f"sigma_prog_{tag}_slope": slope, f"sigma_prog_{tag}_slope_le80us": low.get("slope", np.nan),
                             f"sigma_prog_{tag}_10us": slope * 10e-6 + offset,
                             f"sigma_prog_{tag}_90us": slope * 90e-6 + offset,
                             f"sigma_prog_{tag}_r2": fit.get("r2", np.nan),
                             f"targets_outside_x2_{tag}": len(targets_outside(summary[ar])) if ar in summary else np.nan}
        failed = [r.message for r in results if not r.converged]
        return StudyResult(measurements, data={"summary": summary, "sigma_prog_fit": lines["all"],
                                               UNSATURATED_FIT: lines["le80"], "not_converged": failed},
                           files=[RUNS_FILE])

    @staticmethod
    def _lines(ctx: StudyContext, runs: pd.DataFrame, g_limit: float | None) -> dict[str, dict]:
        """The sigma_prog lines, or none when too few runs converged (the measurements are then NaN)."""
        try:
            return sigma_prog_lines(runs, g_limit)
        except ValueError as exc:
            ctx.say(f"reram-program: {exc}")
            return {}

    def report(self, result: StudyResult, out: Path) -> list[str]:
        runs = pd.read_csv(out / RUNS_FILE)
        plot_study(runs, result.data[UNSATURATED_FIT], out / "reram_program.png")
        return ["reram_program.png"]
