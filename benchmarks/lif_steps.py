"""The LIF studies' two speed-ups measured in one run: a leak that stops once it rests at V_rest, and a
study's independent transients on two workers.

``python benchmarks/lif_steps.py [--out results/benchmarks]`` (about 8 minutes on 2 cores):

1. One leak run of ``lif-leak``'s sweep that ends in the comparator's limit cycle around V_rest
   (V_taup = 1.35 V, from 0 V, t_stop = 2 s): the whole 2 s run (the study before) against the run that
   grows from 50 ms and stops once V_mem rests within 2 mV of V_rest (the study now); the leak times and
   end levels of both are printed.
2. ``spicegen study run lif-leak`` at the main job's quick size into fresh folders with ``--workers 1``
   and ``--workers 2``; the two results are compared.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from testbenches.lif.circuit import Biases
from testbenches.lif.neuron import leak_time
from testbenches.lif.studies import LEAK_FIRST, SIZES


def leak_runs() -> dict[str, float]:
    """Seconds, leak times and end levels of the whole and the growing run."""
    biases = Biases(vtaup=1.35)
    out: dict[str, float] = {}
    for name, first in (("whole", None), ("growing", LEAK_FIRST)):
        start = time.perf_counter()
        t90, train = leak_time(0.0, biases=biases, t_stop=2.0, t_first=first)
        out |= {f"{name}_s": time.perf_counter() - start, f"{name}_t90_s": t90, f"{name}_v_end": float(train.mem[-1]),
                f"{name}_t_end_s": float(train.time[-1])}
    return out


def study_runs(folder: Path) -> dict[str, object]:
    """Wall seconds of the quick lif-leak study on 1 and 2 workers, and whether their results are equal."""
    sets = [a for k, v in SIZES["quick"]["lif-leak"].items() for a in ("--set", f"{k}={v}")]
    out: dict[str, object] = {}
    results = []
    for workers in (1, 2):
        target = folder / f"lif-leak-w{workers}"
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "spicegen.cli", "study", "run", "lif-leak", *sets, "--out", str(target),
                        "--workers", str(workers), "--no-progress"], check=True, stdout=subprocess.DEVNULL)
        out[f"workers{workers}_s"] = time.perf_counter() - start
        result = json.loads((target / "result.json").read_text())
        results.append((result["measurements"], result["data"]))
    out["equal"] = results[0] == results[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    leak, study = leak_runs(), study_runs(args.out)
    print(f"leak at V_taup 1.35 V: whole 2 s run {leak['whole_s']:.1f} s, growing run {leak['growing_s']:.1f} s "
          f"(stopped at {leak['growing_t_end_s']:g} s): {leak['whole_s'] / leak['growing_s']:.1f}x; "
          f"t90 {leak['whole_t90_s']:.6g} / {leak['growing_t90_s']:.6g} s, "
          f"v_end {leak['whole_v_end']:.5f} / {leak['growing_v_end']:.5f} V")
    print(f"lif-leak (quick): 1 worker {study['workers1_s']:.1f} s, 2 workers {study['workers2_s']:.1f} s: "
          f"{study['workers1_s'] / study['workers2_s']:.2f}x; results equal: {study['equal']}")
    (args.out / "lif_steps.json").write_text(json.dumps({"leak": leak, "study": study}, indent=1))


if __name__ == "__main__":
    main()
