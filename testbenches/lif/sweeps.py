"""Sweeps as study options (``<x>_min``, ``<x>_max``, ``<x>_points``: typed, bounded, with units), their
values, and a progress bar that names the point being simulated."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from spicegen.calibration import significant
from spicegen.study import Setting, StudyContext

__all__ = ["named_bar", "si", "spaced", "sweep_options", "sweep_values"]


def si(value: float, scale: float) -> float:
    """``value · scale`` to 6 significant digits: 200 µA is 0.0002 A, the number the paper points use."""
    return significant(value * scale, 6)


def spaced(lo: float, hi: float, n: int, log: bool = False) -> np.ndarray:
    """``n`` values from ``lo`` to ``hi``, evenly or log-spaced, to 6 significant digits (so a sweep point
    and a paper point of the same condition are the same number: 1e-05, not 9.999999999999999e-06)."""
    values = (np.geomspace if log else np.linspace)(lo, hi, n)
    return np.array([significant(v, 6) for v in values])


def sweep_values(ctx: StudyContext, name: str, scale: float = 1.0, log: bool = False) -> np.ndarray:
    """The sweep of options ``<name>_min``, ``<name>_max``, ``<name>_points`` (times ``scale``).

    Raises
    ------
    ValueError
        If the lowest value is above the highest.
    """
    lo, hi, n = ctx.options[f"{name}_min"], ctx.options[f"{name}_max"], ctx.options[f"{name}_points"]
    if lo > hi:
        raise ValueError(f"option '{name}_min' = {lo!r} is above '{name}_max' = {hi!r}; swap them.")
    return spaced(si(lo, scale), si(hi, scale), n, log)


def sweep_options(name: str, lo: float, hi: float, points: int, unit: str, bounds: tuple[float, float], what: str,
                  most: int = 50, log: bool = False) -> tuple[Setting, ...]:
    """The three options of a sweep: ``<name>_min``, ``<name>_max`` and ``<name>_points``."""
    spacing = "log-spaced" if log else "evenly spaced"
    return (Setting(f"{name}_min", lo, f"lowest {what}", unit=unit, bounds=bounds),
            Setting(f"{name}_max", hi, f"highest {what}", unit=unit, bounds=bounds),
            Setting(f"{name}_points", points, f"points of the {what} sweep ({spacing})", bounds=(1, most)))


def named_bar(ctx: StudyContext, desc: str, points: Sequence[Any], label: Callable[[Any], str]) -> Iterator[Any]:
    """The ``points`` under a progress bar that names the point being simulated."""
    bar = ctx.bar(points, total=len(points), desc=desc)
    for point in bar:
        bar.set_postfix_str(label(point))
        yield point
