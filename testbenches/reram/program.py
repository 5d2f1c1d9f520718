"""Identical-pulse closed-loop programming of the CMO/HfOx 1T1R cell (seed 004 section 4.5, Fig. 3, Fig. S5b).

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
``c2c`` :class:`~spicegen.params.Variation` (seeded ``numpy`` generator, one child per run); the rate
is proportional to it, so the draw acts as a pulse of width ``width*nu_drawn/nu``. The device's law is
a zero-inflated lognormal: about one pulse in five does not switch (``docs/reram.md`` section 2 item 13).

sigma_prog (seed 004 Fig. 3e): the standard deviation of the final read conductance over the
repeats of one target (the paper: over the 32 cells of the array), fitted linear in G_target per
acceptance range with :func:`fitting.extract.extract`.

Command line (the full section 4.5 study: ``--targets 35 --repeats 32``)::

    python -m testbenches.reram.program --out results/reram --targets 8 --repeats 8
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Protocol, Sequence

import numpy as np

from spicegen.figures import pyplot
from spicegen.params import Param, Variation
from testbenches.reram import cell
from spicegen.figures import save_figure
from testbenches.core.base import register_study
from testbenches.reram.pulse import PulseMap, c2c_variations, c2c_width, draw_devices

#: Section 4.5 of seed 004.
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
    proto = cell.Protocol()
    proto.sweep("reset", cell.V_RESET, cell.VG_RESET)
    netlist = cell.protocol_netlist(proto, params={**(params or {}), "x0": float(x0)})
    return float(cell.state_vector(cell.run(netlist))[-1])


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
        Relative standard deviation of each verify read (seed 004 section 2.2.1 cites 0.2-2 % of
        G_target for these devices; 0 by default, as the paper's MVM simulations); drawn from ``rng``.
        The loop decides on, and ``g_final`` reports, the noisy read, as the experiment does.
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


Start = Literal["sequential", "hrs"]


def program_study(targets: Sequence[float], ars: Sequence[float] = ACCEPTANCE_RANGES, repeats: int = 4,
                  seed: int = 0, params: Mapping[str, float] | None = None, max_pulses: int = STUDY_PULSE_LIMIT,
                  engine: Engine = "map", start: Start = "sequential", device: Cell | None = None,
                  read_noise: float = 0.0, cells: Sequence[Cell] | None = None) -> list[ProgramResult]:
    """Every target x acceptance range x repeat, each repeat (one cell) an independent c2c noise stream.

    Each repeat begins at the HRS of one quasi-static reset sweep (computed once, from x = 0.5).
    ``start="sequential"`` (default) programs the targets in ascending order, each from the state the
    previous one left, as section 4.5 and the Fig. 3 caption describe the experiment: "Starting from the
    HRS, this procedure is applied [...] to sequentially program 35 representative conductance levels";
    "for each distribution, the entire [...] array was programmed to the corresponding G target".
    ``start="hrs"`` programs every target from the HRS (a reset sweep before each target).
    ``device`` replaces the cell of ``params`` and ``engine`` (e.g. a :class:`PulseMap` with other c2c laws);
    ``read_noise`` is passed to :func:`program`. ``cells``: one cell per repeat instead (an array of
    different devices, e.g. :func:`d2d_cells`), each from its own HRS.
    """
    if start not in ("sequential", "hrs"):
        raise ValueError(f"start must be 'sequential' or 'hrs', got {start!r}")
    if cells is not None and len(cells) != repeats:
        raise ValueError(f"cells must hold one cell per repeat ({repeats}), got {len(cells)}")
    cells = list(cells) if cells is not None else [device or make_cell(params, engine)] * repeats
    hrs_of = {id(c): reset_to_hrs(0.5, c.params) for c in cells}  # one reset sweep per distinct cell
    root = np.random.SeedSequence(seed)
    children = iter(root.spawn(len(ars) * repeats))
    out = []
    for ar in ars:
        for one_cell in cells:
            x_hrs = hrs_of[id(one_cell)]
            rng, x = np.random.default_rng(next(children)), x_hrs
            for g in sorted(targets):
                run = program(g, ar, rng=rng, max_pulses=max_pulses, device=one_cell, x_hrs=x, read_noise=read_noise)
                x = run.x_final if start == "sequential" else x_hrs
                out.append(run)
    return out


def d2d_cells(n: int, seed: int = 0) -> list[PulseMap]:
    """Pulse maps of ``n`` device-to-device samples of the device's ``d2d`` variation (~2.5 s each)."""
    return [PulseMap.build(p, BIASES) for p in draw_devices(n, seed)]


def summarise(results: Sequence[ProgramResult]) -> dict:
    """Mean pulses to converge and sigma_prog (std of the programmed G) per acceptance range and target."""
    table: dict[str, dict] = {}
    for ar in sorted({r.ar for r in results}):
        rows = []
        for g in sorted({r.g_target for r in results if r.ar == ar}):
            runs = [r for r in results if r.ar == ar and r.g_target == g]
            done = [r for r in runs if r.converged]
            rows.append({"g_target_uS": g * 1e6, "runs": len(runs), "converged": len(done),
                         "pulses_mean": float(np.mean([r.pulses for r in done])) if done else None,
                         "sigma_prog_uS": (float(np.std([r.g_final for r in done], ddof=1) * 1e6)
                                           if len(done) > 1 else None)})
        pulses = [r.pulses for r in results if r.ar == ar and r.converged]
        table[f"{ar:g}"] = {"pulses_mean": float(np.mean(pulses)) if pulses else None,
                            "converged": len(pulses), "runs": sum(r.ar == ar for r in results), "targets": rows}
    return table


#: Highest target of the "unsaturated" sigma_prog fit: above it the 1.5 V set pulse of the model
#: saturates (G_max(1.5 V) ~ 89 uS), runs creep up from below and end on the window's lower edge.
G_UNSATURATED = 80e-6


def sigma_prog_lines(results: Sequence[ProgramResult], g_limit: float | None = None) -> dict[str, dict]:
    """Least-squares line sigma_prog(G_target) = slope*G + offset per acceptance range, through the
    per-target standard deviations of the programmed G (targets <= ``g_limit``, all by default).

    The lmfit extraction with intervals and surrogates is :func:`fitting.reram.stats.fit_sigma_prog`.
    """
    out = {}
    for ar, table in summarise(results).items():
        rows = [row for row in table["targets"]
                if row["sigma_prog_uS"] is not None and (g_limit is None or row["g_target_uS"] <= g_limit * 1e6)]
        if len(rows) < 3:
            raise ValueError(f"sigma_prog line for AR {ar} needs >= 3 targets with >= 2 converged runs, "
                             f"got {len(rows)}; run more targets or repeats")
        g = np.array([row["g_target_uS"] for row in rows]) * 1e-6
        sigma = np.array([row["sigma_prog_uS"] for row in rows]) * 1e-6
        slope, offset = np.polyfit(g, sigma, 1)
        residual = sigma - (slope * g + offset)
        paper_slope, paper_offset = PAPER["sigma_prog_line"][ar]
        out[ar] = {"slope": float(slope), "offset_S": float(offset), "paper_slope": paper_slope,
                   "paper_offset_S": paper_offset,
                   "r2": float(1 - residual @ residual / np.sum((sigma - sigma.mean()) ** 2))}
    return out


def plot_study(results: Sequence[ProgramResult], sigma: Mapping[str, dict], path: Path) -> Path:
    """Fig. 3c/e-like figure: pulses to converge and sigma_prog vs G_target, both acceptance ranges,
    with the lines ``sigma`` (:func:`sigma_prog_lines`) and the paper's lines."""
    plt = pyplot()

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=130)
    colors = {0.02: "tab:green", 0.002: "tab:purple"}
    summary = summarise(results)
    for ar in sorted({r.ar for r in results}):
        done = [r for r in results if r.ar == ar and r.converged]
        color = colors.get(ar, "k")
        ax1.semilogy([r.g_target * 1e6 for r in done], [max(r.pulses, 0.8) for r in done], ".", color=color, alpha=0.3)
        rows = [row for row in summary[f"{ar:g}"]["targets"] if row["pulses_mean"] is not None]
        ax1.semilogy([row["g_target_uS"] for row in rows], [row["pulses_mean"] for row in rows], "o", color=color,
                     label=f"AR {ar:.1%}: mean {summary[f'{ar:g}']['pulses_mean']:.1f}")
        rows = [row for row in rows if row["sigma_prog_uS"] is not None]
        ax2.semilogy([row["g_target_uS"] for row in rows], [row["sigma_prog_uS"] for row in rows], "o", color=color,
                     label=f"AR {ar:.1%}")
        g = np.linspace(*TARGET_RANGE, 50)
        fit = sigma[f"{ar:g}"]
        ax2.semilogy(g * 1e6, (fit["slope"] * g + fit["offset_S"]) * 1e6, "--", color=color)
        ax2.semilogy(g * 1e6, (fit["paper_slope"] * g + fit["paper_offset_S"]) * 1e6, ":", color="k", lw=0.8)
    for value in (PAPER["pulses_2pct"], PAPER["pulses_02pct"]):
        ax1.axhline(value, color="k", ls=":", lw=0.8)
    ax1.set_xlabel("G$_{target}$ [$\\mu$S]")
    ax1.set_ylabel("closed-loop iterations")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("G$_{target}$ [$\\mu$S]")
    ax2.set_ylabel("$\\sigma_{prog}$ [$\\mu$S]")
    ax2.set_title("dashed: linear fit, targets $\\leq$ 80 $\\mu$S; dotted: paper", fontsize=8)
    ax2.legend(fontsize=7)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- spicegen sim reram-program

#: Study size of ``spicegen sim reram-program`` (``--set NAME=VALUE``): the paper's 35 targets (the
#: sequential climb between levels depends on their spacing) on 8 cells, ~10 s; the full study is
#: ``--set repeats=32``.
STUDY_PARAMS = (Param("targets", 35, "", "targets, linearly spaced 10-90 uS (paper: 35)", (3, 200)),
                Param("repeats", 8, "", "runs per target and acceptance range (paper: 32 cells)", (2, 1000)),
                Param("max_pulses", STUDY_PULSE_LIMIT, "", "pulse limit per run", (1, 100000)),
                Param("study_seed", 0, "", "seed of the c2c noise", (0, 2 ** 31)),
                Param("read_noise", 0.0, "", "relative sigma of each verify read (paper 2.2.1: 0.002-0.02)", (0.0, 0.5)),
                Param("d2d", 0, "", "1: one d2d device sample per repeat (~2.5 s each), 0: the nominal device", (0, 1)))


def program_measurements(v: Mapping[str, float]) -> dict[str, float]:
    """``reram-program``: :func:`program_study` with the sample's study parameters ``v``."""
    targets = np.linspace(*TARGET_RANGE, int(v["targets"]))
    repeats, seed = int(v["repeats"]), int(v["study_seed"])
    with cell.ngspice_backend("subprocess"):  # the worker holds the shared libngspice
        cells = d2d_cells(repeats, seed) if int(v["d2d"]) else None
        results = program_study(targets, repeats=repeats, seed=seed, max_pulses=int(v["max_pulses"]),
                                read_noise=float(v["read_noise"]), cells=cells)
    summary, sigma = summarise(results), sigma_prog_lines(results)
    unsaturated = sigma_prog_lines(results, g_limit=G_UNSATURATED)
    out = {"converged_fraction": np.mean([r.converged for r in results])}
    for ar, tag in (("0.02", "2pct"), ("0.002", "02pct")):
        fit = sigma[ar]
        out[f"pulses_{tag}"] = summary[ar]["pulses_mean"]
        out[f"sigma_prog_{tag}_slope"] = fit["slope"]
        out[f"sigma_prog_{tag}_slope_le80us"] = unsaturated[ar]["slope"]
        for g in (10, 90):
            out[f"sigma_prog_{tag}_{g}us"] = fit["slope"] * g * 1e-6 + fit["offset_S"]
    return out


PROGRAM_MEASUREMENTS = ("pulses_2pct", "pulses_02pct", "sigma_prog_2pct_slope", "sigma_prog_2pct_10us",
                        "sigma_prog_2pct_90us", "sigma_prog_02pct_slope", "sigma_prog_02pct_10us",
                        "sigma_prog_02pct_90us", "sigma_prog_2pct_slope_le80us", "sigma_prog_02pct_slope_le80us",
                        "converged_fraction")

RERAM_PROGRAM = register_study(
    "reram-program",
    "CMO/HfOx 1T1R closed-loop identical-pulse programming (seed 004 section 4.5): pulses, sigma_prog",
    "reram-program: closed-loop identical-pulse programming", STUDY_PARAMS, program_measurements,
    PROGRAM_MEASUREMENTS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/reram")
    parser.add_argument("--targets", type=int, default=8,
                        help="number of targets, linearly spaced 10-90 uS (paper: 35)")
    parser.add_argument("--repeats", type=int, default=8, help="runs per target (paper: 32 cells)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pulses", type=int, default=STUDY_PULSE_LIMIT)
    parser.add_argument("--engine", choices=("map", "spice"), default="map")
    parser.add_argument("--d2d", action="store_true",
                        help="one d2d device sample per repeat (the paper's array of different cells)")
    parser.add_argument("--read-noise", type=float, default=0.0,
                        help="relative sigma of each verify read (paper section 2.2.1: 0.2-2 %% of G)")
    parser.add_argument("--start", choices=("sequential", "hrs"), default="sequential",
                        help="targets in ascending order from the previous state (section 4.5), or each from the HRS")
    args = parser.parse_args(argv)
    targets = np.linspace(*TARGET_RANGE, args.targets)
    results = program_study(targets, repeats=args.repeats, seed=args.seed, max_pulses=args.max_pulses,
                            engine=args.engine, start=args.start, read_noise=args.read_noise,
                            cells=d2d_cells(args.repeats, args.seed) if args.d2d else None)
    summary = summarise(results)
    sigma = sigma_prog_lines(results)
    unsaturated = sigma_prog_lines(results, g_limit=G_UNSATURATED)
    out = Path(args.out)
    png = plot_study(results, unsaturated, out / "reram_program.png")
    brief = {"pulses_mean": {ar: v["pulses_mean"] for ar, v in summary.items()},
             "converged": {ar: f"{v['converged']}/{v['runs']}" for ar, v in summary.items()},
             "sigma_prog_fit": {ar: {k: v[k] for k in ("slope", "offset_S", "paper_slope", "paper_offset_S", "r2")}
                                for ar, v in sigma.items()},
             "sigma_prog_fit_le_80uS": {ar: {k: v[k] for k in ("slope", "offset_S", "r2")}
                                        for ar, v in unsaturated.items()},
             "paper": {k: v for k, v in PAPER.items() if k != "sigma_prog_line"}, "figure": str(png),
             "targets": args.targets, "repeats": args.repeats, "engine": args.engine, "start": args.start,
             "read_noise": args.read_noise, "d2d": args.d2d}
    (out / "reram_program.json").write_text(json.dumps({"brief": brief, "summary": summary,
                                                        "runs": [asdict(r) for r in results]}, indent=1, default=float))
    for r in results:
        if not r.converged:
            print(r.message)
    print(json.dumps(brief, indent=1, default=float))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
