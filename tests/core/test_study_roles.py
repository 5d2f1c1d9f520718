"""A paper value in a study is labelled: calibration (a parameter was fitted to it) or held out; result.json
records the role next to the value. No mocks."""
from __future__ import annotations

import json

import pytest

from spicegen.study import Measure, Study, StudyResult, run


class Compared(Study):
    """One fitted and one predicted number, beside one without a paper value."""

    name = "roles-demo"
    measures = {"fitted": Measure("V", "fitted to the paper", paper=1.0, role="calibration"),
                "predicted": Measure("s", "predicted", paper=2.0, role="held out"),
                "other": Measure("", "no paper value")}

    def run(self, ctx):
        return StudyResult({"fitted": 1.0, "predicted": 2.5, "other": 3.0})


def test_a_paper_value_without_a_role_is_refused_naming_the_fix():
    with pytest.raises(ValueError, match="paper value 0.25 but no role; pass role='calibration'.*role='held out'"):
        Measure("", "sigma/mu of the reads", paper=0.25)


def test_a_role_without_a_paper_value_is_refused():
    with pytest.raises(ValueError, match="role 'held out' but no paper value"):
        Measure("", "sigma/mu of the reads", role="held out")


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        Measure("", "sigma/mu of the reads", paper=0.25, role="fitted")


def test_result_records_the_role_of_every_paper_value(tmp_path):
    result = json.loads((run(Compared(), tmp_path, progress=False).folder / "result.json").read_text())
    assert result["paper"] == {"fitted": 1.0, "predicted": 2.0}
    assert result["roles"] == {"fitted": "calibration", "predicted": "held out"}
    assert result["units"] == {"fitted": "V", "predicted": "s", "other": ""}
