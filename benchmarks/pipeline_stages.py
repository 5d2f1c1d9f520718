"""Wall time of ``spicegen run`` per stage, as a Markdown table for BENCHMARKS.md.

``python benchmarks/pipeline_stages.py --scale quick --workers 2 --out results/bench-quick`` runs the
pipeline into a new folder (or resumes it: a finished stage keeps the time of the run that finished
it) and prints each stage's wall time, its share of the total and the whole command's time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="results/bench-pipeline")
    args = parser.parse_args()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "spicegen.cli", "run", "--scale", args.scale, "--workers",
                    str(args.workers), "--out", args.out], check=True)
    whole = time.perf_counter() - start
    timings = json.loads((Path(args.out) / "timings.json").read_text())
    total = sum(t or 0.0 for t in timings["stages"].values())
    print(f"\n`spicegen run --scale {args.scale} --workers {args.workers}`, {os.cpu_count()} CPUs: "
          f"whole command {whole:.0f} s (pipeline {timings['pipeline_seconds']:.0f} s)\n")
    print("| stage | wall time (s) | share |\n|---|---|---|")
    for name, seconds in timings["stages"].items():
        print(f"| {name} | {seconds:.1f} | {100 * seconds / total:.0f} % |" if seconds is not None
              else f"| {name} | — | — |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
