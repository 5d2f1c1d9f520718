"""The MDWMTJ / P²M studies and extractions through the command line, run from outside the repository
(real ngspice + openvaf-r, small sizes; every study runs once, in a module fixture)."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from spicegen.cli import main
from spicegen.devices.mdwmtj import RP_SIGMA_3SIGMA
from spicegen.study import ROLES, get_study, studies

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Done:
    """Exit status and output of one command."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def spicegen(tmp_path, monkeypatch, capsys):
    """``spicegen ARGS`` run in ``tmp_path`` (outside the repository; study runs without progress bars)."""
    monkeypatch.chdir(tmp_path)

    def command(*args: str) -> Done:
        capsys.readouterr()
        quiet = ["--no-progress"] if args[:2] == ("study", "run") else []
        code = main([*args, *quiet])
        out = capsys.readouterr()
        return Done(code, out.out, out.err)

    return command


def result(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The folder the module's study runs go into (one sub-folder each)."""
    return tmp_path_factory.mktemp("runs")


def study_run(folder: Path, study: str, *args: str) -> Path:
    """``spicegen study run STUDY ARGS --out FOLDER``; ``folder``."""
    assert main(["study", "run", study, *args, "--out", str(folder), "--no-progress"]) == 0
    return folder


@pytest.fixture(scope="module")
def f1(runs) -> Path:
    return study_run(runs / "f1", "p2m-f1", "--n", "4", "--set", "configs=cmos")


@pytest.fixture(scope="module")
def f2(runs) -> Path:
    return study_run(runs / "f2", "p2m-f2", "--n", "400")


@pytest.fixture(scope="module")
def margin(runs) -> Path:
    return study_run(runs / "m", "p2m-mac-margin", "--n", "2", "--set", "configs=cmos")


@pytest.fixture(scope="module")
def ranged(runs) -> Path:
    return study_run(runs / "r", "p2m-range", "--n", "2")


@pytest.fixture(scope="module")
def waveforms(runs) -> Path:
    return study_run(runs / "w", "p2m-waveforms")


@pytest.fixture(scope="module")
def dw(runs) -> Path:
    return study_run(runs / "dw", "dw-velocity")


@pytest.fixture(scope="module")
def device(runs) -> Path:
    return study_run(runs / "device", "mdwmtj-device", "--set", "positions=5", "--set", "currents=7",
                     "--set", "i_max=120")


@pytest.fixture(scope="module")
def accuracy(runs) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    return study_run(runs / "a", "p2m-accuracy", "--set", "epochs=1", "--set", "train=16", "--set", "test=10",
                     "--set", "seeds=2", "--set", "channels=2", "--set", "fitted=yes")


#: Fixture → the study it runs (every MDWMTJ study).
STUDY_RUNS = {"f1": "p2m-f1", "f2": "p2m-f2", "margin": "p2m-mac-margin", "ranged": "p2m-range",
              "waveforms": "p2m-waveforms", "dw": "dw-velocity", "device": "mdwmtj-device",
              "accuracy": "p2m-accuracy"}


def test_every_mdwmtj_study_has_a_test_run():
    assert set(STUDY_RUNS.values()) == {name for name, s in studies().items() if s.family == "mdwmtj"}


@pytest.mark.parametrize("fixture", sorted(STUDY_RUNS))
def test_measurements_have_units_and_paper_values_roles(fixture, request):
    done = result(request.getfixturevalue(fixture))
    measures = get_study(done["study"]).measures
    assert done["units"] == {name: measures[name].unit for name in done["measurements"]}
    assert set(done["roles"]) == set(done["paper"]) == {k for k, m in measures.items() if m.paper is not None}
    assert all(role in ROLES and role for role in done["roles"].values()), done["roles"]


def test_the_cmos_cmosx_ordering_is_reported_with_its_interval_in_either_run_order():
    from testbenches.mdwmtj.studies import P2mF1

    f1 = {"cmos": {"worst_3sigma": 0.128}, "cmosx": {"worst_3sigma": 0.146}}
    first = P2mF1._ordering({"f1": f1, "intervals": {"cmos-cmosx": {"low": -0.025, "high": -0.009,
                                                                    "p_greater": 0.01}}})
    assert first == pytest.approx({"cmos_minus_cmosx": -1.8, "cmos_minus_cmosx_low": -2.5,
                                   "cmos_minus_cmosx_high": -0.9, "p_cmos_above_cmosx": 0.01})
    swapped = P2mF1._ordering({"f1": f1, "intervals": {"cmosx-cmos": {"low": 0.009, "high": 0.025,
                                                                      "p_greater": 0.99}}})
    assert swapped == pytest.approx(first)


def test_p2m_f1_run_and_extraction_cite_the_run(spicegen, tmp_path, f1):
    measured = result(f1)["measurements"]
    assert measured["failed_cmos"] == 0 and 0 < measured["worst_3sigma_cmos"] < 100
    assert measured["worst_3sigma_mdwmtj"] is None                      # not run: NaN, stored as null
    assert measured["cmos_minus_cmosx"] is None and measured["cmos_minus_cmosx_low"] is None  # needs both
    interval = result(f1)["data"]["f1"]["cmos"]["worst_3sigma_ci95"]    # the 95 % bootstrap interval
    assert interval["resamples"] == 1000 and interval["level"] == 0.95
    assert (measured["worst_3sigma_low_cmos"], measured["worst_3sigma_high_cmos"]) == (100 * interval["low"],
                                                                                      100 * interval["high"])
    assert 0 < interval["low"] < interval["high"] and result(f1)["data"]["intervals"]["cmos"] == interval
    assert {"f1.png", "f1_cmos"} <= {p.name for p in f1.iterdir()}
    extract = spicegen("extract", "p2m-f1", "--from", str(f1), "--out", "ex")
    assert extract.returncode == 0, extract.stderr
    names = {p.name for p in (tmp_path / "ex" / "p2m-f1").iterdir()}
    assert names == {"f1_cmos.json", "f1_cmos_report.json", "f1_cmos_residuals.png", "summary.json", "report.md"}
    key = json.loads((f1 / "study.json").read_text())["key"]
    surrogate = json.loads((tmp_path / "ex" / "p2m-f1" / "f1_cmos.json").read_text())
    for cited in (surrogate["provenance"]["study"], surrogate["variation"]["provenance"]["study"]):
        assert cited["study"] == "p2m-f1" and cited["key"] == key
        assert cited["definition"]["options"]["rp_reading"] == "3sigma"
        rp = cited["definition"]["variations"]["mdwmtj.rp"]["variation"]
        assert rp["kind"] == "d2d" and rp["sigma"] == pytest.approx(RP_SIGMA_3SIGMA)
    summary = json.loads((tmp_path / "ex" / "p2m-f1" / "summary.json").read_text())
    assert summary["study"]["key"] == key and len(summary["f1"]["cmos"]["nominal_m"]) == 9


def test_p2m_f2_run_and_extraction(spicegen, tmp_path, f2):
    measured = result(f2)["measurements"]
    assert measured["failed"] == 0 and 5 < measured["worst_spread"] < 50
    assert result(f2)["paper"]["worst_spread"] == 11.38
    extract = spicegen("extract", "p2m-f2", "--from", str(f2), "--out", "ex")
    assert extract.returncode == 0, extract.stderr
    shipped = REPO / "fitting" / "extractions" / "p2m_f2"
    assert {p.name for p in (tmp_path / "ex" / "p2m-f2").iterdir()} == {p.name for p in shipped.iterdir()}


def test_bad_options_are_refused_naming_what_is_allowed(spicegen, tmp_path):
    bogus = spicegen("study", "run", "p2m-f1", "--set", "rp_reading=bogus", "--out", "bad")
    assert bogus.returncode == 2 and "'bogus' is not one of 3sigma, 1sigma" in bogus.stderr
    configs = spicegen("study", "run", "p2m-f1", "--set", "configs=cmos,finfet", "--out", "bad")
    assert configs.returncode == 2 and "one or more of cmos, mdwmtj, cmosx" in configs.stderr
    epochs = spicegen("study", "run", "p2m-accuracy", "--set", "epochs=0", "--out", "bad")
    assert epochs.returncode == 2 and "lies outside [1, 1000]" in epochs.stderr
    small = spicegen("study", "run", "p2m-f2", "--n", "20", "--out", "bad")
    assert small.returncode == 2 and "n >= 200" in small.stderr
    assert not (tmp_path / "bad").exists()


def test_describe_lists_the_options(spicegen):
    described = spicegen("study", "describe", "p2m-f1").stdout
    assert "configs = 'cmos,mdwmtj,cmosx'" in described and "rp_reading = '3sigma'  (3sigma|1sigma)" in described
    assert "paper 39.39" in described
    for name, option in (("p2m-f2", "rp = False"), ("p2m-accuracy", "seeds = 3"), ("p2m-waveforms", "flavor = 'osdi'"),
                         ("dw-velocity", "ship = False"), ("p2m-mac-margin", "configs ="), ("p2m-range", "--n")):
        assert option in spicegen("study", "describe", name).stdout, name


def test_an_extraction_refuses_a_missing_source_study(spicegen):
    for name, study in (("p2m-f1", "p2m-f1"), ("p2m-f2", "p2m-f2"), ("dw-velocity", "dw-velocity")):
        out = spicegen("extract", name, "--from", "nothing", "--out", "ex")
        assert out.returncode == 1 and f"needs a finished run of study {study!r}" in out.stderr


def test_mac_margin_and_programmable_range(margin, ranged):
    measured = result(margin)["measurements"]
    assert measured["nominal_margin_cmos"] == pytest.approx(1.71, abs=0.05)   # docs/mdwmtj.md §5
    assert measured["margin_mean_cmosx"] is None
    data = result(ranged)["data"]
    assert data["samples"] == 2 and data["nominal"][-1] == pytest.approx(0.364, abs=0.005)


def test_waveforms_reproduce_fig5_reprogramming(waveforms):
    done = result(waveforms)
    assert done["measurements"]["reprogram_spike_app1_cmosx"] == 0 and done["measurements"]["reprogram_spike_app2_cmosx"] == 1
    assert done["measurements"]["v_th_cmos"] == pytest.approx(86.2, abs=0.05)
    assert {"mac_cmos.png", "reprogram_mdwmtj.png"} <= set(done["files"])


def test_dw_velocity_study_calibrates_the_device_and_ships_its_surrogate(spicegen, tmp_path, dw):
    from spicegen.calibration import value

    written = json.loads((dw / "calibration_mdwmtj.json").read_text())
    key = json.loads((dw / "study.json").read_text())["key"]
    for name in ("c0", "c1", "c2", "ith", "imax"):
        assert written["values"][name] == value("mdwmtj", name)                # the fit reproduces the shipped values
        assert written["sources"][name]["key"] == key
    extract = spicegen("extract", "dw-velocity", "--from", str(dw), "--out", "ex")
    assert extract.returncode == 0, extract.stderr
    surrogate = json.loads((tmp_path / "ex" / "dw-velocity" / "v_dw.json").read_text())
    assert surrogate["provenance"]["study"]["key"] == key
    shipped = json.loads((REPO / "fitting" / "extractions" / "dw" / "v_dw.json").read_text())
    # the same fit to the last few digits (lmfit's float path differs between BLAS builds)
    assert surrogate["params"] == pytest.approx(shipped["params"], rel=1e-9)


def test_p2m_accuracy_table_over_seeds_from_the_shipped_surrogates(accuracy):
    done = result(accuracy)
    data, measured = done["data"], done["measurements"]
    assert "shipped ngspice Monte Carlo" in data["note"] and data["digits_recorded"] <= 2 * 26
    rows = ["baseline", 0.0, 0.1, 0.2, 0.4, "fitted"]
    assert [r["row"] for r in data["table"]] == rows and [r["row"] for r in data["runs"]] == rows * 2
    assert all(r["seeds"] == 2 for r in data["table"])
    for entry in data["table"]:                     # the table is the mean and σ of its runs, drops paired by seed
        runs = [r for r in data["runs"] if r["row"] == entry["row"]]
        noisy = [100 * r["test_accuracy_noisy"] for r in runs]
        base = [100 * r["test_accuracy_noisy"] for r in data["runs"] if r["row"] == "baseline"]
        assert entry["noisy_mean"] == pytest.approx(sum(noisy) / 2)
        assert entry["noisy_std"] == pytest.approx(abs(noisy[0] - noisy[1]) / 2 ** 0.5)
        if entry["row"] != "baseline":
            assert entry["drop_mean"] == pytest.approx((base[0] - noisy[0] + base[1] - noisy[1]) / 2)
            assert "noise_drop_mean" in entry
        assert all(10 * r["test_accuracy_noisy"] == pytest.approx(round(10 * r["test_accuracy_noisy"]))
                   for r in runs)                                                            # of 10 test clips
    assert measured["accuracy_baseline"] == data["table"][0]["noisy_mean"] and measured["drop_40"] is not None
    assert done["paper"] == {"drop_40": 2.68}
    for name in ("accuracy_table.png", "saccade_clip.png"):
        assert (accuracy / name).stat().st_size > 10_000


def test_p2m_accuracy_refuses_more_clips_than_digits(spicegen, tmp_path):
    pytest.importorskip("torch")
    done = spicegen("study", "run", "p2m-accuracy", "--set", "train=1700", "--set", "test=200", "--out", "big")
    assert done.returncode != 0 and "train + test = 1700 + 200 clips exceeds the 1797 digits" in done.stderr


def test_mdwmtj_device_study_reports_tmr_and_threshold(device):
    m = result(device)["measurements"]
    assert m["r_ap"] / m["r_p"] == pytest.approx(3.0, rel=1e-3) and m["tmr_10mv"] == pytest.approx(2.0, rel=1e-3)
    assert m["tmr_800mv"] < m["tmr_10mv"]  # roll-off with bias
    assert 20.0 <= m["i_threshold"] <= 60.0 and m["velocity_max"] > 0
    assert (device / "mdwmtj_device.png").stat().st_size > 10_000


def test_registering_the_studies_imports_no_torch():
    code = ("import sys, spicegen.study as s; s.studies(); s.extractions(); "
            "assert 'p2m-accuracy' in s.studies() and 'torch' not in sys.modules and 'sklearn' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
