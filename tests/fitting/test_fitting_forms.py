"""Forms: pure functions == their sympy expressions, robust guesses, parameter recovery with honest intervals."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from fitting import lineshapes
from fitting.extract import Points, fit_points
from fitting.forms import FORMS, format_expression, format_spec, guess, make_form, parse_form, to_sympy
from fitting.sympy_model import SympyForm
from spicegen.params import Param

X = np.linspace(0.05, 2.0, 60)
TRUTH = {
    "polynomial:3": {"c0": 0.1, "c1": -1.0, "c2": 2.0, "c3": -0.5},
    "saturating_exponential": {"amplitude": 1.2, "rate": 3.0, "offset": 0.1},
    "tanh": {"amplitude": 0.7, "rate": 2.5, "center": 0.8, "offset": 0.2},
    "power_law": {"amplitude": 0.5, "exponent": 1.6, "offset": 0.05},
    "logistic": {"amplitude": 2.0, "rate": 5.0, "center": 1.1, "offset": -0.3},
    "piecewise_linear:2": {"intercept": 0.1, "slope0": 1.0, "break1": 0.63, "slope1": -0.5, "break2": 1.41,
                           "slope2": 2.0},
    "sinh": {"amplitude": 0.02, "rate": 2.5, "offset": 0.0},
}
NOISE = 0.01


def test_registry_holds_every_lineshape():
    names = {f for f in dir(lineshapes) if callable(getattr(lineshapes, f)) and not f.startswith("_")}
    assert set(FORMS) == names
    assert {spec.split(":")[0] for spec in TRUTH} == set(FORMS)


@pytest.mark.parametrize("spec", TRUTH)
def test_pure_function_equals_symbolic_expression(spec):
    model = parse_form(spec)
    params = model.make_params(**TRUTH[spec])
    symbols = [sympy.Symbol(n, real=True) for n in ["x", *model.param_names]]
    f = sympy.lambdify(symbols, to_sympy(model), "numpy")
    expected = model.eval(params, x=X)
    np.testing.assert_allclose(f(X, *(params[n].value for n in model.param_names)), expected, rtol=1e-14)
    assert format_spec(model) == spec


def _fit(spec: str, seed: int):
    model = parse_form(spec)
    clean = model.eval(model.make_params(**TRUTH[spec]), x=X)
    y = clean + np.random.default_rng(seed).normal(0.0, NOISE, X.size)
    return fit_points(model, Points(X, y, np.full(X.size, NOISE), np.ones(X.size, int), "mean"))


@pytest.mark.parametrize("spec", TRUTH)
def test_recovery_within_intervals(spec):
    """Every replicate converges from the automatic guess; the 95 % intervals cover the truth ~95 % of the time."""
    covered, total = 0, 0
    for seed in range(30):
        _, stats = _fit(spec, seed)
        for name, truth in TRUTH[spec].items():
            p = stats.params[name]
            assert abs(p.value - truth) < 5 * p.stderr, (spec, seed, name, p, truth)
            covered += p.low <= truth <= p.high
            total += 1
    assert covered / total >= 0.85, f"{spec}: 95 % intervals covered the truth in {covered}/{total} cases"


def test_compound_form_guess_and_fit():
    model = parse_form("saturating_exponential + polynomial:1")
    truth = {"saturating_exponential_amplitude": 1.0, "saturating_exponential_rate": 4.0,
             "saturating_exponential_offset": 0.0, "polynomial_c0": 0.0, "polynomial_c1": 0.3}
    y = model.eval(model.make_params(**truth), x=X) + np.random.default_rng(3).normal(0, NOISE, X.size)
    start = guess(model, y, x=X)
    start["saturating_exponential_offset"].set(value=0.0, vary=False)  # redundant with polynomial_c0
    result = model.fit(y, start, x=X)
    assert result.success
    assert abs(result.params["saturating_exponential_rate"].value - 4.0) < 5 * result.params[
        "saturating_exponential_rate"].stderr
    assert "numpy.exp" in format_expression(model)


def test_sympy_form_uses_param_bounds_and_recovers():
    v = sympy.Symbol("v", real=True)
    i0 = Param("i0", 1e-3, "A", "current scale", (0.0, 1.0))
    a = Param("a", 1.0, "1/V", "slope", (0.1, 20.0))
    model = SympyForm(i0.symbol * sympy.sinh(a.symbol * v), inputs=[v], params=[i0, a])
    start = model.make_params()
    assert (start["a"].value, start["a"].min, start["a"].max) == (1.0, 0.1, 20.0)
    volts = np.linspace(-1, 1, 41)
    y = 2e-3 * np.sinh(3.0 * volts) * (1 + np.random.default_rng(0).normal(0, 0.01, volts.size))
    result = model.fit(y, start, v=volts)
    assert abs(result.params["a"].value - 3.0) < 5 * result.params["a"].stderr
    assert format_expression(model) == "i0*numpy.sinh(a*v)"


def test_sympy_form_names_unknown_symbols():
    z = sympy.Symbol("z")
    with pytest.raises(ValueError, match=r"uses \['z'\].*neither inputs"):
        SympyForm(z * 2, inputs=["v"], params=[])


@pytest.mark.parametrize("term, message", [
    ("tan", "unknown form 'tan'; choose one of"),
    ("polynomial:9", "polynomial degree must be a whole number 0 … 7, got 9"),
    ("tanh:2", "form 'tanh' takes no option"),
])
def test_bad_form_text(term, message):
    with pytest.raises(ValueError, match=message):
        make_form(term)


def test_guess_rejects_negative_x_for_power_law():
    with pytest.raises(ValueError, match=r"power_law needs x >= 0, got min\(x\) = -1.0"):
        make_form("power_law").guess(np.ones(3), x=np.array([-1.0, 0.5, 1.0]))
