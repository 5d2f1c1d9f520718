"""Pure numpy functions of the behavioural forms (the lmfit ``lineshapes`` convention).

Each function takes the independent variable ``x`` first and the parameters as keyword
arguments with numeric defaults: the signature is the parameter schema that
:mod:`fitting.forms` wraps as an lmfit ``Model``. This module imports only numpy.

>>> import numpy as np
>>> float(tanh(np.array(0.5), amplitude=2.0, rate=1.0))
0.9242343145200195
"""
from __future__ import annotations

import numpy as np

MAX_DEGREE = 7
"""Highest polynomial order :func:`polynomial` supports (as in lmfit's ``PolynomialModel``)."""
MAX_BREAKS = 5
"""Most breakpoints :func:`piecewise_linear` supports."""


def polynomial(x: np.ndarray, c0: float = 0.0, c1: float = 0.0, c2: float = 0.0, c3: float = 0.0,
               c4: float = 0.0, c5: float = 0.0, c6: float = 0.0, c7: float = 0.0) -> np.ndarray:
    """``c0 + c1·x + … + c7·x**7`` (Horner's scheme)."""
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    for c in (c7, c6, c5, c4, c3, c2, c1, c0):
        out = out * x + c
    return out


def saturating_exponential(x: np.ndarray, amplitude: float = 1.0, rate: float = 1.0,
                           offset: float = 0.0) -> np.ndarray:
    """``amplitude·(1 − exp(−rate·x)) + offset``: rises from ``offset`` at 0 towards ``offset + amplitude``."""
    return amplitude * (1.0 - np.exp(-rate * np.asarray(x, dtype=float))) + offset


def tanh(x: np.ndarray, amplitude: float = 1.0, rate: float = 1.0, center: float = 0.0,
         offset: float = 0.0) -> np.ndarray:
    """``amplitude·tanh(rate·(x − center)) + offset``."""
    return amplitude * np.tanh(rate * (np.asarray(x, dtype=float) - center)) + offset


def power_law(x: np.ndarray, amplitude: float = 1.0, exponent: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """``amplitude·x**exponent + offset`` (defined for x > 0; x = 0 only for exponent > 0)."""
    return amplitude * np.asarray(x, dtype=float) ** exponent + offset


def logistic(x: np.ndarray, amplitude: float = 1.0, rate: float = 1.0, center: float = 0.0,
             offset: float = 0.0) -> np.ndarray:
    """``amplitude / (1 + exp(−rate·(x − center))) + offset``."""
    with np.errstate(over="ignore"):
        return amplitude / (1.0 + np.exp(-rate * (np.asarray(x, dtype=float) - center))) + offset


def piecewise_linear(x: np.ndarray, intercept: float = 0.0, slope0: float = 0.0,
                     break1: float = np.nan, slope1: float = np.nan, break2: float = np.nan,
                     slope2: float = np.nan, break3: float = np.nan, slope3: float = np.nan,
                     break4: float = np.nan, slope4: float = np.nan, break5: float = np.nan,
                     slope5: float = np.nan) -> np.ndarray:
    """Continuous piecewise-linear function in hinge form.

    ``intercept + slope0·x + Σ_k (slope_k − slope_{k−1})·max(x − break_k, 0)``: the slope is
    ``slope0`` left of ``break1`` and ``slope_k`` right of ``break_k`` (breaks in increasing order).
    Breaks left at NaN are unused.
    """
    x = np.asarray(x, dtype=float)
    out = intercept + slope0 * x
    previous = slope0
    for b, s in ((break1, slope1), (break2, slope2), (break3, slope3), (break4, slope4), (break5, slope5)):
        if np.isnan(b):
            break
        out = out + (s - previous) * np.maximum(x - b, 0.0)
        previous = s
    return out


def sinh(x: np.ndarray, amplitude: float = 1.0, rate: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """``amplitude·sinh(rate·x) + offset`` (e.g. tunnelling / hopping I–V)."""
    return amplitude * np.sinh(rate * np.asarray(x, dtype=float)) + offset
