"""Inference weight noise of the CMO/HfOx ReRAM for PyTorch: the shipped σ_prog(G) and relaxation μ(t), σ(t).

:class:`ReramWeightNoise` maps weights onto differential conductance pairs in [``g_min``, ``g_max``]
(the crossbar's mapping, :func:`testbenches.reram.crossbar.weight_conductances`), applies the device's
non-idealities in the order a chip sees them, and maps back to weights:

1. programming noise ``G + σ_prog(G)·N(0,1)`` with the closed-loop line ``σ_prog(G) = c1·G + c0``
   (extraction ``reram-sigma-prog``, acceptance range 0.2 %; G held inside the fitted target range),
2. relaxation t seconds after programming (extraction ``reram-relaxation``, Falcone et al. §4.6.2): a
   G-independent mean shift ``μ(t) = a + b·log10(t)`` and a spread ``σ(t) = c + d·log10(t)`` added on
   top of the programmed value, so the spread jumps within the first second after programming as the
   paper's crossbar error does (the crossbar studies' reading, :func:`testbenches.reram.nonideal.at_time`),
3. optionally the power-law drift ``G·(t/t0)^(-ν)`` (ν > 0 decays; aihwkit's and NeuroSim's sign)
   for devices other than the calibrated one, and
4. optionally read noise ``G·(1 + σ_read·N(0,1))``, drawn afresh on every forward.

The fitted lines are read from the shipped extractions (:func:`shipped_noise`) into the
:class:`~testbenches.reram.nonideal.NonIdealities` of the ``cmo-hfox`` preset, the numbers the crossbar
studies use.
The forward pass returns ``w + (w_noisy - w).detach()``: noisy values, identity gradient (noise
injection for hardware-aware training). Needs the optional torch extra. :func:`aihwkit_noise_model` gives
the same noise as an aihwkit inference noise model (optional extra ``aihwkit``).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from fitting.surrogate import Surrogate
from testbenches.reram.crossbar_studies import TIMES
from testbenches.reram.nonideal import NonIdealities
from testbenches.reram.presets import preset
from testbenches.reram.program import TARGET_RANGE

if TYPE_CHECKING:
    from fitting.reram.aihwkit_noise import ReramNoiseModel

SIGMA_PROG_FOLDER = "extractions/reram_sigma_prog"
"""Package-data folder of the extraction ``reram-sigma-prog`` (``fitting.reram.stats.SigmaProg.folder``)."""
RELAXATION_FOLDER = "extractions/reram_relaxation"
"""Package-data folder of the extraction ``reram-relaxation`` (``fitting.reram.stats.Relaxation.folder``)."""
T_RANGE = (1.0, TIMES["10y"])
"""Domain of the relaxation lines (s after programming): the first read of the paper to 10 years."""
WeightScale = float | Literal["max"]
"""``w_max``: the weight mapped to ``g_max``, or ``"max"`` for the largest |w| of each call (aihwkit's mapping)."""


def shipped_noise(acceptance: str = "0.002") -> NonIdealities:
    """The ``cmo-hfox`` preset with the fitted σ_prog line at ``acceptance`` and the relaxation lines, read
    from the shipped extractions.

    Raises
    ------
    KeyError
        If ``acceptance`` is not one of the shipped acceptance ranges (the message lists them).
    """
    root = Path(str(files("fitting")))
    table = json.loads((root / SIGMA_PROG_FOLDER / "sigma_prog.json").read_text())["all_targets"]
    if acceptance not in table:
        raise KeyError(f"no shipped sigma_prog line for acceptance range {acceptance!r}; shipped: {sorted(table)}.")
    line = table[acceptance]["surrogate"]["params"]
    relax = Surrogate.load(root / RELAXATION_FOLDER / "relaxation_mean.json")
    return replace(preset("cmo-hfox"), sigma_prog_slope=line["c1"], sigma_prog_offset=line["c0"],
                   relax_mean_1s=relax.params["c0"] * 1e-6, relax_mean_per_decade=relax.params["c1"] * 1e-6,
                   relax_sigma_1s=relax.variation.params["c0"] * 1e-6,
                   relax_sigma_per_decade=relax.variation.params["c1"] * 1e-6)


def check_time(t: float | None) -> None:
    """Raise unless ``t`` (s after programming) is ``None`` or inside the relaxation lines' domain :data:`T_RANGE`.

    Raises
    ------
    ValueError
        If ``t`` lies outside [1 s, 10 y] (the message shows the domain).
    """
    if t is not None and not T_RANGE[0] <= t <= T_RANGE[1]:
        raise ValueError(f"t = {t!r} s lies outside the relaxation lines' domain [1 s, 10 y] = "
                         f"[{T_RANGE[0]:g}, {T_RANGE[1]:g}] s; pass a time inside it, or t=None for "
                         "programming noise only.")


class ReramWeightNoise(nn.Module):
    """Programming noise, relaxation, drift and read noise of the CMO/HfOx ReRAM on a weight tensor.

    Parameters
    ----------
    t
        Inference time after programming (s) in [1 s, 10 y]; ``None``: programming noise only.
    read_noise
        Relative read noise σ_read per forward (``G·(1 + σ_read·N)``); 0 = off.
    drift_nu, drift_t0
        Power-law drift ``G·(t/t0)^(-ν)`` on top of the relaxation (0 = off: the calibrated relaxation
        lines already hold the device's measured drift).
    w_max
        Weight mapped to a full ``g_max - g_min`` difference (see :data:`WeightScale`).
    noise
        The device (default: :func:`shipped_noise`); its programming-noise and relaxation lines are used.
    g_min, g_max
        Conductance window (S) of each device of the differential pair (default: the device's).
    generator
        Random generator (seeded runs); ``None`` uses torch's global one.

    Examples
    --------
    >>> import torch
    >>> noise = ReramWeightNoise(t=3600.0, generator=torch.Generator().manual_seed(0))
    >>> w = torch.full((1000,), 0.5)
    >>> round(float(noise(w).std() / 0.5), 2)  # relative weight spread 1 h after programming
    0.03
    """

    def __init__(self, t: float | None = None, *, read_noise: float = 0.0, drift_nu: float = 0.0,
                 drift_t0: float = 1.0, w_max: WeightScale = 1.0, noise: NonIdealities | None = None,
                 g_min: float | None = None, g_max: float | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.noise = noise or shipped_noise()
        g_min = self.noise.g_min if g_min is None else g_min
        g_max = self.noise.g_max if g_max is None else g_max
        check_time(t)
        if not 0 < g_min < g_max:
            raise ValueError(f"conductance window g_min = {g_min!r} S, g_max = {g_max!r} S: need 0 < g_min < g_max.")
        if read_noise < 0 or drift_nu < 0 or drift_t0 <= 0:
            raise ValueError(f"read_noise = {read_noise!r} and drift_nu = {drift_nu!r} must be >= 0 and "
                             f"drift_t0 = {drift_t0!r} s > 0.")
        if w_max != "max" and not (isinstance(w_max, (int, float)) and w_max > 0):
            raise ValueError(f"w_max = {w_max!r}: pass a positive number or 'max'.")
        self.t, self.read_noise, self.drift_nu, self.drift_t0 = t, read_noise, drift_nu, drift_t0
        self.w_max, self.g_min, self.g_max = w_max, g_min, g_max
        self.generator = generator

    def _normal(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator, dtype=like.dtype, device=like.device)

    def scale(self, w: torch.Tensor) -> float:
        """The weight mapped to a full ``g_max - g_min`` difference for ``w``.

        Raises
        ------
        ValueError
            If a fixed ``w_max`` leaves weights outside [-w_max, w_max].
        """
        if self.w_max == "max":
            return float(w.detach().abs().max()) or 1.0
        worst = float(w.detach().abs().max()) if w.numel() else 0.0
        if not worst <= self.w_max:
            raise ValueError(f"weights reach |w| = {worst:.4g}, outside [-w_max, w_max] with w_max = {self.w_max!r}; "
                             "pass w_max >= max|w| or w_max='max' to scale each tensor by its largest weight.")
        return float(self.w_max)

    def to_conductances(self, w: torch.Tensor, w_max: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Target conductances (S) ``(G+, G-)`` of the differential pair of every weight."""
        u = w.detach() / w_max
        span = self.g_max - self.g_min
        return self.g_min + span * u.clamp(min=0), self.g_min + span * (-u).clamp(min=0)

    def to_weights(self, g_plus: torch.Tensor, g_minus: torch.Tensor, w_max: float) -> torch.Tensor:
        """Weights read back from the pair conductances (S)."""
        return (g_plus - g_minus) / (self.g_max - self.g_min) * w_max

    def sigma_prog(self, g: torch.Tensor) -> torch.Tensor:
        """Programming noise σ_prog(G) (S), G held inside the closed-loop target range."""
        held = g.clamp(min=TARGET_RANGE[0], max=TARGET_RANGE[1])
        return self.noise.sigma_prog_slope * held + self.noise.sigma_prog_offset

    def program(self, g_target: torch.Tensor) -> torch.Tensor:
        """Programmed conductances (S): ``G + σ_prog(G)·N(0,1)``."""
        return g_target + self.sigma_prog(g_target) * self._normal(g_target)

    def relaxation(self, t: float) -> tuple[float, float]:
        """Mean shift μ(t) and the spread σ(t) of the fitted lines (S)."""
        decades = math.log10(t)
        return (self.noise.relax_mean_1s + self.noise.relax_mean_per_decade * decades,
                max(self.noise.relax_sigma_1s + self.noise.relax_sigma_per_decade * decades, 0.0))

    def relax(self, g_prog: torch.Tensor, t: float) -> torch.Tensor:
        """Conductances (S) ``t`` s after programming: ``G_prog + μ(t) + σ(t)·N(0,1)``, floored at 1 % of
        ``g_min`` so that no cell reads negative."""
        mu, sigma = self.relaxation(t)
        return (g_prog + mu + sigma * self._normal(g_prog)).clamp(min=0.01 * self.g_min)

    def drift(self, g: torch.Tensor, t: float, nu: float | torch.Tensor | None = None) -> torch.Tensor:
        """Power-law drift ``G·(t/t0)^(-ν)``, with ν = ``drift_nu`` unless ``nu`` gives one per cell."""
        return g * (t / self.drift_t0) ** (-(self.drift_nu if nu is None else nu))

    def read(self, g: torch.Tensor) -> torch.Tensor:
        """One read: ``G·(1 + σ_read·N(0,1))``."""
        return g * (1 + self.read_noise * self._normal(g)) if self.read_noise else g

    def after_programming(self, g_prog: torch.Tensor, t: float | None,
                          nu: float | torch.Tensor | None = None) -> torch.Tensor:
        """Conductances (S) read ``t`` s after programming to ``g_prog``: relax, drift (ν = ``nu`` or
        ``drift_nu``), read; ``t=None``: the read only."""
        check_time(t)
        g = g_prog
        if t is not None:
            g = self.relax(g, t)
            if self.drift_nu or nu is not None:
                g = self.drift(g, t, nu)
        return self.read(g)

    def conductances(self, g_target: torch.Tensor) -> torch.Tensor:
        """Conductances (S) read at the inference time from targets ``g_target``: program, relax, drift, read."""
        return self.after_programming(self.program(g_target), self.t)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Noisy weights (fresh draws every call) with an identity gradient."""
        w_max = self.scale(w)
        g_plus, g_minus = self.to_conductances(w, w_max)
        noisy = self.to_weights(self.conductances(g_plus), self.conductances(g_minus), w_max)
        return w + (noisy - w).detach()

    def extra_repr(self) -> str:
        return (f"t={self.t}, read_noise={self.read_noise}, drift_nu={self.drift_nu}, w_max={self.w_max!r}, "
                f"g=[{self.g_min:.3g}, {self.g_max:.3g}] S")


def aihwkit_noise_model(*, read_noise: float = 0.0, drift_nu: float = 0.0, drift_t0: float = 1.0,
                        noise: NonIdealities | None = None, g_min: float | None = None, g_max: float | None = None,
                        generator: torch.Generator | None = None) -> ReramNoiseModel:
    """The same noise as an aihwkit inference noise model (``TorchInferenceRPUConfig(noise_model=...)``).

    Parameters are those of :class:`ReramWeightNoise` (the time comes from aihwkit's ``t_inference``).
    Needs the optional extra ``aihwkit``; see :mod:`fitting.reram.aihwkit_noise`.

    Raises
    ------
    ImportError
        If aihwkit is not installed (the message says how to install it).
    """
    from fitting.reram.aihwkit_noise import ReramNoiseModel

    return ReramNoiseModel(ReramWeightNoise(read_noise=read_noise, drift_nu=drift_nu, drift_t0=drift_t0, noise=noise,
                                            g_min=g_min, g_max=g_max, w_max="max", generator=generator))
