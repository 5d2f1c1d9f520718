"""Model DSL validation: bad input is refused with a message that names the problem."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from spicegen import Device, Equations, Param, State, Variation
from spicegen.device import build_model, guard
from spicegen.naming import check_name, check_value


def make(ports=("p", "n"), params=(Param("g", 1e-3, "S", bounds=(0, 1)),), states=(), body=None, name=""):
    attrs = {"ports": ports, "params": params, "states": states, "name": name,
             "equations": body or (lambda self, s: Equations({("p", "n"): s.g * s.V("p", "n")}))}
    return build_model(type("Dut", (Device,), attrs))


def test_valid_device_builds_with_defaults():
    model = make()
    assert model.name == "dut"
    assert model.defaults == {"g": 1e-3}


def test_undeclared_symbol_is_named():
    with pytest.raises(ValueError, match=r"undeclared symbol\(s\) \['r'\]"):
        make(body=lambda self, s: Equations({("p", "n"): s.V("p", "n") / sp.Symbol("r")}))


def test_unknown_parameter_attribute_is_named():
    with pytest.raises(AttributeError, match="no parameter or state named 'gg'"):
        make(body=lambda self, s: Equations({("p", "n"): s.gg}))


def test_default_outside_bounds_shows_value_and_bounds():
    with pytest.raises(ValueError, match=r"default 2.0 of parameter 'g' lies outside its bounds \[0.0, 1.0\]"):
        Param("g", 2.0, bounds=(0, 1))


@pytest.mark.parametrize("bad", ["1abc", "a-b", "a b", "", "x\n.control", "shell"])
def test_non_identifier_names_are_refused(bad):
    with pytest.raises(ValueError, match="not a valid identifier|reserved word"):
        check_name(bad, "parameter")


@pytest.mark.parametrize("word,language", [("module", "Verilog-A"), ("ln", "Verilog-A"), ("temper", "ngspice"),
                                           ("control", "ngspice"), ("alterparam", "ngspice")])
def test_reserved_words_are_refused(word, language):
    with pytest.raises(ValueError, match=f"reserved word in {language}"):
        Param(word, 1.0)


def test_python_keyword_is_refused():
    with pytest.raises(ValueError, match="Python keyword"):
        Param("lambda", 1.0)


@pytest.mark.parametrize("bad", ["1\n.control", "shell rm -rf /", float("nan"), float("inf"), True, None])
def test_numbers_for_netlists_must_be_finite_numbers(bad):
    with pytest.raises(ValueError, match="must be"):
        check_value(bad, "value")


def test_unit_and_desc_cannot_break_verilog_a_attributes():
    with pytest.raises(ValueError, match="must not contain quotes"):
        Param("g", 1.0, desc='x"*) parameter')


def test_duplicate_names_across_ports_params_states():
    with pytest.raises(ValueError, match="used twice"):
        make(params=(Param("P", 1.0),))


def test_unknown_node_in_branch():
    with pytest.raises(ValueError, match="unknown node 'q'"):
        make(body=lambda self, s: Equations({("p", "q"): s.g}))


def test_rates_must_match_states():
    with pytest.raises(ValueError, match=r"missing \['w'\]"):
        make(states=(State("w", 0.5, (0, 1)),))


def test_state_initial_outside_bounds():
    with pytest.raises(ValueError, match="initial value 2.0 of state 'w' lies outside"):
        State("w", 2.0, (0, 1))


def test_state_adds_freeze_and_initial_params():
    model = make(states=(State("w", 0.5, (0, 1)),),
                 body=lambda self, s: Equations({("p", "n"): s.g * s.w * s.V("p", "n")}, {"w": s.V("p", "n")}))
    assert [p.name for p in model.params] == ["g", "freeze", "w0"]
    assert model.param("w0").default == 0.5


def test_checked_params_refuses_out_of_bounds_override():
    with pytest.raises(ValueError, match=r"parameter 'g' = 5.0 lies outside its bounds"):
        make().checked_params({"g": 5.0})


def test_guard_limits_exp_and_floors_fractional_power_and_log():
    x = sp.Symbol("x", real=True)
    f = sp.lambdify(x, guard(sp.exp(x) + sp.Abs(x - 1) ** 1.5 + sp.log(x)), "numpy")
    assert np.isclose(f(2.0), math.exp(2.0) + 1.0 + math.log(2.0))
    assert np.isfinite(f(500.0))  # exp continues linearly
    assert np.isfinite(f(-3.0))  # log argument floored
    assert guard(sp.Symbol("y", positive=True) ** 0.5) == sp.Symbol("y", positive=True) ** 0.5


def test_guard_of_nested_exps_has_one_branch_per_exp():
    """An exp of a sum of 8 exps: each limited once, no branch per combination (sympy folds a
    Piecewise inside a condition into an ITE over all its branches: 2^8 of them, nested 8 deep)."""
    xs = sp.symbols("x0:8", real=True)
    guarded = guard(sp.exp(sum(sp.exp(x) for x in xs) / 100))
    assert not guarded.atoms(sp.ITE)
    assert len(guarded.atoms(sp.Piecewise)) == len(xs) + 1
    f = sp.lambdify(xs, guarded, "numpy")
    inside = [0.5 * k for k in range(8)]
    assert f(*inside) == pytest.approx(math.exp(sum(math.exp(x) for x in inside) / 100), rel=1e-14)
    past = [81.0] + inside[1:]  # the inner exp continues linearly, and so the outer one
    inner = math.exp(80.0) * 2.0 + sum(math.exp(x) for x in inside[1:])
    with np.errstate(over="ignore"):  # numpy evaluates the branch not taken too
        assert f(*past) == pytest.approx(math.exp(80.0) * (inner / 100 - 79.0), rel=1e-12)


@pytest.mark.parametrize("dist", ["normal", "lognormal", "uniform", "truncnormal"])
def test_variation_sigma_is_the_standard_deviation(dist):
    z = np.random.default_rng(1).standard_normal(200_000)
    values = Variation("d2d", 0.1, dist).apply(2.0, z)
    assert abs(values.mean() - 2.0) < 0.003
    expected = 0.2 if dist != "truncnormal" else 0.2 * 0.98658  # std of N(0,1) truncated at ±3
    assert abs(values.std() - expected) / expected < 0.01


def test_zero_inflated_lognormal_keeps_the_mean_and_is_monotone_in_z():
    """p_zero: that fraction of draws is exactly zero, the rest lognormal with relative spread sigma."""
    law = Variation("c2c", 0.8, "lognormal", p_zero=0.25)
    z = np.random.default_rng(2).standard_normal(400_000)
    values = law.apply(2.0, z)
    assert abs(values.mean() - 2.0) < 0.01
    assert abs(np.mean(values == 0.0) - 0.25) < 0.003
    moved = values[values > 0]
    assert abs(moved.std() / moved.mean() - 0.8) < 0.01
    ordered = law.apply(2.0, np.sort(z[:1000]))
    assert np.all(np.diff(ordered) >= 0)  # a Gaussian copula: correlated groups stay correlated


@pytest.mark.parametrize("kwargs,match", [({"p_zero": 1.0}, r"p_zero must lie in \[0, 1\)"),
                                          ({"p_zero": -0.1}, "p_zero must lie"),
                                          ({"p_zero": 0.2, "distribution": "normal"}, "relative lognormal")])
def test_zero_inflation_is_refused_where_it_means_nothing(kwargs, match):
    args = {"distribution": "lognormal", **kwargs}
    with pytest.raises(ValueError, match=match):
        Variation("c2c", 0.5, **args)


def test_variation_rejects_unknown_kind_and_distribution():
    with pytest.raises(ValueError, match="variation kind 'wafer' is not one of"):
        Variation("wafer", 0.1)
    with pytest.raises(ValueError, match="distribution 'cauchy' is not one of"):
        Variation("d2d", 0.1, "cauchy")


def test_a_python_if_on_a_symbol_points_to_piecewise():
    def branchy(self, s):
        v = s.V("p", "n")
        if v > 0:  # the first-day mistake: a Python branch on a symbolic voltage
            return Equations({("p", "n"): s.g * v})
        return Equations({("p", "n"): 0.1 * s.g * v})

    with pytest.raises(TypeError, match=r"(?s)decided with Python.*sympy.Piecewise.*sympy.Piecewise\(\(s.g_on \* v, "
                                        r"v > s.v_th\), \(s.g_off \* v, True\)\)") as caught:
        make(body=branchy)
    assert "cannot determine truth value of Relational" in str(caught.value)
    with pytest.raises(TypeError, match=r"sympy.Min / sympy.Max"):
        make(body=lambda self, s: Equations({("p", "n"): max(s.V("p", "n"), 0) * s.g}))


@pytest.mark.parametrize("param", ["w0", "W0"])
def test_a_parameter_named_like_a_generated_initial_value_is_explained(param):
    with pytest.raises(ValueError, match=rf"the name 'w0' is used twice, as parameter '{param}' and as the "
                                         r"generated parameter 'w0' that sets the initial value of state 'w'.*"
                                         r"rename the declared name or the state"):
        make(params=(Param("g", 1e-3, bounds=(0, 1)), Param(param, 1.0)), states=(State("w", 0.5, (0, 1)),),
             body=lambda self, s: Equations({("p", "n"): s.g * s.V("p", "n")}, {"w": s.V("p", "n")}))


@pytest.mark.parametrize("name", ["vt", "temperature"])
def test_the_thermal_voltage_and_temperature_names_are_reserved(name):
    with pytest.raises(ValueError, match=rf"the name '{name}' is reserved by the equations namespace"):
        make(params=(Param("g", 1e-3, bounds=(0, 1)), Param(name, 1.0)))
