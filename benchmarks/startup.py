"""Start-up of the ``spicegen`` command: wall time of the listing commands and of a small Monte Carlo
study, and which heavy modules each imports, for this checkout and (optionally) another one.

    .venv/bin/python benchmarks/startup.py [--repeat 7] [--before /path/to/older/checkout]

Each command runs as a whole process (``python -m spicegen.cli ...``), the checkouts interleaved, once
untimed first (the plug-in catalog and the cached twins are built then, as on a first use), then
``repeat`` times; the median is printed. ``--before`` runs the same commands with that checkout first
on ``PYTHONPATH`` (same virtual environment).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "spicegen --help": ["--help"],
    "spicegen list": ["list"],
    "spicegen study list": ["study", "list"],
    "spicegen study describe mc-demo": ["study", "describe", "mc-demo"],
    "spicegen mc mc-tran --n 20": ["mc", "mc-tran", "--n", "20", "--seed", "1", "--no-progress", "--out"],
}
HEAVY = ("sympy", "scipy", "lmfit")
PROBE = ("import runpy, sys\nsys.argv = ['spicegen', *sys.argv[1:]]\ntry:\n    runpy.run_module('spicegen.cli', "
         "run_name='__main__')\nexcept SystemExit:\n    pass\nprint('HEAVY', *[m for m in {heavy!r} if m in sys.modules], "
         "file=sys.stderr)")


def run(root: Path, argv: list[str], out: Path) -> tuple[float, str]:
    """Wall seconds of one whole process run in ``out`` with ``root`` first on the path, and the heavy
    modules it imported."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    if argv[-1] == "--out":
        shutil.rmtree(out / "study", ignore_errors=True)
        argv = [*argv, str(out / "study")]
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True,
                          env=env, cwd=out, check=True)
    seconds = time.perf_counter() - start
    heavy = next(line for line in done.stderr.splitlines() if line.startswith("HEAVY")).split()[1:]
    return seconds, ", ".join(heavy) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", type=Path, help="an older checkout to compare with")
    args = parser.parse_args()
    roots = {"now": Path(__file__).resolve().parents[1], **({"before": args.before.resolve()} if args.before else {})}
    out = Path(tempfile.mkdtemp(prefix="spicegen-startup-"))
    times = {(label, name): [] for label in roots for name in COMMANDS}
    heavy = {}
    for label, root in roots.items():  # first use: catalog and cached twins are built
        for argv in COMMANDS.values():
            run(root, argv, out / label)
    for _ in range(args.repeat):
        for name, argv in COMMANDS.items():
            for label, root in roots.items():
                seconds, heavy[label, name] = run(root, argv, out / label)
                times[label, name].append(seconds)
    print(f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs; "
          f"medians of {args.repeat}\n")
    print("| command | " + " | ".join(f"{label}: wall s | {label}: imports" for label in roots) + " |")
    print("|---|" + "---|---|" * len(roots))
    for name in COMMANDS:
        cells = " | ".join(f"{statistics.median(times[label, name]):.2f} | {heavy[label, name]}" for label in roots)
        print(f"| `{name}` | {cells} |")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
