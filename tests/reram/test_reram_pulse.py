"""Study ``reram-pulse-response`` and extraction ``reram-pulse-response`` through the command line.
Real ngspice 46 and openvaf-r; no mocks."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from cli import spicegen

from spicegen.study import run
from testbenches.reram.pulse import N_ALTERNATE, N_RESET, N_SET, d2d_parameters

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]



def test_pulse_response_study_runs_from_the_command_line(pulse_run):
    result = json.loads((pulse_run / "run" / "result.json").read_text())
    m = result["measurements"]
    assert 5 < m["n_states"] < 200 and 0.2 < m["sp_skew"] < 0.9 and 0.5 < m["nsr"] < 1.4
    assert result["paper"] == {"n_states": 22.0, "sp_skew": 0.61, "nsr": 0.9, "n_states_min": 16.0, "n_states_max": 33.0}
    assert m["n_states_min"] <= m["n_states"] <= m["n_states_max"]  # the range over devices of Fig. 5c
    devices = result["data"]["per_device"]
    assert [set(d["params"]) for d in devices] == [set(d2d_parameters())] * 2 == [{"n_lrs", "gam_rst"}] * 2
    assert all(devices[0]["params"][k] != devices[1]["params"][k] for k in d2d_parameters())  # drawn, not nominal
    traces = pd.read_csv(pulse_run / "run" / "traces.csv", index_col="pulse")
    assert traces.shape == (N_SET + N_RESET + N_ALTERNATE, 2)
    assert (pulse_run / "run" / "reram_pulse_response.png").stat().st_size > 0


def test_soft_bounds_extraction_fits_every_device_and_cites_the_run(pulse_run):
    key = json.loads((pulse_run / "run" / "result.json").read_text())["key"]
    table = json.loads((pulse_run / "ex" / "reram-pulse-response" / "pulse_response.json").read_text())
    assert table["devices"] == 2 and table["seed"] == 5 and table["provenance"]["study"]["key"] == key
    for device in table["per_device"]:
        fit = device["soft_bounds"]
        assert fit["gamma"] > 0 and fit["alpha_up"] > 0 and math.isfinite(fit["redchi"])


def test_pulse_response_study_refuses_too_few_devices(tmp_path):
    described = spicegen("study", "describe", "reram-pulse-response", cwd=tmp_path).stdout
    assert "--n: devices" in described and "paper 22" in described
    with pytest.raises(ValueError, match="needs n >= 2 devices"):
        run("reram-pulse-response", tmp_path / "bad", n=1, progress=False)
    assert not (tmp_path / "bad").exists()
