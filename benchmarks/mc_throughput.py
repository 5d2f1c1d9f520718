"""Monte Carlo throughput: the engine against one ngspice process per sample and a .control loop.

Run from the repository root (takes a few minutes)::

    .venv/bin/python benchmarks/mc_throughput.py [--n 1000] [--out /tmp/spicegen-bench]

Transient: the ``mc-tran`` testbench (a sinh memristor programmed by a 4-pulse train with
per-pulse width jitter, d2d ``i0``, c2c ``k`` and a global amplitude), ``n`` samples, seed 1,
the same sampled values in every method:

(a) this engine, ``run_study(..., workers=1)`` (the same as ``spicegen mc mc-tran --workers 1``),
    samples/s of the simulation loop as the progress bar reports it, and of the whole
    command including Python start-up;
(b) one ``ngspice -b`` process per sample with the values written into the netlist and the
    rawfile read back (how spicelib drives ngspice), one at a time;
(c) one ngspice process running a ``.control`` script that ``alterparam``\\ s, ``reset``\\ s,
    ``run``\\ s and ``meas``\\ ures every sample (ngspice's own speed, no Python);
(d) the engine with 2 workers, for the parallel efficiency (a) -> (d);
(e) (c) split over two concurrent ngspice processes: how well the machine itself scales to
    two processes at that moment (on a shared machine, the yardstick for (d)).

DC: ``mc-dc`` (one ``.op`` per sample), 1000 samples, one sample per run against K samples
packed into one netlist, for four circuits: a sky130 NMOS with threshold mismatch only (set by
``alter``, no re-parse), with threshold and width mismatch (width needs ``alterparam`` + ``reset``),
the ``diode_rs`` B-source twin (``alterparam`` + ``reset``) and the compiled ``diode_rs`` (OSDI:
``is_`` and ``rs`` instance parameters set by ``alter``, no re-parse).
``--dc-only`` runs only this part.

Rates: the whole ``run_study`` call (plan, circuit load, worker start-up included), and the
"steady state" from the 10 %-th to the last finished sample in the store. Every measurement is
repeated (interleaved) and the best rate kept, by wall clock and per CPU second of this process
and its children; on a machine shared with other work the CPU figure is the stable one, the
2-worker efficiency needs the wall clock of an otherwise idle machine.

Prints a Markdown table; BENCHMARKS.md quotes it.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from spicegen.measure import evaluate
from spicegen.montecarlo import Sampler, load_dataframe, load_dataset, make_plan, run_study
from spicegen.ngspice import run_netlist
from spicegen.testbench import CircuitWaves
from testbenches import get_testbench

SEED = 1
DC_CIRCUITS = {
    "sky130 NMOS, vth mismatch (alter)": {"device": "nmos", "mismatch": "vth"},
    "sky130 NMOS, vth + width mismatch (alterparam + reset)": {"device": "nmos", "mismatch": "vth+w"},
    "diode_rs twin, is_ + rs (alterparam + reset)": {"device": "diode"},
    "diode_rs OSDI, is_ + rs (alter)": {"device": "diode", "flavor": "osdi"},
}


def sample_values(plan, n: int) -> list[dict[str, float]]:
    point = plan.points[0]
    sampler = Sampler(point.slots, point.events)
    return [{k: float(np.ravel(v)[0]) for k, v in sampler.draw(plan.seed, k).items()} for k in range(n)]


def with_values(netlist: str, values: dict[str, float]) -> str:
    """The netlist with every ``.param name=...`` line set to this sample's value."""
    return re.sub(r"^\.param (\w+)=\S+$", lambda m: f".param {m[1]}={values[m[1]]!r}", netlist, flags=re.M)


@dataclass
class Rate:
    """Best samples/s over the repeats: by wall clock, and per CPU second (this process and its
    children), which a machine shared with other work disturbs much less."""

    wall: float = 0.0
    cpu: float = 0.0

    def add(self, n: int, wall: float, cpu: float) -> None:
        self.wall, self.cpu = max(self.wall, n / wall), max(self.cpu, n / cpu)


@contextmanager
def timed(rate: Rate, n: int) -> Iterator[None]:
    wall, cpu = time.perf_counter(), _cpu()
    yield
    rate.add(n, time.perf_counter() - wall, _cpu() - cpu)


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def engine(tb, folder: Path, n: int, rate: Rate, steady: Rate | None = None, **kwargs) -> None:
    """Run a study; ``steady`` gets the rate from the 10 %-th to the last finished sample
    (start-up excluded, what the progress bar converges to)."""
    shutil.rmtree(folder, ignore_errors=True)
    with timed(rate, n):
        run_study(tb, folder, n=n, seed=SEED, progress=False, **kwargs)
    if steady is not None:
        finished = np.sort(load_dataframe(folder, meta=True)["finished"].to_numpy())
        skip = n // 10
        steady.wall = max(steady.wall, (n - skip - 1) / (finished[-1] - finished[skip]))


def engine_cli(folder: Path, n: int, rate: Rate) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    command = [sys.executable, "-m", "spicegen.cli", "mc", "mc-tran", "--n", str(n), "--seed", str(SEED),
               "--workers", "1", "--out", str(folder), "--no-progress"]
    with timed(rate, n):
        subprocess.run(command, check=True, capture_output=True)


def process_per_sample(plan, tb, values: list[dict[str, float]], rate: Rate) -> np.ndarray:
    netlist, finals = plan.points[0].netlist, []
    with timed(rate, len(values)):
        for v in values:
            result = run_netlist(with_values(netlist, v), backend="subprocess")
            waves = CircuitWaves(result, plan.points[0].aliases)
            finals.append(evaluate({"w": tb.measurements["w_final"]}, waves)["w"])
    return np.array(finals)


def control_loop(plan, values: list[dict[str, float]], tstop: float, rate: Rate, processes: int = 1) -> np.ndarray:
    """The samples split over ``processes`` concurrent ngspice ``.control`` loops."""
    deck = plan.points[0].netlist.replace(".end\n", "")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for p in range(processes):
            lines = [".control", "set num_threads=1", "set no_mem_check"]
            for v in values[p::processes]:
                lines += [f"alterparam {k}={x!r}" for k, x in v.items()]
                lines += ["reset", "run", f"meas tran wf find v(xm1.w) at={tstop!r}", "destroy all"]
            paths.append(Path(tmp) / f"loop{p}.cir")
            paths[-1].write_text(deck + "\n".join([*lines, "quit", ".endc", ".end"]) + "\n")
        with timed(rate, len(values)):
            procs = [subprocess.Popen(["ngspice", "-b", str(path)], stdout=subprocess.PIPE, text=True) for path in paths]
            outputs = [proc.communicate()[0] for proc in procs]
    finals = [np.array([float(x) for x in re.findall(r"^wf\s*=\s*(\S+)", out, flags=re.M)]) for out in outputs]
    merged = np.empty(len(values))
    for p, f in enumerate(finals):
        merged[p::processes] = f
    return merged


def transient(args: argparse.Namespace, out: Path) -> None:
    tb = get_testbench("mc-tran")
    plan = make_plan(tb, seed=SEED)
    values = sample_values(plan, args.n)
    tstop = float(plan.points[0].netlist.split(".tran")[1].split()[1])
    a, a_steady, a_cli, b, c, c2, d, d_steady = (Rate() for _ in range(8))
    for _ in range(args.repeat):  # interleaved, so a burst of other work hits every method alike
        engine(tb, out / "a", args.n, a, a_steady)
        engine_cli(out / "a_cli", args.n, a_cli)
        b_final = process_per_sample(plan, tb, values[: max(1, args.n // 4)], b)
        c_final = control_loop(plan, values, tstop, c)
        engine(tb, out / "d", args.n, d, d_steady, workers=2)
        control_loop(plan, values, tstop, c2, processes=2)
    reference = load_dataset(out / "a")["w_final"].values
    assert np.array_equal(reference, load_dataset(out / "d")["w_final"].values)
    print(f"\nTransient MC, mc-tran, n = {args.n}, best of {args.repeat}\n")
    print("| method | samples/s (wall) | samples/s per CPU second |\n|---|---|---|")
    for label, r in (("(a) engine, 1 worker (run_study)", a), ("(a) engine, 1 worker, steady state", a_steady),
                     ("(a) `spicegen mc ... --workers 1` incl. Python start-up", a_cli),
                     (f"(b) one `ngspice -b` per sample ({b_final.size} samples)", b),
                     ("(c) one ngspice `.control` loop", c), ("(d) engine, 2 workers (run_study)", d),
                     ("(d) engine, 2 workers, steady state", d_steady),
                     ("(e) two concurrent `.control` loops (the machine's own 2-process scaling)", c2)):
        print(f"| {label} | {r.wall:.1f} | {r.cpu:.1f} |" if r.cpu else f"| {label} | {r.wall:.1f} | |")
    print(f"\nengine / (b): {a.wall / b.wall:.2f}x wall, {a.cpu / b.cpu:.2f}x CPU;  "
          f"engine / (c): {a.wall / c.wall:.2f}x wall, {a.cpu / c.cpu:.2f}x CPU;  "
          f"2-worker efficiency: {d_steady.wall / (2 * a_steady.wall):.0%} steady state, "
          f"{d.wall / (2 * a.wall):.0%} whole call; two ngspice processes at the same time: "
          f"{c2.wall / (2 * c.wall):.0%}")
    print(f"w_final against the engine: (b) max |diff| {np.max(np.abs(b_final - reference[:b_final.size])):.1e}, "
          f"(c) {np.max(np.abs(c_final - reference)):.1e} (ngspice prints 7 digits)")


def packing(args: argparse.Namespace, out: Path) -> None:
    dc = get_testbench("mc-dc")
    packs = [int(x) for x in args.packs.split(",")]
    print(f"\nDC MC, mc-dc, 1000 samples, 1 worker, samples per CPU second (speed-up over K = 1), best of {args.repeat}\n")
    print("| circuit | K = 1 | " + " | ".join(f"K = {k}" for k in packs) + " |\n|---|---|" + "---|" * len(packs))
    for label, settings in DC_CIRCUITS.items():
        rates = {k: Rate() for k in [1, *packs]}
        for _ in range(args.repeat):
            for k, rate in rates.items():
                engine(dc, out / f"dc{k}", 1000, rate, settings=settings, pack=k)
        single = rates[1].cpu
        cells = [f"{rates[k].cpu:.0f} ({rates[k].cpu / single:.1f}x)" for k in packs]
        print(f"| {label} | {single:.0f} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="repeats; the best rate counts")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "spicegen-bench"))
    parser.add_argument("--packs", default="10,50,100", help="K values for the DC packing benchmark")
    parser.add_argument("--dc-only", action="store_true", help="only the DC packing benchmark")
    args = parser.parse_args()
    out = Path(args.out)
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine)")
    if not args.dc_only:
        transient(args, out)
    packing(args, out)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
