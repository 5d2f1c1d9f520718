"""openvaf-r compile time of each library device's Verilog-A, for this checkout and another one, and
the ngspice transient time of one device's compiled module in both.

    .venv/bin/python benchmarks/va_compile.py --before /path/to/older/checkout [--repeat 5] [--tran reram_cmo]

Each checkout emits every device (``spicegen emit``, that checkout first on ``PYTHONPATH``, same virtual
environment); each module is then compiled ``repeat`` times with openvaf-r, the checkouts interleaved, and
the median wall time printed with the ratio now/before. ``--tran DEVICE`` runs that device's own check
transient (its ``Check.tran`` stimulus) through each checkout's ``.osdi`` in ``ngspice -b``, ``repeat``
times interleaved, and prints the median wall time (ngspice start-up included) and the largest
difference between the two current waveforms relative to their full scale.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spicegen.device import get_device, registry
from spicegen.netlist import format_instance
from spicegen.ngspice import run_netlist
from testbenches.core.equivalence import TRAN_OPTIONS
from veriloga.compile import openvaf_command


def emit(root: Path, name: str, folder: Path) -> Path:
    """``name``'s Verilog-A as emitted by the checkout ``root``."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.va"
    subprocess.run([sys.executable, "-m", "spicegen.cli", "emit", name, "-o", str(target)], check=True,
                   env={**os.environ, "PYTHONPATH": str(root)}, cwd=folder, capture_output=True)  # cwd: not on the path
    return target


def compile_seconds(source: Path) -> float:
    """Wall seconds of one openvaf-r run on ``source`` (which must compile without a word of warning)."""
    start = time.perf_counter()
    done = subprocess.run([openvaf_command(), str(source), "-o", str(source.with_suffix(".osdi"))],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    if "warning" in (done.stdout + done.stderr).lower():
        raise RuntimeError(f"openvaf-r warned on {source}:\n{done.stdout}{done.stderr}")
    return seconds


def transient(name: str, osdi: Path) -> tuple[float, np.ndarray]:
    """Wall seconds of the device's check transient through ``osdi`` in ``ngspice -b``, and its port current."""
    model = get_device(name)
    lines = [f"* {name} transient", TRAN_OPTIONS, *format_instance(model, "d", model.ports, {}, "osdi")]
    lines += [f"V{p} {p} 0 {model.check.tran[p].spice() if p in model.check.tran else '0'}" for p in model.ports]
    tstop = model.check.tstop
    lines += [f".tran {tstop / 1000!r} {tstop!r} 0 {tstop / 1000!r}", ".end"]
    start = time.perf_counter()
    result = run_netlist("\n".join(lines), osdi=[osdi], backend="subprocess")
    return time.perf_counter() - start, result[f"v{model.ports[0]}#branch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="an older checkout to compare with")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tran", help="a device whose check transient is timed with both .osdi files")
    args = parser.parse_args()
    roots = {"before": args.before.resolve(), "now": Path(__file__).resolve().parents[1]}
    work = Path(tempfile.mkdtemp(prefix="spicegen-va-compile-"))
    print(f"{'device':18s} {'lines':>11s} {'longest':>11s} {'before s':>9s} {'now s':>9s} {'now/before':>10s}")
    for name in registry():
        sources = {label: emit(root, name, work / label / name) for label, root in roots.items()}
        times = {label: [] for label in roots}
        for _ in range(args.repeat):
            for label, source in sources.items():
                times[label].append(compile_seconds(source))
        median = {label: statistics.median(t) for label, t in times.items()}
        text = {label: source.read_text().splitlines() for label, source in sources.items()}
        print(f"{name:18s} {len(text['before']):>5d}/{len(text['now']):<5d} "
              f"{max(map(len, text['before'])):>5d}/{max(map(len, text['now'])):<5d} "
              f"{median['before']:9.3f} {median['now']:9.3f} {median['now'] / median['before']:10.2f}")
    if args.tran:
        runs = {label: [] for label in roots}
        for _ in range(args.repeat):
            for label in roots:
                runs[label].append(transient(args.tran, work / label / args.tran / f"{args.tran}.osdi"))
        seconds = {label: statistics.median(s for s, _ in r) for label, r in runs.items()}
        before, now = runs["before"][0][1], runs["now"][0][1]
        gap = float(np.max(np.abs(now - before)) / np.max(np.abs(before))) if len(now) == len(before) else float("nan")
        print(f"\n{args.tran} transient in ngspice -b (OSDI): before {seconds['before']:.3f} s, now {seconds['now']:.3f} s, "
              f"now/before {seconds['now'] / seconds['before']:.2f}; {len(before)}/{len(now)} time points, "
              f"largest current difference {gap:.1e} of full scale")


if __name__ == "__main__":
    main()
