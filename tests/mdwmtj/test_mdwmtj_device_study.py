"""The MDWMTJ-alone study through the CLI: R_P, R_AP (TMR 200 %) and the write threshold."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_mdwmtj_device_study_reports_tmr_and_threshold(tmp_path):
    out = subprocess.run([sys.executable, "-m", "spicegen.cli", "study", "run", "mdwmtj-device", "--set", "positions=5",
                          "--set", "currents=7", "--set", "i_max=120", "--out", "run", "--no-progress"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    m = result["measurements"]
    assert m["r_ap"] / m["r_p"] == pytest.approx(3.0, rel=1e-3) and m["tmr_10mv"] == pytest.approx(2.0, rel=1e-3)
    assert m["tmr_800mv"] < m["tmr_10mv"]  # roll-off with bias
    assert 20.0 <= m["i_threshold"] <= 60.0 and m["velocity_max"] > 0
    assert (tmp_path / "run" / "mdwmtj_device.png").stat().st_size > 10_000
