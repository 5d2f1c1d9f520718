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

from mc_throughput import DC_CIRCUITS

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import hashlib, json, shutil, sys, time
import pandas as pd
from spicegen.montecarlo import load_dataframe, run_study
from testbenches import get_testbench
settings, n, packs, out = json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
tb, seconds, values = get_testbench("mc-dc"), {}, {}
for k in packs:
    shutil.rmtree(out, ignore_errors=True)
    run_study(tb, out, n=min(n, 2 * k), seed=1, settings=settings, pack=k, progress=False)
for k in packs:
    shutil.rmtree(out, ignore_errors=True)
    start = time.process_time()
    run_study(tb, out, n=n, seed=1, settings=settings, pack=k, progress=False)
    seconds[k] = time.process_time() - start
    frame = load_dataframe(out).sort_values("sample")
    kept = frame.drop(columns=[c for c in frame.columns if c in ("elapsed", "finished", "worker")])
    values[k] = hashlib.sha256(pd.util.hash_pandas_object(kept.reset_index(drop=True)).values).hexdigest()
print(json.dumps({"seconds": seconds, "values": values}))
"""


def measure(tree: Path, settings: dict, n: int, packs: list[int], out: Path) -> dict:
    """One child process on ``tree``: CPU seconds and the stored values of each K."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(settings), str(n), json.dumps(packs), str(out)],
                          cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="checkout of the older version")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--packs", default="10,50,100", help="packed K values (K = 1 is always run)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best rate counts")
    parser.add_argument("--only", default="", help="only the circuits whose label contains this text")
    args = parser.parse_args()
    packs = [1, *(int(k) for k in args.packs.split(","))]
    trees = {"before": args.before.resolve(), "after": ROOT}
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, settings in DC_CIRCUITS.items():
            if args.only not in label:
                continue
            best = {version: {k: 0.0 for k in packs} for version in trees}
            values: dict[str, dict] = {}
            for _ in range(args.repeat):
                for version, tree in trees.items():
                    result = measure(tree, settings, args.n, packs, Path(tmp) / version)
                    values[version] = result["values"]
                    for k in packs:
                        best[version][k] = max(best[version][k], args.n / result["seconds"][str(k)])
            same = {k: values["before"][str(k)] == values["after"][str(k)] for k in packs}
            rows.append((label, best, same))
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
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
