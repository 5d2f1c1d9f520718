"""The study folder's promises under concurrent, killed and read-only use, and bounded sizes.

Every test runs the real ``spicegen`` command line or the real store on ngspice.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spicegen.montecarlo import Store, StudyDamaged, StudyInUse, load_dataframe, load_dataset, run_study
from spicegen.montecarlo.store import FILE_NAME
from spicegen.testbench import Circuit, get_testbench

pytestmark = pytest.mark.ngspice

SPICEGEN = [sys.executable, "-m", "spicegen.cli"]


def _launch(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*SPICEGEN, *args, "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_first(processes: list[subprocess.Popen], seconds: float) -> subprocess.Popen:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                return process
        time.sleep(0.05)
    raise AssertionError("no launch ended in time")


def test_two_launches_under_a_held_write_lock_never_mix_two_studies(tmp_path):
    folder = tmp_path / "X"
    folder.mkdir()
    holder = sqlite3.connect(folder / FILE_NAME, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")  # a third connection holds the write lock: widens the window
    seed1 = _launch("mc", "mc-fail", "--n", "32", "--seed", "1", "--out", str(folder))
    seed2 = _launch("mc", "mc-fail", "--n", "32", "--seed", "2", "--sigma", "vx=0.01", "--out", str(folder))
    refused = _wait_first([seed1, seed2], 60)
    holder.execute("ROLLBACK")
    holder.close()
    winner = seed2 if refused is seed1 else seed1
    _, err = refused.communicate()
    assert refused.returncode == 2 and f"is in use by pid {winner.pid}" in err and "Traceback" not in err
    assert winner.wait(60) == 0, winner.stderr.read()
    reference = tmp_path / "reference"
    sigmas = {"vx": 0.01} if winner is seed2 else None
    run_study(get_testbench("mc-fail"), reference, n=32, seed=2 if winner is seed2 else 1, sigmas=sigmas,
              progress=False)
    with Store.open(folder) as stored, Store.open(reference) as expected:
        assert stored.meta("definition") == expected.meta("definition")
    columns = ["sample", "status", "y", "vx"]
    assert load_dataframe(folder)[columns].equals(load_dataframe(reference)[columns])


def test_a_second_identical_run_is_refused_and_a_killed_holder_s_lock_is_taken_over(tmp_path):
    folder = tmp_path / "study"
    definition = {"testbench": "t", "seed": 1}
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom spicegen.montecarlo import Store\n"
                               f"Store.create_or_open({str(folder)!r}, {definition!r})\nprint('held', flush=True)\n"
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(StudyInUse, match=f"is in use by pid {holder.pid}; wait for that run"):
        Store.create_or_open(folder, definition)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with Store.create_or_open(folder, definition) as store:
        assert store.meta("definition") == definition


def test_a_store_whose_definition_row_is_missing_adopts_no_run(tmp_path):
    with Store.create_or_open(tmp_path, {"seed": 1}) as store:
        store._db.execute("INSERT INTO samples (point, sample, ok, params, results, error, elapsed, worker, "
                          "finished) VALUES (0, 0, 1, '{}', '{}', '', 0, 'w', 0)")
        store._db.execute("DELETE FROM meta WHERE key = 'definition'")
        store._db.commit()
    with pytest.raises(StudyDamaged, match="holds samples but no study definition"):
        Store.create_or_open(tmp_path, {"seed": 2})
    with pytest.raises(StudyDamaged, match="holds no study definition"):
        Store.open(tmp_path)


@pytest.fixture
def read_only(tmp_path):
    """``read_only(files)``: a folder holding copies of ``files`` that this process cannot write: file
    modes for a normal user, a read-only bind mount for root (which ignores file modes)."""
    mounts: list[Path] = []

    def make(files: list[Path]) -> Path:
        source = tmp_path / f"ro{len(mounts)}"
        source.mkdir()
        for file in files:
            shutil.copy(file, source / file.name)
            (source / file.name).chmod(0o444)
        source.chmod(0o555)
        if os.geteuid() != 0:
            return source
        view = tmp_path / f"view{len(mounts)}"
        view.mkdir()
        if subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(view)], capture_output=True).returncode:
            pytest.skip("root ignores file modes and cannot mount a read-only view here; run as a normal user")
        mounts.append(view)
        return view

    yield make
    for view in mounts:
        subprocess.run(["umount", "--lazy", str(view)], check=True)  # detached even while a reader holds a file
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)


def test_a_study_on_read_only_storage_can_be_read_and_reported(tmp_path, read_only):
    run_study(get_testbench("mc-fail"), tmp_path / "s", n=12, seed=1, progress=False)
    frozen = read_only([tmp_path / "s" / FILE_NAME])
    assert len(load_dataframe(frozen)) == 12 and load_dataset(frozen).sample.size == 12
    reported = subprocess.run([*SPICEGEN, "mc-report", str(frozen), "--out", str(tmp_path / "report")],
                              capture_output=True, text=True)
    assert reported.returncode == 0 and "Traceback" not in reported.stderr, reported.stderr
    assert sorted(os.listdir(frozen)) == [FILE_NAME]


def test_after_sigkill_study_sqlite_alone_holds_every_committed_sample(tmp_path, read_only):
    folder = tmp_path / "killed"
    run = _launch("mc", "mc-tran", "--set", "pulses=400", "--n", "6", "--seed", "1", "--batch", "1",
                  "--out", str(folder))
    deadline = time.monotonic() + 90
    while _checkpointed_samples(folder / FILE_NAME) < 2:  # read the file alone: takes no lock, blocks nothing
        assert time.monotonic() < deadline and run.poll() is None, "no sample reached study.sqlite"
        time.sleep(0.1)
    time.sleep(0.2)  # inside the next sample's simulation (each takes about a second)
    run.send_signal(signal.SIGKILL)
    run.wait()
    copy = read_only([folder / FILE_NAME])
    committed = load_dataframe(folder)  # the folder read with its log
    assert 2 <= len(committed) < 6
    alone = load_dataframe(copy)
    assert alone[["sample", "w_final"]].equals(committed[["sample", "w_final"]])


def _checkpointed_samples(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.DatabaseError:  # not created yet, or caught mid-write
        return 0


def test_a_corrupted_study_file_gives_a_message_naming_it(tmp_path):
    (tmp_path / FILE_NAME).write_bytes(b"not a database" * 300)
    done = subprocess.run([*SPICEGEN, "mc-report", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(tmp_path / FILE_NAME) in done.stderr and "restore the folder from a copy" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["mc-fail", "--n", "100000000"], "n = 100000000 samples per sweep point is above the limit of 1e+07"),
    (["mc-tran", "--n", "1", "--set", "pulses=1e9"], "pulses in the train 'vw' = 1000000000 is above the limit"),
    (["mc-demo", "--n", "1", "--set", "pulses=1e9"], "events per sample = 1000000000 is above the limit"),
])
def test_unbounded_numbers_are_refused_before_any_allocation(tmp_path, args, message):
    argv = ["mc", *args, "--seed", "1", "--out", str(tmp_path / "s")]
    start = time.monotonic()
    # VmHWM is this process's own peak (ru_maxrss would carry the forking pytest process's peak over)
    done = subprocess.run([sys.executable, "-c", "import re, sys\nfrom spicegen.cli import main\n"
                           f"code = main({argv!r})\n"
                           "status = open('/proc/self/status').read()\n"
                           "print(re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)\n"
                           "sys.exit(code)"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert int(done.stderr.split()[-1]) < 400_000  # kB: refused before building anything large
    assert time.monotonic() - start < 30 and not (tmp_path / "s").exists()


def test_a_transient_of_too_many_time_points_is_refused():
    circuit = Circuit("long transient")
    with pytest.raises(ValueError, match=r"asks for 1e\+12 time points, above the limit of 1e\+07"):
        circuit.analysis(".tran 1p 1")
    circuit.analysis(".tran 0.1u 1")
