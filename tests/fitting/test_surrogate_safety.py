"""Surrogates do bounded work on hostile files and never extrapolate beyond their data unannounced.

A surrogate JSON can come from anywhere: its expression is checked for size, nesting and constant
powers when it is loaded, before anything is evaluated, and each refusal is a one-line message.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from fitting.expression import MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, ExpressionError, parse
from fitting.extract import DOMAIN_MARGIN, extract
from fitting.surrogate import Surrogate
from tests.cli import spicegen


def _surrogate_file(tmp_path, expression: str, params: dict[str, float] | None = None):
    good = Surrogate("v", "a*vprog", ("vprog",), {"a": 1.0}, {"vprog": (0.0, 1.0)}).to_dict()
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({**good, "expression": expression, "params": params or {"a": 1.0}}))
    return path


@pytest.mark.parametrize("expression, message", [
    ("vprog + 9**9**9", f"beyond the {MAX_EXPONENT} accepted"),
    ("vprog**(10**400)", f"beyond the {MAX_EXPONENT} accepted"),
    ("((9**1024)**1024)**1024*vprog", "beyond the range of a float"),
    ("vprog**1e300", f"beyond the {MAX_EXPONENT} accepted"),
])
def test_a_constant_power_that_would_run_for_hours_is_refused_at_load(tmp_path, expression, message):
    path = _surrogate_file(tmp_path, expression)
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=message):
        Surrogate.load(path)
    assert time.perf_counter() - start < 1.0


def test_a_200000_term_chain_is_refused_by_its_size_before_parsing(tmp_path):
    path = _surrogate_file(tmp_path, " + ".join(["a*vprog"] * 200_000))
    with pytest.raises(ExpressionError, match=f"more than the {MAX_LENGTH} accepted"):
        Surrogate.load(path)


def test_nesting_beyond_the_limit_is_a_message_not_a_recursion_error():
    for terms in (MAX_DEPTH + 1, 3000, MAX_LENGTH // 2 - 1):  # under the length limit, over the depth limit
        with pytest.raises(ExpressionError, match=f"nests more than {MAX_DEPTH} operations deep"):
            parse("+".join(["x"] * terms), {"x"})
    nested = "(" * 5000 + "x" + ")" * 5000
    with pytest.raises(ExpressionError):
        parse(nested, {"x"})


def test_expressions_at_the_limits_still_load_and_evaluate():
    chain = "+".join(["x"] * (MAX_DEPTH - 5))
    s = Surrogate("s", chain, ("x",), {}, {"x": (0.0, 2.0)})
    assert float(s(1.0)) == MAX_DEPTH - 5
    s = Surrogate("p", f"a*x**{MAX_EXPONENT} + 2**-1022", ("x",), {"a": 1.0}, {"x": (0.0, 1.0)})
    assert float(s(1.0)) == pytest.approx(1.0)


def test_a_malformed_or_deeply_nested_json_is_a_message(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nests too deeply"):
        Surrogate.load(deep)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"format": "spicegen-surrogate/1", "name": "x"}))
    with pytest.raises(ValueError, match="malformed spicegen surrogate"):
        Surrogate.load(missing)


def test_cli_export_of_a_hostile_surrogate_is_one_line_and_writes_nothing(tmp_path):
    path = _surrogate_file(tmp_path, "vprog + 9**9**9")
    out = spicegen("export", str(path), "--to", "numpy", "-o", str(tmp_path / "m.py"), cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("spicegen export: expression 'vprog + 9**9**9'") and out.stderr.count("\n") == 1
    assert not (tmp_path / "m.py").exists()


def _line(n: int = 40, lo: float = 1.32, hi: float = 1.46) -> pd.DataFrame:
    x = np.linspace(lo, hi, n)
    return pd.DataFrame({"x": x, "y": 2.0 * x + 1.0 + 1e-3 * np.sin(40 * x)})


@pytest.mark.parametrize("domain", [(0.0, 100.0), (1.35, 1.46), (1.32, 1.45), (5.0, 6.0)])
def test_a_domain_that_does_not_fit_the_data_is_refused_showing_the_data_range(domain):
    with pytest.raises(ValueError, match=r"'x' spans \[1\.32, 1\.46\]"):
        extract(_line(), "x", "y", "polynomial:1", domain=domain)


def test_a_domain_within_the_margin_is_kept():
    slack = DOMAIN_MARGIN * 0.14
    e = extract(_line(), "x", "y", "polynomial:1", domain=(1.32 - slack / 2, 1.46 + slack / 2))
    assert e.surrogate.domain["x"] == pytest.approx((1.32 - slack / 2, 1.46 + slack / 2))
    assert extract(_line(), "x", "y", "polynomial:1").surrogate.domain["x"] == pytest.approx((1.32, 1.46))


def test_cli_fit_refuses_a_domain_far_beyond_the_data(tmp_path):
    _line().to_csv(tmp_path / "d.csv", index=False)
    out = spicegen("fit", "d.csv", "--form", "polynomial:1", "--x", "x", "--y", "y", "--domain", "0:100",
                   "-o", "s.json", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "'x' spans [1.32, 1.46]" in out.stderr and not (tmp_path / "s.json").exists()
