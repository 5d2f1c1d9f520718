"""The spintronic zoo devices against their public Verilog-A originals, compiled by openvaf-r and run in ngspice."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from spicegen.device import get_device
from spicegen.netlist import format_instance
from spicegen.ngspice import run_netlist
from veriloga import CompileError, compile_model, compile_source

from tests.zoo.test_zoo import DC_OPTIONS, READ_TOL, Original, original_source

KINEMATIC = Original("kinematic_dw_mtj.va", "https://github.com/AJEdwards314/KinematicDomainWallModel",
                     "4934d1c4110d2377a49278586dfad8a8cbb8b29c", "veriloga/veriloga.va",
                     "5e5caa6093ef2ffc7c47ac751eba547f2a7c4e56658cec21ec1566383b305f4c")

#: Wall positions (m): in the P end, across the MTJ (20-100 nm) and in the AP end of the 120 nm track.
POSITIONS = (0.0, 35e-9, 60e-9, 100e-9, 115e-9)


@pytest.fixture(scope="module")
def kinematic_osdi(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("zoo_mtj")
    return (compile_source(original_source(KINEMATIC), "DW_MTJ", directory=folder),
            compile_model(get_device("kinematic_dwmtj"), directory=folder))


def _kinematic_deck(x0: float, analysis: str, source: str, freeze: float) -> str:
    model = get_device("kinematic_dwmtj")
    port = format_instance(model, "port", ("l2", "0", "m2"), {"x0": x0, "freeze": freeze}, flavor="osdi")
    return "\n".join([
        f"kinematic dw-mtj at x = {x0}", DC_OPTIONS, f"Vin in 0 {source}", "VL1 in l1 0", "VL2 in l2 0",
        "VM1 m1 0 0.05", "VM2 m2 0 0.05", f".model m_orig DW_MTJ X_init={x0!r}",
        "Norig l1 0 m1 xo vo ao ro m_orig", *port, analysis, ".end"])


@pytest.mark.openvaf
@pytest.mark.ngspice
@pytest.mark.parametrize("x0", POSITIONS)
def test_kinematic_read_iv_equals_the_original(kinematic_osdi, x0):
    result = run_netlist(_kinematic_deck(x0, ".dc Vin -0.1 0.1 0.01", "0", 1.0), osdi=kinematic_osdi)
    for original, port in (("i(vl1)", "i(vl2)"), ("i(vm1)", "i(vm2)")):
        reference = result[original]
        # near the MTJ current's zero (l at 0.05 V like m) the floor is 1e-11 A: ngspice leaves ~1e-21 A there
        scale = np.maximum(np.abs(reference), 1e-11)
        assert np.max(np.abs(result[port] - reference) / scale) <= READ_TOL
    np.testing.assert_allclose(result["xo"], x0, atol=1e-18)


@pytest.mark.openvaf
@pytest.mark.ngspice
def test_kinematic_original_wall_never_moves(kinematic_osdi):
    """``@(initial_step)`` runs at every evaluation under openvaf-r: x is reset to X_init, dt is 0."""
    deck = _kinematic_deck(0.0, ".tran 20p 10n", "PWL(0 0 1n 0 1.2n -0.05 10n -0.05)", 0.0)
    result = run_netlist(deck, osdi=kinematic_osdi)
    assert np.all(result["xo"] == 0.0)  # the original: no motion under a drive above the pinning current
    original, port = result["i(vm1)"], result["i(vm2)"]
    assert abs(port[-1] - original[-1]) > 0.1 * abs(original[-1])  # the port's wall entered the MTJ


CAMSARI = Original("libspinmtj.vams", "https://github.com/CRTejaswi/mtj", "d4a59c65ad078319a65579b7a9ae333cd53a20a8",
                   "models/camsari2013/VERILOG-AMS/vams/libspinmtj.vams",
                   "b2160550fdfcf9fe931b8dfe79c2228bd780b146b9ae857601822349ff172ac7")

#: Free-layer angles (lat, phi) and fixed layers (mfx, mfy, mfz): parallel, tilted, across the hard axis,
#: antiparallel; the default tilted fixed layer and an arbitrary unit vector.
ANGLES = ((0.0, 0.0), (0.3, 1.0), (-0.2, 2.5), (0.05, math.pi))
FIXED = ((0.0, 0.09983341664682815, 0.9950041652780258), (0.48, -0.6, 0.64))


def _patched(source: str) -> str:
    """The module as libSpin's ``libspin.vams`` includes it (after ``disciplines.vams``), with the one-line
    patch openvaf-r needs: a discipline for the ground net ``gnd``."""
    assert source.count("ground gnd;") == 1
    return '`include "disciplines.vams"\n' + source.replace("ground gnd;", "electrical gnd;\n    ground gnd;")


@pytest.fixture(scope="module")
def camsari_osdi(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("zoo_camsari")
    return (compile_source(_patched(original_source(CAMSARI)), "ls_mtj_transport", directory=folder),
            compile_model(get_device("camsari_mtj"), directory=folder))


@pytest.mark.openvaf
def test_camsari_original_needs_a_discipline_for_gnd(tmp_path):
    source = '`include "disciplines.vams"\n' + original_source(CAMSARI)
    with pytest.raises(CompileError, match="no discipline for net 'gnd'"):
        compile_source(source, "ls_mtj_transport", directory=tmp_path)


def _camsari_deck(lat: float, phi: float, fixed: tuple[float, float, float]) -> str:
    model = get_device("camsari_mtj")
    mfx, mfy, mfz = fixed
    values = {"lat0": lat, "phi0": phi, "freeze": 1.0, "mfx": mfx, "mfy": mfy, "mfz": mfz, "g0": 2e-3,
              "p1": 0.6, "p2": 0.45}
    port = format_instance(model, "port", ("p2", "0"), values, flavor="osdi")
    free = (math.sin(lat), math.cos(lat) * math.sin(phi), math.cos(lat) * math.cos(phi))
    holds = [f"V{name} {name} 0 {value!r}" for name, value in zip(("m1x", "m1y", "m1z", "m2x", "m2y", "m2z"),
                                                                  fixed + free)]
    # the original's t1c is the port's p (fixed-layer side), its t2c the grounded free-layer side; its
    # spin terminals t1*, t2* are shunted inside it, its spin-current outputs s1*, s2* left open
    terminals = "p1 t1x t1y t1z 0 t2x t2y t2z m1x m1y m1z m2x m2y m2z s1x s1y s1z s2x s2y s2z"
    return "\n".join([
        f"camsari mtj at lat={lat}, phi={phi}", DC_OPTIONS, "Vin in 0 0", "VP1 in p1 0", "VP2 in p2 0", *holds,
        ".model m_orig ls_mtj_transport g0=2e-3 p1=0.6 p2=0.45", f"Norig {terminals} m_orig", *port,
        ".dc Vin -0.5 0.5 0.05", ".end"])


@pytest.mark.openvaf
@pytest.mark.ngspice
@pytest.mark.parametrize("fixed", FIXED)
@pytest.mark.parametrize("lat,phi", ANGLES)
def test_camsari_read_iv_equals_the_original(camsari_osdi, lat, phi, fixed):
    result = run_netlist(_camsari_deck(lat, phi, fixed), osdi=camsari_osdi)
    reference = result["i(vp1)"]
    scale = np.maximum(np.abs(reference), 1e-9)  # at the sweep's 0 V point ngspice leaves ~1e-20 A
    assert np.max(np.abs(result["i(vp2)"] - reference) / scale) <= READ_TOL
    assert np.max(np.abs(reference)) > 1e-4  # 2e-3 S at 0.5 V, times (1 +- p1 p2)
