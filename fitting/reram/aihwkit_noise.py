"""The CMO/HfOx ReRAM weight noise as an aihwkit inference noise model (optional extra ``aihwkit``).

:class:`ReramNoiseModel` is an ``aihwkit.inference.noise.base.BaseNoiseModel`` whose three hooks call the
methods of a :class:`~fitting.reram.noise_model.ReramWeightNoise`, so aihwkit's tiles and the PyTorch
module draw from the same fitted lines:

* ``apply_programming_noise_to_conductance``: ``G + σ_prog(G)·N(0,1)`` (:meth:`ReramWeightNoise.program`),
* ``generate_drift_coefficients``: the drift exponent ν of every cell (``drift_nu``; 0 = off),
* ``apply_drift_noise_to_conductance``: relaxation μ(t), σ(t), drift ``G·(t/t0)^(-ν)`` and one read
  (:meth:`ReramWeightNoise.after_programming`); ``t_inference = 0`` (aihwkit's end of programming) adds
  the read only.

aihwkit's conductances are in µS, the module's in S; the default converter is aihwkit's
``SinglePairConductanceConverter`` on the device's window [``g_min``, ``g_max``], the mapping of
``ReramWeightNoise(w_max="max")``. Importing this module without aihwkit raises an ImportError that
says how to install it.
"""
from __future__ import annotations

import torch

try:
    from aihwkit.inference.converter.base import BaseConductanceConverter
    from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
    from aihwkit.inference.noise.base import BaseNoiseModel
except ImportError as error:
    raise ImportError(f"aihwkit cannot be imported ({error}). It is the optional extra 'aihwkit' of spicegen: install "
                      "the binary wheel without its build-time requirements, `pip install --no-deps aihwkit==1.1.0` "
                      "(CPython 3.11, x86-64 Linux; scripts/setup.sh does it), or `pip install 'spicegen[aihwkit]'`."
                      ) from error

from fitting.reram.noise_model import ReramWeightNoise

MICRO = 1e-6
"""aihwkit's conductance unit (µS) in S."""


class ReramNoiseModel(BaseNoiseModel):
    """aihwkit inference noise model drawing from a :class:`ReramWeightNoise`'s fitted lines.

    Parameters
    ----------
    device
        The module whose programming noise, relaxation, drift and read noise are applied (its ``t`` and
        ``w_max`` are not used: aihwkit passes the time and scales the weights itself).
    g_converter
        aihwkit's weight-to-conductance converter (µS); default: a single pair on the device's window.
    """

    def __init__(self, device: ReramWeightNoise, g_converter: BaseConductanceConverter | None = None) -> None:
        super().__init__(g_converter or SinglePairConductanceConverter(g_max=device.g_max / MICRO,
                                                                       g_min=device.g_min / MICRO))
        self.device = device

    @torch.no_grad()
    def apply_programming_noise_to_conductance(self, g_target: torch.Tensor) -> torch.Tensor:
        """Programmed conductances (µS): ``G + σ_prog(G)·N(0,1)``."""
        return self.device.program(g_target * MICRO) / MICRO

    @torch.no_grad()
    def generate_drift_coefficients(self, g_target: torch.Tensor) -> torch.Tensor:
        """Drift exponent ν of every cell (the device's ``drift_nu``)."""
        return torch.full_like(g_target, self.device.drift_nu)

    @torch.no_grad()
    def apply_drift_noise_to_conductance(self, g_prog: torch.Tensor, drift_noise_param: torch.Tensor | None,
                                         t_inference: float) -> torch.Tensor:
        """Conductances (µS) read ``t_inference`` s after programming: relaxation, drift, one read.

        Raises
        ------
        ValueError
            If ``t_inference`` is not 0 and lies outside the relaxation lines' domain [1 s, 10 y].
        """
        t = None if t_inference == 0 else t_inference
        return self.device.after_programming(g_prog * MICRO, t, drift_noise_param) / MICRO
