"""Tensor-product PCHIP over devices: the vectorised splines against scipy's grid interpolator, in the same run.

``python benchmarks/tensor_pchip.py --out results/benchmarks``

Baseline: ``scipy.interpolate.RegularGridInterpolator(method="pchip")``, which builds one 1-D spline per point
and axis after the first. Ours: :func:`testbenches.reram.studies.tensor_pchip`, the same splines with the
per-point passes vectorised. Measured on the shapes the d2d study interpolates (the 17 x 17 read map, the
15 x 15 N_states grid) and a 3-D grid, at the study's 10^4 devices: the median time of each (the two taking
turns) and the largest difference of their values.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.interpolate import RegularGridInterpolator

from testbenches.reram.studies import tensor_pchip
from timing import time_interleaved

SHAPES = ((17, 17), (15, 15), (6, 7, 5))
"""Grids: the d2d read map, the N_states surrogate, a 3-D map."""
POINTS = 10_000
"""Devices interpolated per call (the d2d fit's map devices)."""
REPEAT = 5
"""Timed calls of each (median)."""


def compare(shape: tuple[int, ...], rng: np.random.Generator) -> dict[str, float]:
    """Seconds of both interpolators on one grid, their ratio and the largest difference of their values."""
    axes = [np.linspace(-2.0, 2.0, n) for n in shape]
    values = rng.normal(size=shape)
    points = rng.uniform(-2.0, 2.0, size=(POINTS, len(shape)))
    scipy_grid = RegularGridInterpolator(axes, values, method="pchip")
    seconds = time_interleaved({"scipy": lambda: scipy_grid(points),
                                "tensor_pchip": lambda: tensor_pchip(axes, values, points)}, REPEAT)
    difference = float(np.max(np.abs(tensor_pchip(axes, values, points) - scipy_grid(points))))
    return {"shape": list(shape), "points": POINTS, **{f"{k}_s": v for k, v in seconds.items()},
            "speedup": seconds["scipy"] / seconds["tensor_pchip"], "max_abs_difference": difference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = [compare(shape, rng) for shape in SHAPES]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tensor_pchip.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
