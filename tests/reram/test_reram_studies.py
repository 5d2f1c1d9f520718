"""CMO/HfOx ReRAM relaxation model (the study and the extractions: test_reram_stats.py; forming, reads and
the d2d spread: test_reram_cell_studies.py). No mocks."""
from __future__ import annotations

import numpy as np
import pytest

from fitting.reram import stats as reram_stats
from fitting.surrogate import DomainError
from spicegen.params import Param


def test_relaxation_fit_recovers_anchors():
    model = reram_stats.fit_relaxation().surrogate
    assert float(model(3600.0)) == pytest.approx(-0.68, abs=1e-6)
    assert float(model(1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(model.sigma(600.0)) == pytest.approx(0.6, abs=1e-6)
    assert float(model.sigma(1.0)) == pytest.approx(1e-3 * (1.1 * 50 + 0.8), abs=1e-6)
    assert model.stats.params["c1"].stderr > 0  # anchor uncertainties propagated


def test_relax_is_seeded_and_independent_of_g():
    g = np.repeat([10.0, 50.0, 90.0], 20000)
    a = reram_stats.relax(g, 3600.0, rng=np.random.default_rng(3))
    b = reram_stats.relax(g, 3600.0, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    shift = (a - g).reshape(3, -1)
    np.testing.assert_allclose(shift.mean(axis=1), -0.68, atol=0.02)
    np.testing.assert_allclose(shift.std(axis=1), shift.std(axis=1)[1], rtol=0.05)


def test_bad_input_is_refused_with_the_value_named():
    with pytest.raises(ValueError, match="lower <= upper"):
        Param("t_ox", 4e-9, "m", "inverted", (1e-7, 1e-10))
    with pytest.raises(DomainError, match="outside the domain"):
        reram_stats.relax(np.array([50.0]), 0.1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="t must lie"):
        reram_stats.fit_relaxation({"mean": (reram_stats.Anchor(-1.0, 0.0, 0.1, "bad"),), "std": ()})


def test_relaxation_replay_reproduces_the_anchors(tmp_path):
    """Fig. 4 replayed with the fitted model: mean error after 1 h and sigma after 10 min (the anchors)."""
    summary = reram_stats.relaxation_study(tmp_path, rng=np.random.default_rng(3), devices=32)
    assert summary["fig4d_mean_error_1h_uS"] == pytest.approx(-0.68, abs=0.1)
    assert summary["fig4b_sigma_10min_uS"] == pytest.approx(0.6, rel=0.1)
    assert (tmp_path / "relaxation_study.png").stat().st_size > 0
