"""The aihwkit adapter draws the same noise as the PyTorch module, on the same 10⁵ weights, and runs in
aihwkit's own inference loop (program, drift, forward)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("aihwkit", reason="aihwkit 1.1.0 is the optional extra 'aihwkit' "
                                      "(scripts/setup.sh installs it: pip install --no-deps aihwkit==1.1.0)")

from aihwkit.inference.noise.base import BaseNoiseModel  # noqa: E402
from aihwkit.nn import AnalogLinear  # noqa: E402
from aihwkit.simulator.configs import TorchInferenceRPUConfig  # noqa: E402

from fitting.reram.noise_model import ReramWeightNoise, aihwkit_noise_model, shipped_noise  # noqa: E402
from testbenches.reram.crossbar_studies import TIMES  # noqa: E402

N = 100_000
RTOL = 0.03  # the must-show; two independent σ estimates on 2·10⁴ weights per level differ by ~0.7 % (std)
LEVELS = (-1.0, -0.5, 0.0, 0.5, 1.0)
TIMES_S = (1.0, 3600.0, 86400.0, TIMES["10y"])


def _weights() -> torch.Tensor:
    """10⁵ weights, 2·10⁴ at each of the levels, largest |w| = 1 (so both scale them alike)."""
    return torch.tensor(LEVELS, dtype=torch.float64).repeat_interleave(N // len(LEVELS))


def _pair(seed: int = 3, **kwargs: object) -> tuple[BaseNoiseModel, ReramWeightNoise]:
    """The adapter and the module with the same settings, on independent seeded generators."""
    model = aihwkit_noise_model(generator=torch.Generator().manual_seed(seed), **kwargs)
    module = ReramWeightNoise(w_max="max", generator=torch.Generator().manual_seed(seed + 1), **kwargs)
    return model, module


def _level_stats(w: torch.Tensor, noisy: torch.Tensor) -> list[tuple[float, float]]:
    """(mean error, σ) of the weights at every level."""
    return [(float((noisy[w == level] - level).mean()), float(noisy[w == level].std())) for level in LEVELS]


def _assert_same_stats(ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> None:
    for (mean_a, sigma_a), (mean_b, sigma_b), level in zip(ours, theirs, LEVELS):
        assert sigma_b == pytest.approx(sigma_a, rel=RTOL), level
        assert abs(mean_b - mean_a) < RTOL * sigma_a, level  # 3 % of σ: 4 standard errors at 2·10⁴ weights


def test_is_an_aihwkit_noise_model_on_the_device_window():
    model, module = _pair()
    assert isinstance(model, BaseNoiseModel)
    assert (model.g_converter.g_min, model.g_converter.g_max) == pytest.approx((module.g_min * 1e6, module.g_max * 1e6))


def test_target_conductances_equal():
    """aihwkit's converter and the module map the weights onto the same pair conductances (µS vs S)."""
    model, module = _pair()
    w = torch.linspace(-0.8, 0.8, 101, dtype=torch.float64)
    (g_plus, g_minus), _ = model.g_converter.convert_to_conductances(w)
    ours = module.to_conductances(w, module.scale(w))
    assert torch.allclose(g_plus * 1e-6, ours[0], rtol=1e-12)
    assert torch.allclose(g_minus * 1e-6, ours[1], rtol=1e-12)


@pytest.mark.parametrize("g_target", [10.0, 50.0, 89.0])
def test_programmed_conductances_match(g_target):
    """Mean and σ of 10⁵ programmed conductances per target level (µS), both equal to σ_prog(G)."""
    model, module = _pair()
    g = torch.full((N,), g_target, dtype=torch.float64)
    theirs = model.apply_programming_noise_to_conductance(g)
    ours = module.program(g * 1e-6) * 1e6
    fitted = (shipped_noise().sigma_prog_slope * g_target * 1e-6 + shipped_noise().sigma_prog_offset) * 1e6
    assert float(theirs.std()) == pytest.approx(float(ours.std()), rel=RTOL)
    assert float(theirs.std()) == pytest.approx(fitted, rel=RTOL)
    assert abs(float(theirs.mean() - ours.mean())) < 5 * fitted * math.sqrt(2 / N)


@pytest.mark.parametrize("t", TIMES_S)
def test_relaxed_conductances_match(t):
    """Mean shift μ(t) and spread σ(t) after relaxation, from the same programmed conductances."""
    model, module = _pair()
    g_prog = module.program(torch.full((N,), 50e-6, dtype=torch.float64))
    theirs = model.apply_drift_noise_to_conductance(g_prog * 1e6, model.generate_drift_coefficients(g_prog), t)
    ours = module.after_programming(g_prog, t) * 1e6
    mu, sigma = (value * 1e6 for value in module.relaxation(t))
    for drawn in (theirs, ours):
        assert float((drawn - g_prog * 1e6).mean()) == pytest.approx(mu, abs=5 * sigma / math.sqrt(N))
        assert float((drawn - g_prog * 1e6).std()) == pytest.approx(sigma, rel=RTOL)


@pytest.mark.parametrize("t", [0.0, *TIMES_S])
def test_weights_match_on_1e5_weights(t):
    """aihwkit's program-then-drift path and the module's forward give the same weight statistics per level."""
    model, module = _pair()
    w = _weights()
    programmed, nu = model.apply_programming_noise(w)
    theirs = model.apply_drift_noise(programmed, nu, t)
    ours = ReramWeightNoise(t=t or None, w_max="max", generator=torch.Generator().manual_seed(11))(w)
    _assert_same_stats(_level_stats(w, ours), _level_stats(w, theirs))


def test_deterministic_part_equal():
    """With the random lines set to zero, the adapter and the module give the same weights (mean shift
    and drift are the deterministic part)."""
    quiet = replace(shipped_noise(), sigma_prog_slope=0.0, sigma_prog_offset=0.0, relax_sigma_1s=0.0,
                    relax_sigma_per_decade=0.0)
    model, _ = _pair(noise=quiet, drift_nu=0.05)
    w = torch.linspace(-1.0, 1.0, 201, dtype=torch.float64)
    programmed, nu = model.apply_programming_noise(w)
    theirs = model.apply_drift_noise(programmed, nu, 86400.0)
    ours = ReramWeightNoise(t=86400.0, w_max="max", noise=quiet, drift_nu=0.05)(w)
    assert torch.allclose(theirs, ours, rtol=1e-12, atol=1e-15)
    assert not torch.allclose(ours, w)  # the drift did act


def test_read_noise_matches():
    model, module = _pair(read_noise=0.05)
    w = _weights()
    programmed, nu = model.apply_programming_noise(w)
    theirs = model.apply_drift_noise(programmed, nu, 3600.0)
    module.t = 3600.0
    _assert_same_stats(_level_stats(w, module(w)), _level_stats(w, theirs))


def test_time_outside_the_lines_raises():
    model, _ = _pair()
    g = torch.full((4,), 50.0)
    with pytest.raises(ValueError, match=r"outside the relaxation lines' domain"):
        model.apply_drift_noise_to_conductance(g, model.generate_drift_coefficients(g), 0.5)


def test_inference_loop_in_aihwkit():
    """``AnalogLinear`` on aihwkit's PyTorch inference tile: program, drift to 1 day, forward. The tile's
    weights carry the module's weight spread, and its forward multiplies by them."""
    model, _ = _pair()
    config = TorchInferenceRPUConfig(noise_model=model)
    config.forward.is_perfect = True  # no tile noise or ADC: the weights alone carry the device's noise
    config.drift_compensation = None
    w = _weights().float().reshape(500, 200)
    layer = AnalogLinear(200, 500, bias=False, rpu_config=config)
    layer.set_weights(w)
    layer.eval()
    layer.program_analog_weights()
    layer.drift_analog_weights(86400.0)
    drifted, _ = layer.get_weights()
    ours = ReramWeightNoise(t=86400.0, w_max="max", generator=torch.Generator().manual_seed(5))(w)
    _assert_same_stats(_level_stats(w.flatten(), ours.flatten()), _level_stats(w.flatten(), drifted.flatten()))
    x = torch.randn(8, 200)
    assert torch.allclose(layer(x), x @ drifted.T, rtol=1e-5, atol=1e-5)
