"""Hardware-aware first layer of a spiking CNN: the P²M in-pixel MAC with MDWMTJ accumulators [Kaiser et al. 2024].

Per output neuron (channel c, position p) and integration window [Kaiser et al. 2024, §2.4]::

    d_POS = Σ_{events e in window, w_e > 0} f1(|w_e|) / capacity     (clamped to [0, 1]: the wall stops at l_FL)
    d_NEG = Σ_{events e in window, w_e < 0} f1(|w_e|) / capacity
    V_pre = f2(d_POS − d_NEG)                                           (f2: the worst-case lower-bound curve)
    spike = V_pre > V_TH[c]                                             (V_TH: per-channel, learnable)

``f1`` maps a normalised weight |w| ∈ [0, 1] (binary input events, so x = |w|) to the wall
displacement of one event, normalised so that ``capacity`` full-weight events fill the track;
``f2`` maps the accumulator difference to the normalised pre-activation voltage.

Every event's f1 contribution carries its own Gaussian variation (cycle-to-cycle: write-pulse
jitter, write-current noise). For n events through the same kernel tap, the sum of n
independent draws ``f1(w)·(1 + r·ε_e)`` is exactly ``f1(w)·n + r·f1(w)·√n·ε``, and summed over the
taps the accumulator is Gaussian with mean ``conv(N, f1(w))`` and variance ``conv(N, s(w)²)``
(N = event counts in the window, s the per-event standard deviation). The layer draws that one
Gaussian per accumulator — the same distribution as per-event sampling at the cost of two
convolutions. Noise is on in training mode (and in evaluation when ``noise_at_eval``), at a
relative level (0.1 = 10 %, the paper's Table 1) or, with ``noise="fitted"``, the surrogates'
fitted σ. A relative f2 level multiplies, by default, the pre-activation *signal*
``V_pre − f2(0)`` (``f2_noise="signal"``): V_pre sits on the divider's balanced value f2(0) (about
half the read bias), and a few events move it by only a few per cent of that, so a level taken
on V_pre itself (``f2_noise="value"``, the literal reading of the paper's multiplicative noise ``y·(1 + N(0, r))``) is mostly
a large common-mode noise that no threshold can separate. ``docs/fitting.md`` shows both.

The spike is a Heaviside step with a fast-sigmoid surrogate gradient. Accumulators are reset
after every window (``reset="window"``, the MAC → read → reset cycle of the P²M testbench), or
only where the neuron spiked (``reset="spike"``: non-volatile retention otherwise).

:class:`IdealLayer` is the same layer without custom functions (linear MAC, no track limit, no noise):
the baseline of the paper's Table 1.

Needs the optional torch extra.
"""
from __future__ import annotations

from typing import Any, Literal, get_args

import torch
from torch import nn
from torch.nn import functional as F

from fitting.export import Noise, to_torch
from fitting.surrogate import Surrogate

Reset = Literal["window", "spike"]
"""When the accumulators return to q = 0: after every window, or after a spike only."""
F2Noise = Literal["signal", "value"]
"""What a relative f2 noise level multiplies: the pre-activation signal V_pre − f2(0), or V_pre itself."""


class SpikeFunction(torch.autograd.Function):
    """Heaviside step forward; fast-sigmoid derivative ``1/(1 + slope·|u|)²`` backward."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (u,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike(u: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """``u > 0`` as 0/1 with a surrogate gradient (see :class:`SpikeFunction`)."""
    return SpikeFunction.apply(u, slope)


class P2MLayer(nn.Module):
    """The P²M convolution: events → f1 accumulation (POS/NEG) → f2 lower bound → threshold → spikes.

    Parameters
    ----------
    f1, f2
        Surrogates of one input each: f1 on |w| ∈ [0, 1] (at least), f2 on d_POS − d_NEG ∈ [−1, 1].
    in_channels, out_channels, kernel_size, stride, padding
        Convolution geometry (the paper's first layer: 2 polarities → 32 channels, 3×3, stride 2).
    window
        Time bins per integration window.
    capacity
        Full-weight events that move the wall over the whole track (l_FL / Δq at |w| = 1).
    noise
        Relative level (0.1 = 10 %) or ``"fitted"`` for both f1 and f2; see the module docstring.
        ``layer.f1.noise`` / ``layer.f2.noise`` set them separately afterwards (0 for none).
    noise_at_eval
        Keep the noise in evaluation mode (hardware inference) instead of only in training.
    reset
        See :data:`Reset`.
    f2_noise
        See :data:`F2Noise` and the module docstring.
    slope
        Steepness of the surrogate gradient.

    Examples
    --------
    >>> layer = P2MLayer(f1, f2, out_channels=8, window=4, capacity=8.0, noise=0.1)   # doctest: +SKIP
    >>> spikes = layer(events)          # events: (batch, time, 2, H, W) -> (batch, windows, 8, H/2, W/2)  # doctest: +SKIP
    """

    def __init__(self, f1: Surrogate, f2: Surrogate, *, in_channels: int = 2, out_channels: int = 32,
                 kernel_size: int = 3, stride: int = 2, padding: int = 1, window: int = 1, capacity: float = 1.0,
                 noise: Noise = 0.0, noise_at_eval: bool = False, reset: Reset = "window",
                 f2_noise: F2Noise = "signal", slope: float = 5.0) -> None:
        super().__init__()
        if reset not in get_args(Reset):
            raise ValueError(f"reset must be one of {get_args(Reset)}, got {reset!r}.")
        if f2_noise not in get_args(F2Noise):
            raise ValueError(f"f2_noise must be one of {get_args(F2Noise)}, got {f2_noise!r}.")
        if not (isinstance(window, int) and window >= 1) or not capacity > 0:
            raise ValueError(f"window must be a whole number >= 1 and capacity > 0, got {window!r}, {capacity!r}.")
        for s, what in ((f1, "f1"), (f2, "f2")):
            if len(s.inputs) != 1:
                raise ValueError(f"{what} must have one input, surrogate {s.name!r} has {s.inputs}.")
        self.f1 = to_torch(f1, noise=noise)
        self.f2 = to_torch(f2, noise=noise)
        self.noise_at_eval = noise_at_eval
        self.stride, self.padding, self.window, self.capacity = stride, padding, window, float(capacity)
        self.reset, self.slope, self.f2_noise = reset, slope, f2_noise
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-1, 1))
        resting = float(f2(0.0))
        self.register_buffer("resting", torch.tensor(resting))
        self.threshold = nn.Parameter(torch.full((out_channels,), resting + 0.02))

    @property
    def sampling(self) -> bool:
        """Whether this call draws noise at all (training mode, or ``noise_at_eval``)."""
        return self.training or self.noise_at_eval

    def kernels(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-event mean and variance kernels ``(2·out_channels, in, k, k)``: POS channels, then NEG."""
        w = self.weight.clamp(-1.0, 1.0)
        magnitude = w.abs().to(self.f1.dtype_ref.dtype)
        zero = torch.zeros_like(magnitude)
        mean = self.f1.mean(magnitude)
        split = torch.cat([torch.where(w > 0, mean, zero), torch.where(w < 0, mean, zero)])
        if not (self.sampling and self.f1.noise != 0):
            return split.to(w.dtype), None
        var = self.f1.std(magnitude) ** 2
        return split.to(w.dtype), torch.cat([torch.where(w > 0, var, zero), torch.where(w < 0, var, zero)]).to(w.dtype)

    def accumulate(self, counts: torch.Tensor) -> torch.Tensor:
        """Displacement (in units of the track) added to ``(POS, NEG)`` accumulators by event ``counts``.

        ``counts``: ``(batch, in_channels, H, W)``; returns ``(batch, 2·out_channels, H', W')``.
        """
        mean_kernel, var_kernel = self.kernels()
        mean = F.conv2d(counts, mean_kernel.to(counts.dtype), stride=self.stride, padding=self.padding)
        if var_kernel is None:
            return mean / self.capacity
        var = F.conv2d(counts, var_kernel.to(counts.dtype), stride=self.stride, padding=self.padding)
        return (mean + torch.sqrt(var.clamp(min=1e-12)) * torch.randn_like(mean)) / self.capacity

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        """Spikes ``(batch, windows, out_channels, H', W')`` from events ``(batch, time, in_channels, H, W)``.

        ``time`` must be a multiple of ``window``. All windows' accumulations are one convolution.
        """
        if events.dim() != 5 or events.shape[1] % self.window:
            raise ValueError(f"events must be (batch, time, channels, H, W) with time a multiple of window="
                             f"{self.window}, got shape {tuple(events.shape)}.")
        batch, steps = events.shape[:2]
        counts = events.reshape(batch * steps // self.window, self.window, *events.shape[2:]).sum(dim=1)
        added = self.accumulate(counts)
        added = added.reshape(batch, steps // self.window, *added.shape[1:])
        channels = added.shape[2] // 2
        threshold = self.threshold.view(1, -1, 1, 1)
        d_pos = d_neg = torch.zeros_like(added[:, 0, :channels])
        out = []
        for step in added.unbind(dim=1):
            d_pos = (d_pos + step[:, :channels]).clamp(0.0, 1.0)
            d_neg = (d_neg + step[:, channels:]).clamp(0.0, 1.0)
            v_pre = self.f2.mean(d_pos - d_neg)
            if self.sampling and self.f2.noise != 0:
                if self.f2.noise == "fitted":
                    std = self.f2.std(d_pos - d_neg)
                else:
                    base = v_pre - self.resting.to(v_pre.dtype) if self.f2_noise == "signal" else v_pre
                    std = self.f2.noise * base.abs()
                v_pre = v_pre + std * torch.randn_like(v_pre)
            s = spike(v_pre - threshold.to(v_pre.dtype), self.slope).to(events.dtype)
            out.append(s)
            keep = torch.zeros_like(s) if self.reset == "window" else 1.0 - s
            d_pos, d_neg = d_pos * keep, d_neg * keep
        return torch.stack(out, dim=1)


class IdealLayer(nn.Module):
    """The first layer without custom functions: the digital spiking convolution that the P²M layer replaces.

    The baseline of the P²M paper's Table 1 ("Custom Func. No": the spiking CNN on conventional
    digital hardware). Same geometry and window cycle as :class:`P2MLayer`, with ideal functions:
    each event adds its weight to the neuron (a linear, signed MAC without a track limit, f1(w) = w
    and f2 the identity), the neuron spikes when the sum of its window exceeds its learnable
    threshold, and it resets after every window. No hardware noise.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, window, slope
        As for :class:`P2MLayer`.
    threshold
        Initial threshold of every channel (in weight × event units).

    Examples
    --------
    >>> layer = IdealLayer(out_channels=8, window=4)
    >>> layer(torch.ones(1, 8, 2, 6, 6)).shape
    torch.Size([1, 2, 8, 3, 3])
    """

    def __init__(self, *, in_channels: int = 2, out_channels: int = 32, kernel_size: int = 3, stride: int = 2,
                 padding: int = 1, window: int = 1, threshold: float = 1.0, slope: float = 5.0) -> None:
        super().__init__()
        if not (isinstance(window, int) and window >= 1):
            raise ValueError(f"window must be a whole number >= 1, got {window!r}.")
        self.stride, self.padding, self.window, self.slope = stride, padding, window, slope
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-1, 1))
        self.threshold = nn.Parameter(torch.full((out_channels,), float(threshold)))

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        """Spikes ``(batch, windows, out_channels, H', W')`` from events ``(batch, time, in_channels, H, W)``."""
        if events.dim() != 5 or events.shape[1] % self.window:
            raise ValueError(f"events must be (batch, time, channels, H, W) with time a multiple of window="
                             f"{self.window}, got shape {tuple(events.shape)}.")
        batch, steps = events.shape[:2]
        counts = events.reshape(batch * steps // self.window, self.window, *events.shape[2:]).sum(dim=1)
        v = F.conv2d(counts, self.weight.to(counts.dtype), stride=self.stride, padding=self.padding)
        s = spike(v - self.threshold.view(1, -1, 1, 1).to(v.dtype), self.slope)
        return s.reshape(batch, steps // self.window, *s.shape[1:])
