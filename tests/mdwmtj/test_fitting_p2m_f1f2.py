"""The P²M f1/f2 extraction functions on synthetic samples (the shipped ones come from ngspice Monte Carlo runs)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fitting.mdwmtj.f1f2 import f1_extraction, f1_report, f2_extraction, f2_mean_extraction, f2_report
from testbenches.mdwmtj.mac import F1_X


def test_f1_fits_the_even_half_and_checks_the_odd_half():
    rng = np.random.default_rng(0)
    x = np.asarray(F1_X)
    nominal = 30e-9 + 45e-9 * (1 - np.exp(-2 * x)) / (1 - np.exp(-2))
    frame = pd.DataFrame(nominal * (1 + rng.normal(0, 0.03, (1000, x.size))), columns=[f"dq{k}" for k in range(9)])
    frame.insert(0, "sample", np.arange(1000))
    frame.attrs.update(testbench="p2m-f1", seed=3, source="synthetic")
    e, check = f1_extraction(frame, nominal, "cmos")
    assert check["held_out_samples"] == 500 and check["mean_within_target"] and check["sigma_within_target"]
    f1 = e.surrogate
    assert f1.name == "f1_cmos" and f1.domain == {"x": (1 / 9, 1.0)}
    assert f1.provenance.testbench == "p2m-f1" and f1.provenance.seed == 3
    assert float(f1(1.0)) == pytest.approx(1.0, abs=0.02) and float(f1(1 / 9)) == pytest.approx(0.0, abs=0.02)
    row = {"form": f1.provenance.form, "sigma_form": f1.variation.provenance.form, "r2": f1.stats.r2, **check}
    # an interpolant has no R² (NaN in memory, null in summary.json): the report names it instead of "nan"
    report = f1_report({"study": {"study": "p2m-f1", "key": "k", "n": 1000, "seed": 3, "options": {}},
                        "f1": {"cmos": row, "mdwmtj": {**row, "form": "interpolate", "r2": np.nan},
                               "cmosx": {**row, "form": "interpolate", "r2": None}}})
    assert report.startswith("# P²M f1 extraction") and f"| cmos | `{row['form']}` | `{row['sigma_form']}` | 0." in report
    assert f"| mdwmtj | `interpolate` | `{row['sigma_form']}` | interpolant |" in report
    assert f"| cmosx | `interpolate` | `{row['sigma_form']}` | interpolant |" in report and "nan" not in report


def test_f2_lower_bound_covers_and_the_mean_follows_the_curve():
    rng = np.random.default_rng(0)
    q = rng.uniform(0, 1, (2000, 2))
    v = 0.5 + 0.2 * np.tanh(1.5 * (q[:, 0] - q[:, 1])) + rng.uniform(0, 0.05, 2000)
    frame = pd.DataFrame({"sample": np.arange(2000), "d_diff": q[:, 0] - q[:, 1], "v_pre": v})
    lower, check = f2_extraction(frame)
    assert check["held_out_coverage"] > 0.9 and check["largest_shortfall_fs"] < 0.03
    mean, mean_check = f2_mean_extraction(frame)
    assert mean_check["mean_within_target"]  # the tanh curve, within 2 % of full scale
    assert float(mean.surrogate.sigma(0.0)) == pytest.approx(0.05 / np.sqrt(12), rel=0.2)  # uniform, width 0.05
    report = f2_report({"study": {"study": "p2m-f2", "key": None, "n": 2000, "seed": 1, "options": {}},
                        "f2": {"form": lower.surrogate.provenance.form, "r2": lower.surrogate.stats.r2, **check},
                        "f2_mean": {"form": mean.surrogate.provenance.form, "r2": mean.surrogate.stats.r2,
                                    "sigma_form": mean.surrogate.variation.provenance.form, **mean_check}})
    assert "key `none`" in report and "f2 lower bound" in report


def test_f2_refuses_held_out_bins_too_small_for_its_sigma_check():
    d = np.empty(400)
    d[0::2] = np.linspace(-1, 1, 200)     # the fitted half spans d_DIFF
    d[1::2] = 0.0                         # the held-out half sits in one bin
    v = 0.5 + 0.2 * d + np.random.default_rng(1).uniform(0, 0.05, 400)
    frame = pd.DataFrame({"sample": np.arange(400), "d_diff": d, "v_pre": v})
    with pytest.raises(ValueError, match="needs two per bin .* run p2m-f2 with more samples"):
        f2_mean_extraction(frame)
