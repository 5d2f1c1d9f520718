"""DC packing, two versions of the engine in one run: samples per CPU second at K = 1 and K = packed.

Run from the repository root, with an older checkout of the repository beside it::

    git worktree add /tmp/spicegen-before <commit>      # or: git archive <commit> | tar -x -C /tmp/spicegen-before
    .venv/bin/python benchmarks/mc_dc_before_after.py --before /tmp/spicegen-before [--repeat 3]

For each circuit of ``mc_throughput.DC_CIRCUITS`` (sky130 NMOS with threshold mismatch, with threshold and
width mismatch, the ``diode_rs`` twin and the compiled ``diode_rs``), one child process per version and round,
the versions alternated round by round so that other work on the machine hits both alike. A child runs a
small study of each K first (imports, circuit load and OSDI look-ups warmed), then ``run_study`` with
``n`` samples (seed 1, one worker) at each K, and reports the CPU seconds of each call: the whole study,
plan, store and circuit load included. The best rate of the rounds counts; the drawn values and the
measurements of both versions are compared sample by sample.

Prints a Markdown table; BENCHMARKS.md quotes it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from mc_throughput import DC_CIRCUITS

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import hashlib, json, shutil, sys, time
import pandas as pd
from spicegen.montecarlo import load_dataframe, run_study
from testbenches import get_testbench
settings, sizes, packs, inner = (json.loads(a) for a in sys.argv[1:5])
out = sys.argv[5]
tb, seconds, values = get_testbench("mc-dc"), {}, {}
for k in packs:
    shutil.rmtree(out, ignore_errors=True)
    run_study(tb, out, n=min(sizes[0], 2 * k), seed=1, settings=settings, pack=k, progress=False)
for _ in range(inner):
    for k in packs:
        for n in sizes:
            shutil.rmtree(out, ignore_errors=True)
            start = time.process_time()
            run_study(tb, out, n=n, seed=1, settings=settings, pack=k, progress=False)
            seconds[f"{k} {n}"] = min(seconds.get(f"{k} {n}", 1e9), time.process_time() - start)
            if n == sizes[0]:
                frame = load_dataframe(out).sort_values("sample")
                kept = frame.drop(columns=[c for c in frame.columns if c in ("elapsed", "finished", "worker")])
                values[k] = hashlib.sha256(pd.util.hash_pandas_object(kept.reset_index(drop=True)).values).hexdigest()
print(json.dumps({"seconds": seconds, "values": values}))
"""


def measure(tree: Path, settings: dict, sizes: list[int], packs: list[int], inner: int, out: Path) -> dict:
    """One child process on ``tree``: the least CPU seconds of ``inner`` studies of each K and size, and
    the stored values of each K (first size)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    arguments = [json.dumps(settings), json.dumps(sizes), json.dumps(packs), str(inner), str(out)]
    done = subprocess.run([sys.executable, "-c", CHILD, *arguments], cwd=tree, env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def marginal(trees: dict[str, Path], settings: dict, n: int, packs: list[int], rounds: int, tmp: Path) -> None:
    """Print the CPU per sample that a study of ``5 n`` samples costs beyond one of ``n`` (the per-study costs
    cancel), for each version and K: median and least over ``rounds`` alternated child processes, each the
    best of 3 studies per size."""
    costs: dict[str, dict[int, list[float]]] = {version: {k: [] for k in packs} for version in trees}
    fixed: dict[str, dict[int, list[float]]] = {version: {k: [] for k in packs} for version in trees}
    for _ in range(rounds):
        for version, tree in trees.items():
            seconds = measure(tree, settings, [n, 5 * n], packs, 3, tmp / version)["seconds"]
            for k in packs:
                costs[version][k].append((seconds[f"{k} {5 * n}"] - seconds[f"{k} {n}"]) / (4 * n) * 1e6)
                fixed[version][k].append((seconds[f"{k} {n}"] - n * costs[version][k][-1] * 1e-6) * 1e3)
    print(f"\nmarginal CPU per sample (µs, a {5 * n}-sample study minus a {n}-sample one), median (least) of "
          f"{rounds} alternated rounds, and K = 1 ÷ K of the medians\n")
    print("| version | " + " | ".join(f"K = {k}" for k in packs) + " |\n|---|" + "---|" * len(packs))
    for version, by_k in costs.items():
        median = {k: float(np.median(v)) for k, v in by_k.items()}
        cells = [f"{median[k]:.1f} ({min(by_k[k]):.1f})" + ("" if k == 1 else f", {median[1] / median[k]:.1f}×")
                 for k in packs]
        print(f"| {version} | " + " | ".join(cells) + " |")
    print("\nper study beyond n times the marginal cost (ms), median: " + "; ".join(
        f"{version} " + ", ".join(f"K = {k} {np.median(v):.1f}" for k, v in by_k.items()) for version, by_k in fixed.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="checkout of the older version")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--packs", default="10,50,100", help="packed K values (K = 1 is always run)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best rate counts")
    parser.add_argument("--only", default="", help="only the circuits whose label contains this text")
    parser.add_argument("--marginal", action="store_true",
                        help="instead: the marginal CPU per sample (a 5 n-sample study minus an n-sample one)")
    args = parser.parse_args()
    packs = [1, *(int(k) for k in args.packs.split(","))]
    trees = {"before": args.before.resolve(), "after": ROOT}
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, settings in DC_CIRCUITS.items():
            if args.only not in label:
                continue
            if args.marginal:
                print(f"\n{label}")
                marginal(trees, settings, args.n, packs, args.repeat, Path(tmp))
                continue
            best = {version: {k: 0.0 for k in packs} for version in trees}
            values: dict[str, dict] = {}
            for _ in range(args.repeat):
                for version, tree in trees.items():
                    result = measure(tree, settings, [args.n], packs, 1, Path(tmp) / version)
                    values[version] = result["values"]
                    for k in packs:
                        best[version][k] = max(best[version][k], args.n / result["seconds"][f"{k} {args.n}"])
            same = {k: values["before"][str(k)] == values["after"][str(k)] for k in packs}
            rows.append((label, best, same))
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    if args.marginal:
        return
    print(f"mc-dc, n = {args.n}, 1 worker, samples per CPU second of the whole study (speed-up over K = 1 of the "
          f"same version), best of {args.repeat}\n")
    print("| circuit | version | K = 1 | " + " | ".join(f"K = {k}" for k in packs[1:]) + " |")
    print("|---|---|---|" + "---|" * (len(packs) - 1))
    for label, best, same in rows:
        for version in trees:
            rate = best[version]
            cells = [f"{rate[k]:.0f} ({rate[k] / rate[1]:.1f}x)" for k in packs[1:]]
            print(f"| {label} | {version} | {rate[1]:.0f} | " + " | ".join(cells) + " |")
        ratio = " | ".join(f"{best['after'][k] / best['before'][k]:.2f}x" for k in packs[1:])
        print(f"| {label} | after / before | {best['after'][1] / best['before'][1]:.2f}x | {ratio} |")
        print(f"| {label} | stored values identical | " + " | ".join("yes" if same[k] else "NO" for k in packs) + " |")


if __name__ == "__main__":
    main()
