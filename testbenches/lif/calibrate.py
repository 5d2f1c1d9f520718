"""Calibrate the free sizes of the seed-000 chain against the paper's numbers with lmfit.

Two fits, because the pulse-width timer does not depend on the membrane:

========  =====================================  =================================================
stage     free parameters                        calibration points [000]
========  =====================================  =================================================
timer     C2, L of M_pw                          T_pw = 20 ms at V_pw = 0.45 V, 10 us at 1 V (§III.B)
membrane  C1, L of the leak bias transistors     419 Hz at 10 uA and 59 kHz at 200 uA (V_thr 1.8 V);
                                                 8 Hz for 40 uA x 10 us pulses at 100 Hz (§III.C);
                                                 8 ms threshold→rest leak at V_taun = 1.35 V (Fig. 6D)
========  =====================================  =================================================

Held out (never fitted, reported as errors): 800 Hz / 68 kHz at V_thr = 0.8 V, the maximum rate
at 200 uA for V_pw = 0.8 V (20 kHz) and 1.1 V (92 kHz), the leak time at V_taun = 1.0 V (> 2 s),
and 2 Hz / 18 Hz for 7 us / 15 us input pulses.

Every residual is ln(simulated / paper); a point that does not fire is scored as ln(1e-3).
Each parameter is fitted as x = 1 + log10(value / initial value): scipy's relative finite-difference
step (0.02 of x, x near 1) is then a 5 % change of the size.

Command line (writes ``calibration.json``; slow: about 20 ngspice runs per stage)::

    python -m testbenches.lif.calibrate --out results/lif
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from testbenches.lif.circuit import Biases, Design, LifDesign, Mos
from testbenches.lif.neuron import firing_rate, leak_time, pulse_width, pulsed_rate

__all__ = ["Point", "POINTS", "STAGES", "Stage", "apply", "evaluate", "calibrate", "main"]

#: Residual given to a measurement that produced nothing (no spike, no crossing).
MISSING = math.log(1e-3)


@dataclass(frozen=True)
class Point:
    """One number of the paper and how to simulate it.

    Attributes
    ----------
    name
        Identifier.
    paper
        The paper's value (SI units).
    unit
        Unit of ``paper``.
    source
        Where [000] states it.
    measure
        ``measure(design)`` → the simulated value.
    bound
        ``"lower"`` when the paper gives only a lower bound (e.g. "> 2 s"): the point counts as met
        when the simulation is at least ``paper``.
    """

    name: str
    paper: float
    unit: str
    source: str
    measure: Callable[[Design], float]
    bound: str = ""


def _rate(isyn: float, vthr: float, vpw: float = 1.0) -> Callable[[Design], float]:
    return lambda d: firing_rate(isyn, biases=Biases(vthr=vthr, vpw=vpw), design=d).rate


def _pw(vpw: float, expect: float) -> Callable[[Design], float]:
    return lambda d: pulse_width(biases=Biases(vpw=vpw), design=d, t_first=2.0 * expect)


def _leak(vtaun: float, t_stop: float) -> Callable[[Design], float]:
    b = Biases(vtaun=vtaun)
    return lambda d: leak_time(b.vthr - 0.02, biases=b, design=d, t_stop=t_stop)[0]


def _pulsed(width: float, expect: float) -> Callable[[Design], float]:
    return lambda d: pulsed_rate(width=width, design=d, t_first=2.5 / expect).rate


POINTS: dict[str, Point] = {p.name: p for p in (
    Point("tpw_045", 20e-3, "s", "§III.B, Fig. 4E", _pw(0.45, 20e-3)),
    Point("tpw_100", 10e-6, "s", "§III.B, Fig. 4E", _pw(1.0, 10e-6)),
    Point("rate_10u_thr18", 419.0, "Hz", "§III.B, Fig. 4A", _rate(10e-6, 1.8)),
    Point("rate_200u_thr18", 59e3, "Hz", "§III.B, Fig. 4A", _rate(200e-6, 1.8)),
    Point("pulsed_10us", 8.0, "Hz", "§III.C, Fig. 6A", _pulsed(10e-6, 8.0)),
    Point("leak_135", 8e-3, "s", "§III.C, Fig. 6D", _leak(1.35, 0.2)),
    Point("rate_10u_thr08", 800.0, "Hz", "§III.B, Fig. 4A", _rate(10e-6, 0.8)),
    Point("rate_200u_thr08", 68e3, "Hz", "§III.B, Fig. 4A", _rate(200e-6, 0.8)),
    Point("max_rate_vpw08", 20e3, "Hz", "§III.B, Fig. 4D (200 uA, V_thr 1.2 V)", _rate(200e-6, 1.2, 0.8)),
    Point("max_rate_vpw11", 92e3, "Hz", "§III.B, Fig. 4D (200 uA, V_thr 1.2 V)", _rate(200e-6, 1.2, 1.1)),
    Point("leak_100", 2.0, "s", "§III.C, Fig. 6D (> 2 s)", _leak(1.0, 3.0), bound="lower"),
    Point("pulsed_7us", 2.0, "Hz", "§III.C, Fig. 6B", _pulsed(7e-6, 2.0)),
    Point("pulsed_15us", 18.0, "Hz", "§III.C, Fig. 6B", _pulsed(15e-6, 18.0)),
)}


@dataclass(frozen=True)
class Stage:
    """One lmfit fit: parameter name → (initial, lower, upper) in metres or farads, and its points."""

    name: str
    params: Mapping[str, tuple[float, float, float]]
    calibration: tuple[str, ...]
    held_out: tuple[str, ...]


STAGES: tuple[Stage, ...] = (
    Stage("timer", {"c2": (20e-12, 1e-12, 200e-12), "l_pw": (0.56e-6, 0.5e-6, 2e-6)},
          ("tpw_045", "tpw_100"), ()),
    Stage("membrane", {"c1": (6e-12, 0.5e-12, 30e-12), "l_leak": (2e-6, 0.5e-6, 100e-6)},
          ("rate_10u_thr18", "rate_200u_thr18", "pulsed_10us", "leak_135"),
          ("rate_10u_thr08", "rate_200u_thr08", "max_rate_vpw08", "max_rate_vpw11", "leak_100",
           "pulsed_7us", "pulsed_15us")),
)


def apply(design: Design, values: Mapping[str, float]) -> Design:
    """``design`` with the calibrated values ``c1``, ``c2``, ``l_leak``, ``l_pw`` (any subset) set."""
    lif: LifDesign = design.lif
    changes: dict[str, object] = {}
    for name, value in values.items():
        if name in ("c1", "c2"):
            changes[name] = float(value)
        elif name == "l_leak":
            changes["leak_bias"] = Mos(lif.leak_bias.w, float(value), lif.leak_bias.mult)
        elif name == "l_pw":
            changes["pw"] = Mos(lif.pw.w, float(value), lif.pw.mult)
        else:
            raise ValueError(f"unknown calibration parameter {name!r}; known: c1, c2, l_leak, l_pw")
    return replace(design, lif=replace(lif, **changes))


def _residual(point: Point, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        return MISSING if point.bound != "lower" else 0.0
    r = math.log(value / point.paper)
    return min(r, 0.0) if point.bound == "lower" else r


def evaluate(names: Sequence[str], design: Design = Design()) -> dict[str, dict[str, float | str]]:
    """Simulate the named points; each entry: ``paper``, ``sim``, ``unit``, ``source``, ``log_error``."""
    out: dict[str, dict[str, float | str]] = {}
    for name in names:
        point = POINTS[name]
        value = float(point.measure(design))
        out[name] = {"paper": point.paper, "sim": value, "unit": point.unit, "source": point.source,
                     "log_error": _residual(point, value)}
    return out


def _fit(stage: Stage, design: Design, progress: Callable[[str], None]) -> tuple[Design, dict[str, object]]:
    from lmfit import Parameters, minimize

    params = Parameters()
    for name, (init, lo, hi) in stage.params.items():
        params.add(name, value=1.0, min=1.0 + math.log10(lo / init), max=1.0 + math.log10(hi / init))

    def sizes(p: Parameters) -> dict[str, float]:
        return {n: stage.params[n][0] * 10.0 ** (p[n].value - 1.0) for n in stage.params}

    def residual(p: Parameters) -> np.ndarray:
        values = sizes(p)
        trial = apply(design, values)
        res = np.array([_residual(POINTS[n], float(POINTS[n].measure(trial))) for n in stage.calibration])
        progress(f"{stage.name}: {', '.join(f'{k}={v:.4g}' for k, v in values.items())} -> "
                 f"{np.array2string(res, precision=3)}")
        return res

    result = minimize(residual, params, method="least_squares", diff_step=0.02, xtol=1e-3, ftol=1e-3, max_nfev=30)
    fitted = sizes(result.params)
    stderr = {n: (result.params[n].stderr * math.log(10) if result.params[n].stderr else None) for n in stage.params}
    summary = {"values": fitted, "relative_stderr": stderr, "chisqr": float(result.chisqr),
               "nfev": int(result.nfev), "ndata": int(result.ndata), "nvarys": int(result.nvarys),
               "success": bool(result.success), "message": str(result.message)}
    return apply(design, fitted), summary


def calibrate(design: Design = Design(), progress: Callable[[str], None] = print,
              stages: Sequence[str] = tuple(s.name for s in STAGES)) -> dict[str, object]:
    """Run the named stages in order, each starting from the design the previous one fitted.

    Returns
    -------
    dict
        Per stage: the lmfit summary, the calibration points and the held-out points
        (each with paper value, simulated value and ``log_error`` = ln(sim / paper)).
    """
    report: dict[str, object] = {}
    for stage in (s for s in STAGES if s.name in stages):
        design, summary = _fit(stage, design, progress)
        summary["calibration"] = evaluate(stage.calibration, design)
        summary["held_out"] = evaluate(stage.held_out, design)
        report[stage.name] = summary
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m testbenches.lif.calibrate --out DIR``: run :func:`calibrate`, write ``calibration.json``."""
    parser = argparse.ArgumentParser(prog="python -m testbenches.lif.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/lif"), help="output folder")
    parser.add_argument("--stage", action="append", choices=[s.name for s in STAGES],
                        help="fit only this stage (repeatable); default: all, in order")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "calibration.json"
    report = calibrate(stages=args.stage or [s.name for s in STAGES])
    path.write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
