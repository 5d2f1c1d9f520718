"""A paper value in a study is labelled: calibration (a parameter was fitted to it) or held out; result.json
records the role next to the value. No mocks."""
from __future__ import annotations

import json

import pytest

from spicegen.study import Measure, Study, StudyResult, paper_comparison, run


class Compared(Study):
    """One fitted and one predicted number, beside one without a paper value."""

    name = "roles-demo"
    measures = {"fitted": Measure("V", "fitted to the paper", paper=1.0, role="calibration"),
                "predicted": Measure("s", "predicted", paper=2.0, role="held out", goal=0.2),
                "other": Measure("", "no paper value"),
                "bounded": Measure("", "no paper value, a pass range", spec=(0.0, 1.0))}

    def run(self, ctx):
        return StudyResult({"fitted": 1.0, "predicted": 2.5, "other": 3.0, "bounded": 1.5})


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
    assert result["units"] == {"fitted": "V", "predicted": "s", "other": "", "bounded": ""}
    assert result["goals"] == {"predicted": [1.6, 2.4], "bounded": [0.0, 1.0]}


def test_json_judges_every_measurement_with_a_pass_range(tmp_path):
    from spicegen.cli import measurements_json

    rows = measurements_json(run(Compared(), tmp_path, progress=False))["measurements"]
    assert rows["bounded"] == {"value": 1.5, "unit": "", "goal": [0.0, 1.0], "met": False}
    assert rows["predicted"]["met"] is False and rows["predicted"]["paper"] == 2.0
    assert rows["other"] == {"value": 3.0, "unit": ""}


def test_the_printed_table_gives_each_paper_value_and_pass_range_with_its_verdict(tmp_path):
    from spicegen.cli import format_measurements

    lines = format_measurements(run(Compared(), tmp_path, progress=False)).splitlines()
    assert lines[0].startswith("roles-demo (")
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert rows["fitted"].endswith("(paper 1, +0.0 %, calibration)")
    assert rows["predicted"].endswith("(paper 2, +25.0 %, held out; pass range 1.6 … 2.4: MISSED)")
    assert rows["bounded"].endswith("(pass range 0 … 1: MISSED)") and rows["other"].split() == ["other", "3"]
    assert lines[-1] == "0 of 2 measurements with a pass range lie inside it"


def test_the_printed_tally_counts_only_measured_values(tmp_path):
    """A pass range whose value was not measured (NaN) says so and counts neither as inside nor in the total."""
    from spicegen.cli import format_measurements

    class PartlyMeasured(Compared):
        name = "roles-demo-nan"

        def run(self, ctx):
            return StudyResult({"fitted": 1.0, "predicted": 2.3, "other": 3.0, "bounded": float("nan")})

    lines = format_measurements(run(PartlyMeasured(), tmp_path, progress=False)).splitlines()
    assert any(line.startswith("  bounded") and line.endswith("pass range 0 … 1: not measured)") for line in lines)
    assert lines[-1] == "1 of 1 measurements with a pass range lie inside it"


def test_a_goal_is_the_pass_range_of_a_paper_value_and_each_row_says_whether_it_is_met():
    held = Measure("s", "predicted", paper=2.0, role="held out", goal=0.2)
    assert held.spec == (1.6, 2.4)
    row = paper_comparison("predicted", held, 2.5)
    assert row["deviation"] == pytest.approx(0.25) and row["goal"] == [1.6, 2.4] and row["met"] is False
    assert paper_comparison("predicted", held, 2.3)["met"] is True
    assert paper_comparison("predicted", held, float("nan"))["met"] is None  # not measured
    bound = Measure("s", "longer than", paper=2.0, role="held out", spec=(2.0, None))
    assert paper_comparison("b", bound, 3.1)["met"] is True and paper_comparison("b", bound, 1.9)["met"] is False
    assert paper_comparison("f", Compared.measures["fitted"], 1.3)["met"] is None  # no goal stated


@pytest.mark.parametrize("kwargs", [{"goal": 0.1}, {"goal": -0.1, "paper": 1.0, "role": "held out"},
                                    {"goal": 0.1, "paper": 1.0, "role": "held out", "spec": (0.0, 2.0)}])
def test_a_goal_needs_a_paper_value_a_positive_tolerance_and_no_second_range(kwargs):
    with pytest.raises(ValueError, match="must be a relative tolerance > 0"):
        Measure("", "x", **kwargs)
