"""Study ``reram-ttt`` (I–V of the device with seeded measurement noise) and extraction ``reram-ttt``
(Eq. 6 parameters with 95 % intervals) through the command line. Real ngspice 46 and openvaf-r; no mocks."""
from __future__ import annotations

import json

import numpy as np
import pytest

from spicegen.cli import main
from spicegen.study import get_extraction

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]



def test_ttt_study_records_noise_free_curves_and_seeded_replicas(ttt):
    result = json.loads((ttt / "run" / "result.json").read_text())
    assert result["measurements"]["I_lrs_1V_300K"] > 5 * result["measurements"]["I_hrs_1V_300K"] > 0
    replicas = json.loads((ttt / "run" / "ttt_measured.json").read_text())
    clean = json.loads((ttt / "run" / "ttt_iv.json").read_text())
    assert len(replicas) == 3 and replicas[0]["lrs"] != replicas[1]["lrs"]
    ratio = [m / c for rows_m, rows_c in zip(replicas[0]["hrs"], clean["current"]["hrs"])
             for m, c in zip(rows_m, rows_c)]
    assert 0.01 < float(np.std(ratio)) < 0.03  # the study's 2 % noise


def test_ttt_extraction_recovers_the_device_inside_its_intervals_and_cites_the_run(ttt):
    key = json.loads((ttt / "run" / "result.json").read_text())["key"]
    folder = ttt / "ex" / "reram-ttt"
    fit = json.loads((folder / "ttt_fit.json").read_text())
    assert fit["provenance"]["study"]["key"] == key and fit["replicas"] == 2
    assert all(state["all_covered"] for state in fit["states"].values())
    assert sorted(p.name for p in folder.iterdir()) == ["report.md", "ttt_fit.json", "ttt_iv.json", "ttt_iv.png"]
    assert "study seed 0" in (folder / "report.md").read_text()


def test_shipped_ttt_fit_covers_the_device_values():
    fit = json.loads((get_extraction("reram-ttt").shipped() / "ttt_fit.json").read_text())
    assert fit["provenance"]["study"]["study"] == "reram-ttt"
    assert all(state["all_covered"] for state in fit["states"].values())
    assert all(c >= 0.9 for state in fit["interval_coverage"].values() for c in state.values())


def test_ttt_bad_options_are_refused(tmp_path, capsys):
    assert main(["study", "describe", "reram-ttt"]) == 0
    described = capsys.readouterr().out
    assert "noise" in described and "replicas" in described
    assert main(["study", "run", "reram-ttt", "--set", "noise=0.7", "--out", str(tmp_path / "bad")]) == 2
    assert "lies outside [0.0, 0.5]" in capsys.readouterr().err
    assert main(["extract", "reram-ttt", "--from", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 1
    assert "needs a finished run of study 'reram-ttt'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
