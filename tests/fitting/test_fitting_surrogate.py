"""Surrogate: domain, JSON round trip, the standalone numpy module, import hygiene, checked expressions."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fitting.expression import ExpressionError, parse
from fitting.surrogate import DomainError, Surrogate, format_numpy_module

HEAVY = ("sympy", "lmfit", "matplotlib", "scipy", "pandas", "spicegen", "torch", "onnx")


def make_surrogate(with_sigma: bool = True) -> Surrogate:
    sigma = Surrogate("f1_sigma", "s0 + s1*x", ("x",), {"s0": 0.01, "s1": 0.05}, {"x": (0.0, 1.0)})
    return Surrogate("f1", "a*numpy.tanh(b*(x - c)) + d + e*numpy.maximum(0, x - 0.5)", ("x",),
                     {"a": 0.9, "b": 2.1, "c": 0.01, "d": 0.02, "e": -0.1}, {"x": (0.0, 1.0)},
                     output="d_norm", variation=sigma if with_sigma else None)


def test_domain_raises_and_clips_only_when_asked():
    s = make_surrogate()
    with pytest.raises(DomainError, match=r"input 'x' = 1.5 lies outside the domain \[0.0, 1.0\] .*2 of 3 values"
                                          r".*out_of_domain='clip'"):
        s([0.5, 1.5, 1.2])
    assert float(s(1.5, out_of_domain="clip")) == float(s(1.0))
    with pytest.raises(DomainError, match="holds 1 NaN"):
        s([0.2, np.nan])
    with pytest.raises(ValueError, match="out_of_domain must be 'raise' or 'clip', got 'wrap'"):
        s(0.5, out_of_domain="wrap")
    with pytest.raises(TypeError, match="missing input"):
        s()


def test_json_round_trip_is_exact(tmp_path):
    s = make_surrogate()
    path = s.save(tmp_path / "f1.json")
    back = Surrogate.load(path)
    assert back.to_dict() == s.to_dict()
    grid = np.linspace(0, 1, 101)
    assert np.array_equal(back(grid), s(grid)) and np.array_equal(back.sigma(grid), s.sigma(grid))
    json.loads(path.read_text())  # standard JSON


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"format": "something/2"}')
    with pytest.raises(ValueError, match="not a spicegen surrogate: expected format 'spicegen-surrogate/1', "
                                         "found 'something/2'"):
        Surrogate.load(tmp_path / "x.json")


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "unsupported construct"),
    ("numpy.load('x')", "unsupported construct"),
    ("a*y", "unknown name 'y'"),
    ("numpy.where(x, a)", "numpy.where takes 3 argument"),
    ("x[0]", "unsupported construct"),
])
def test_expression_language_rejects_everything_else(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse(text, {"a", "x"})


def test_bad_surrogate_definitions():
    with pytest.raises(ValueError, match="parameter 'a' of surrogate 'f' is nan"):
        Surrogate("f", "a*x", ("x",), {"a": float("nan")}, {"x": (0, 1)})
    with pytest.raises(ValueError, match="domain of surrogate 'f' must name exactly its inputs"):
        Surrogate("f", "a*x", ("x",), {"a": 1.0}, {"v": (0, 1)})
    with pytest.raises(ValueError, match="'numpy' must be a Python identifier"):
        Surrogate("f", "numpy*x", ("x",), {"numpy": 1.0}, {"x": (0, 1)})


def test_numpy_module_in_a_fresh_process_imports_only_numpy(tmp_path):
    s = make_surrogate()
    (tmp_path / "f1_surrogate.py").write_text(format_numpy_module(s))
    grid = np.linspace(0, 1, 257)
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import numpy, f1_surrogate as m; "
        "g = numpy.linspace(0, 1, 257); out = {'y': m.evaluate(g).tolist(), 's': m.sigma(x=g).tolist()}\n"
        "try:\n    m.evaluate(2.0)\nexcept m.DomainError as e:\n    out['error'] = str(e)\n"
        f"out['heavy'] = sorted(k for k in sys.modules if k.split('.')[0] in {HEAVY!r})\n"
        "print(json.dumps(out))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    assert out["heavy"] == []
    assert np.array_equal(np.array(out["y"]), s(grid))  # bit-identical: the same expression text
    assert np.array_equal(np.array(out["s"]), s.sigma(grid))
    assert "lies outside the domain [0.0, 1.0]" in out["error"]


def test_import_hygiene_of_the_surrogate_module():
    code = (f"import sys, fitting.surrogate, fitting.expression, fitting.lineshapes; "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]; assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_sample_noise_levels():
    s = make_surrogate()
    x = np.full(20000, 0.7)
    rng = np.random.default_rng(0)
    relative = s.sample(x, rng=rng, noise=0.2)
    assert abs(np.std(relative) / np.mean(relative) - 0.2) < 0.01
    fitted = s.sample(x, rng=rng)
    assert abs(np.std(fitted) - float(s.sigma(0.7))) < 0.002
    with pytest.raises(ValueError, match="noise must be 'fitted' or a relative level >= 0"):
        s.sample(x, rng=rng, noise=-0.1)
    with pytest.raises(ValueError, match="has no fitted variation"):
        make_surrogate(with_sigma=False).sample(x, rng=rng)
