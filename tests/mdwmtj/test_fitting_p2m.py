"""The P²M first layer: accumulation matches per-event sums, noise statistics, gradients, resets."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fitting.mdwmtj.layer import IdealLayer, P2MLayer, spike  # noqa: E402
from fitting.surrogate import Surrogate  # noqa: E402

F1 = Surrogate("f1", "0.2 + 0.8*x", ("x",), {}, {"x": (0.0, 1.0)},
               variation=Surrogate("s", "0.05 + 0*x", ("x",), {}, {"x": (0.0, 1.0)}))
F2 = Surrogate("f2", "0.5 + 0.25*d", ("d",), {}, {"d": (-1.0, 1.0)},
               variation=Surrogate("s", "0.01 + 0*d", ("d",), {}, {"d": (-1.0, 1.0)}))


def layer(**kwargs) -> P2MLayer:
    torch.manual_seed(0)
    options = dict(in_channels=1, out_channels=1, kernel_size=1, stride=1, padding=0, window=2, capacity=10.0)
    return P2MLayer(F1, F2, **{**options, **kwargs}).double()


def test_accumulation_equals_the_per_event_sum():
    net = layer().eval()
    with torch.no_grad():
        net.weight.fill_(0.5)
        net.threshold.fill_(0.5 + 0.25 * (3 * 0.6 / 10) - 1e-9)   # 3 events of f1(0.5) = 0.6 → just above
    events = torch.zeros(1, 4, 1, 1, 1, dtype=torch.float64)
    events[0, :2] = torch.tensor([2.0, 1.0]).view(2, 1, 1, 1)      # window 0: 3 events; window 1: none
    out = net(events)
    assert out.shape == (1, 2, 1, 1, 1)
    assert out.flatten().tolist() == [1.0, 0.0]
    d = net.accumulate(torch.full((1, 1, 1, 1), 3.0, dtype=torch.float64)).detach()
    assert d.flatten().tolist() == pytest.approx([3 * 0.6 / 10, 0.0], rel=1e-12)    # POS, NEG


@pytest.mark.parametrize("noise", [0.1, 0.4, "fitted"])
def test_accumulator_noise_matches_independent_events(noise):
    net = layer(noise=noise).train()
    with torch.no_grad():
        net.weight.fill_(1.0)
    counts = torch.full((20000, 1, 1, 1), 5.0, dtype=torch.float64)
    torch.manual_seed(1)
    d = net.accumulate(counts).detach()[:, 0] * 10.0
    per_event_std = 0.05 if noise == "fitted" else noise * 1.0
    assert float(d.mean()) == pytest.approx(5.0, rel=0.01)
    assert float(d.std()) == pytest.approx(np.sqrt(5) * per_event_std, rel=0.03)   # Σ of 5 independent draws


@pytest.mark.parametrize("mode, std", [("signal", 0.1 * 0.125), ("value", 0.1 * 0.625)])
def test_f2_noise_reference(mode, std):
    """V_pre = f2(0.5) = 0.625 = f2(0) + 0.125; a threshold one σ above it spikes 15.9 % of the time."""
    net = layer(f2_noise=mode, noise=0.1, capacity=1.0, window=1).train()
    net.f1.noise = 0.0
    with torch.no_grad():
        net.weight.fill_(0.5)                               # f1(0.5) = 0.6 per event
        net.threshold.fill_(0.625 + std)
    events = torch.full((40000, 1, 1, 1, 1), 0.5 / 0.6, dtype=torch.float64)   # d_POS = 0.5
    torch.manual_seed(2)
    assert float(net(events).detach().mean()) == pytest.approx(0.1587, abs=0.008)


def test_no_noise_in_eval_unless_asked():
    net = layer(noise=0.4).eval()
    with torch.no_grad():
        net.weight.fill_(1.0)
    counts = torch.full((100, 1, 1, 1), 5.0, dtype=torch.float64)
    assert float(net.accumulate(counts).detach()[:, 0].std()) == 0.0
    net.noise_at_eval = True
    assert float(net.accumulate(counts).detach()[:, 0].std()) > 0.0


def test_gradients_reach_weights_and_thresholds():
    net = layer(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1, noise=0.1).train()
    events = (torch.rand(3, 4, 2, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    net(events).sum().backward()
    assert net.weight.grad.abs().sum() > 0 and net.threshold.grad.abs().sum() > 0


def test_spike_reset_keeps_the_state_without_a_spike():
    net = layer(reset="spike").eval()
    with torch.no_grad():
        net.weight.fill_(1.0)
        net.threshold.fill_(0.5 + 0.25 * 0.15)          # needs 1.5 full events: crossed in window 1 only
    events = torch.zeros(1, 4, 1, 1, 1, dtype=torch.float64)
    events[0, 0] = 1.0
    events[0, 2] = 1.0
    assert net(events).flatten().tolist() == [0.0, 1.0]
    assert layer(reset="window").eval()(events).flatten().tolist() == [0.0, 0.0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="reset must be one of"):
        layer(reset="never")
    with pytest.raises(ValueError, match=r"time a multiple of window=2, got shape \(1, 3, 1, 1, 1\)"):
        layer()(torch.zeros(1, 3, 1, 1, 1, dtype=torch.float64))


def test_ideal_layer_is_the_linear_signed_mac_per_window():
    """The baseline without custom functions: each event adds its weight, no track limit, reset per window."""
    torch.manual_seed(0)
    net = IdealLayer(in_channels=2, out_channels=3, window=2).double()
    events = torch.poisson(torch.full((4, 6, 2, 7, 7), 0.8, dtype=torch.float64))
    counts = events.reshape(4, 3, 2, 2, 7, 7).sum(dim=2)                    # per window
    v = torch.stack([torch.nn.functional.conv2d(counts[:, k], net.weight, stride=2, padding=1) for k in range(3)], 1)
    assert v.abs().max() > 3.0                                               # beyond a full P²M track
    assert torch.equal(net(events), (v > net.threshold.view(1, 1, -1, 1, 1)).double())
    net(events).sum().backward()
    assert net.weight.grad.abs().sum() > 0 and net.threshold.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"time a multiple of window=2, got shape \(1, 3, 2, 7, 7\)"):
        net(events[:1, :3])


def test_surrogate_gradient():
    u = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    s = spike(u, 5.0)
    s.sum().backward()
    assert s.tolist() == [0.0, 0.0, 1.0]
    assert u.grad.tolist() == pytest.approx([1 / 36, 1.0, 1 / 36])
