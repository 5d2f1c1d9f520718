"""Calibrated values of ``reram_cmo`` and ``hfox_forming`` as package data, and the calibration studies
``reram-calibration`` and ``reram-c2c-calibration`` through the command line (at a tiny size: the
full c2c fit takes minutes). Real ngspice 46 and openvaf-r; no mocks."""
from __future__ import annotations

import json

import pytest

from spicegen import calibration, get_device
from spicegen.cli import main

DEVICES = ("reram_cmo", "hfox_forming")


def shipped(device: str) -> dict:
    """The package's calibration file of ``device``."""
    return json.loads((calibration.folder() / f"{device}.json").read_text())


def entries() -> list[tuple[str, str, str]]:
    """(device, "value" or "variation", parameter) of every entry of the shipped calibration files."""
    return [(device, kind, name) for device in DEVICES for kind in ("value", "variation")
            for name in shipped(device)[f"{kind}s"]]


@pytest.mark.parametrize("device,kind,name", entries())
def test_device_defaults_are_the_calibration_file(device, kind, name):
    param = get_device(device).param(name)
    if kind == "value":
        assert param.default == shipped(device)["values"][name]
    else:
        for field, value in shipped(device)["variations"][name].items():
            assert getattr(param.variation, field) == value
    source = shipped(device)["sources"][name if kind == "value" else f"{name}.variation"]
    assert source["study"] in ("reram-calibration", "reram-c2c-calibration", "reram-d2d", "reram-forming")


def test_calibrated_values_are_todays_numbers():
    """The values the devices had before they moved into the calibration files, and the joint d2d law since
    (docs/reram.md §1, §2 item 13, §6; docs/reram_studies.md §2, §3.4)."""
    cmo, forming = get_device("reram_cmo"), get_device("hfox_forming")
    kinetic = ("a_hop", "nu_set", "ea_set", "a_set", "gam_set", "gam_v", "x_top", "nu_rst", "ea_rst", "a_rst",
               "gam_rst", "gam_v_rst")
    assert [cmo.param(n).default for n in kinetic] == [
        6.011e-9, 3.373e7, 0.5657, 6.211e-9, 0.3002, 9.473, 1.018, 4.963e11, 0.7705, 4.014e-11, 1.613, 0.5867]
    assert (cmo.param("n_lrs").variation.sigma, cmo.param("gam_rst").variation.sigma) == (0.442, 0.277)
    assert (cmo.param("n_lrs").variation.correlation, cmo.param("gam_rst").variation.correlation) == (2.77e-3, 2.77e-3)
    assert cmo.param("n_lrs").variation.group == cmo.param("gam_rst").variation.group == "filament"
    for name in ("nu_set", "nu_rst"):
        assert (cmo.param(name).variation.sigma, cmo.param(name).variation.p_zero) == (0.6, 0.25)
    assert (forming.param("p_dip").default, forming.param("t_ox").variation.sigma) == (2.7565e-9, 0.02788)


def test_an_update_without_ship_writes_only_into_the_run_folder(tmp_path):
    before = (calibration.folder() / "reram_cmo.json").read_bytes()
    source = {"study": "reram-calibration", "key": "0123456789abcdef"}
    [path] = calibration.update("reram_cmo", tmp_path, values={"a_hop": 6.0e-9},
                                variations={"n_lrs": {"sigma": 0.3}}, source=source)
    written = json.loads(path.read_text())
    assert path.name == "calibration_reram_cmo.json"
    assert written["values"] == {**shipped("reram_cmo")["values"], "a_hop": 6.0e-9}
    assert written["variations"]["n_lrs"] == {"sigma": 0.3}
    assert written["variations"]["nu_set"] == shipped("reram_cmo")["variations"]["nu_set"]
    assert written["sources"]["a_hop"] == written["sources"]["n_lrs.variation"] == source
    assert (calibration.folder() / "reram_cmo.json").read_bytes() == before


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_kinetic_calibration_study_runs_and_writes_its_values(kinetic_calibration, package_files):
    result = json.loads((kinetic_calibration / "run" / "result.json").read_text())
    m = result["measurements"]
    assert m["a_hop"] == get_device("reram_cmo").param("a_hop").default  # transport=no keeps it
    assert m["R_HRS"] == pytest.approx(256e3, rel=0.1) and m["ratio_hrs_lrs"] > 10
    written = json.loads((kinetic_calibration / "run" / "calibration_reram_cmo.json").read_text())
    assert written["values"]["nu_set"] == float(f"{m['nu_set']:.4g}")
    assert written["sources"]["gam_rst"]["key"] == result["key"]
    assert (calibration.folder() / "reram_cmo.json").read_bytes() == package_files["reram_cmo.json"]


@pytest.mark.ngspice
@pytest.mark.openvaf
def test_c2c_calibration_study_runs_at_a_tiny_size(c2c_calibration):
    result = json.loads((c2c_calibration / "run" / "result.json").read_text())
    m = result["measurements"]
    assert 0 <= m["p_zero"] < 0.9 and 0.05 <= m["sigma"] <= 3.0 and m["pulses_02pct"] >= 1
    assert 1 <= m["pulses_2pct"] and m["count_ratio_min"] <= m["count_ratio_max"]
    ratios = [e["pulses_02pct"] / e["pulses_2pct"] for e in result["data"]["evaluated"]]
    assert len(ratios) >= 90 and min(ratios) == pytest.approx(m["count_ratio_min"])  # the whole grid and more
    assert result["data"]["runs"] == {"open_loop_streams": 1, "targets": 2, "streams": 1, "seed": 1}
    written = json.loads((c2c_calibration / "run" / "calibration_reram_cmo.json").read_text())
    assert written["variations"]["nu_rst"] == {"sigma": m["sigma"], "p_zero": m["p_zero"]}


def test_calibration_studies_are_described_and_refuse_bad_options(tmp_path, capsys):
    assert main(["study", "describe", "reram-c2c-calibration"]) == 0
    described = capsys.readouterr().out
    assert all(o in described for o in ("open_loop_streams", "targets", "streams", "max_nfev", "ship")), described
    assert "paper 89" in described
    assert main(["study", "describe", "reram-calibration"]) == 0
    described = capsys.readouterr().out
    assert all(o in described for o in ("transport", "pulses", "cycles", "max_nfev", "ship")), described
    for study, setting, message in (("reram-calibration", "cycles=0", "lies outside [1, 20]"),
                                    ("reram-calibration", "pulses=maybe", "needs yes/no"),
                                    ("reram-c2c-calibration", "targets=1", "lies outside [2, 200]")):
        assert main(["study", "run", study, "--set", setting, "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
