"""The equivalence checker sees what it used to miss: tiny denominators, scaled states, rate-only bugs.

The devices are built here (never registered) and checked by the real checker against the real
ngspice, openvaf-r and VACASK:

* :class:`FieldDriven`: the rate divides by ``k_B*t_ox*T`` ≈ 2e-29, every constant a parameter;
  ngspice adds 1e-32 to every B-source denominator.
* :class:`FieldSquared`: the same with the field energy squared, a denominator ≈ 4e-58 that no
  scaling of the twin's quotients brings above ngspice's fudge.
* :class:`MetreGap`: a state in metres with ``scale=1e-9``, as the docs advise.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

from spicegen.device import Check, Device, Equations, Sine, State, build_model
from spicegen.netlist import format_subckt
from spicegen.numpy_code import load_numpy_module
from spicegen.params import Param
from spicegen.printing import NGSPICE_DIVISION_FUDGE, SpicePrinter
from testbenches.core import equivalence
from testbenches.core.equivalence import (DC_TOL, _integrate, _stimulus, check_dc, check_device, check_tran,
                                          check_twin_divisions)
from veriloga import compile_model, compile_source, format_module

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]

FIELD_PARAMS = (
    Param("g0", 1e-4, "S", "conductance", (0.0, 1.0)),
    Param("nu", 100.0, "1/s", "attempt rate", (0.0, 1e9)),
    Param("q_e", 1.602176634e-19, "C", "elementary charge", (1e-20, 1e-18)),
    Param("a_hop", 2.5e-10, "m", "hopping distance", (1e-11, 1e-8)),
    Param("k_b", 1.380649e-23, "J/K", "Boltzmann constant", (1e-24, 1e-22)),
    Param("t_ox", 5e-9, "m", "oxide thickness", (1e-10, 1e-6)),
)


def field_energy_ratio(s) -> sp.Expr:
    """``q·a·V / (k_B·t_ox·T)``: about 1.9 per volt, with a denominator of about 2e-29."""
    return s.q_e * s.a_hop * s.V("p", "n") / (s.k_b * s.t_ox * s.T)


class FieldDriven(Device):
    """Bounded state driven by sinh(q*a*V/(k_B*t_ox*T)), every constant a parameter."""

    name = "field_driven"
    ports = ("p", "n")
    params = FIELD_PARAMS
    states = (State("w", 0.5, (0.0, 1.0), "", "normalised filament length"),)
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(1.0, 1e3)}, tstop=2e-3)

    def equations(self, s):
        return Equations(currents={("p", "n"): s.g0 * (0.1 + s.w) * s.V("p", "n")},
                         rates={"w": s.nu * sp.sinh(field_energy_ratio(s))})


class FieldSquared(FieldDriven):
    """Bounded state driven by the square of q*a*V/(k_B*t_ox*T): a denominator of about 4e-58."""

    name = "field_squared"

    def equations(self, s):
        return Equations(currents={("p", "n"): s.g0 * (0.1 + s.w) * s.V("p", "n")},
                         rates={"w": s.nu * field_energy_ratio(s) ** 2})


class SinhDriven(Device):
    """Bounded state driven by nu*sinh(V/v1): nothing the old checker got wrong, to plant a rate bug in."""

    name = "sinh_driven"
    ports = ("p", "n")
    params = (FIELD_PARAMS[0], FIELD_PARAMS[1], Param("v1", 0.5, "V", "voltage scale", (1e-3, 10.0)))
    states = (State("w", 0.5, (0.0, 1.0), "", "normalised filament length"),)
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(1.0, 1e3)}, tstop=2e-3)

    def equations(self, s):
        return Equations(currents={("p", "n"): s.g0 * (0.1 + s.w) * s.V("p", "n")},
                         rates={"w": s.nu * sp.sinh(s.V("p", "n") / s.v1)})


class MetreGap(Device):
    """Tunnelling gap in metres (scale 1e-9): current i0*exp(-gap/g1)*sinh(V/v1), gap moved by sinh(V/v1)."""

    name = "metre_gap"
    ports = ("p", "n")
    params = (
        Param("i0", 1e-4, "A", "current at zero gap", (0.0, 1.0)),
        Param("g1", 5e-11, "m", "tunnelling decay length", (1e-12, 1e-6)),
        Param("vel", 2e-6, "m/s", "gap velocity", (0.0, 1.0)),
        Param("v1", 0.5, "V", "voltage scale", (1e-3, 10.0)),
    )
    states = (State("gap", 1e-9, (0.2e-9, 1.8e-9), "m", "tunnelling gap", scale=1e-9),)
    check = Check(dc={"p": (-1.0, 1.0)}, tran={"p": Sine(1.0, 1e3)}, tstop=2e-3)

    def equations(self, s):
        drive = sp.sinh(s.V("p", "n") / s.v1)
        return Equations(currents={("p", "n"): s.i0 * sp.exp(-s.gap / s.g1) * drive},
                         rates={"gap": -s.vel * drive})


FIELD = build_model(FieldDriven)


def _row(rows, pair: str, quantity: str):
    return next(r for r in rows if r.pair == pair and r.quantity == quantity)


def test_tiny_denominator_leaves_the_twin_exact():
    """k_B*t_ox*T ≈ 2e-29 in a rate: the twin's scaled quotient keeps it exact, DC and transient."""
    assert "*2^64/((temper + 273.15)*k_b*t_ox*2^64)" in format_subckt(FIELD)
    report = check_device(FIELD, seed=1)
    assert report.passed, report.format_table()
    assert _row(report.rows, "numpy~twin", "dw/dt").error < 1e-12
    assert _row(report.rows, "exact~fudged", "dw/dt").error < 1e-12
    assert max(r.error for r in report.rows if (r.analysis, r.pair) == ("tran", "twin~osdi")) < 1e-12


def test_plain_quotient_twin_fails_naming_the_denominator(monkeypatch):
    """Printed as a plain a/b (as it was), ngspice's 1e-32 changes the rate by ~5e-4: both the fudge
    analysis and the measured twin rate fail, by the same amount."""
    monkeypatch.setattr(SpicePrinter, "_print_quotient", lambda self, a, b: f"({self._print(a)})/({self._print(b)})")
    assert ")/((temper + 273.15)*k_b*t_ox)" in format_subckt(FIELD)
    rows, problems = check_twin_divisions(FIELD, seed=1, fudge=NGSPICE_DIVISION_FUDGE)
    predicted = _row(rows, "exact~fudged", "dw/dt").error
    assert predicted > 100 * DC_TOL
    assert len(problems) == 1 and "dw/dt" in problems[0] and "T*k_b*t_ox" in problems[0], problems
    measured = _row(check_dc(FIELD, str(compile_model(FIELD)), seed=1), "numpy~twin", "dw/dt").error
    assert measured == pytest.approx(predicted, rel=0.05)


def test_denominator_beyond_the_scaling_is_caught():
    """(k_B*t_ox*T)**2 ≈ 4e-58: below what any scaling saves; the check fails and names it."""
    model = build_model(FieldSquared)
    rows, problems = check_twin_divisions(model, seed=1)
    assert _row(rows, "exact~fudged", "dw/dt").error > 0.5
    assert len(problems) == 1, problems
    assert re.search(r"divides by T\*\*2\*k_b\*\*2\*t_ox\*\*2, which is 4\.\d+e-58", problems[0]), problems[0]
    measured = _row(check_dc(model, str(compile_model(model)), seed=1), "numpy~twin", "dw/dt")
    assert not measured.passed  # the simulated twin really is that wrong


class NanometreGap(MetreGap):
    """:class:`MetreGap` written in nanometres (scale 1)."""

    name = "nanometre_gap"
    params = (Param("i0", 1e-4, "A", "current at zero gap", (0.0, 1.0)),
              Param("g1", 0.05, "nm", "tunnelling decay length", (1e-3, 1e3)),
              Param("vel", 2e3, "nm/s", "gap velocity", (0.0, 1e9)),
              Param("v1", 0.5, "V", "voltage scale", (1e-3, 10.0)))
    states = (State("gap", 1.0, (0.2, 1.8), "nm", "tunnelling gap"),)


def test_state_in_metres_with_its_scale_passes_and_its_reference_is_scale_free():
    """The reference ODE's tolerance follows State.scale: the gap in metres (scale 1e-9) integrates as
    the gap in nanometres does, and the device passes (the absolute 1e-12 m tolerance failed it)."""
    metres, nanometres = build_model(MetreGap), build_model(NanometreGap)
    report = check_device(metres, seed=1)
    assert report.passed, report.format_table()
    t = np.linspace(0.0, metres.check.tstop, 2001)
    in_metres, in_nm = (_integrate(m, load_numpy_module(m), _stimulus(m), m.check.tstop)(t)[0]
                        for m in (metres, nanometres))
    assert np.max(np.abs(in_metres * 1e9 - in_nm)) / 1.6 < 1e-6
    assert np.ptp(in_nm) > 1.0  # the stimulus drives the gap across most of its range


def _rate_bug_twin(model):
    """The twin with a 1 % error in the rate of ``w`` above w = 0.7, where the transient never goes."""
    return re.sub(r"^(B_w 0 w I = )(.*)$", r"\1((v(w) > 0.7) ? 1.01 : 1.0)*(\2)", format_subckt(model), flags=re.M)


def test_rate_only_bug_is_caught_at_dc(monkeypatch, tmp_path):
    """A rate bug in the twin or in the Verilog-A, outside the transient's range: the values at DC
    (states frozen) and the whole transient agree, only the DC rate comparison sees it."""
    model = build_model(SinhDriven)
    monkeypatch.setattr(equivalence, "format_subckt", _rate_bug_twin)
    assert "? 1.01 : 1.0)" in equivalence.format_subckt(model)
    source = re.sub(r"^(\s*I\(w\) <\+ )-", r"\1-((V(w) > 0.7) ? 1.01 : 1.0)*", format_module(model), flags=re.M)
    assert "? 1.01 : 1.0)" in source
    buggy_osdi = str(compile_source(source, model.name, directory=tmp_path))

    rows = check_dc(model, buggy_osdi, seed=1)
    for rendering in ("twin", "osdi"):
        assert _row(rows, f"numpy~{rendering}", "dw/dt").error > 1e-3
    assert all(r.passed for r in rows if r.quantity != "dw/dt"), rows
    tran_rows, problems, waves = check_tran(model, buggy_osdi)
    assert all(r.passed for r in tran_rows) and not problems, tran_rows
    assert np.max(waves["w twin"]) < 0.7
