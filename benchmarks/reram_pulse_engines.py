"""ReRAM 1T1R pulse engines: the pulse map against one ngspice transient per pulse, in the same run.

``python benchmarks/reram_pulse_engines.py --out results/benchmarks``

Baseline: :class:`testbenches.reram.program.SpiceCell`, one ngspice transient of the 1T1R cell per
2.5 us pulse and one ``.op`` per read. Ours: :class:`testbenches.reram.pulse.PulseMap`, the cell's
ngspice operating points tabulated once per bias and the device rate integrated exactly, so a pulse
is two interpolations. Measured: the one-off build of the map, the time per pulse and per read of
each engine (median), the state error of the map against the transient at the same states, one
closed-loop run per engine (same target, same noise stream) and the memory the map holds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from testbenches.reram.program import BIASES, make_cell, program
from timing import time_call

STATES = (0.1, 0.3, 0.5, 0.7, 0.9)
"""States at which both engines apply the same pulses."""
MAP_CALLS = 5000
"""Timed pulse-map calls (median)."""
MAP_LOOPS = 20
"""Timed closed-loop runs on the pulse map (median)."""


def pulse_comparison(pmap, spice) -> dict:
    """Per-pulse and per-read time of both engines and the map's state error at :data:`STATES`."""
    rows, spice_pulse = [], []
    for x in STATES:
        for bias in BIASES:
            start = time.perf_counter()
            x_spice = spice.pulse(x, bias)
            spice_pulse.append(time.perf_counter() - start)
            x_map = pmap.pulse(x, bias)
            rows.append({"x": x, "bias": bias, "dx_spice": x_spice - x, "dx_map": x_map - x})
    moved = [r for r in rows if abs(r["dx_spice"]) > 1e-3]
    rel = [abs(r["dx_map"] - r["dx_spice"]) / abs(r["dx_spice"]) for r in moved]
    spice_read = time_call(lambda: spice.conductance(0.5), 5)
    return {"pulses_compared": len(rows), "pulses_that_move_x": len(moved),
            "dx_relative_error_median": statistics.median(rel), "dx_relative_error_max": max(rel),
            "spice_pulse_s": statistics.median(spice_pulse),
            "map_pulse_s": time_call(lambda: pmap.pulse(0.5, BIASES[0]), MAP_CALLS),
            "spice_read_s": spice_read,
            "map_read_s": time_call(lambda: float(pmap.conductance(0.5)), MAP_CALLS), "rows": rows}


def closed_loop(pmap, spice, g_target: float = 50e-6, ar: float = 0.02, seed: int = 3) -> dict:
    """One closed-loop run per engine from the same HRS state with the same c2c stream (the map's run
    timed as the median of :data:`MAP_LOOPS` repeats: it takes about a millisecond)."""
    def run(device):
        return program(g_target, ar, rng=np.random.default_rng(seed), device=device, x_hrs=0.076, max_pulses=200)

    start = time.perf_counter()
    runs = {"spice": run(spice)}
    seconds = {"spice": time.perf_counter() - start, "map": time_call(lambda: run(pmap), MAP_LOOPS)}
    runs["map"] = run(pmap)
    return {name: {"seconds": seconds[name], "pulses": r.pulses, "converged": r.converged, "g_final_uS": r.g_final * 1e6}
            for name, r in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pmap = make_cell(engine="map")
    build = time.perf_counter() - start
    spice = make_cell(engine="spice")
    pulses = pulse_comparison(pmap, spice)
    loop = closed_loop(pmap, spice)
    held = sum(a.nbytes for a in (pmap.g_read, *pmap.v_device.values(), *pmap.times.values()))
    summary = {"map_build_s": build, "map_bytes": held,
               "pulse_speedup": pulses["spice_pulse_s"] / pulses["map_pulse_s"],
               "read_speedup": pulses["spice_read_s"] / pulses["map_read_s"],
               "closed_loop_speedup": loop["spice"]["seconds"] / loop["map"]["seconds"],
               "map_pays_off_after_pulses": build / pulses["spice_pulse_s"],
               **{k: v for k, v in pulses.items() if k != "rows"}, "closed_loop": loop}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reram_pulse_engines.json").write_text(json.dumps({**summary, "rows": pulses["rows"]}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
