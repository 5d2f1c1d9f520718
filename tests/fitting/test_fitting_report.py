"""Fit reports that tell the truth: lmfit's report of the kept form, every candidate's χ²/AIC/BIC and why
one was kept; an interpolant reports its leave-one-out error, never "R² 1.00000"."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fitting.extract import INTERPOLATE, Points, extract, interpolant, leave_one_out_rmse
from fitting.surrogate import Surrogate
from spicegen.cli import main

LEVELS = np.arange(1, 10) / 9


def frame(step: float, seed: int = 0) -> pd.DataFrame:
    """300 samples at each of nine x: a tanh, with a step of ``step`` at x = 0.5, and 2 % noise."""
    rng = np.random.default_rng(seed)
    x = np.repeat(LEVELS, 300)
    return pd.DataFrame({"x": x, "y": 0.9 * np.tanh(2 * x) + step * (x > 0.5) + rng.normal(0, 0.02, x.size)})


def test_smooth_fit_prints_lmfit_report_and_every_candidate():
    e = extract(frame(0.0), "x", "y", ["polynomial:1", "tanh", "polynomial:3"])
    text = e.format_text()
    assert "[[Model]]" in text and "[[Fit Statistics]]" in text and "[[Variables]]" in text
    rows = {c.form: c.row() for c in e.selection.candidates}
    assert e.selection.kept == "tanh" == min(rows, key=lambda f: rows[f]["bic"])
    assert rows["tanh"]["chisqr"] == pytest.approx(e.result.chisqr) and rows["tanh"]["aic"] == pytest.approx(e.result.aic)
    table = text.splitlines()
    kept_row = next(line for line in table if line.startswith("* tanh"))
    assert f"{e.result.bic:.5g}" in kept_row and f"{e.result.redchi:.5g}" in kept_row
    assert f"kept tanh: lowest BIC ({e.result.bic:.4g}) of the 3 smooth forms that fitted" in text
    assert f"R² {e.surrogate.stats.r2:.6f}" in text and e.surrogate.stats.r2 > 0.999


def test_interpolant_reports_leave_one_out_error_never_r2_one(tmp_path):
    e = extract(frame(0.08), "x", "y", ["tanh", INTERPOLATE])
    assert e.selection.kept == INTERPOLATE and e.result is None
    assert e.selection.reason.startswith("the smooth form of lowest BIC, tanh, fails the χ² test (p = ")
    stats = e.surrogate.stats
    loo = leave_one_out_rmse(e.points.x, e.points.value)
    assert math.isnan(stats.r2) and stats.loo_rmse == pytest.approx(loo) and loo > 0.01  # the step shows
    text = e.format_text()
    assert f"interpolant through 9 points (no R²: it passes through every point); leave-one-out RMSE {loo:.4g}" in text
    assert "R² 1" not in text and "1.00000" not in text
    report = json.loads(e.write_report(tmp_path)[1].read_text())
    assert report["stats"]["r2"] is None and report["stats"]["loo_rmse"] == pytest.approx(loo)
    assert report["quality"].startswith("interpolant through 9 points")
    assert [c["form"] for c in report["candidates"]] == ["tanh", INTERPOLATE]
    assert report["kept_because"] == e.selection.reason
    assert Surrogate.load(tmp_path / "y_mean.json").stats.describe() == stats.describe()


def test_leave_one_out_of_a_line_is_zero_and_of_a_parabola_is_its_curvature():
    x = np.linspace(0, 1, 5)
    assert leave_one_out_rmse(x, 3 * x + 1) == pytest.approx(0.0, abs=1e-15)
    assert leave_one_out_rmse(x, x ** 2) == pytest.approx(0.25 ** 2)  # (h²) at every inner knot, h = 0.25
    assert leave_one_out_rmse(x[:2], x[:2]) is None


def test_old_interpolant_json_with_r2_one_reads_as_an_interpolant():
    x = np.linspace(0, 1, 4)
    s = interpolant(Points(x, x ** 2, None, np.full(4, 10), "mean"), "old", "x", (0.0, 1.0), "y")
    data = s.to_dict()
    data["stats"]["r2"] = 1.0          # what files written before this change hold
    del data["stats"]["loo_rmse"]
    old = Surrogate.from_dict(data)
    assert math.isnan(old.stats.r2) and old.stats.loo_rmse is None
    assert old.stats.describe() == ("interpolant through 4 points (no R²: it passes through every point); "
                                    "no leave-one-out error (fewer than three points)")
    assert float(old(0.5)) == pytest.approx(float(s(0.5)))


def test_cli_fit_prints_the_report_table_and_reason(tmp_path, capsys):
    csv = tmp_path / "data.csv"
    frame(0.0).to_csv(csv, index=False)
    out = tmp_path / "fit.json"
    assert main(["fit", str(csv), "--form", "polynomial:1,tanh", "--x", "x", "--y", "y", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[[Fit Statistics]]" in printed and "χ²" in printed and "BIC" in printed
    assert "* tanh" in printed and "  polynomial:1" in printed
    assert "kept tanh: lowest BIC" in printed and "95 % CI" in printed
