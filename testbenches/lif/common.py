"""What the LIF studies share: the study base class, the corner and paper options, resumable steps, traces."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, TypeVar

import numpy as np

from spicegen.pdk import CORNERS
from spicegen.study import Measure, Setting, Study, StudyContext

from testbenches.lif.calibrate import CALIBRATION_GOAL, HELD_OUT_GOAL, POINTS, STAGES, goal_range
from testbenches.lif.circuit import Design, chain_definition

__all__ = ["TRACE_POINTS", "CORNER", "PAPER", "LifStudy", "Run", "number", "cached", "simulate", "paper_measures",
           "with_goals", "goal_range", "measure_point", "paper_runs", "paper_values", "design_of", "trace"]

K = TypeVar("K")

TRACE_POINTS = 2000
"""Samples of a waveform kept for a figure (resampled on a uniform time grid)."""

CORNER = Setting("corner", "tt", "sky130 process corner (the sizes were calibrated at tt)", choices=CORNERS)
PAPER = Setting("paper", True, "simulate the paper's points (the measurements); no: the sweeps only, measurements NaN")


LIF_CODE = tuple(f"testbenches.lif.{name}" for name in ("circuit", "neuron", "common", "sweeps", "energy", "power",
                                                         "calibrate", "rsyn", "adaptive", "studies", "report"))
"""Modules whose source a LIF study's definition holds (:attr:`spicegen.study.Study.code`): the chain's netlists,
the testbenches that wire it and the studies share them, so an edit of any is not answered from earlier runs."""


class LifStudy(Study):
    """A study of the LIF chain: its results depend on the calibrated design sizes, so they enter the key."""

    family = "lif"
    code = LIF_CODE

    def depends_on(self) -> Mapping[str, Any]:
        """The shipped chain: its calibrated sizes and a hash of its subcircuits (:func:`chain_definition`)."""
        return chain_definition()


def number(value: Any) -> float:
    """A step's stored number (``None`` is how JSON keeps NaN)."""
    return math.nan if value is None else float(value)


def _step_name(kind: str, args: Mapping[str, float]) -> str:
    return kind + "".join(f"_{k}{v:.6g}" for k, v in sorted(args.items()))


def cached(ctx: StudyContext, kind: str, args: Mapping[str, float], compute: Callable[[], Any]) -> Any:
    """``compute()`` as the resumable step named after ``kind`` and ``args`` (same condition, same step)."""
    return ctx.step(_step_name(kind, args), compute)


@dataclass(frozen=True)
class Run:
    """One simulation of a study: ``function(**kwargs)``, stored as the step named after ``kind`` and
    ``args`` (same condition, same step). ``function`` is defined at module level (it may run in a
    worker process)."""

    kind: str
    args: Mapping[str, float]
    function: Callable[..., Any]
    kwargs: Mapping[str, Any]

    @property
    def step(self) -> str:
        """The step's name (its file under ``steps/``)."""
        return _step_name(self.kind, self.args)


def simulate(ctx: StudyContext, runs: Mapping[K, Run], desc: str) -> dict[K, Any]:
    """Every run of ``runs`` as a resumable step, on the study's worker processes: key → value.

    The workers take the runs in the order given: the longest first keeps both busy to the end (the
    paper points are, e.g. the silent 7 µs pulse train and the 3 s leak)."""
    values = ctx.steps({run.step: (run.function, run.kwargs) for run in runs.values()}, desc=desc)
    return {key: values[run.step] for key, run in runs.items()}


def paper_measures(*names: str) -> dict[str, Measure]:
    """Measures of the named paper points of :data:`~testbenches.lif.calibrate.POINTS`, with their roles and
    goals (:func:`goal_range`)."""
    fitted = {n for stage in STAGES for n in stage.calibration}
    return {n: Measure(POINTS[n].unit, POINTS[n].describe(), paper=POINTS[n].paper,
                       spec=goal_range(POINTS[n].paper, POINTS[n].goal, POINTS[n].bound),
                       role="calibration" if n in fitted else "held out") for n in names}


def with_goals(measures: Mapping[str, Measure]) -> dict[str, Measure]:
    """``measures`` with the goal of their role as the pass range of every paper value that has none:
    :data:`~testbenches.lif.calibrate.CALIBRATION_GOAL` or :data:`~testbenches.lif.calibrate.HELD_OUT_GOAL`."""
    goals = {"calibration": CALIBRATION_GOAL, "held out": HELD_OUT_GOAL}
    return {name: replace(m, spec=goal_range(m.paper, goals[m.role])) if m.paper is not None and m.spec is None else m
            for name, m in measures.items()}


def measure_point(name: str, design: Design) -> float:
    """The simulated value of paper point ``name`` for ``design``."""
    return POINTS[name].measure(design)


def paper_runs(ctx: StudyContext, design: Design, names: Iterable[str]) -> dict[tuple[str, str], Run]:
    """The runs of the named paper points (none with ``paper=no``), keyed ``("paper", name)``."""
    if not ctx.options["paper"]:
        return {}
    return {("paper", n): Run(POINTS[n].kind, POINTS[n].args, measure_point, {"name": n, "design": design})
            for n in names}


def paper_values(values: Mapping[Any, Any], names: Iterable[str]) -> dict[str, float]:
    """The named paper points from :func:`simulate`'s ``values`` of :func:`paper_runs` (NaN: not run)."""
    return {n: number(values.get(("paper", n))) for n in names}


def design_of(ctx: StudyContext) -> Design:
    """The shipped design at the study's ``corner``."""
    return Design(corner=ctx.options["corner"])


def trace(time: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """A waveform resampled on :data:`TRACE_POINTS` uniform times (for figures)."""
    t = np.linspace(float(time[0]), float(time[-1]), TRACE_POINTS)
    return {"t": t.tolist(), "y": np.interp(t, time, y).tolist()}
