"""Study ``reram-program`` and extraction ``reram-sigma-prog`` through the command line.
Real ngspice 46 and openvaf-r; no mocks."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from cli import spicegen

from spicegen.study import run

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]



def test_program_study_runs_from_the_command_line(program_run):
    result = json.loads((program_run / "run" / "result.json").read_text())
    m = result["measurements"]
    assert m["converged_fraction"] == 1.0
    assert 1 <= m["pulses_2pct"] < m["pulses_02pct"]
    spread = {ar: sum(row["sigma_prog_uS"] for row in table["targets"]) for ar, table in result["data"]["summary"].items()}
    assert 0 < spread["0.002"] < spread["0.02"]  # sigma_prog grows with the acceptance range
    assert result["paper"]["pulses_02pct"] == 89.0 and result["paper"]["sigma_prog_02pct_slope"] == 1.1e-3
    lines = result["data"]["sigma_prog_fit"]
    for ar, tag in (("0.002", "02pct"), ("0.02", "2pct")):  # the two closed-loop must-haves, as measurements
        assert m[f"sigma_prog_{tag}_r2"] == pytest.approx(lines[ar]["r2"])
        assert 0 <= m[f"targets_outside_x2_{tag}"] <= 5
    runs = pd.read_csv(program_run / "run" / "runs.csv")
    assert len(runs) == 5 * 2 * 2 and set(runs["ar"]) == {0.02, 0.002}
    assert (program_run / "run" / "reram_program.png").stat().st_size > 0


def test_targets_outside_x2_of_the_mean_count():
    from testbenches.reram.program import targets_outside

    table = {"targets": [{"g_target_uS": g, "pulses_mean": m} for g, m in ((10, 10.0), (20, 8.0), (30, 16.0),
                                                                           (40, None), (50, 30.0))]}
    assert targets_outside(table) == [40]  # mean of the counts 16: [8, 32] inside; no converged run: outside
    assert targets_outside(table, factor=1.5) == [10, 20, 40, 50]  # [10.7, 24]


def test_sigma_prog_surrogates_cite_the_study_run(program_run):
    key = json.loads((program_run / "run" / "result.json").read_text())["key"]
    folder = program_run / "ex" / "reram-sigma-prog"
    table = json.loads((folder / "sigma_prog.json").read_text())
    fits = [*table["all_targets"].values(), *table["targets_le_80uS"].values()]
    assert len(fits) == 4 and all(fit["surrogate"]["provenance"]["study"]["key"] == key for fit in fits)
    assert table["provenance"]["study"]["definition"]["options"]["targets"] == 5
    assert f"'key': '{key}'" in (folder / "sigma_prog_ar0p002.py").read_text()


def test_program_study_is_described_and_refuses_bad_options(tmp_path):
    described = spicegen("study", "describe", "reram-program", cwd=tmp_path).stdout
    assert all(option in described for option in ("targets", "max_pulses", "engine", "start", "read_noise", "d2d"))
    assert "paper 89" in described
    bad = spicegen("study", "run", "reram-program", "--set", "targets=2", "--out", "bad", cwd=tmp_path)
    assert bad.returncode != 0 and "'targets' = '2' lies outside [3, 200]" in bad.stderr, bad.stderr
    for setting, message in (({"engine": "euler"}, "is not one of map, spice"),
                             ({"read_noise": 0.9}, r"lies outside \[0.0, 0.5\]")):
        with pytest.raises(ValueError, match=message):
            run("reram-program", tmp_path / "bad", settings=setting, progress=False)
    assert not (tmp_path / "bad").exists()
