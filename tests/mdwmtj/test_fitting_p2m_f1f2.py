"""The P²M f1/f2 extraction functions on synthetic samples (the shipped ones come from ngspice Monte Carlo runs)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fitting.mdwmtj.f1f2 import (P2mF2Extraction, conformal_rank, f1_extraction, f1_report, f2_extraction,
                                 f2_mean_extraction, f2_report)
from fitting.surrogate import Surrogate
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


def divider(n: int, seed: int) -> pd.DataFrame:
    """V_PRE/V_RD of a divider of two three-MTJ read laws (TMR 200 %, series 0.4 R_P) at uniform positions."""
    q = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    r = 1 / (1 - 2 * q / 3) + 0.4
    return pd.DataFrame({"sample": np.arange(n), "d_diff": q[:, 0] - q[:, 1], "v_pre": r[:, 0] / r.sum(axis=1)})


def test_conformal_rank_is_the_largest_that_keeps_its_guarantee():
    from scipy.stats import beta

    for n in (3000, 10000, 20000):
        j, stated = conformal_rank(n, 0.001, 0.05)
        assert stated == 0.001 and beta.sf(0.001, j, n + 1 - j) <= 0.05 < beta.sf(0.001, j + 1, n - j)
    j, stated = conformal_rank(100, 0.001, 0.05)  # too few for 0.1 %: the largest score and what it guarantees
    assert j == 1 and beta.sf(stated, 1, 100) == pytest.approx(0.05)


def test_f2_lower_bound_holds_at_its_stated_coverage_on_held_out_samples():
    frame = divider(40000, 0)
    lower, check = f2_extraction(frame)
    assert (check["fit_samples"], check["calibration_samples"], check["held_out_samples"]) == (10000, 10000, 20000)
    assert check["stated_miscoverage"] == 0.001 and check["rank"] == 5
    # expected 0.05 % below (rank 5 of 10 001): more than 0.1 % of 20 000 has probability ≈ 0.2 % if it holds
    assert check["held_out_below_fraction"] <= 0.001 and check["holds"]
    # a fresh draw of the same process: the guarantee is for new samples, not only the held-out half
    fresh = divider(40000, 1)
    below = np.mean(fresh["v_pre"].to_numpy() < lower.surrogate(fresh["d_diff"].to_numpy()))
    assert below <= 0.001
    d = np.linspace(-0.95, 0.95, 39)
    qp = np.maximum(d, 0) + np.linspace(0, 1, 2001)[:, None] * (1 - np.abs(d))  # every q_POS with q_POS - d in [0, 1]
    qn = qp - d
    r_p, r_n = 1 / (1 - 2 * qp / 3) + 0.4, 1 / (1 - 2 * qn / 3) + 0.4
    gap = ((r_p / (r_p + r_n)).min(axis=0) - lower.surrogate(d)) / np.ptp(frame["v_pre"])
    # ... and it is tight against the true lower envelope: above it by < 0.5 % of the full range in places (a
    # 99.9 % bound need not lie under the last 0.1 %), below it by < 2 % (at the ends, where d_DIFF is rare)
    assert -0.005 < gap.min() and gap.max() < 0.02 and np.median(gap) < 0.001
    report = f2_report({"study": {"study": "p2m-f2", "key": None, "n": 40000, "seed": 1, "options": {}},
                        "f2": check, "f2_mean": {**f2_mean_extraction(frame)[1], "form": "tanh", "r2": 0.99,
                                                 "sigma_form": "interpolate"}})
    assert "key `none`" in report and "10000 calibration scores" in report and ": holds)" in report


def test_the_shipped_f2_bound_held_on_its_held_out_samples():
    shipped = P2mF2Extraction().shipped()
    summary = json.loads((shipped / "summary.json").read_text())
    f2 = summary["f2"]
    assert f2["stated_miscoverage"] == 0.001 and f2["held_out_samples"] >= 20000
    assert f2["held_out_below_fraction"] <= 0.001 and f2["holds"]
    bound = Surrogate.load(shipped / "f2_lower.json")
    assert bound.provenance.study["key"] == summary["study"]["key"] and bound.domain == {"d_diff": (-1.0, 1.0)}
    assert np.all(np.diff(bound(np.linspace(-1, 1, 201))) > 0)  # V_PRE rises with d_POS - d_NEG


def test_f2_refuses_held_out_bins_too_small_for_its_sigma_check():
    d = np.empty(400)
    d[0::2] = np.linspace(-1, 1, 200)     # the fitted half spans d_DIFF
    d[1::2] = 0.0                         # the held-out half sits in one bin
    v = 0.5 + 0.2 * d + np.random.default_rng(1).uniform(0, 0.05, 400)
    frame = pd.DataFrame({"sample": np.arange(400), "d_diff": d, "v_pre": v})
    with pytest.raises(ValueError, match="needs two per bin .* run p2m-f2 with more samples"):
        f2_mean_extraction(frame)
