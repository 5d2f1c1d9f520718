"""PyTorch and ONNX renderings agree with the in-package surrogate to 1e-6 relative (optional extras)."""
from __future__ import annotations

import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest

from fitting.surrogate import Surrogate
from spicegen.cli import main

GRID = np.linspace(0.0, 1.0, 1001)


def surrogates() -> list[Surrogate]:
    dom = {"x": (0.0, 1.0)}
    sigma = Surrogate("s", "s0 + s1*x**2", ("x",), {"s0": 0.01, "s1": 0.04}, dom)
    return [
        Surrogate("f1", "a*numpy.tanh(b*(x - c)) + d", ("x",), {"a": 0.9, "b": 2.1, "c": 0.01, "d": 0.02}, dom,
                  variation=sigma),
        Surrogate("pw", "i + s0*x + (s1 - s0)*numpy.maximum(0, x - b1)", ("x",),
                  {"i": 0.1, "s0": 1.0, "s1": -0.4, "b1": 0.6}, dom),
        Surrogate("mix", "a*numpy.sinh(r*x) + c*x**p/(1 + numpy.exp(-k*(x - m))) + numpy.pi*numpy.cosh(x)", ("x",),
                  {"a": 0.02, "r": 2.5, "c": 0.7, "p": 1.6, "k": 9.0, "m": 0.4}, dom),
        Surrogate("sel", "numpy.where(numpy.logical_and(numpy.greater(x, 0.3), numpy.less_equal(x, 0.8)), "
                         "numpy.sqrt(x), numpy.abs(numpy.log(x + 1)))", ("x",), {}, dom),
    ]


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("surrogate", surrogates(), ids=lambda s: s.name)
def test_torch_agrees_and_is_differentiable(surrogate):
    torch = pytest.importorskip("torch")
    from fitting.export import to_torch

    module = to_torch(surrogate).eval()
    assert relative_error(module(torch.tensor(GRID)).numpy(), surrogate(GRID)) < 1e-6
    x = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64, requires_grad=True)
    module(x).sum().backward()
    step = 1e-6
    numeric = (surrogate(x.detach().numpy() + step) - surrogate(x.detach().numpy() - step)) / (2 * step)
    assert np.allclose(x.grad.numpy(), numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("level", [0.0, 0.1, 0.2, 0.4])
def test_torch_noise_in_training_only(level):
    torch = pytest.importorskip("torch")
    from fitting.export import to_torch

    surrogate = surrogates()[0]
    module = to_torch(surrogate, noise=level)
    x = torch.full((40000,), 0.7, dtype=torch.float64)
    torch.manual_seed(0)
    noisy = module.train()(x)
    mean = float(surrogate(0.7))
    assert abs(float(noisy.std()) / mean - level) < 0.01
    assert torch.equal(module.eval()(x), torch.full_like(x, mean))


def test_torch_fitted_noise_and_domain():
    torch = pytest.importorskip("torch")
    from fitting.export import to_torch

    surrogate = surrogates()[0]
    module = to_torch(surrogate, noise="fitted").train()
    torch.manual_seed(1)
    noisy = module(torch.full((40000,), 0.5, dtype=torch.float64))
    assert abs(float(noisy.std()) - float(surrogate.sigma(0.5))) < 1e-3
    with pytest.raises(ValueError, match=r"input 'x' = 1.5 lies outside the domain \[0.0, 1.0\]"):
        module(torch.tensor([0.2, 1.5], dtype=torch.float64))
    clipped = to_torch(surrogate, out_of_domain="clip").eval()(torch.tensor([1.5], dtype=torch.float64))
    assert float(clipped) == pytest.approx(float(surrogate(1.0)), rel=1e-12)
    with pytest.raises(ValueError, match="has no fitted variation"):
        to_torch(surrogates()[1], noise="fitted")


@pytest.mark.parametrize("surrogate", surrogates(), ids=lambda s: s.name)
def test_onnx_agrees(surrogate):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from fitting.export import to_onnx

    session = ort.InferenceSession(to_onnx(surrogate).SerializeToString())
    outputs = session.run(None, {"x": GRID})
    assert relative_error(outputs[0], surrogate(GRID)) < 1e-6
    if surrogate.variation is not None:
        assert relative_error(outputs[1], surrogate.sigma(GRID)) < 1e-6
    clipped = ort.InferenceSession(to_onnx(surrogate, clip=True).SerializeToString()).run(None, {"x": np.array([2.0])})
    assert clipped[0][0] == pytest.approx(float(surrogate(1.0)), rel=1e-12)


def test_cli_exports_torch_and_onnx_files(tmp_path):
    pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    surrogate = surrogates()[0]
    path = surrogate.save(tmp_path / "f1.json")
    assert main(["export", str(path), "--to", "torch", "-o", str(tmp_path / "f1_torch.py")]) == 0
    assert main(["export", str(path), "--to", "onnx", "-o", str(tmp_path / "f1.onnx")]) == 0
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import torch, f1_torch; "
            "m = f1_torch.Surrogate().eval(); print(repr(float(m(torch.tensor([0.3], dtype=torch.float64))[0]))); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sympy', 'lmfit', 'spicegen', 'fitting')))")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    value, heavy = run.stdout.splitlines()
    assert float(value) == pytest.approx(float(surrogate(0.3)), rel=1e-12) and heavy == "[]"
    session = ort.InferenceSession(str(tmp_path / "f1.onnx"))
    assert session.run(None, {"x": np.array([0.3])})[0][0] == pytest.approx(float(surrogate(0.3)), rel=1e-12)


GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "exports"


def _rendering(surrogate: Surrogate, fmt: str) -> str:
    """The exact text of a rendering (ONNX as its textual form: the protobuf bytes are not stable text)."""
    from fitting.export import format_torch_module
    from fitting.surrogate import format_numpy_module

    if fmt == "numpy":
        return format_numpy_module(surrogate)
    if fmt == "torch":
        return format_torch_module(surrogate)
    pytest.importorskip("onnx")
    from onnx import printer

    from fitting.export import to_onnx

    return printer.to_text(to_onnx(surrogate)) + "\n"


@pytest.mark.parametrize("fmt,suffix", [("numpy", ".py"), ("torch", ".torch.py"), ("onnx", ".onnx.txt")])
@pytest.mark.parametrize("surrogate", surrogates(), ids=lambda s: s.name)
def test_renderings_match_golden_files(surrogate, fmt, suffix, update_golden):
    """Golden files for every rendering (``--update-golden`` rewrites them; review the diff)."""
    path = GOLDEN / f"{surrogate.name}{suffix}"
    text = _rendering(surrogate, fmt)
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; create it with pytest --update-golden and review it"
    assert text == path.read_text(), f"{fmt} rendering of {surrogate.name!r} changed; see {path}"


@pytest.mark.parametrize("fmt", ["json", "numpy", "torch", "onnx"])
def test_exported_files_are_readable_by_all(tmp_path, fmt):
    if fmt in ("torch", "onnx"):
        pytest.importorskip(fmt)
    from fitting.export import write_export

    path = write_export(surrogates()[0], fmt, tmp_path / f"f1.{fmt}")
    assert path.stat().st_mode & 0o777 == 0o644
