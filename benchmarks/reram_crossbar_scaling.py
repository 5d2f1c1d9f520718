"""Full-array ReRAM crossbar ``.op``: load + solve time against array size in ngspice and VACASK, in one run.

``python benchmarks/reram_crossbar_scaling.py --out results/benchmarks``

Arrays: N x N differential weights, N x 2N ``reram_cmo`` OSDI cells (frozen states of the paper's weights)
with the access resistor, 0.35 Ohm row and column wire segments, drivers and TIAs
(:func:`testbenches.reram.crossbar.crossbar_netlist`), one ``.op`` of one input slice (every row on).
Configurations per N, each timed as the median of ``--repeat`` rounds that run every configuration once:

* ngspice, KLU, a ``.model`` card per cell (``instance_params=False``);
* ngspice, KLU, one shared card, each cell's ``x0``/``freeze`` on its ``N`` line: the package's own module,
  which declares them ``(*type="instance"*)`` (the default of the array decks);
* ngspice, SPARSE 1.3 (ngspice's default), a card per cell, only up to ``--sparse-max`` (its reordering takes
  minutes beyond: 512 cells ~5 s of CPU, growth ~cells^2.3-3.1);
* VACASK, a card per cell and one shared card (instance parameters).

ngspice is timed in two parts through the shared library, in CPU seconds of this process (the machine is
shared: wall time measures the neighbours): load (``ngSpice_Circ``: parse, cards) and solve (``run``:
set-up, the ``.op``, copying the saved vectors out). VACASK runs as a process: its time is the CPU time of
the whole run. Also measured: ngspice saving every vector instead of only the TIA outputs (at the largest
N <= 64), where ngspice's solve goes with instance parameters (its ``.options acct`` timers: Newton
iterations, matrix size and fill-in, device load, first factorisation with pivoting, refactorisations,
triangular solves) and VACASK's (``print stats``), the fill-in and flops of an LU of the array's nodal
pattern under minimum degree (SuperLU's, like the AMD of KLU) and under nested dissection, the growth exponent
of each configuration in cells (least squares on log time vs log cells over N >= 16), and the nodal solvers
against ngspice and VACASK at ``--check`` sizes (:func:`testbenches.reram.crossbar.full_array_check`).
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sps
from scipy.sparse.linalg import splu

from spicegen.ngspice import NgSpiceShared
from testbenches.reram import cell
from testbenches.reram import crossbar as xb
from veriloga.vacask import run_vacask, vacask_command


def operands(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cell conductances (S) of an n x n differential array of the paper's weights and one input slice (every
    row on; row voltages in V)."""
    rng = np.random.default_rng(seed)
    w, _ = xb.paper_operands(n, 1, rng)
    return xb.interleave(*xb.weight_conductances(w)), rng.choice([-1.0, 1.0], n) * xb.V_READ


def array(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """States of the array of :func:`operands` and its input slice."""
    g, v = operands(n, seed)
    return xb.state_for_conductance(g), v


#: ngspice's ``.options acct`` report (``rusage everything``): key -> line label.
ACCT = {"iterations": "Total iterations", "equations": "Circuit Equations", "nonzeros": "Circuit original non-zeroes",
        "fill_in": "Circuit fill-in non-zeroes", "analysis_s": "Total analysis time (seconds)",
        "device_load_s": "Matrix load time", "first_factor_s": "Matrix reorder time",
        "refactor_s": "Matrix factor time", "triangular_solve_s": "Matrix solve time"}


def time_ngspice(deck: str, osdi: str, repeat: int) -> dict[str, float]:
    """Median load and solve CPU seconds of ``deck`` in the shared ngspice library."""
    spice = NgSpiceShared.get()
    loads, solves = [], []
    for _ in range(repeat):
        with spice.lock:
            spice.use_osdi([osdi])
            start = time.process_time()
            spice.load_circuit(deck)
            loaded = time.process_time()
            result = spice.run()
            solves.append(time.process_time() - loaded)
            loads.append(loaded - start)
            spice.destroy_all()
    return {"load_s": statistics.median(loads), "solve_s": statistics.median(solves),
            "total_s": statistics.median(a + b for a, b in zip(loads, solves)), "vectors": len(result)}


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_vacask(deck: str, osdi: str, repeat: int) -> dict[str, float]:
    """Median CPU seconds of a VACASK process running ``deck``."""
    times = []
    for _ in range(repeat):
        start = children_cpu()
        run_vacask(deck, osdi=[osdi, "resistor.osdi"], timeout=3600)
        times.append(children_cpu() - start)
    return {"total_s": statistics.median(times)}


def solve_breakdown(n: int, access: xb.Access = "resistor") -> dict[str, float]:
    """ngspice's own account of one ``.op`` of the N x N array with instance parameters (``.options acct``)."""
    states, v = array(n)
    return {"n": n} | deck_breakdown(xb.crossbar_netlist(states, v, xb.Crossbar(), access=access))


def deck_breakdown(deck: str) -> dict[str, float]:
    """ngspice's own account of one ``.op`` of a KLU deck (``.options acct``); ``gmin_stepping`` is 1 where the
    direct Newton failed and ngspice fell back on gmin stepping."""
    spice = NgSpiceShared.get()
    with spice.lock:
        spice.use_osdi([cell._osdi_path()])
        spice.load_circuit(deck.replace(".options klu", ".options klu acct", 1))
        result = spice.run()
        report = spice.command("rusage everything")
        spice.destroy_all()
    values = {key: re.search(re.escape(label) + r"\s*=\s*([0-9.eE+-]+)", report) for key, label in ACCT.items()}
    return ({key: float(match.group(1)) for key, match in values.items() if match}
            | {"gmin_stepping": float("gmin stepping" in result.log)})


def configurations(sparse_max: int) -> dict[str, Callable[[int, np.ndarray, np.ndarray, int], dict[str, float]]]:
    """Name -> ``time(n, states, v_rows, repeat)`` of every configuration (None where it is skipped)."""
    osdi, wires = cell._osdi_path(), xb.Crossbar()

    def ngspice(solver: str, instance: bool) -> Callable:
        return lambda n, s, v, r: time_ngspice(xb.crossbar_netlist(s, v, wires, solver=solver, instance_params=instance),
                                               osdi, r)

    def vacask(instance: bool) -> Callable:
        return lambda n, s, v, r: time_vacask(xb.vacask_netlist(s, v, wires, instance_params=instance), osdi, r)

    sparse = ngspice("sparse", False)
    return {"ngspice_klu_cards": ngspice("klu", False), "ngspice_klu_instance": ngspice("klu", True),
            "ngspice_sparse_cards": lambda n, s, v, r: sparse(n, s, v, 1) if n <= sparse_max else None,
            "vacask_cards": vacask(False), "vacask_instance": vacask(True)}


def interleaved(configs: dict[str, Callable], n: int, states: np.ndarray, v: np.ndarray,
                repeat: int) -> dict[str, dict[str, float] | None]:
    """Every configuration once per round, ``repeat`` rounds (SPARSE in the first only): medians per key."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for round_ in range(repeat):
        for name, run in configs.items():
            if round_ == 0 or name != "ngspice_sparse_cards":
                runs[name].append(run(n, states, v, 1))
    return {name: None if None in got else {key: statistics.median(r[key] for r in got) for key in got[0]}
            for name, got in runs.items()}


#: VACASK's ``print stats`` report: key -> line label.
VACASK_STATS = {"iterations": "NR solver iterations", "parse_s": "Parse time", "elaboration_s": "Elaboration time",
                "device_load_s": "Eval and load time", "newton_s": "NR solver time",
                "factor_s": "Real factorization time", "refactor_s": "Real refactorization time",
                "triangular_solve_s": "Real solve time"}


def vacask_breakdown(n: int) -> dict[str, float]:
    """VACASK's own account (``print stats``) of one ``op`` of the N x N array with instance parameters."""
    states, v = array(n)
    deck = xb.vacask_netlist(states, v, xb.Crossbar()).replace("  analysis op1 op", "  analysis op1 op\n  print stats")
    title, _, body = deck.partition("\n")
    loads = [f'load "{cell._osdi_path()}"', 'load "resistor.osdi"']
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "netlist.sim").write_text("\n".join([title, *loads, body]) + "\n")
        log = subprocess.run([vacask_command(), "-sp", "netlist.sim"], cwd=tmp, capture_output=True, text=True,
                             timeout=3600, check=True).stdout
    values = {key: re.search(re.escape(label) + r":\s*([0-9.eE+-]+)", log) for key, label in VACASK_STATS.items()}
    return {"n": n} | {key: float(match.group(1)) for key, match in values.items() if match}


def mesh_pattern(n: int) -> tuple[sps.csc_matrix, Callable[[str, int, int], int]]:
    """Symmetric nodal pattern of the N x 2N array as the solver sees it: per cell the row node ``r``, the
    device's internal nodes ``ci`` and ``tk``, the device-to-access node ``d`` and the column node ``c``
    (the frozen state node is a 1x1 block of its own), row and column wires; diagonally dominant values."""
    cols, kinds = 2 * n, ("r", "ci", "tk", "d", "c")
    def node(kind: str, i: int, j: int) -> int:
        return (i * cols + j) * len(kinds) + kinds.index(kind)
    edges = []
    for i in range(n):
        for j in range(cols):
            edges += [(node("r", i, j), node("ci", i, j)), (node("ci", i, j), node("d", i, j)),
                      (node("tk", i, j), node("ci", i, j)), (node("tk", i, j), node("d", i, j)),
                      (node("d", i, j), node("c", i, j))]
            edges += [(node("r", i, j), node("r", i, j + 1))] if j + 1 < cols else []
            edges += [(node("c", i, j), node("c", i + 1, j))] if i + 1 < n else []
    a, b = np.array(edges).T
    size = n * cols * len(kinds)
    off = sps.coo_matrix((-np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(size, size)).tocsc()
    return (off + sps.diags(1e-3 - np.asarray(off.sum(axis=1)).ravel())).tocsc(), node


def nested_dissection(n: int, node: Callable[[str, int, int], int]) -> np.ndarray:
    """Geometric nested dissection of the array: halve the longer side, the separator is that line's row
    (or column) wire nodes, ordered after both halves."""
    order: list[int] = []
    reserved: set[int] = set()
    def split(i0: int, i1: int, j0: int, j1: int) -> None:
        if (i1 - i0) * (j1 - j0) <= 8:
            order.extend(v for i in range(i0, i1) for j in range(j0, j1)
                         for v in (node(k, i, j) for k in ("ci", "tk", "d", "r", "c")) if v not in reserved)
            return
        if j1 - j0 >= i1 - i0:
            mid = (j0 + j1) // 2
            separator = [node("r", i, mid) for i in range(i0, i1)]
            halves = ((i0, i1, j0, mid), (i0, i1, mid, j1))
        else:
            mid = (i0 + i1) // 2
            separator = [node("c", mid, j) for j in range(j0, j1)]
            halves = ((i0, mid, j0, j1), (mid, i1, j0, j1))
        reserved.update(separator)
        for half in halves:
            split(*half)
        order.extend(separator)
    split(0, n, 0, 2 * n)
    return np.array(order)


def mesh_factorisation(n: int) -> dict[str, float]:
    """Fill-in and flops of an LU of the array's pattern under minimum degree and under nested dissection."""
    a, node = mesh_pattern(n)
    def count(lu: Any) -> tuple[float, float]:
        below, right = np.diff(lu.L.tocsc().indptr) - 1, np.diff(lu.U.tocsr().indptr) - 1
        return float(below.sum() + right.sum()), float(2 * np.sum(below * right) + below.sum())
    options = {"diag_pivot_thresh": 0.0, "options": {"SymmetricMode": True}}
    md = count(splu(a, permc_spec="MMD_AT_PLUS_A", **options))
    order = nested_dissection(n, node)
    nd = count(splu(a[order][:, order].tocsc(), permc_spec="NATURAL", **options))
    return {"n": n, "equations": a.shape[0], "min_degree_fill": md[0], "min_degree_flops": md[1],
            "nested_dissection_fill": nd[0], "nested_dissection_flops": nd[1]}


def save_all_cost(n: int, repeat: int) -> dict[str, float]:
    """ngspice KLU with one shared card, saving only the TIA outputs vs every vector."""
    states, v = array(n)
    deck = xb.crossbar_netlist(states, v, xb.Crossbar())
    every = "\n".join(line for line in deck.splitlines() if not line.startswith(".save"))
    return {"n": n, "tia_outputs_only": time_ngspice(deck, cell._osdi_path(), repeat),
            "all_vectors": time_ngspice(every, cell._osdi_path(), repeat)}


def exponents(rows: list[dict], names: list[str], n_min: int = 16) -> dict[str, float]:
    """Slope of log(total time) vs log(cells) over the sizes >= ``n_min`` each configuration ran."""
    out = {}
    for name in names:
        points = [(2 * r["n"] ** 2, r[name]["total_s"]) for r in rows if r["n"] >= n_min and r.get(name)]
        if len(points) >= 2:
            cells, seconds = np.log(np.array(points)).T
            out[name] = float(np.polyfit(cells, seconds, 1)[0])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks")
    parser.add_argument("--sizes", default="8,16,32,64,128", help="array sizes N (N x 2N cells), comma-separated")
    parser.add_argument("--sparse-max", type=int, default=16, help="largest N run with SPARSE (minutes beyond)")
    parser.add_argument("--check", default="8,32,64", help="sizes of the nodal-vs-simulators check")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (median); SPARSE runs once")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = configurations(args.sparse_max)
    rows = []
    for n in sizes:
        states, v = array(n)
        row = {"n": n, "cells": 2 * n * n} | interleaved(configs, n, states, v, args.repeat)
        rows.append(row)
        print(json.dumps(row), flush=True)
    checks = {}
    for n in (int(s) for s in args.check.split(",") if s):
        start = time.perf_counter()
        checks[n] = xb.full_array_check(n, np.random.default_rng(n)) | {"seconds": time.perf_counter() - start}
        print(json.dumps({"check": n, **checks[n]}), flush=True)
    breakdown = {"ngspice": [solve_breakdown(n) for n in sizes if n >= 32],
                 "vacask": [vacask_breakdown(n) for n in sizes if n >= 32],
                 "mesh_factorisation": [mesh_factorisation(n) for n in sizes if n >= 16]}
    print(json.dumps({"solve_breakdown": breakdown}), flush=True)
    summary = {"rows": rows, "growth_exponent_in_cells": exponents(rows, list(configs)), "solve_breakdown": breakdown,
               "save_all_cost": save_all_cost(max([n for n in sizes if n <= 64], default=sizes[0]), args.repeat),
               "checks": checks, "sparse_max": args.sparse_max}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reram_crossbar_scaling.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: summary[k] for k in ("growth_exponent_in_cells", "save_all_cost")}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
