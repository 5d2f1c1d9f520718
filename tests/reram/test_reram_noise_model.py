"""The PyTorch weight-noise module reproduces the shipped σ_prog(G) and relaxation μ(t), σ(t) on 10⁵ weights."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fitting.reram.noise_model import (  # noqa: E402
    RELAXATION_FOLDER,
    SIGMA_PROG_FOLDER,
    ReramWeightNoise,
    aihwkit_noise_model,
    shipped_noise,
)
from fitting.reram.stats import Relaxation, SigmaProg  # noqa: E402
from fitting.surrogate import Surrogate  # noqa: E402
from testbenches.reram.crossbar_studies import TIMES  # noqa: E402
from testbenches.reram.presets import preset  # noqa: E402

N = 100_000
RTOL = 0.03  # the must-show; sampling errors at N = 1e5 are ~0.2 % (std) and ~0.3 % (mean shift)


def _module(**kwargs: object) -> ReramWeightNoise:
    return ReramWeightNoise(generator=torch.Generator().manual_seed(7), **kwargs).double()


def test_reads_the_shipped_extractions():
    """The module's lines are the shipped surrogates, read from the extraction folders (not copied numbers)."""
    assert (SIGMA_PROG_FOLDER, RELAXATION_FOLDER) == (SigmaProg.folder, Relaxation.folder)
    lines = shipped_noise()
    relax = Surrogate.load(Relaxation().shipped() / "relaxation_mean.json")
    assert (lines.relax_mean_per_decade, lines.relax_sigma_per_decade) == pytest.approx(
        (relax.params["c1"] * 1e-6, relax.variation.params["c1"] * 1e-6), rel=1e-15)
    assert _same(lines, preset("cmo-hfox"))  # the crossbar studies use the same numbers


def _same(a, b) -> bool:
    """The crossbar studies' preset carries the shipped lines (to rounding of their copy)."""
    for name in ("sigma_prog_slope", "sigma_prog_offset", "relax_mean_1s", "relax_mean_per_decade",
                 "relax_sigma_1s", "relax_sigma_per_decade", "g_max", "on_off"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-12, abs=1e-18), name
    return True


@pytest.mark.parametrize("g_target", [10e-6, 50e-6, 89e-6])
def test_programming_noise_matches_sigma_prog(g_target):
    noise = _module()
    g = torch.full((N,), g_target, dtype=torch.float64)
    drawn = noise.program(g)
    fitted = shipped_noise().sigma_prog_slope * g_target + shipped_noise().sigma_prog_offset
    assert float(drawn.std()) == pytest.approx(fitted, rel=RTOL)
    assert abs(float(drawn.mean()) - g_target) < 5 * fitted / math.sqrt(N)


@pytest.mark.parametrize("t", [1.0, 10.0, 3600.0, 86400.0, TIMES["10y"]])
def test_relaxation_matches_mu_and_sigma(t):
    """Mean shift μ(t) and spread: G_prog's σ_prog(G) and σ(t) in quadrature."""
    lines = shipped_noise()
    noise = _module()
    g_target = 50e-6
    g_prog = noise.program(torch.full((N,), g_target, dtype=torch.float64))
    g_t = noise.relax(g_prog, t)
    decades = math.log10(t)
    mu = lines.relax_mean_1s + lines.relax_mean_per_decade * decades
    sigma_t = lines.relax_sigma_1s + lines.relax_sigma_per_decade * decades
    sigma_prog = lines.sigma_prog_slope * g_target + lines.sigma_prog_offset
    shift = float((g_t - g_prog).mean())
    assert abs(shift - mu) <= RTOL * abs(mu) + 5 * sigma_t / math.sqrt(N)  # μ(1 s) = 0
    assert float((g_t - g_prog).std()) == pytest.approx(sigma_t, rel=RTOL)
    assert float(g_t.std()) == pytest.approx(math.hypot(sigma_prog, sigma_t), rel=RTOL)


def test_weight_statistics_on_1e5_weights():
    """On 10⁵ weights: the pair's spreads add in quadrature and the G-independent mean shift cancels."""
    lines = shipped_noise()
    t = 3600.0
    w = torch.from_numpy(np.random.default_rng(3).uniform(-1, 1, N))
    noise = _module(t=t)
    w_noisy = noise(w)
    g_plus, g_minus = noise.to_conductances(w, 1.0)
    sigma_t = lines.relax_sigma_1s + lines.relax_sigma_per_decade * math.log10(t)
    var = noise.sigma_prog(g_plus) ** 2 + noise.sigma_prog(g_minus) ** 2 + 2 * sigma_t ** 2
    z = (w_noisy - w) * (lines.g_max - lines.g_min) / var.sqrt()
    assert float(z.std()) == pytest.approx(1.0, rel=RTOL)
    assert abs(float(z.mean())) < 5 / math.sqrt(N)


def test_read_noise_drift_and_gradient():
    w = torch.full((N,), 0.5, dtype=torch.float64, requires_grad=True)
    noise = _module(t=100.0, read_noise=0.05, drift_nu=0.01)
    g = torch.full((N,), 50e-6, dtype=torch.float64)
    read = noise.read(g)
    assert float(read.std() / 50e-6) == pytest.approx(0.05, rel=RTOL)
    assert float(noise.drift(g, 100.0)[0]) == pytest.approx(50e-6 * 100.0 ** -0.01)
    noise(w).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight-through: noise injection for training


def test_seeded_draws_repeat():
    w = torch.linspace(-1, 1, 101, dtype=torch.float64)
    assert torch.equal(_module(t=10.0)(w), _module(t=10.0)(w))


@pytest.mark.parametrize("kwargs, match", [
    ({"t": 0.5}, r"outside the relaxation lines' domain"),
    ({"g_min": 9e-5, "g_max": 9e-6}, "0 < g_min < g_max"),
    ({"read_noise": -0.1}, "must be >= 0"),
    ({"w_max": 0.0}, "positive number or 'max'"),
])
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReramWeightNoise(**kwargs)


def test_weights_outside_the_scale_raise_and_max_scales():
    w = torch.tensor([0.2, -1.5])
    with pytest.raises(ValueError, match=r"\|w\| = 1.5.*w_max='max'"):
        ReramWeightNoise()(w)
    noise = ReramWeightNoise(w_max="max", generator=torch.Generator().manual_seed(0))
    assert noise.scale(w) == 1.5
    assert torch.allclose(noise(w), w, atol=0.01)


def test_unknown_acceptance_range_lists_the_shipped_ones():
    with pytest.raises(KeyError, match=r"0\.5.*'0\.002', '0\.02'"):
        shipped_noise("0.5")


def test_aihwkit_adapter_without_aihwkit_says_how_to_install(monkeypatch):
    """Without aihwkit (blocked here, installed or not) the adapter's error gives the install line."""
    for name in ["aihwkit", *(name for name in sys.modules if name.startswith("aihwkit."))]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "fitting.reram.aihwkit_noise", raising=False)
    with pytest.raises(ImportError, match=r"pip install --no-deps aihwkit==1\.1\.0"):
        aihwkit_noise_model()
