"""The Monte Carlo engine against its peers, side by side in one run, on the same study.

Run from the repository root (a few minutes; spicelib comes with the ``bench`` extra,
``pip install -e '.[bench]'``, and is left out when it is missing)::

    .venv/bin/python benchmarks/peers.py [--n 300] [--repeat 3] [--markdown results/peers.md]

spicelib may also live in a folder of its own, outside the environment (it then brings no second numpy)::

    pip install --no-deps --target /tmp/spicelib spicelib==1.6.4 clipin
    PYTHONPATH=.:/tmp/spicelib .venv/bin/python benchmarks/peers.py

The study is ``mc-tran`` (a sinh memristor programmed by a jittered 4-pulse train in one 40 µs
transient, 7 drawn values per sample), seed 1, ``n`` samples. Every method gets the same drawn
values (the engine's own draws) and the same netlist, and every method's measurements are compared
with the engine's:

engine
    ``run_study(..., workers=1)`` in this process's child, as ``spicegen mc mc-tran --workers 1``.
engine (2 workers)
    ``run_study(..., workers=2)``, as ``spicegen mc mc-tran --workers 2``: the same samples, bit for bit,
    on two worker processes (their start-up is inside the clock). The other loops use one core; this
    row is the wall-clock speed a user gets from the engine on a 2-core machine.
binding
    spicegen's own libngspice binding in a bare loop (the PySpice loop below, on spicegen's
    ``NgSpiceShared``): what the engine adds on top of the simulator calls.
pyspice, pyspice+no_mem_check
    A PySpice user's loop on PySpice's ``NgSpiceShared``: ``alterparam`` per value, ``reset``, ``run``,
    the plot's vectors read through PySpice, ``destroy all``; once with PySpice's defaults, once with
    the one line ``set no_mem_check`` added.
spicelib
    spicelib's ``SimRunner`` with its ngspice simulator and 2 parallel runs: one netlist file per sample
    with the values written in (spicelib's ``SpiceEditor`` cannot parse this netlist: it refuses the
    lower-case element ``vw`` whose PWL continues over ``+`` lines), its rawfile read by ``RawRead``.
control
    One ngspice process running a ``.control`` loop (``alterparam``, ``reset``, ``run``, ``meas``,
    ``destroy all`` per sample): ngspice's own speed, no Python. ``meas`` prints 7 digits, so this
    method is compared at that precision; a second, untimed ``.control`` pass writes each sample's
    binary rawfile, whose measurements are compared bit for bit.
process
    One ``ngspice -b`` process per sample with the values written into the netlist and the binary
    rawfile read back (on ``n // 4`` samples).

Each method runs in a fresh child process (two libngspice bindings cannot share one process) which
times its loop alone (start-up excluded): wall clock, and CPU seconds of the child and its own
children (ngspice processes). The methods run interleaved, ``repeat`` rounds, and the median of each
is kept. Then whole processes: ``spicegen mc mc-tran --n N`` against ``ngspice -b`` on the
``.control`` loop deck of the same samples, start-up included. The load average is printed before
and after; the machine may be shared, so the CPU-second ratios are the stable figures.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

TESTBENCH, SEED = "mc-tran", 1
METHODS = ("engine", "engine (2 workers)", "binding", "pyspice", "pyspice+no_mem_check", "spicelib", "control",
           "library control", "process")
PROCESS_SHARE = 4
"""One process per sample and spicelib run on ``n // PROCESS_SHARE`` samples (they are slow)."""
CHECKED_RAW = 20
"""Samples of the untimed ``.control`` pass that writes rawfiles (bit-for-bit comparison)."""


# ------------------------------------------------------------------------------------------ the study


def study() -> tuple[Any, Any]:
    """The testbench and its plan's only point."""
    from spicegen.montecarlo import make_plan
    from spicegen.testbench import get_testbench

    testbench = get_testbench(TESTBENCH)
    return testbench, make_plan(testbench, seed=SEED).points[0]


def sample_values(point: Any, n: int) -> list[dict[str, float]]:
    """Each sample's slot values, as the engine draws them."""
    from spicegen.montecarlo import Sampler

    batch = Sampler(point.slots, point.events).draw_batch(SEED, range(n))
    return [{name: float(np.ravel(value)[0]) for name, value in values.items()} for values in batch.values]


def with_values(netlist: str, values: dict[str, float]) -> str:
    """The netlist with every ``.param name=...`` line set to this sample's value."""
    return re.sub(r"^\.param (\w+)=\S+$", lambda m: f".param {m[1]}={values[m[1]]!r}", netlist, flags=re.M)


def measure(testbench: Any, point: Any, vectors: dict[str, np.ndarray]) -> list[float]:
    """The testbench's measurements of one sample from its vectors (ngspice's names, any spelling)."""
    from spicegen.measure import evaluate
    from spicegen.ngspice import SimResult
    from spicegen.testbench import CircuitWaves

    named = {_spicegen_name(name): values for name, values in vectors.items()}
    results = evaluate(testbench.measurements, CircuitWaves(SimResult(named), point.aliases))
    return [results[name] for name in testbench.measurements]


def _spicegen_name(name: str) -> str:
    """ngspice's spellings of a vector (``vw#branch``, ``V(te)``, ``I(vw)``) as spicegen names it."""
    name = name.lower()
    if name.endswith("#branch"):
        return f"i({name.removesuffix('#branch')})"
    return name[2:-1] if name.startswith("v(") and name.endswith(")") else name


def control_deck(point: Any, values: Sequence[dict[str, float]], tstop: float, raw_folder: str | None = None) -> str:
    """The ``.control`` loop deck: per sample ``alterparam`` …, ``reset``, ``run``, ``meas`` (or, with
    ``raw_folder``, a binary rawfile per sample instead), ``destroy all``."""
    lines = [".control", "set num_threads=1", "set no_mem_check", "set filetype=binary"]
    for k, v in enumerate(values):
        lines += [f"alterparam {name}={x!r}" for name, x in v.items()]
        lines += ["reset", "run"]
        lines += [f"write {raw_folder}/s{k}.raw"] if raw_folder else [f"meas tran wf find v(xm1.w) at={tstop!r}"]
        lines += ["destroy all"]
    return point.netlist.replace(".end\n", "") + "\n".join([*lines, "quit", ".endc", ".end"]) + "\n"


def tstop_of(point: Any) -> float:
    return float(point.netlist.split(".tran")[1].split()[1])


# ------------------------------------------------------------------------------- methods (in a child)


def run_engine(n: int, out: Path, workers: int = 1) -> Any:
    from spicegen.montecarlo import load_dataset, run_study

    testbench, _ = study()
    folder = out / f"engine-study-{workers}"
    shutil.rmtree(folder, ignore_errors=True)
    with _clock() as clock:
        run_study(testbench, folder, n=n, seed=SEED, workers=workers, progress=False)
    data = load_dataset(folder)
    return clock, np.stack([data[name].values for name in testbench.measurements], axis=1).tolist()


def run_pyspice(n: int, out: Path, no_mem_check: bool) -> Any:
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    from spicegen.interop.pyspice import library_path

    testbench, point = study()
    values = sample_values(point, n)
    NgSpiceShared.LIBRARY_PATH = library_path()
    ngspice = NgSpiceShared.new_instance()
    if no_mem_check:
        ngspice.exec_command("set no_mem_check")
    results = []
    with _clock() as clock:
        ngspice.load_circuit(point.netlist)
        for v in values:
            for name, x in v.items():
                ngspice.exec_command(f"alterparam {name}={x!r}")
            ngspice.exec_command("reset")
            ngspice.run()
            plot = ngspice.plot(None, ngspice.last_plot)
            vectors = {name: np.array(vector._data, dtype=float) for name, vector in plot.items()}
            ngspice.destroy()
            results.append(measure(testbench, point, vectors))
    return clock, results


def run_binding(n: int, out: Path) -> Any:
    from spicegen.ngspice import NgSpiceShared

    testbench, point = study()
    values = sample_values(point, n)
    ngspice = NgSpiceShared.get()
    results = []
    with _clock() as clock:
        ngspice.load_circuit(point.netlist)
        for v in values:
            for name, x in v.items():
                ngspice.alterparam(name, x)
            ngspice.reset()
            results.append(measure(testbench, point, dict(ngspice.run().vectors)))
    return clock, results


def run_spicelib(n: int, out: Path) -> Any:
    import logging

    from spicelib import RawRead, SimRunner
    from spicelib.simulators.ngspice_simulator import NGspiceSimulator

    logging.disable(logging.WARNING)
    testbench, point = study()
    values = sample_values(point, n)
    folder = out / "spicelib"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    results: dict[int, list[float]] = {}

    def collect(raw_file: Path, _log_file: Path) -> None:
        raw = RawRead(str(raw_file), verbose=False)
        vectors = {name: np.array(raw.get_trace(name).get_wave(), dtype=float) for name in raw.get_trace_names()}
        results[int(Path(raw_file).stem.split("_")[1])] = measure(testbench, point, vectors)

    with _clock() as clock:
        runner = SimRunner(simulator=NGspiceSimulator, output_folder=str(folder), parallel_sims=2, verbose=False)
        for k, v in enumerate(values):
            netlist = folder / f"s_{k}.net"
            netlist.write_text(f"* {with_values(point.netlist, v)}")  # spicelib wants a comment first
            runner.run(str(netlist), callback=collect)
        runner.wait_completion()
    return clock, [results[k] for k in range(n)]


def run_control(n: int, out: Path) -> Any:
    testbench, point = study()
    values = sample_values(point, n)
    deck = out / "control.cir"
    deck.write_text(control_deck(point, values, tstop_of(point)))
    with _clock() as clock:
        text = subprocess.run(["ngspice", "-b", str(deck)], capture_output=True, text=True, check=True).stdout
    return clock, _meas_rows(text, testbench)


def _meas_rows(text: str, testbench: Any) -> list[list[float | None]]:
    """One row per ``meas`` line ``wf = …`` of a ``.control`` loop's output (the library's lines carry a
    ``stdout`` prefix): ``w_final`` filled, the other measurements None."""
    finals = [float(x) for x in re.findall(r"^(?:stdout )?wf\s*=\s*(\S+)", text, flags=re.M)]
    return [[final if name == "w_final" else None for name in testbench.measurements] for final in finals]


def run_library_control(n: int, out: Path) -> Any:
    import ctypes

    from spicegen.ngspice import library_path

    testbench, point = study()
    lines = control_deck(point, sample_values(point, n), tstop_of(point)).replace("quit\n", "").splitlines()
    printed: list[bytes] = []
    on_print = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)(
        lambda text, _ident, _user: printed.append(text) or 0)
    on_exit = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_bool, ctypes.c_bool, ctypes.c_int,
                               ctypes.c_void_p)(lambda *_: 0)
    lib = ctypes.CDLL(library_path())
    lib.ngSpice_Init(on_print, None, on_exit, None, None, None, None)
    deck = (ctypes.c_char_p * (len(lines) + 1))(*(line.encode() for line in lines), None)
    with _clock() as clock:
        lib.ngSpice_Circ(deck)
    return clock, _meas_rows("\n".join(line.decode(errors="replace") for line in printed), testbench)


def run_process(n: int, out: Path) -> Any:
    from spicegen.ngspice import run_netlist

    testbench, point = study()
    values = sample_values(point, n)
    results = []
    with _clock() as clock:
        for v in values:
            result = run_netlist(with_values(point.netlist, v), backend="subprocess")
            results.append(measure(testbench, point, dict(result.vectors)))
    return clock, results


class _clock:
    """Wall and CPU seconds (this process and its waited-for children) of a ``with`` block."""

    def __enter__(self) -> "_clock":
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


RUNNERS: dict[str, Callable[[int, Path], Any]] = {
    "engine": run_engine,
    "engine (2 workers)": lambda n, out: run_engine(n, out, workers=2),
    "binding": run_binding,
    "pyspice": lambda n, out: run_pyspice(n, out, no_mem_check=False),
    "pyspice+no_mem_check": lambda n, out: run_pyspice(n, out, no_mem_check=True),
    "spicelib": run_spicelib,
    "control": run_control,
    "library control": run_library_control,
    "process": run_process,
}


def child(method: str, n: int, out: Path) -> None:
    """Run one method and print its timing and measurements as JSON (the last line)."""
    clock, results = RUNNERS[method](n, out)
    print(json.dumps({"wall": clock.wall, "cpu": clock.cpu, "n": n, "results": results}))


# ------------------------------------------------------------------------------------ the comparison


def spawn(method: str, n: int, out: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", method, "--n", str(n), "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_processes(n: int, out: Path) -> dict[str, tuple[float, float]]:
    """``spicegen mc`` and the ``.control`` loop deck as whole processes: (wall, CPU) seconds."""
    _, point = study()
    deck = out / "control-whole.cir"
    deck.write_text(control_deck(point, sample_values(point, n), tstop_of(point)))
    spicegen = Path(sys.executable).with_name("spicegen")
    cli = [str(spicegen), "mc", TESTBENCH, "--n", str(n), "--seed", str(SEED), "--out", str(out / "cli-study"),
           "--no-progress"]
    commands = {"spicegen mc": cli, "spicegen mc --workers 2": [*cli, "--workers", "2"],
                "ngspice .control loop": ["ngspice", "-b", str(deck)]}
    timings = {}
    for label, command in commands.items():
        shutil.rmtree(out / "cli-study", ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timings[label] = (time.perf_counter() - wall,
                          after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return timings


def raw_check(n: int, out: Path, reference: np.ndarray) -> float:
    """Largest difference between the engine's measurements and those of the ``.control`` loop's
    rawfiles (first ``n`` samples)."""
    from spicegen.ngspice import _collect, _read_raw

    testbench, point = study()
    folder = out / "control-raw"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    deck = out / "control-raw.cir"
    deck.write_text(control_deck(point, sample_values(point, n), tstop_of(point), raw_folder=str(folder)))
    subprocess.run(["ngspice", "-b", str(deck)], capture_output=True, check=True)
    got = np.array([measure(testbench, point, _collect(_read_raw(folder / f"s{k}.raw"))) for k in range(n)])
    return float(np.max(np.abs(got - reference[:n])))


def compare(results: dict[str, list[list[float]]], reference: np.ndarray) -> dict[str, str]:
    """Per method: how its measurements compare with the engine's."""
    verdicts = {}
    for method, rows in results.items():
        got = np.array(rows, dtype=float)
        ref = reference[: len(got)]
        if method in ("control", "library control"):
            w = list(_measurement_names()).index("w_final")
            error = np.max(np.abs(got[:, w] - ref[:, w]) / np.abs(ref[:, w]))
            verdicts[method] = f"w_final within {error:.1e} (relative; `meas` prints 7 digits)"
        else:
            same = np.array_equal(got, ref, equal_nan=True)
            verdicts[method] = "bit-identical" if same else f"DIFFERENT (max {np.nanmax(np.abs(got - ref)):.1e})"
    return verdicts


def _measurement_names() -> list[str]:
    testbench, _ = study()
    return list(testbench.measurements)


def _spicelib_installed() -> bool:
    from importlib.util import find_spec

    if find_spec("spicelib") is None:
        print("spicelib is not installed, so it is left out: pip install -e '.[bench]'", file=sys.stderr)
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are kept")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "spicegen-peers"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--markdown", help="also write the tables to this file")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, args.n, out)
        return
    methods = [m for m in args.methods.split(",") if m != "spicelib" or _spicelib_installed()]
    load_before = os.getloadavg()
    sizes = {m: max(1, args.n // PROCESS_SHARE) if m in ("process", "spicelib") else args.n for m in methods}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    whole: list[dict[str, tuple[float, float]]] = []
    for _ in range(args.repeat):  # interleaved, so a burst of other work hits every method alike
        for method in methods:
            runs[method].append(spawn(method, sizes[method], out))
        whole.append(whole_processes(args.n, out))
    reference = np.array(runs["engine"][0]["results"], dtype=float)
    verdicts = compare({m: r[0]["results"] for m, r in runs.items()}, reference)
    raw_error = raw_check(CHECKED_RAW, out, reference)
    text = report(args, runs, whole, verdicts, raw_error, load_before, os.getloadavg())
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], whole: list[dict[str, tuple[float, float]]],
           verdicts: dict[str, str], raw_error: float, load_before: tuple[float, ...],
           load_after: tuple[float, ...]) -> str:
    rate = {m: (statistics.median(x["n"] / x["wall"] for x in r), statistics.median(x["n"] / x["cpu"] for x in r))
            for m, r in runs.items()}
    engine_wall, engine_cpu = rate["engine"]
    lines = [f"Peers on `{TESTBENCH}`, seed {SEED}, n = {args.n} (one process per sample and spicelib: "
             f"n = {max(1, args.n // PROCESS_SHARE)}), medians of {args.repeat} interleaved rounds",
             f"load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, "
             f"after {'/'.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs", "",
             "| method | samples/s (wall) | samples per CPU second | engine ÷ method (wall) | engine ÷ method (CPU) "
             "| results against the engine |", "|---|---|---|---|---|---|"]
    for method, (wall, cpu) in rate.items():
        lines.append(f"| {method} | {wall:.1f} | {cpu:.1f} | {engine_wall / wall:.2f}× | {engine_cpu / cpu:.2f}× "
                     f"| {verdicts[method] if method != 'engine' else 'reference'} |")
    if "engine (2 workers)" in rate:
        two = rate["engine (2 workers)"][0]
        lines += ["", "engine (2 workers) ÷ method (wall): " + ", ".join(
            f"{m} {two / rate[m][0]:.2f}×" for m in rate if m not in ("engine", "engine (2 workers)"))]
    if {"control", "library control"} <= rate.keys():
        lines += ["", "Yardsticks per CPU second: the `.control` loop inside libngspice ÷ in the ngspice program "
                  f"{rate['library control'][1] / rate['control'][1]:.2f}×"
                  + (f"; the program's `.control` loop ÷ spicelib {rate['control'][1] / rate['spicelib'][1]:.2f}×"
                     if "spicelib" in rate else "")]
    medians = {label: (statistics.median(w[label][0] for w in whole), statistics.median(w[label][1] for w in whole))
               for label in whole[0]}
    loop_wall, loop_cpu = medians.pop("ngspice .control loop")
    lines += ["", f"Whole processes, n = {args.n} (start-up included), medians:", "",
              "| command | wall s | CPU s | ÷ `.control` loop (wall) | ÷ `.control` loop (CPU) |", "|---|---|---|---|---|"]
    lines += [f"| `{label.replace('spicegen mc', f'spicegen mc {TESTBENCH} --n {args.n}')}` | {wall:.2f} | {cpu:.2f} "
              f"| {wall / loop_wall:.2f}× | {cpu / loop_cpu:.2f}× |" for label, (wall, cpu) in medians.items()]
    lines += [f"| `ngspice -b` on the `.control` loop deck | {loop_wall:.2f} | {loop_cpu:.2f} | 1.00× | 1.00× |",
              "",
              f"`.control` loop rawfiles ({CHECKED_RAW} samples, every measurement) against the engine: "
              f"largest difference {raw_error:.1e}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
