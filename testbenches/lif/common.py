"""What the LIF studies share: the study base class, the corner and paper options, resumable steps, traces."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from spicegen.pdk import CORNERS
from spicegen.study import Measure, Setting, Study, StudyContext

from testbenches.lif.calibrate import POINTS, STAGES
from testbenches.lif.circuit import CALIBRATION, Design
from testbenches.lif.sweeps import named_bar

__all__ = ["TRACE_POINTS", "CORNER", "PAPER", "LifStudy", "number", "cached", "paper_measures", "paper_points",
           "design_of", "trace"]

TRACE_POINTS = 2000
"""Samples of a waveform kept for a figure (resampled on a uniform time grid)."""

CORNER = Setting("corner", "tt", "sky130 process corner (the sizes were calibrated at tt)", choices=CORNERS)
PAPER = Setting("paper", True, "simulate the paper's points (the measurements); no: the sweeps only, measurements NaN")


class LifStudy(Study):
    """A study of the LIF chain: its results depend on the calibrated design sizes, so they enter the key."""

    family = "lif"

    def depends_on(self) -> Mapping[str, Any]:
        """The calibrated sizes of the shipped design (``testbenches/lif/calibration.json``)."""
        return {"design": CALIBRATION.read()["values"]}


def number(value: Any) -> float:
    """A step's stored number (``None`` is how JSON keeps NaN)."""
    return math.nan if value is None else float(value)


def _step_name(kind: str, args: Mapping[str, float]) -> str:
    return kind + "".join(f"_{k}{v:.6g}" for k, v in sorted(args.items()))


def cached(ctx: StudyContext, kind: str, args: Mapping[str, float], compute: Callable[[], Any]) -> Any:
    """``compute()`` as the resumable step named after ``kind`` and ``args`` (same condition, same step)."""
    return ctx.step(_step_name(kind, args), compute)


def paper_measures(*names: str) -> dict[str, Measure]:
    """Measures of the named paper points of :data:`~testbenches.lif.calibrate.POINTS`, with their roles."""
    fitted = {n for stage in STAGES for n in stage.calibration}
    return {n: Measure(POINTS[n].unit, POINTS[n].describe(), spec=(POINTS[n].paper, None) if POINTS[n].bound else None,
                       paper=POINTS[n].paper, role="calibration" if n in fitted else "held out") for n in names}


def paper_points(ctx: StudyContext, design: Design, names: Iterable[str]) -> dict[str, float]:
    """The named paper points, simulated (``paper=yes``) or NaN."""
    names = list(names)
    if not ctx.options["paper"]:
        return {n: math.nan for n in names}
    return {n: number(cached(ctx, POINTS[n].kind, POINTS[n].args, lambda p=POINTS[n]: p.measure(design)))
            for n in named_bar(ctx, "paper points", names, lambda n: n)}


def design_of(ctx: StudyContext) -> Design:
    """The shipped design at the study's ``corner``."""
    return Design(corner=ctx.options["corner"])


def trace(time: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """A waveform resampled on :data:`TRACE_POINTS` uniform times (for figures)."""
    t = np.linspace(float(time[0]), float(time[-1]), TRACE_POINTS)
    return {"t": t.tolist(), "y": np.interp(t, time, y).tolist()}
