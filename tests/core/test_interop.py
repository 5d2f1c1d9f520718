"""Interop with the simulators users already run, with the real tools: ``spicegen compile``, the
hand-written example netlists of docs/examples run by the ``ngspice`` and ``vacask`` binaries as a
user runs them, and PySpice 1.5 through its own ngspice binding, each compared with spicegen's runner."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spicegen import get_device
from spicegen.device import Sine, registry
from spicegen.netlist import format_instance, format_subckt
from spicegen.ngspice import _read_raw, run_netlist
from tests.cli import spicegen
from veriloga import compile_model
from veriloga.vacask import format_instance as vacask_instance
from veriloga.vacask import format_source, run_vacask, vacask_command

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
DEVICE = "sinh_memristor"
DRIVE = "Va a 0 SIN(0 1.2 1k)"


def _full_scale_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest difference, relative to the reference's full scale."""
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def _prepare(tmp_path: Path, *examples: str, twin: bool = False, osdi: bool = False) -> Path:
    """Copy the examples into ``tmp_path`` and emit / compile the device there with the CLI, as a user does."""
    for example in examples:
        shutil.copy(EXAMPLES / example, tmp_path / example)
    if twin:
        out = spicegen("emit", DEVICE, "--format", "spice", "-o", f"{DEVICE}.cir", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    if osdi:
        out = spicegen("compile", DEVICE, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
    return tmp_path


def _wrdata(path: Path) -> dict[str, np.ndarray]:
    """Columns of the examples' ``wrdata FILE v(a) i(va) v(<state>)`` (a time column before each vector)."""
    table = np.loadtxt(path)
    assert np.array_equal(table[:, 0], table[:, 2]) and np.array_equal(table[:, 0], table[:, 4])
    return {"time": table[:, 0], "a": table[:, 1], "i(va)": table[:, 3], "w": table[:, 5]}


def _reference(flavor: str) -> tuple[dict[str, np.ndarray], str]:
    """spicegen's runner (libngspice in this process) on the examples' circuit, built by spicegen."""
    model = get_device(DEVICE)
    lines = ["* reference", format_subckt(model)] if flavor == "twin" else ["* reference"]
    lines += [DRIVE, *format_instance(model, "m1", ["a", "0"], {"w0": 0.5}, flavor), ".tran 1u 2m", ".end"]
    osdi = [compile_model(model)] if flavor == "osdi" else []
    result = run_netlist("\n".join(lines), osdi=osdi)
    state = "xm1.w" if flavor == "twin" else "nm1#w"
    return {"time": result["time"], "a": result["a"], "i(va)": result["i(va)"], "w": result[state]}, state


# ------------------------------------------------------------------ spicegen compile


@pytest.mark.openvaf
def test_compile_writes_the_osdi_into_the_current_folder_and_prints_its_path(tmp_path):
    out = spicegen("compile", DEVICE, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    target = tmp_path / f"{DEVICE}.osdi"
    assert out.stdout.strip() == f"{DEVICE}.osdi"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    data = target.read_bytes()
    assert data[:4] == b"\x7fELF" and data == compile_model(get_device(DEVICE)).read_bytes()


@pytest.mark.openvaf
def test_compile_all_writes_every_device_into_the_named_folder(tmp_path):
    out = spicegen("compile", "--all", "-o", "lib", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    names = sorted(registry())
    assert out.stdout.split() == [f"lib/{name}.osdi" for name in names]
    for name in names:
        path = tmp_path / "lib" / f"{name}.osdi"
        assert path.read_bytes()[:4] == b"\x7fELF"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("args,message", [((), "name one DEVICE or pass --all"),
                                          (("sinh_memristor", "--all"), "name one DEVICE or pass --all"),
                                          (("no_such_device",), "unknown device 'no_such_device'")])
def test_compile_refuses_a_missing_or_unknown_device(tmp_path, args, message):
    out = spicegen("compile", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.openvaf
def test_compile_reports_a_compiler_problem_without_a_traceback(tmp_path):
    # a fresh cache, so openvaf-r really has to run, and no 'ld' on PATH
    out = spicegen("compile", DEVICE, cwd=tmp_path, env={"PATH": "", "SPICEGEN_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "spicegen compile: openvaf-r needs the linker 'ld' on PATH" in out.stderr
    assert not (tmp_path / f"{DEVICE}.osdi").exists()


# ------------------------------------------------------------------ ngspice -b on the examples


def _ngspice_b(folder: Path, netlist: str) -> None:
    exe = os.environ.get("SPICEGEN_NGSPICE") or shutil.which("ngspice")
    proc = subprocess.run([exe, "-b", netlist], cwd=folder, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "error" not in proc.stdout.lower(), proc.stdout + proc.stderr


@pytest.mark.ngspice
@pytest.mark.parametrize("flavor", ["twin", pytest.param("osdi", marks=pytest.mark.openvaf)])
def test_ngspice_example_runs_as_written_and_matches_spicegens_runner(tmp_path, flavor):
    netlist = f"sinh_memristor_{flavor}.cir"
    folder = _prepare(tmp_path, netlist, **{flavor: True})
    _ngspice_b(folder, netlist)
    got, (want, _) = _wrdata(folder / f"{flavor}.txt"), _reference(flavor)
    assert np.allclose(got["time"], want["time"], rtol=1e-14, atol=0)  # same steps (wrdata: 16 digits)
    assert np.ptp(want["w"]) > 0.5  # the drive really switches the device
    for name in ("a", "i(va)", "w"):
        assert _full_scale_error(got[name], want[name]) < 1e-12, name


# ------------------------------------------------------------------ vacask on the example


@pytest.mark.vacask
@pytest.mark.openvaf
def test_vacask_example_runs_as_written_and_matches_spicegens_runners(tmp_path):
    folder = _prepare(tmp_path, "sinh_memristor.sim", osdi=True)
    proc = subprocess.run([vacask_command(), "sinh_memristor.sim"], cwd=folder, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "aborted" not in proc.stdout, proc.stdout + proc.stderr
    got = {name: np.asarray(values.real, float) for name, _, values in _read_raw(folder / "tran1.raw")}

    # the same circuit written by spicegen and run by its VACASK runner: the identical solution
    model = get_device(DEVICE)
    netlist = "\n".join(["reference", "ground 0", "model vsource vsource",
                         *vacask_instance(model, "m1", ["a", "0"], {"w0": 0.5}),
                         format_source("va", ["a", "0"], Sine(1.2, 1e3)),
                         "control", "  analysis tran1 tran step=1u stop=2m maxstep=1u", "endc"])
    want = run_vacask(netlist, osdi=[compile_model(model)])
    assert np.array_equal(got["time"], want["time"])
    for name in ("a", "va:flow(br)", "m1:w"):
        assert _full_scale_error(got[name], want[name]) < 1e-12, name

    # and ngspice on the same device (different time steps: compared at VACASK's points)
    # (measured: 7.9e-4 of full scale for the state, 5.7e-4 for the current)
    ngspice, _ = _reference("osdi")
    for mine, theirs in (("m1:w", "w"), ("va:flow(br)", "i(va)")):
        assert _full_scale_error(got[mine], np.interp(got["time"], ngspice["time"], ngspice[theirs])) < 3e-3, mine


# ------------------------------------------------------------------ PySpice 1.5


def test_the_pyspice_bridge_imports_no_pyspice():
    code = "import sys, spicegen, spicegen.interop.pyspice; print('PySpice' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_pyspice_example_runs_through_pyspices_ngspice_and_matches_spicegens_runner(tmp_path):
    pytest.importorskip("PySpice", reason="PySpice 1.5 is the optional extra 'pyspice' (scripts/setup.sh installs it)")
    folder = _prepare(tmp_path, "pyspice_sinh_memristor.py", osdi=True)
    # its own process: PySpice and spicegen's runner would otherwise share one libngspice
    proc = subprocess.run([sys.executable, "pyspice_sinh_memristor.py"], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Unsupported Ngspice version" not in proc.stdout + proc.stderr  # handled, not printed
    got = np.load(folder / "pyspice.npz")

    model = get_device(DEVICE)
    netlist = "\n".join(["* reference", format_subckt(model), DRIVE,
                         *format_instance(model, "m1", ["a", "0"], {"w0": 0.5}, "twin"),
                         *format_instance(model, "m2", ["a", "0"], {"w0": 0.5}, "osdi"), ".tran 1e-06 0.002", ".end"])
    want = run_netlist(netlist, osdi=[compile_model(model)])
    assert np.array_equal(got["time"], want["time"])
    assert np.ptp(want["xm1.w"]) > 0.5
    assert _full_scale_error(got["w_twin"], want["xm1.w"]) < 1e-12
    assert _full_scale_error(got["w_osdi"], want["nm2#w"]) < 1e-12
    assert _full_scale_error(got["i_source"], want["i(va)"]) < 1e-12
    assert _full_scale_error(got["w_osdi"], got["w_twin"]) < 1e-6  # twin and compiled Verilog-A agree


_REFUSALS = """
from PySpice.Spice.Netlist import Circuit
from spicegen.interop.pyspice import load_osdi, ngspice_shared, place_osdi
ngspice = ngspice_shared()
try:
    load_osdi("sinh_memristor.cir", ngspice)
except RuntimeError as exc:
    print("not a model:", exc)
circuit = Circuit("first")
circuit.V("a", "a", circuit.gnd, 1.0)
circuit.R("1", "a", circuit.gnd, 1e3)
circuit.simulator(simulator="ngspice-shared", ngspice_shared=ngspice).operating_point()
try:
    place_osdi(circuit, "sinh_memristor", "m1", ["a", circuit.gnd], osdi="sinh_memristor.osdi", ngspice=ngspice)
except RuntimeError as exc:
    print("too late:", exc)
"""


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_pyspice_bridge_refuses_a_file_that_is_no_model_and_an_osdi_after_the_first_simulation(tmp_path):
    pytest.importorskip("PySpice", reason="PySpice 1.5 is the optional extra 'pyspice' (scripts/setup.sh installs it)")
    folder = _prepare(tmp_path, twin=True, osdi=True)
    proc = subprocess.run([sys.executable, "-c", _REFUSALS], cwd=folder, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not a model: ngspice could not load" in proc.stdout and "spicegen compile DEVICE" in proc.stdout
    assert "too late: load the .osdi before the first simulation" in proc.stdout


# ------------------------------------------------------------------ the user page


def test_the_interop_page_shows_the_tested_examples_verbatim():
    """The page includes each tested file itself (a snippet the site build inlines), not a copy."""
    page = (ROOT / "docs" / "interop.md").read_text()
    for example in sorted(EXAMPLES.iterdir()):
        assert f'--8<-- "docs/examples/{example.name}"' in page, f"docs/interop.md does not show {example.name}"
