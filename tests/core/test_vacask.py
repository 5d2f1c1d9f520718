"""VACASK runner: real runs against analytic answers, the error paths and the netlist formatters."""
from __future__ import annotations

import math

import numpy as np
import pytest

from spicegen import get_device
from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE
from spicegen.device import Pwl, Sine
from veriloga import compile_model
from veriloga.vacask import VacaskError, format_instance, format_source, run_vacask

pytestmark = [pytest.mark.openvaf, pytest.mark.vacask]
HEAD = ["spicegen vacask test", "ground 0", "model vsource vsource", "model r resistor"]


def deck(*lines: str, analysis: str = "op1 op") -> str:
    return "\n".join([*HEAD, *lines, "control", "  options reltol=1e-10 abstol=1e-15 vntol=1e-14",
                      f"  analysis {analysis}", "endc"])


def test_divider_op_matches_ohms_law(tmp_path):
    out = run_vacask(deck("v1 (a 0) vsource dc=3", "r1 (a b) r r=1k", "r2 (b 0) r r=2k"),
                     osdi=["resistor.osdi"], workdir=tmp_path)
    assert out["b"][0] == pytest.approx(2.0, rel=1e-12)
    # flow(br) runs from the + node through the source: -1 mA when it delivers 1 mA
    assert out["v1:flow(br)"][0] == pytest.approx(-1e-3, rel=1e-12)
    assert (tmp_path / "op1.raw").exists() and (tmp_path / "netlist.sim").read_text().count("load ") == 1


def test_spicegen_diode_op_solves_shockley_with_series_resistance():
    model = get_device("diode_rs")
    is_, n, rs = 2e-14, 1.2, 50.0
    lines = format_instance(model, "d1", ["a", "0"], {"is_": is_, "n": n, "rs": rs})
    assert lines == ["model m_d1 diode_rs n=1.2", "d1 (a 0) m_d1 is_=2e-14 rs=50.0"]  # is_, rs vary: per instance
    out = run_vacask(deck(*lines, "v1 (a 0) vsource dc=0.8"), osdi=[compile_model(model), "resistor.osdi"])
    i, vai = -out["v1:flow(br)"][0], out["d1:ai"][0]
    vt = BOLTZMANN * (27 + 273.15) / ELEMENTARY_CHARGE  # VACASK's default temp is 27 C
    assert i == pytest.approx((0.8 - vai) / rs, rel=1e-9)
    assert i == pytest.approx(is_ * math.expm1(vai / (n * vt)), rel=1e-9)
    assert 1e-4 < i < 1e-2


def test_sources_follow_sine_and_pwl():
    wave = Pwl(((0.0, 0.0), (1e-3, 1.0), (2e-3, -0.5)))
    lines = [format_source("vs", ("s", "0"), Sine(0.5, 1e3, 0.1)), "rs (s 0) r r=1k",
             format_source("vp", ("p", "0"), wave), "rp (p 0) r r=1k"]
    out = run_vacask(deck(*lines, analysis="tr tran step=1e-5 stop=2e-3 maxstep=1e-5"), osdi=["resistor.osdi"])
    t = out["time"]
    assert t[-1] == pytest.approx(2e-3) and t.size > 100
    np.testing.assert_allclose(out["s"], Sine(0.5, 1e3, 0.1)(t), atol=1e-9)
    np.testing.assert_allclose(out["p"], wave(t), atol=1e-9)


def test_several_analyses_are_prefixed():
    text = deck("v1 (a 0) vsource dc=1", "r1 (a 0) r r=1k", analysis="op1 op\n  analysis op2 op")
    out = run_vacask(text, osdi=["resistor.osdi"])
    assert out["op1/a"][0] == out["op2/a"][0] == 1.0


def test_broken_netlist_raises_with_vacasks_message():
    text = deck("v1 (a 0) vsource dc=1", "r1 (a 0) r rr=1k")
    with pytest.raises(VacaskError) as info:
        run_vacask(text, osdi=["resistor.osdi"])
    err = info.value
    assert "Parameter 'rr' not found." in err.reason
    assert "OpenBLAS" not in err.reason  # the start-up banner is dropped
    assert "r1 (a 0) r rr=1k" in err.netlist and 'load "resistor.osdi"' in err.netlist
    assert "rr=1k" in str(err)


def test_missing_osdi_and_syntax_error_raise():
    with pytest.raises(VacaskError, match="not found"):
        run_vacask(deck("v1 (a 0) vsource dc=1"), osdi=["no_such_model.osdi"])
    with pytest.raises(VacaskError, match="syntax error"):
        run_vacask(deck("v1 (a 0) vsource dc=1 ("))


def test_failed_analysis_raises_although_vacask_exits_0():
    text = "\n".join(["diode", "ground 0", "model vsource vsource", "model d sp_diode", "v1 (a 0) vsource dc=50",
                      "d1 (a 0) d", "control", "  options op_itl=2 op_homotopy=[]", "  analysis op1 op", "endc"])
    with pytest.raises(VacaskError, match="aborted"):
        run_vacask(text, osdi=["spice/diode.osdi"])


def test_no_analysis_and_timeout_raise():
    with pytest.raises(VacaskError, match="no analysis wrote a rawfile"):
        run_vacask("\n".join(HEAD + ["v1 (a 0) vsource dc=1", "r1 (a 0) r r=1"]), osdi=["resistor.osdi"])
    slow = deck("v1 (a 0) vsource type=\"sine\" freq=1e3", "r1 (a 0) r r=1",
                analysis="tr tran step=1e-9 stop=1 maxstep=1e-9")
    with pytest.raises(VacaskError, match="timed out"):
        run_vacask(slow, osdi=["resistor.osdi"], timeout=0.5)


@pytest.mark.parametrize("name, nodes, values, match", [
    ("d1", ["a"], {}, "ports"),
    ("d1", ["a", "b c"], {}, "node name"),
    ("d1", ["a", "b)\nanalysis"], {}, "node name"),
    ("d1", ["a", "0"], {"rs": float("nan")}, "finite"),
    ("d1", ["a", "0"], {"rs": "1\ncontrol"}, "number"),
    ("d1", ["a", "0"], {"bogus": 1.0}, "no parameter"),
    ("d1", ["a", "0"], {"rs": -1.0}, "rs"),
    ("load", ["a", "0"], {}, "keyword"),
    ("Sweep", ["a", "0"], {}, "keyword"),
    ("1d", ["a", "0"], {}, "identifier"),
])
def test_format_instance_validates(name, nodes, values, match):
    with pytest.raises((ValueError, KeyError), match=match):
        format_instance(get_device("diode_rs"), name, nodes, values)


def test_format_source_validates():
    assert format_source("v1", ("a", "0"), 1) == "v1 (a 0) vsource dc=1.0"
    assert 'wave=[0.0, 0.0, 1e-06, 0.3]' in format_source("v1", ("a", "0"), Pwl(((0, 0), (1e-6, 0.3))))
    for bad in (float("inf"), "1\nendc"):
        with pytest.raises(ValueError):
            format_source("v1", ("a", "0"), bad)
    with pytest.raises(ValueError, match="frequency"):
        format_source("v1", ("a", "0"), Sine(1.0, 0.0))
    with pytest.raises(ValueError, match="keyword"):
        format_source("save", ("a", "0"), 1.0)
