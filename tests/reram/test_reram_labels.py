"""Every ReRAM study labels its numbers: a unit for every measurement in result.json, a role (calibration or
held out) for every paper value. The runs are the session's shared test runs (``conftest.py``). No mocks."""
from __future__ import annotations

import json

import pytest

from spicegen.study import ROLES, get_study, studies

pytestmark = [pytest.mark.ngspice, pytest.mark.openvaf]

#: Fixture of ``conftest.py`` → the study it runs.
STUDY_RUNS = {"cycling_iv": "reram-cycling-iv", "forming": "reram-forming", "d2d": "reram-d2d",
              "program_run": "reram-program", "pulse_run": "reram-pulse-response", "ttt": "reram-ttt",
              "relaxation": "reram-relaxation", "kinetic_calibration": "reram-calibration",
              "c2c_calibration": "reram-c2c-calibration", "crossbar": "crossbar-mvm",
              "crossbar_presets": "crossbar-presets",
              "snn_nonideal": "snn-nonideal"}


def test_every_reram_study_has_a_test_run():
    assert set(STUDY_RUNS.values()) == {name for name, s in studies().items() if s.family == "reram"}


@pytest.mark.parametrize("fixture", sorted(STUDY_RUNS))
def test_measurements_have_units_and_paper_values_roles(fixture, request):
    result = json.loads((request.getfixturevalue(fixture) / "run" / "result.json").read_text())
    measures = get_study(result["study"]).measures
    assert result["units"] == {name: measures[name].unit for name in result["measurements"]}
    assert set(result["roles"]) == set(result["paper"]) == {k for k, m in measures.items() if m.paper is not None}
    assert all(role in ROLES and role for role in result["roles"].values()), result["roles"]
