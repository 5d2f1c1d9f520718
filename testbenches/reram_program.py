"""Identical-pulse closed-loop programming of the CMO/HfOx 1T1R cell (seed 004 section 4.5, Fig. 3, Fig. S5b).

Pulse by pulse on the SPICE cell of :mod:`testbenches.reram_cell`:

1. reset to the HRS by a quasi-static sweep 0 -> -1.5 V (V_G = 3.3 V);
2. read G at 0.2 V (V_G = 3.3 V);
3. stop if |G - G_target| <= AR * G_target; else one 2.5 us set pulse (V_G = 1.4 V) if G is below the
   target, one reset pulse (V_G = 3.3 V) if above; amplitudes by target range:
   10-30 uS: +1.35 / -1.5 V, 30-60 uS: +1.35 / -1.3 V, 60-90 uS: +1.5 / -1.3 V;
4. repeat from 2, at most ``max_pulses`` pulses (a run that cannot converge stops there and says so).

Cycle-to-cycle noise: every pulse draws the set or reset attempt rate from the device parameter's own
``c2c`` :class:`~spicegen.params.Variation` (seeded ``numpy`` generator, one child per run).

Command line::

    python -m testbenches.reram_program --out results/reram --targets 8 --repeats 4
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from testbenches import reram_cell as cell

#: Section 4.5 of seed 004.
PULSE_WIDTH = 2.5e-6
VG_SET_PULSE, VG_RESET_PULSE = 1.4, 3.3
ACCEPTANCE_RANGES = (0.02, 0.002)
TARGET_RANGE = (10e-6, 90e-6)


def pulse_amplitudes(g_target: float) -> tuple[float, float]:
    """(V_set, V_reset) of the identical pulses for ``g_target`` (S), section 4.5."""
    if g_target < 30e-6:
        return 1.35, -1.5
    if g_target < 60e-6:
        return 1.35, -1.3
    return 1.5, -1.3


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


def _c2c(params: Mapping[str, float], name: str, rng: np.random.Generator | None) -> dict[str, float]:
    model = cell.device_model()
    nominal = params.get(name, model.param(name).default)
    variation = model.param(name).variation
    if rng is None or variation is None or variation.kind != "c2c":
        return dict(params)
    return {**params, name: float(variation.apply(nominal, rng.standard_normal()))}


def program(g_target: float, ar: float, *, params: Mapping[str, float] | None = None, x_start: float = 0.5,
            rng: np.random.Generator | None = None, max_pulses: int = 500, width: float = PULSE_WIDTH) -> ProgramResult:
    """Program one cell to ``g_target`` (S) within ``ar`` (relative) by identical pulses.

    ``rng`` draws cycle-to-cycle noise per pulse (``None``: deterministic). The run stops after
    ``max_pulses`` pulses with ``converged=False`` and a message saying so.
    """
    if not 0 < ar < 1:
        raise ValueError(f"acceptance range must lie in (0, 1), got {ar!r}")
    if not g_target > 0:
        raise ValueError(f"target conductance must be > 0 S, got {g_target!r}")
    params = dict(params or {})
    v_set, v_reset = pulse_amplitudes(g_target)
    x = reset_to_hrs(x_start, params)
    g = read_conductance(x, params)
    trace = [("start", g)]
    for n in range(max_pulses + 1):
        if abs(g - g_target) <= ar * g_target:
            return ProgramResult(g_target, ar, True, n, g, x, trace)
        if n == max_pulses:
            break
        if g < g_target:
            x = cell.apply_pulse(x, v_set, VG_SET_PULSE, width, _c2c(params, "nu_set", rng))
            action = "set"
        else:
            x = cell.apply_pulse(x, v_reset, VG_RESET_PULSE, width, _c2c(params, "nu_rst", rng))
            action = "reset"
        g = read_conductance(x, params)
        trace.append((action, g))
    message = (f"did not converge to {g_target * 1e6:.2f} uS within {ar:.1%} after the pulse limit of "
               f"{max_pulses} pulses (last read {g * 1e6:.3f} uS)")
    return ProgramResult(g_target, ar, False, max_pulses, g, x, trace, message)


def program_study(targets: Sequence[float], ars: Sequence[float] = ACCEPTANCE_RANGES, repeats: int = 4,
                  seed: int = 0, params: Mapping[str, float] | None = None,
                  max_pulses: int = 500) -> list[ProgramResult]:
    """Every target x acceptance range x repeat, each repeat an independent c2c noise stream."""
    root = np.random.SeedSequence(seed)
    children = iter(root.spawn(len(targets) * len(ars) * repeats))
    out = []
    for ar in ars:
        for g in targets:
            for _ in range(repeats):
                out.append(program(g, ar, params=params, rng=np.random.default_rng(next(children)),
                                   max_pulses=max_pulses))
    return out


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
                         "sigma_prog_uS": float(np.std([r.g_final for r in done], ddof=1) * 1e6) if len(done) > 1 else None})
        pulses = [r.pulses for r in results if r.ar == ar and r.converged]
        table[f"{ar:g}"] = {"pulses_mean": float(np.mean(pulses)) if pulses else None, "targets": rows}
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/reram")
    parser.add_argument("--targets", type=int, default=8, help="number of targets, linearly spaced 10-90 uS")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pulses", type=int, default=500)
    args = parser.parse_args(argv)
    targets = np.linspace(*TARGET_RANGE, args.targets)
    results = program_study(targets, repeats=args.repeats, seed=args.seed, max_pulses=args.max_pulses)
    summary = summarise(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reram_program.json").write_text(json.dumps({"summary": summary, "runs": [asdict(r) for r in results]},
                                                        indent=1, default=float))
    for r in results:
        if not r.converged:
            print(r.message)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
