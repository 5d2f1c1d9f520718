"""The spintronic zoo devices against their public Verilog-A originals, compiled by openvaf-r and run in ngspice."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spicegen.device import get_device
from spicegen.netlist import format_instance
from spicegen.ngspice import run_netlist
from veriloga import compile_model, compile_source

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
