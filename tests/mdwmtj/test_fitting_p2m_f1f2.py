"""The shipped P²M f1/f2 extraction on small synthetic study folders (the real ones come from ngspice)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fitting.mdwmtj.f1f2 import run
from fitting.surrogate import Surrogate
from spicegen.devices.mdwmtj import L_FL
from spicegen.montecarlo import Record, Store
from testbenches.mdwmtj.mac import F1_X


def write_study(folder, testbench: str, rows: list[dict[str, float]]) -> None:
    definition = {"testbench": testbench, "seed": 3, "settings": {}, "sweep": {}, "sigmas": {}, "kinds": [],
                  "pack": 1, "measurements": sorted(rows[0]), "params": {}, "fingerprint": "test"}
    with Store.create_or_open(folder, definition) as store:
        store.ask(len(rows))
        store.commit([Record(0, i, True, {}, r, "", 0.0, "test", 0.0) for i, r in enumerate(rows)])


def test_extracts_f1_and_f2_with_held_out_checks(tmp_path):
    rng = np.random.default_rng(0)
    x = np.asarray(F1_X)
    nominal = 30e-9 + 45e-9 * (1 - np.exp(-2 * x)) / (1 - np.exp(-2))
    f1_rows = [{f"dq{k}": float(v) for k, v in enumerate(nominal * (1 + rng.normal(0, 0.03, x.size)))}
               for _ in range(1000)]
    write_study(tmp_path / "f1_cmos", "p2m-f1", f1_rows)
    (tmp_path / "summary.json").write_text(json.dumps({"f1": {"cmos": {"nominal_m": nominal.tolist()}}}))
    q = rng.uniform(0, L_FL, (2000, 2))
    v = 0.5 + 0.2 * np.tanh(1.5 * (q[:, 0] - q[:, 1]) / L_FL) + rng.uniform(0, 0.05, 2000)
    write_study(tmp_path / "f2", "p2m-f2", [{"d_pos": a, "d_neg": b, "v_pre": c} for (a, b), c in zip(q, v)])
    out = tmp_path / "out"
    summary = run(tmp_path, out)
    assert summary["missing"] == ["f1_mdwmtj", "f1_cmosx"]
    cmos = summary["f1"]["cmos"]
    assert cmos["held_out_samples"] == 500 and cmos["mean_within_target"] and cmos["sigma_within_target"]
    f1 = Surrogate.load(out / "f1_cmos.json")
    assert f1.domain == {"x": (1 / 9, 1.0)} and f1.provenance.testbench == "p2m-f1" and f1.provenance.seed == 3
    assert summary["f2"]["held_out_coverage"] > 0.9 and summary["f2"]["largest_shortfall_fs"] < 0.03
    assert (out / "report.md").read_text().startswith("# P²M f1 / f2 extractions")
    assert (out / "f2_lower_residuals.png").is_file()
    assert summary["f2_mean"]["mean_within_target"]  # the tanh curve, within 2 % of full scale
    f2 = Surrogate.load(out / "f2_mean.json")
    assert float(f2.sigma(0.0)) == pytest.approx(0.05 / np.sqrt(12), rel=0.2)  # uniform noise of width 0.05
