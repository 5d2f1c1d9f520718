"""Surrogate vs ngspice per P²M MAC sample: speed and accuracy, measured in the same run.

``python benchmarks/surrogate_speed.py --config cmos --out results/benchmarks`` (the shipped f1 of the
``p2m-f1`` extraction and f2 lower bound of ``p2m-f2``; ``--surrogates DIR`` / ``--f2 FILE`` for others)

One "sample" is what the ``p2m-f1`` testbench simulates: nine write events (weights x = k/9,
alternately into the positive and the negative accumulator) in a 1 ms integration window of the
transistor-level MAC. ngspice solves the whole transient. The surrogate evaluates f1 at the
nine weights and sums them into the two accumulators (plus f2 on their difference, when an f2
surrogate exists). Timed renderings: one in-package ``Surrogate`` call per sample and one call of the exported
numpy-only module per sample (latency, domain checks on), and numpy and torch on a batch of
samples (throughput per sample). Accuracy: the surrogate against
the same ngspice run (the nominal sample), in % of f1's full scale.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

from fitting.mdwmtj.f1f2 import P2mF1Extraction, P2mF2Extraction
from fitting.surrogate import Surrogate, write_numpy_module
from timing import time_call
from spicegen.files import write_text
from spicegen.montecarlo import make_plan, simulate
from testbenches.mdwmtj.mac import F1_SIGN, F1_X, P2M_F1

BATCH = 100_000
"""Samples per batched evaluation."""
CALLS = 5000
"""Timed one-sample calls (median)."""


def ngspice_sample(config: str) -> tuple[float, np.ndarray]:
    """Seconds for one ngspice run of the nominal p2m-f1 sample, and its nine displacements (m)."""
    plan = make_plan(P2M_F1, seed=0, settings={"config": config})
    start = time.perf_counter()
    values = simulate(plan)
    return time.perf_counter() - start, np.array([values[f"dq{k}"] for k in range(len(F1_X))])


def surrogate_sample(f1: Callable, f2: Callable | None, f2_domain: tuple[float, float], x: np.ndarray,
                     sign: np.ndarray) -> float:
    """What the surrogate computes for one sample: f1 at the nine weights, the accumulator difference
    (sign ±1 per event), then f2 (held inside its domain), or the difference when there is no f2."""
    diff = float(sign @ f1(x))
    return float(f2(min(max(diff, f2_domain[0]), f2_domain[1]))) if f2 is not None else diff


def numpy_module(surrogate: Surrogate, folder: Path) -> ModuleType:
    """The standalone numpy module of ``surrogate``, written to ``folder`` and imported."""
    path = write_numpy_module(surrogate, folder / f"{surrogate.name}_np.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(surrogates: Path, f2_path: Path | None, config: str, repeat: int) -> dict:
    """Time ngspice and the surrogate renderings; compare their results (``f2_path`` None: no f2)."""
    f1 = Surrogate.load(surrogates / f"f1_{config}.json")
    f2 = Surrogate.load(f2_path) if f2_path is not None else None
    x, sign = np.asarray(F1_X), np.asarray(F1_SIGN)
    spice = [ngspice_sample(config) for _ in range(repeat)]
    spice_s = statistics.median(t for t, _ in spice)
    dq = spice[0][1]
    d_spice = (dq - dq[0]) / (dq[-1] - dq[0])
    f2_domain = f2.domain[f2.inputs[0]] if f2 is not None else (-np.inf, np.inf)
    latency = time_call(lambda: surrogate_sample(f1, f2, f2_domain, x, sign), CALLS)
    with tempfile.TemporaryDirectory() as folder:
        f1_np = numpy_module(f1, Path(folder))
        f2_np = numpy_module(f2, Path(folder)) if f2 is not None else None
        module_latency = time_call(lambda: surrogate_sample(f1_np.evaluate, f2_np and f2_np.evaluate, f2_domain,
                                                            x, sign), CALLS)
        module_error = float(np.max(np.abs(f1_np.evaluate(x) - f1(x))))
    batch_x = np.ascontiguousarray(np.broadcast_to(x, (BATCH, x.size)))
    numpy_s = time_call(lambda: f1(batch_x), 5) / BATCH
    result = {
        "config": config, "f2": f2 is not None, "ngspice_s_per_sample": spice_s,
        "surrogate_latency_s": latency, "numpy_module_latency_s": module_latency,
        "numpy_batched_s_per_sample": numpy_s,
        "speedup_latency": spice_s / latency, "speedup_numpy_module_latency": spice_s / module_latency,
        "speedup_numpy_batched": spice_s / numpy_s,
        "max_error_vs_ngspice_fs": float(np.max(np.abs(f1(x) - d_spice))),
        "numpy_module_max_abs_difference": module_error,
        "note": "ngspice: nominal p2m-f1 sample (9 events, 1 ms window, transistor-level); surrogate: f1 at the "
                "nine weights + accumulation (+ f2). Error: surrogate (MC mean) vs this nominal ngspice sample.",
    }
    try:
        import torch

        from fitting.export import to_torch

        module = to_torch(f1).eval()
        tensor = torch.as_tensor(np.ascontiguousarray(batch_x))
        with torch.no_grad():
            torch_s = time_call(lambda: module(tensor), 5) / BATCH
        result.update(torch_batched_s_per_sample=torch_s, speedup_torch_batched=spice_s / torch_s)
    except ModuleNotFoundError:
        result["torch_batched_s_per_sample"] = None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogates", default=str(P2mF1Extraction().shipped()),
                        help="folder of f1_<config>.json (default: the shipped p2m-f1 extraction)")
    parser.add_argument("--f2", default=str(P2mF2Extraction().shipped() / "f2_lower.json"),
                        help="f2 surrogate JSON (default: the shipped p2m-f2 lower bound; '' for none)")
    parser.add_argument("--config", default="cmos", choices=("cmos", "mdwmtj", "cmosx"))
    parser.add_argument("--repeat", type=int, default=3, help="ngspice runs (median)")
    parser.add_argument("--out", default="results/benchmarks", help="output folder")
    args = parser.parse_args(argv)
    result = run(Path(args.surrogates), Path(args.f2) if args.f2 else None, args.config, args.repeat)
    write_text(Path(args.out) / f"surrogate_speed_{args.config}.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
