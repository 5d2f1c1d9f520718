"""PLACEHOLDER f1 / f2 surrogates from the MDWMTJ compact model evaluated in numpy (no circuit, no ngspice).

Until the P²M MAC Monte Carlo datasets exist, these stand in for f1 and f2 [002 §2.4]. They come
from the registered ``mdwmtj`` device through its generated numpy module
(:func:`spicegen.numpy_code.load_numpy_module`), not from the transistor-level MAC, so they leave
out the weight transistors' non-linear I–V and the 3σ process corners:

- f1: one write event of normalised weight x ∈ [0, 1] drives ``I = I_LO + x·(I_HI − I_LO)`` through
  the accumulator's heavy metal for ``T_PULSE``; d = (wall velocity at I)·pulse width, normalised
  to its nominal value at x = 1. Variation per event: 10 % Gaussian pulse-width jitter [002 §3.2]
  and ``CURRENT_SIGMA`` relative write-current noise (ours).
- f2: the read divider ``V_RD — ACC_NEG — pre — ACC_POS — gnd`` (SPEC §2.3) solved by bisection for
  random wall positions, with 20 %/3 d2d variation of R_P per device [002 §3.2, read as 3σ]; the
  output is V_pre / V_RD against d_POS − d_NEG, and f2 is its worst-case lower bound.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from spicegen import get_device
from spicegen.devices.mdwmtj import L_FL, RP_SIGMA_3SIGMA
from spicegen.numpy_code import load_numpy_module

from ..extract import Extraction, extract

NOTE = ("PLACEHOLDER: fitted to the mdwmtj compact model evaluated in numpy (fitting.examples.mdwmtj_placeholder), "
        "not to the P2M MAC Monte Carlo in ngspice")
I_LO, I_HI = 47e-6, 252e-6
"""Write-current range of one event (A): the operating range the velocity polynomial was fitted on."""
T_PULSE = 0.2e-9
"""Write-pulse width per event (s), as in the P²M testbench."""
JITTER = 0.10
"""Relative σ of the pulse width [002 §3.2]."""
CURRENT_SIGMA = 0.03
"""Relative σ of the write current per event (ours: weight-transistor noise)."""
V_RD = 0.15
"""Read bias of the divider (V), as in the P²M testbench."""


def _device():
    return load_numpy_module(get_device("mdwmtj"))


def wall_velocity(current: np.ndarray) -> np.ndarray:
    """Wall velocity (m/s) of the accumulator for a write current (A) from t1 to t2, read path idle."""
    module = _device()
    rhm = module.PARAMS["rhm"]
    return module.evaluate({"t1": np.asarray(current) * rhm, "t2": 0.0, "t3": 0.0},
                           states={"q": 0.5 * L_FL})["rates"]["q"]


def capacity() -> float:
    """Full-weight events that move the wall over the whole track: l_FL / (v(I_HI)·T_PULSE)."""
    return float(L_FL / (wall_velocity(I_HI) * T_PULSE))


def f1_samples(levels: int = 21, samples: int = 200, seed: int = 0) -> pd.DataFrame:
    """Monte Carlo of one event's normalised displacement: columns ``x``, ``d_norm``."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.linspace(0.0, 1.0, levels), samples)
    current = (I_LO + x * (I_HI - I_LO)) * (1 + CURRENT_SIGMA * rng.standard_normal(x.size))
    width = T_PULSE * (1 + JITTER * rng.standard_normal(x.size))
    full = float(wall_velocity(I_HI)) * T_PULSE
    return pd.DataFrame({"x": x, "d_norm": wall_velocity(current) * width / full})


def f2_samples(samples: int = 4000, seed: int = 1) -> pd.DataFrame:
    """Random accumulator states through the read divider: columns ``d_diff``, ``v_norm``."""
    module = _device()
    rng = np.random.default_rng(seed)
    q_pos, q_neg = rng.uniform(0, L_FL, samples), rng.uniform(0, L_FL, samples)
    rp0 = module.PARAMS["rp"]
    rp_pos, rp_neg = (rp0 * (1 + RP_SIGMA_3SIGMA * rng.standard_normal(samples)) for _ in range(2))

    def mismatch(v: np.ndarray) -> np.ndarray:
        i_pos = module.evaluate({"t1": 0.0, "t2": 0.0, "t3": v}, states={"q": q_pos}, rp=rp_pos)["currents"]["t3"]
        i_neg = module.evaluate({"t1": v, "t2": v, "t3": V_RD}, states={"q": q_neg}, rp=rp_neg)["currents"]["t3"]
        return i_pos - i_neg

    lo, hi = np.zeros(samples), np.full(samples, V_RD)
    for _ in range(48):  # bisection to ~V_RD·2^-48
        mid = 0.5 * (lo + hi)
        up = mismatch(mid) > 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return pd.DataFrame({"d_diff": (q_pos - q_neg) / L_FL, "v_norm": 0.5 * (lo + hi) / V_RD})


def placeholder_surrogates(seed: int = 0) -> tuple[Extraction, Extraction]:
    """(f1, f2) extractions: f1 mean as a quadratic with its fitted σ; f2 lower bound as a tanh."""
    f1 = extract(f1_samples(seed=seed), "x", "d_norm", "polynomial:2", variation="polynomial:2", domain=(0.0, 1.0),
                 name="f1_placeholder", device="mdwmtj", note=NOTE)
    f2 = extract(f2_samples(seed=seed + 1), "d_diff", "v_norm", "tanh", statistic="lower", bins=40,
                 domain=(-1.0, 1.0), name="f2_placeholder", device="mdwmtj", note=NOTE)
    return f1, f2
