"""The tutorial, run as a reader runs it: a device of the reader's own file through Verilog-A, compilation,
the equivalence check, a hand-written ngspice netlist, a Monte Carlo of the reader's testbench, a fit,
a torch export and a training loop; then what each step left behind is checked."""
from __future__ import annotations

import ast
import json

import numpy as np
import pytest

PAGE = "tutorial.md"


@pytest.fixture(scope="module")
def tutorial(page_run):
    run = page_run(PAGE)
    run.all()
    return run


def _output(run, needle: str) -> str:
    """stdout of the block whose code contains ``needle``."""
    block = next(b for b in run.blocks if needle in b.code and b.title is None)
    return run.upto(block.line).stdout


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_the_device_compiles_and_its_renderings_agree(tutorial):
    folder = tutorial.folder
    assert (folder / "models" / "drift_memristor.osdi").stat().st_size > 0
    assert "module drift_memristor" in (folder / "drift_memristor.va").read_text()
    assert "1 passed, 0 failed" in _output(tutorial, "check drift_memristor")


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_the_hand_written_netlist_switches_the_device(tutorial):
    table = np.loadtxt(tutorial.folder / "sweep.txt")
    state = table[:, 5]
    assert state[0] == pytest.approx(0.1, abs=1e-6) and state.max() > 0.9 and state[-1] < 0.1


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_the_monte_carlo_fit_and_training_reach_the_target(tutorial):
    from spicegen.montecarlo import load_dataframe

    frame = load_dataframe(tutorial.folder / "mc")
    assert len(frame) == 48 and (frame["status"] == "ok").all()
    means = frame.groupby("vw")["w"].mean().to_numpy()
    assert np.all(np.diff(means) > 0)  # a larger pulse writes further

    surrogate = json.loads((tutorial.folder / "w_after_write.json").read_text())
    assert surrogate["stats"]["r2"] > 0.99 and surrogate["variation"] is not None
    assert surrogate["domain"]["vw"] == [0.2, 1.2]
    assert surrogate["provenance"]["device"] == "drift_memristor"

    module = ast.parse((tutorial.folder / "w_after_write_torch.py").read_text())
    imported = {alias.name for node in ast.walk(module) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"torch"}

    # the controller trained through the surrogate programs the simulated nominal device close to w = 0.3
    simulated = json.loads(_output(tutorial, "sim drift-write --set"))
    assert simulated["w"] == pytest.approx(0.3, abs=0.03)
