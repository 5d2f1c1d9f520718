"""Full-array ReRAM crossbar with the sky130 access transistor against its resistor stand-in, in one run.

``python benchmarks/reram_crossbar_access.py --out results/benchmarks``

Arrays: N x N differential weights, N x 2N ``reram_cmo`` cells with the paper's operands as in
:func:`testbenches.reram.crossbar.full_array_check` (seed N), one input slice with every row on, 0.35 Ohm row
and column wires. Per N, in ngspice (KLU, one shared device card):

* ``sky130_bsim4_start``: the sky130 deck without the transistors' ``IC=0,VG_READ,0``, so BSIM4 linearises each
  transistor at its own start (V_GS = Vth0 + 0.1 V) in the first Newton iteration, as every deck did before:
  its solution against the sky130 deck's and the solvers' tolerance (``device_tolerance``), its time and
  iterations;
* the stand-in's error: ``max |y_sky130 - y_resistor| / max |y_resistor|`` between ``access="sky130"`` (every
  cell's access device the 1T1R cell's NMOS) and ``access="resistor"`` (134.9 Ohm), and the first-order bound
  the transistor's triode law gives (:func:`~testbenches.reram.crossbar.stand_in_bound`);
* a resistor at the transistor's chord resistance for V_DS -> 0 in place of the stand-in, against the sky130 array;
* the nodal solvers against the sky130 array: ``device_nodal_currents`` (device + stand-in) and ``nodal_currents``
  (each cell its chord conductance, what the studies run);
* load + solve CPU seconds of both decks (median of ``--repeat`` rounds that run each once, as
  ``reram_crossbar_scaling.py`` times them) and ngspice's Newton iterations, solve time and whether it fell back
  on gmin stepping (``.options acct``), of all three decks;
* at ``--bin-sizes``, the sky130 deck with the base model name on every transistor line (ngspice searches the
  bins for each) against the deck's named bins, one round each.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import numpy as np

from reram_crossbar_scaling import array, deck_breakdown, operands, time_ngspice
from spicegen.pdk import NFET_MODEL, sky130_bin
from testbenches.reram import cell
from testbenches.reram import crossbar as xb


def errors(n: int) -> dict[str, float]:
    """Every comparison of the N x N array, as ``max |y_a - y_b| / max |y_resistor|``."""
    g, v = operands(n, seed=n)
    xbar = xb.Crossbar()
    states = xb.state_for_conductance(g, xbar)
    v_ds, r_chord = xb.access_chord_resistance(xb.G_MAX * xbar.v_read * xbar.r_access)
    r_zero = float(np.interp(0.0, v_ds, r_chord))
    currents = {access: xb.spice_currents(states, v, xbar, access=access) for access in xb.ACCESS_KINDS}
    bsim4_start = cell.simulate(bsim4_started(xb.crossbar_netlist(states, v, xbar, access="sky130")))
    currents["sky130_bsim4_start"] = np.array([float(np.ravel(bsim4_start[f"v(t{j})"])[0]) for j in range(2 * n)])
    currents["resistor_at_r_ds0"] = xb.spice_currents(states, v, xb.Crossbar(r_access=r_zero))
    currents["device_nodal"] = xb.device_nodal_currents(states, v, xbar)[0]
    currents["chord_nodal"] = xb.nodal_currents(g, v, xbar.r_wire, xbar.row_wires)[0]
    y = {name: xb.column_outputs(i, xbar) for name, i in currents.items()}
    scale = np.abs(y["resistor"]).max()
    out = {f"{name}_vs_sky130": float(np.abs(y[name] - y["sky130"]).max() / scale) for name in y if name != "sky130"}
    return out | {"bound": xb.stand_in_bound(g, v, xbar, y["resistor"]), "r_ds0": r_zero,
                  "solver_tolerance": xb.device_tolerance(currents["sky130"], y["sky130"], n, xbar),
                  "r_chord_min": float(r_chord.min()), "r_chord_max": float(r_chord.max())}


def bsim4_started(deck: str) -> str:
    """``deck`` without the transistors' ``IC=`` start (BSIM4's own first linearisation)."""
    return re.sub(r" ic=\S+", "", deck)


def decks(n: int) -> dict[str, str]:
    """The resistor, sky130 and sky130_bsim4_start decks of the N x N array (operands as in :func:`errors`)."""
    states, v = array(n, seed=n)
    out = {access: xb.crossbar_netlist(states, v, xb.Crossbar(), access=access) for access in xb.ACCESS_KINDS}
    return out | {"sky130_bsim4_start": bsim4_started(out["sky130"])}


def bin_search_cost(n: int) -> dict[str, dict[str, float]]:
    """Load and solve CPU seconds of the sky130 deck with named bins and with the base model name, one round."""
    named = decks(n)["sky130"]
    base = named.replace(f" {sky130_bin('nfet', cell.W_ACCESS, cell.L_ACCESS)} ", f" {NFET_MODEL} ")
    osdi = cell._osdi_path()
    return {"named_bin": time_ngspice(named, osdi, 1), "base_name": time_ngspice(base, osdi, 1)}


def timings(n: int, repeat: int) -> dict[str, dict[str, float]]:
    """Median load and solve CPU seconds of every deck of :func:`decks`, alternating, ``repeat`` rounds."""
    by_access = decks(n)
    runs: dict[str, list[dict[str, float]]] = {access: [] for access in by_access}
    for _ in range(repeat):
        for access, deck in by_access.items():
            runs[access].append(time_ngspice(deck, cell._osdi_path(), 1))
    return {access: {key: statistics.median(r[key] for r in got) for key in ("load_s", "solve_s", "total_s")}
            for access, got in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks")
    parser.add_argument("--sizes", default="8,16,32,64", help="array sizes N (N x 2N cells), comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per timing (median)")
    parser.add_argument("--bin-sizes", default="8,32", help="sizes of the bin-search comparison (33 s at 64)")
    args = parser.parse_args(argv)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = {"n": n, "cells": 2 * n * n, "errors": errors(n), "cpu_s": timings(n, args.repeat),
               "acct": {name: deck_breakdown(deck) for name, deck in decks(n).items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    bins = {n: bin_search_cost(n) for n in (int(s) for s in args.bin_sizes.split(",") if s)}
    print(json.dumps({"bin_search": bins}), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reram_crossbar_access.json").write_text(json.dumps({"rows": rows, "bin_search": bins}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
