"""The single-sample fast path of surrogates and numpy modules, and the per-x interpolant for the mean and σ(x)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from fitting.extract import INTERPOLATE, Points, extract, interpolant
from fitting.surrogate import DomainError, Surrogate, _prepare, evaluate, write_numpy_module

from test_fitting_surrogate import make_surrogate


def full_path(s: Surrogate, *args: object) -> np.ndarray:
    """The checked general path (what every call took before the fast path)."""
    values = _prepare(s.name, s.inputs, s.domain, args, {}, "raise")
    shape = np.broadcast_shapes(*(v.shape for v in values.values()))
    return np.array(np.broadcast_to(evaluate(s._code, {**values, **s.params}), shape), dtype=float)


def load_module(s: Surrogate, folder) -> object:
    path = write_numpy_module(s, folder / f"{s.name}_np.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("value", [0.3, 1, np.linspace(0, 1, 9), np.linspace(0, 1, 12).reshape(3, 4)])
def test_fast_path_is_bit_identical_to_the_checked_path(value, tmp_path):
    s = make_surrogate()
    fast = s(value)
    assert isinstance(fast, np.ndarray) and fast.dtype == float and fast.shape == np.shape(value)
    assert np.array_equal(fast, full_path(s, value))
    assert np.array_equal(load_module(s, tmp_path).evaluate(value), fast)


@pytest.mark.parametrize("expression", ["x", "c0", "c0 + 0*x"])
def test_fast_path_returns_a_fresh_array_of_the_input_shape(expression):
    s = Surrogate("f", expression, ("x",), {"c0": 2.0}, {"x": (0.0, 1.0)})
    x = np.linspace(0, 1, 5)
    y = s(x)
    assert y.shape == x.shape and not np.shares_memory(y, x)
    y[:] = -1
    assert x[0] == 0.0


@pytest.mark.parametrize("bad, message", [(1.5, "= 1.5 lies outside"), (np.array([0.2, np.nan]), "holds 1 NaN"),
                                          (np.array([0.2, -0.1]), "= -0.1 lies outside"), (float("nan"), "NaN")])
def test_fast_path_keeps_the_domain_check(bad, message, tmp_path):
    s = make_surrogate()
    with pytest.raises(DomainError, match=message):
        s(bad)
    with pytest.raises(Exception, match=message):
        load_module(s, tmp_path).evaluate(bad)


def test_interpolant_passes_through_the_points_and_exports(tmp_path):
    x = np.arange(1, 10) / 9
    value = 0.03 + 0.02 * x + 0.01 * (x == 2 / 9)
    s = interpolant(Points(x, value, np.full(9, 1e-3), np.full(9, 500), "std"), "f1_sigma", "x", (x[0], x[-1]),
                    "std of d")
    assert np.allclose(s(x), value, rtol=0, atol=1e-15)
    assert float(s((x[3] + x[4]) / 2)) == pytest.approx((value[3] + value[4]) / 2)
    assert s.stats.params["s1"].low == pytest.approx(value[1] - 1.96e-3, rel=1e-3)
    assert np.array_equal(load_module(s, tmp_path).evaluate(x), s(x))


def test_sigma_falls_back_to_the_interpolant_only_when_no_smooth_form_fits():
    rng = np.random.default_rng(1)
    x = np.repeat(np.arange(1, 10) / 9, 2000)
    smooth = 0.02 + 0.03 * x
    dip = np.where(np.isclose(x, 2 / 9), 0.5, 1.0) * smooth
    for sigma, expected in ((smooth, "polynomial:1"), (dip, INTERPOLATE)):
        frame = pd.DataFrame({"x": x, "y": 0.8 * x + rng.normal(0, sigma)})
        e = extract(frame, "x", "y", "polynomial:1", variation=("polynomial:1", "polynomial:2", INTERPOLATE))
        assert e.surrogate.variation.provenance.form == expected
        assert np.all(np.abs(e.surrogate.sigma(np.arange(1, 10) / 9) / sigma.reshape(9, -1)[:, 0] - 1) < 0.1)


def test_mean_falls_back_to_the_interpolant_only_when_no_smooth_form_fits(tmp_path):
    rng = np.random.default_rng(0)
    levels = np.arange(1, 10) / 9
    x = np.repeat(levels, 2000)
    smooth = 0.1 + 0.8 * x
    step = smooth + 0.05 * (x >= 5 / 9)  # a jump no polynomial of degree ≤ 2 follows within s/√n
    for mean, interpolated in ((smooth, False), (step, True)):
        frame = pd.DataFrame({"x": x, "y": mean + rng.normal(0, 0.02, x.size)})
        e = extract(frame, "x", "y", ("polynomial:1", "polynomial:2", INTERPOLATE), variation="polynomial:0")
        # the smooth case passes the χ² test (p ≥ 0.05) with this seed
        assert (e.surrogate.provenance.form == INTERPOLATE) == interpolated == (e.result is None)
        assert np.max(np.abs(e.surrogate(levels) - mean.reshape(9, -1)[:, 0])) < 0.003
        assert len(e.write_report(tmp_path, stem=f"interpolated_{interpolated}")) == 3
    frame = pd.DataFrame({"x": x, "y": step})
    assert extract(frame, "x", "y", INTERPOLATE).surrogate.provenance.form == INTERPOLATE


def test_interpolate_needs_a_sample_set_per_x():
    x = np.linspace(0, 1, 50)
    with pytest.raises(ValueError, match="needs a sample set per x"):
        extract(pd.DataFrame({"x": x, "y": x}), "x", "y", ("polynomial:1", INTERPOLATE))


@pytest.mark.parametrize("expression, x", [
    ("c0 + (x - 0.1)*numpy.maximum(x - 0.3, 0.0) - numpy.minimum(x, 0.2) + numpy.abs(x - 0.7)", 0.45),
    ("numpy.exp(1000*x)", 1.0),            # float overflow -> numpy's inf
    ("1/(x - 0.5)", 0.5),                  # division by zero -> numpy's inf
    ("(x - 0.5)**0.5", 0.2),               # a float would give a complex number -> numpy's NaN
    ("numpy.maximum(x*1e308*10 - x*1e308*10, 0.0)", 0.3),  # inf - inf: NaN propagates as in numpy
    ("numpy.maximum(numpy.log(x - 0.5), 0.0)", 0.3),        # math domain error -> numpy's NaN
])
def test_scalar_path_gives_numpy_answers(expression, x, tmp_path):
    """One float takes plain float arithmetic; where that cannot give numpy's answer it hands back."""
    s = Surrogate("g", expression, ("x",), {"c0": 2.0}, {"x": (0.0, 1.0)})
    with np.errstate(all="ignore"):
        want = full_path(s, x)
    got = s(x)
    assert got.shape == () and got.dtype == float
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(load_module(s, tmp_path).evaluate(x), want, equal_nan=True)


def test_knots_must_belong_to_the_expression():
    """numpy.interp stands in for the expression only where the expression is that interpolant."""
    with pytest.raises(ValueError, match="not their interpolant"):
        Surrogate("g", "s0 + (s1 - s0)*x*x", ("x",), {"s0": 0.0, "s1": 1.0}, {"x": (0.0, 0.5)}, knots=(0.0, 0.5))
    line = Surrogate("g", "s0 + (s1 - s0)*x", ("x",), {"s0": 0.0, "s1": 2.0}, {"x": (0.0, 1.0)}, knots=(0.0, 1.0))
    assert float(line(0.25)) == pytest.approx(0.5)
