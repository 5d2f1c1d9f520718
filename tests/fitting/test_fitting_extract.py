"""Statistical extraction from Monte Carlo data, its error messages, and the fit / export commands."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fitting.extract import FitError, extract, statistic_points
from fitting.surrogate import Surrogate
from spicegen.cli import main
from spicegen.montecarlo import Record, Store

LEVELS = np.linspace(0.0, 1.0, 11)


def mc_frame(samples: int = 400, seed: int = 0) -> pd.DataFrame:
    """f1-like data: y = 0.9·tanh(2x) with 5 % relative + 0.01 absolute Gaussian variation."""
    rng = np.random.default_rng(seed)
    x = np.repeat(LEVELS, samples)
    y = 0.9 * np.tanh(2 * x) * (1 + rng.normal(0, 0.05, x.size)) + rng.normal(0, 0.01, x.size)
    return pd.DataFrame({"x_norm": x, "d_norm": y, "status": "ok"})


def test_statistics_per_group():
    df = mc_frame()
    x, y = df["x_norm"].to_numpy(), df["d_norm"].to_numpy()
    mean = statistic_points(x, y, "mean")
    std = statistic_points(x, y, "std")
    q = statistic_points(x, y, "quantile", quantile=0.1)
    low = statistic_points(x, y, "lower")
    assert np.allclose(mean.x, LEVELS) and np.all(mean.count == 400)
    truth_std = np.hypot(0.05 * 0.9 * np.tanh(2 * LEVELS), 0.01)
    assert np.all(np.abs(std.value - truth_std) < 4 * std.stderr)
    assert np.all(low.value <= q.value) and np.all(q.value <= mean.value)
    assert low.stderr is None and q.stderr is not None


def test_mean_sigma_and_envelope_extraction(tmp_path):
    df = mc_frame()
    e = extract(df, "x_norm", "d_norm", "tanh", fixed={"center": 0.0}, variation="polynomial:2", name="f1")
    s = e.surrogate
    assert s.inputs == ("x_norm",) and s.stats.r2 > 0.999
    for name, truth in {"amplitude": 0.9, "rate": 2.0}.items():
        p = s.stats.params[name]
        assert p.low <= truth <= p.high, (name, p)
    grid = np.linspace(0, 1, 51)
    assert np.max(np.abs(s.sigma(grid) - np.hypot(0.045 * np.tanh(2 * grid), 0.01))) < 0.004
    lower = extract(df, "x_norm", "d_norm", "tanh", statistic="lower").surrogate
    assert lower.stats.coverage > 0.99 and np.all(lower(grid) < s(grid))
    written = e.write_report(tmp_path)
    assert [p.name for p in written] == ["f1.json", "f1_report.json", "f1_residuals.png"]
    assert written[2].read_bytes()[:4] == b"\x89PNG"
    assert Surrogate.load(written[0]).to_dict() == s.to_dict()
    report = json.loads(written[1].read_text())
    assert len(report["points"]["residual"]) == 11 and report["provenance"]["dataset_hash"]


def test_binned_envelope_of_continuous_x():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 3000)
    y = 0.5 + 0.4 * x - rng.uniform(0, 0.1, x.size)  # lower bound 0.4 + 0.4x
    lower = extract(pd.DataFrame({"d": x, "v": y}), "d", "v", "polynomial:1", statistic="lower", bins=30)
    assert abs(lower.surrogate.params["c1"] - 0.4) < 0.02 and abs(lower.surrogate.params["c0"] - 0.4) < 0.01
    with pytest.raises(ValueError, match="x never repeats.*pass bins=N"):
        extract(pd.DataFrame({"d": x, "v": y}), "d", "v", "polynomial:1", statistic="std")


def test_missing_column_names_the_available_ones():
    with pytest.raises(KeyError, match=r"column 'vpre' is not in the dataset; available columns: x_norm, d_norm, "
                                       r"status\. Name one of them"):
        extract(mc_frame(10), "x_norm", "vpre", "tanh")


def test_nan_is_reported_with_rows_and_can_be_omitted():
    df = mc_frame(20)
    df.loc[[3, 7], "d_norm"] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf values in \{'d_norm': 2\} \(rows \[3, 7\] of 220\); drop them "
                                         r"with nan_policy='omit'"):
        extract(df, "x_norm", "d_norm", "tanh")
    e = extract(df, "x_norm", "d_norm", "tanh", nan_policy="omit")
    assert e.x.size == 218


def test_failed_samples_are_dropped():
    df = mc_frame(20)
    df.loc[:9, "status"] = "failed"
    df.loc[:9, "d_norm"] = np.nan
    assert extract(df, "x_norm", "d_norm", "tanh").x.size == 210


def test_non_converging_fit_says_so():
    with pytest.raises(FitError, match=r"fit of tanh to the mean of 'd_norm' vs 'x_norm' did not converge: .* "
                                       r"after \d+ evaluations; parameters at stop: \{'amplitude'"):
        extract(mc_frame(20), "x_norm", "d_norm", "tanh", max_nfev=3)


def test_undetermined_parameters_say_so():
    with pytest.raises(FitError, match="parameters .saturating_exponential_offset. and .polynomial_c0. are fully correlated.*--fix polynomial_c0=VALUE"):
        extract(mc_frame(20), "x_norm", "d_norm", "saturating_exponential + polynomial:0")


def test_too_few_points():
    with pytest.raises(FitError, match="11 points cannot determine 12 parameters"):
        extract(mc_frame(20), "x_norm", "d_norm", "piecewise_linear:5")


# ----------------------------------------------------------------------------- CLI

def make_study(folder, frame: pd.DataFrame) -> None:
    """A study folder written through the Monte Carlo store, one record per row."""
    definition = {"testbench": "synthetic", "seed": 7, "settings": {}, "sweep": {}, "sigmas": {}, "kinds": [],
                  "pack": 1, "measurements": ["x_norm", "d_norm"], "params": {}, "fingerprint": "test"}
    with Store.create_or_open(folder, definition) as store:
        store.ask(len(frame))
        store.commit([Record(0, i, True, {}, {"x_norm": float(r.x_norm), "d_norm": float(r.d_norm)}, "", 0.0,
                             "test", 0.0) for i, r in enumerate(frame.itertuples())])


def test_cli_fit_study_folder_and_export(tmp_path, capsys):
    study = tmp_path / "study"
    make_study(study, mc_frame(60))
    out = tmp_path / "f1.json"
    assert main(["fit", str(study), "--form", "tanh", "--x", "x_norm", "--y", "d_norm", "--fix", "center=0",
                 "--variation", "polynomial:1", "--device", "mdwmtj", "-o", str(out)]) == 0
    s = Surrogate.load(out)
    assert (s.provenance.testbench, s.provenance.seed, s.provenance.device) == ("synthetic", 7, "mdwmtj")
    assert "95 % CI" in capsys.readouterr().out
    for to, name in (("numpy", "f1_np.py"), ("json", "f1_copy.json")):
        assert main(["export", str(out), "--to", to, "-o", str(tmp_path / name)]) == 0
    assert Surrogate.load(tmp_path / "f1_copy.json").to_dict() == s.to_dict()


def test_cli_failure_writes_nothing(tmp_path, capsys):
    csv = tmp_path / "data.csv"
    mc_frame(20).to_csv(csv, index=False)
    out = tmp_path / "f1.json"
    out.write_text("previous")
    assert main(["fit", str(csv), "--form", "tanh", "--x", "x_norm", "--y", "missing", "-o", str(out)]) == 2
    assert "column 'missing' is not in the dataset" in capsys.readouterr().err
    assert main(["fit", str(csv), "--form", "tanh", "--x", "x_norm", "--y", "d_norm", "--start", "rate=oops",
                 "-o", str(out)]) == 2
    assert "--start rate needs a number, got 'oops'" in capsys.readouterr().err
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "f1.json"]
    assert main(["fit", str(tmp_path / "nowhere"), "--form", "tanh", "--x", "a", "--y", "b", "-o", str(out)]) == 2
    assert "no Monte Carlo study in" in capsys.readouterr().err


def test_wide_columns_are_melted():
    df = mc_frame(50)
    wide = pd.DataFrame({f"dq{k}": df.loc[df.x_norm == x, "d_norm"].to_numpy() for k, x in enumerate(LEVELS)})
    wide["status"] = "ok"
    melt = {f"dq{k}": float(x) for k, x in enumerate(LEVELS)}
    e = extract(wide, "x", "d", "tanh", melt=melt)
    direct = extract(df, "x_norm", "d_norm", "tanh")
    assert e.surrogate.params == pytest.approx(direct.surrogate.params, rel=1e-9)
    with pytest.raises(KeyError, match=r"column\(s\) \['dq99'\] to melt are not in the dataset"):
        extract(wide, "x", "d", "tanh", melt={"dq99": 1.0})


def test_candidate_forms_pick_the_lowest_bic():
    e = extract(mc_frame(100), "x_norm", "d_norm", ["polynomial:1", "tanh", "piecewise_linear:5"],
                variation=["polynomial:0", "polynomial:2"])
    assert e.surrogate.provenance.form == "tanh"              # the truth; the line fits worse, pwl:5 cannot fit
    assert e.surrogate.variation.provenance.form == "polynomial:2"
    with pytest.raises(FitError, match="no candidate form fits the mean of 'd_norm'.*11 points cannot determine"):
        extract(mc_frame(20), "x_norm", "d_norm", ["piecewise_linear:5", "polynomial:7 * polynomial:7"])
