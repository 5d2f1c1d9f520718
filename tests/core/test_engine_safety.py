"""Execution safety of the Monte Carlo engine, with the real ngspice 46 and the ``spicegen`` command:
a failing sample of a pack fails alone, Ctrl-C and SIGTERM stop a running sample at once and keep
what is finished, worker processes die with their parent, and a study SIGKILLed at random moments
resumes to the uninterrupted dataset.

Processes are found through ``/proc`` (Linux), not psutil.
"""
from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from spicegen.cli import main
from spicegen.montecarlo import load_dataframe, load_dataset, run_study
from spicegen.montecarlo.store import FILE_NAME
from stores import rows
from test_store_safety import read_only  # noqa: F401 - the fixture: a read-only copy of files
from testbenches import get_testbench

pytestmark = [pytest.mark.ngspice,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

# An RC transient forced through 1 ns steps: about 2.5 µs of CPU per step, so ``stop`` sets how long
# one sample runs (1.2e-3 s: some 3 s) while the netlist stays tiny (its load and reset are instant).
SLOW_RC = textwrap.dedent('''
    from spicegen.measure import Final
    from spicegen.params import Param, Variation
    from spicegen.testbench import Circuit, Option, Testbench, register_testbench


    def build(options):
        c = Circuit("slow-rc: an RC low-pass driven by a sine, through 1 ns steps")
        c.param(Param("r", 1e3, "Ohm", "series resistance", (1.0, 1e6), Variation("local", 0.05)))
        c.element("V1 a 0 SIN(0 1 1k)")
        c.element("R1 a b {r}")
        c.element("C1 b 0 1u")
        stop = options["stop"]
        c.analysis(f".tran 1n {stop:g} {stop * 0.999:g} 1n")
        return c


    register_testbench(Testbench("slow-rc", "an RC transient of stop / 1 ns steps", build, {"vb": Final("b")},
                                 options=(Option("stop", 1e-6, desc="transient stop time (s)"),)))
''')

#: One fast sweep point (two samples stored within a second), then one whose samples run for seconds.
FAST_THEN_SLOW = ["--sweep", "stop=1e-5,1.2e-3", "--n", "2", "--seed", "1", "--no-progress"]


@pytest.fixture
def slow_rc(tmp_path) -> list[str]:
    """The start of a ``spicegen`` command line that knows the ``slow-rc`` testbench."""
    plugin = tmp_path / "slow_rc_bench.py"
    plugin.write_text(SLOW_RC)
    return [sys.executable, "-m", "spicegen.cli", "--plugin", str(plugin)]


# -- packs


def test_a_failing_sample_of_a_pack_fails_alone_with_its_own_error(tmp_path, capsys):
    """ln(v(x)) fails for the negative draws: packed, exactly those fail, with ngspice's message for them."""
    common = ["mc", "mc-fail", "--n", "100", "--seed", "1", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "single")]) == 0
    single = load_dataframe(tmp_path / "single")
    failed = single.status == "failed"
    assert 5 <= failed.sum() <= 30 and (single.vx[failed] < 0).all()
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "packed"), "--pack", "4"]) == 0
    assert f"100 samples computed ({failed.sum()} failed)" in capsys.readouterr().out
    packed = load_dataframe(tmp_path / "packed")
    assert (packed.status == single.status).all()
    assert (packed.error == single.error).all()  # "... out of range for ln in line b1", not another copy's
    assert np.allclose(packed.y[~failed], single.y[~failed], rtol=1e-9)

    # a retry in two worker processes re-runs only the failed samples and loses none of the others
    before = rows(tmp_path / "packed")
    assert main([*common, "--out", str(tmp_path / "packed"), "--pack", "4", "--retry-failed", "--workers", "2"]) == 0
    assert f"{failed.sum()} samples computed ({failed.sum()} failed)" in capsys.readouterr().out
    retried = load_dataframe(tmp_path / "packed")
    assert (retried.status == single.status).all() and (retried.error == single.error).all()
    after = rows(tmp_path / "packed")
    assert all(after[key] == row for key, row in before.items() if row[0])  # ok samples untouched


def test_a_packed_study_refuses_to_run_a_batch_without_its_unpacked_twin():
    from spicegen.montecarlo.plan import make_plan
    from spicegen.montecarlo.worker import run_batch

    plan = make_plan(get_testbench("mc-fail"), seed=1, pack=4)
    with pytest.raises(ValueError, match="needs single=, the same study unpacked"):
        run_batch(plan, [(0, (0, 1, 2, 3))])


# -- interrupts and worker processes


def test_ctrl_c_stops_a_running_sample_at_once_and_the_study_resumes(tmp_path, slow_rc):
    """In-process (--workers 1): the running 3 s transient is halted, no further sample is started."""
    folder = tmp_path / "study"
    command = [*slow_rc, "mc", "slow-rc", *FAST_THEN_SLOW, "--out", str(folder)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(proc, folder, 2)
    time.sleep(0.5)  # inside the first slow sample
    seconds, err = _signal_and_wait(proc, signal.SIGINT)
    assert proc.returncode == 130 and seconds < 2.0, (proc.returncode, seconds, err)
    _assert_one_line(err, "interrupted; every finished sample is stored")
    assert set(rows(folder)) == {(0, 0), (0, 1)}

    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 samples computed (0 failed), 2 already stored" in done.stdout
    assert all(attempts == 1 for *_, attempts in rows(folder).values())


def test_ctrl_c_stops_a_long_sample_after_a_long_one_at_once(tmp_path, slow_rc):
    """In-process, the third 6 s sample of a point runs in the background too (the one before it was
    long), so Ctrl-C halts it mid-run rather than when it returns (a synchronous run would go on for
    seconds)."""
    folder = tmp_path / "study"
    command = [*slow_rc, "mc", "slow-rc", "--sweep", "stop=2.4e-3", "--n", "3", "--batch", "1", "--seed", "1",
               "--no-progress", "--out", str(folder)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(proc, folder, 2)  # the first two batches are stored together
    time.sleep(0.5)  # inside the third sample
    seconds, err = _signal_and_wait(proc, signal.SIGINT)
    assert proc.returncode == 130 and seconds < 2.0, (proc.returncode, seconds, err)
    _assert_one_line(err, "interrupted; every finished sample is stored")
    assert set(rows(folder)) == {(0, 0), (0, 1)}


def test_short_samples_after_the_first_of_a_point_run_synchronously(tmp_path, monkeypatch):
    """An in-process study runs the first sample of each point in ngspice's background thread and, the
    samples before them counting as short, the others synchronously: the same samples as two worker
    processes. (Every sample counts as short here, so the test does not depend on how long one takes.)"""
    from spicegen.montecarlo import worker
    from spicegen.ngspice import NgSpiceShared

    monkeypatch.setattr(worker, "SYNCHRONOUS_BELOW", math.inf)
    spice = NgSpiceShared.get()
    before = spice.background_runs
    testbench, sweep = get_testbench("mc-tran"), {"vprog": [1.3, 1.4]}
    run_study(testbench, tmp_path / "inline", n=6, seed=3, sweep=sweep, batch=2, progress=False)
    assert spice.background_runs - before == 2  # one per point, whatever the batches
    run_study(testbench, tmp_path / "pool", n=6, seed=3, sweep=sweep, workers=2, progress=False)
    assert load_dataframe(tmp_path / "inline").equals(load_dataframe(tmp_path / "pool"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_worker_outlives_its_parent(tmp_path, slow_rc, signum):
    """--workers 2, both workers inside a 3 s sample: whatever stops the parent stops them too."""
    folder = tmp_path / "study"
    proc = subprocess.Popen([*slow_rc, "mc", "slow-rc", *FAST_THEN_SLOW, "--out", str(folder), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(proc, folder, 2)
    time.sleep(0.5)
    children = descendants(proc.pid)
    assert len(children) >= 2, children  # two workers (and multiprocessing's resource tracker)
    seconds, err = _signal_and_wait(proc, signum)
    if signum != signal.SIGKILL:
        assert proc.returncode == 130 and seconds < 2.0, (proc.returncode, seconds, err)
        _assert_one_line(err, "interrupted; every finished sample is stored")
    assert _all_gone(children, within=5.0), {pid: _state(pid) for pid in children}
    assert set(rows(folder)) == {(0, 0), (0, 1)}


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_dataset(tmp_path, slow_rc, read_only):
    """Ten launches of a 2-worker study, each SIGKILLed at a moment drawn from its seed: five while
    the parent starts, opens the store and spawns its workers, five while batches run and commit.
    The resumed study equals an uninterrupted one, stored samples are never recomputed, no process
    is left behind, and the killed folder's study.sqlite alone, copied to read-only storage, can be
    read."""
    n, seed, stop = 600, 7, 1e-5  # some 25 ms per sample; enough that ten kills land before the end
    flags = ["--n", str(n), "--seed", str(seed), "--set", f"stop={stop:g}", "--batch", "2", "--no-progress"]
    folder = tmp_path / "killed"
    command = [*slow_rc, "mc", "slow-rc", *flags, "--out", str(folder), "--workers", "2"]
    kills = []
    for kill_seed in range(10):
        rng = np.random.default_rng(kill_seed)
        stored = len(rows(folder))
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kill_seed % 2 == 0:  # while the parent starts, opens the store, spawns its workers
            _sleep_while_running(proc, rng.uniform(0.1, 2.5))
        else:  # once this launch has committed a batch
            _wait_for_rows(proc, folder, stored + 1, allow_exit=True)
            _sleep_while_running(proc, rng.uniform(0.0, 0.2))
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert _all_gone(children, within=5.0), {pid: _state(pid) for pid in children}
        kills.append(len(rows(folder)))
    assert sum(stored < n for stored in kills) >= 5, f"the study was finished too soon to test ({kills}): raise n"
    killed = tmp_path / "killed-copy"  # as the last kill left it, log included
    shutil.copytree(folder, killed)

    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{n - kills[-1]} samples computed (0 failed), {kills[-1]} already stored" in done.stdout
    assert all(attempts == 1 for *_, attempts in rows(folder).values())

    reference = tmp_path / "reference"
    subprocess.run([*slow_rc, "mc", "slow-rc", *flags, "--out", str(reference)], check=True,
                   capture_output=True, timeout=300)
    assert load_dataset(folder).identical(load_dataset(reference))

    committed = load_dataframe(killed).set_index("sample")
    # last, since a read-only view may be impossible here (root without mount) and skip the test
    alone = load_dataframe(read_only([killed / FILE_NAME])).set_index("sample")
    # every batch is checkpointed into study.sqlite right after its commit: only a kill between the
    # two can leave the last batch (2 samples) in the log alone
    assert len(committed) - 2 <= len(alone) <= len(committed)
    assert alone.equals(committed.loc[alone.index])


def test_sigterm_handler_of_the_caller_is_left_alone(tmp_path):
    """A program with its own SIGTERM handler keeps it while and after a study runs in it."""
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        run_study(get_testbench("mc-fail"), tmp_path / "s", n=3, seed=1, progress=False)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
    run_study(get_testbench("mc-fail"), tmp_path / "t", n=3, seed=1, progress=False)
    assert signal.getsignal(signal.SIGTERM) is previous


# -- helpers


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children, their children, ...), from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:  # it ended meanwhile
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _state(pid: int) -> str:
    """A process's state letter, or "gone"; a zombie ("Z") has ended, only its exit status is kept."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _all_gone(pids: set[int], within: float) -> bool:
    give_up = time.monotonic() + within
    while any(_state(pid) not in ("gone", "Z", "X") for pid in pids):
        if time.monotonic() > give_up:
            return False
        time.sleep(0.05)
    return True


def _wait_for_rows(proc: subprocess.Popen, folder: Path, count: int, deadline: float = 120,
                   allow_exit: bool = False) -> None:
    give_up = time.monotonic() + deadline
    while len(rows(folder)) < count:
        if proc.poll() is not None:
            if allow_exit:
                return
            raise AssertionError(f"the study ended (status {proc.returncode}) early: {proc.stderr.read()}")
        assert time.monotonic() < give_up, f"fewer than {count} samples stored after {deadline} s"
        time.sleep(0.02)


def _sleep_while_running(proc: subprocess.Popen, seconds: float) -> None:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


def _signal_and_wait(proc: subprocess.Popen, signum: int) -> tuple[float, str]:
    """Send ``signum``; return the seconds until the process ended and its stderr."""
    start = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return time.monotonic() - start, err


def _assert_one_line(err: str, text: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0] and "Traceback" not in err, err
