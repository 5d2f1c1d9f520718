"""The calibration's bookkeeping, on a closed-form stand-in for the points (no simulator needed)."""
from __future__ import annotations

import math

import numpy as np

from testbenches.lif.calibrate import POINTS, STAGES, Point, calibrate
from testbenches.lif.circuit import Design


def closed_form(point: Point, design: Design) -> float:
    """Each point scales as a power of C1 and C_syn, off the paper's value at the stage's start."""
    c1, c_dpi = (STAGES[1].params[n][0] for n in ("c1", "c_dpi"))
    power = {"rate": -1.0, "read": -1.0, "pulsed": -2.0, "leak": 1.0}[point.kind]
    return 1.3 * point.paper * (design.lif.c1 / c1) ** power * (design.lif.c_dpi / c_dpi) ** 0.5


def test_a_fit_stopped_by_max_evals_keeps_the_best_point_it_evaluated() -> None:
    seen: list[tuple[dict[str, float], float]] = []
    report = calibrate(stages=["membrane"], max_evals=4, measure=closed_form,
                       progress=lambda _, values, res: seen.append((dict(values), float(res @ res))))
    best_values, best_chisqr = min(seen, key=lambda s: s[1])
    assert seen[-1][1] > best_chisqr  # stopped inside a finite-difference step, off the best point
    fitted = report["membrane"]
    assert fitted["values"] == best_values and math.isclose(fitted["chisqr"], best_chisqr)
    sims = np.array([fitted["calibration"][n]["log_error"] for n in STAGES[1].calibration])
    assert math.isclose(float(sims @ sims), best_chisqr)
    assert set(fitted["held_out"]) == set(STAGES[1].held_out) and all(n in POINTS for n in fitted["held_out"])
