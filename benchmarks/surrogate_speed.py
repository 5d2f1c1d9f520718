"""Surrogate vs ngspice per P²M MAC sample: speed and accuracy, measured in the same run.

``python benchmarks/surrogate_speed.py --surrogates fitting/extractions/p2m --config cmos --out results/benchmarks``

One "sample" is what the ``p2m-f1`` testbench simulates: nine write events (weights x = k/9,
alternately into the positive and the negative accumulator) in a 1 ms integration window of the
transistor-level MAC. ngspice solves the whole transient. The surrogate evaluates f1 at the
nine weights and sums them into the two accumulators (plus f2 on their difference, when an f2
surrogate exists). Timed renderings: one in-package ``Surrogate`` call per sample (latency), and
numpy and torch on a batch of samples (throughput per sample). Accuracy: the surrogate against
the same ngspice run (the nominal sample), in % of f1's full scale.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from fitting.surrogate import Surrogate, write_atomic
from spicegen.montecarlo import make_plan, simulate
from testbenches.p2m_mac import F1_SIGN, F1_X, P2M_F1

BATCH = 100_000
"""Samples per batched evaluation."""


def ngspice_sample(config: str) -> tuple[float, np.ndarray]:
    """Seconds for one ngspice run of the nominal p2m-f1 sample, and its nine displacements (m)."""
    plan = make_plan(P2M_F1, seed=0, settings={"config": config})
    start = time.perf_counter()
    values = simulate(plan)
    return time.perf_counter() - start, np.array([values[f"dq{k}"] for k in range(len(F1_X))])


def surrogate_sample(f1: Surrogate, f2: Surrogate | None, x: np.ndarray, sign: np.ndarray) -> float:
    """What the surrogate computes for one sample: accumulators, then f2 (or the difference)."""
    d = f1(x)
    diff = float(d[sign > 0].sum() - d[sign < 0].sum())
    return float(f2(np.clip(diff, *f2.domain[f2.inputs[0]]))) if f2 is not None else diff


def time_call(func, repeat: int) -> float:
    """Median seconds of ``func()`` over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(surrogates: Path, config: str, repeat: int) -> dict:
    """Time ngspice and the surrogate renderings; compare their results."""
    f1 = Surrogate.load(surrogates / f"f1_{config}.json")
    f2 = Surrogate.load(surrogates / "f2_lower.json") if (surrogates / "f2_lower.json").is_file() else None
    x, sign = np.asarray(F1_X), np.asarray(F1_SIGN)
    spice = [ngspice_sample(config) for _ in range(repeat)]
    spice_s = statistics.median(t for t, _ in spice)
    dq = spice[0][1]
    d_spice = (dq - dq[0]) / (dq[-1] - dq[0])
    latency = time_call(lambda: surrogate_sample(f1, f2, x, sign), 2000)
    batch_x = np.broadcast_to(x, (BATCH, x.size))
    numpy_s = time_call(lambda: f1(batch_x), 5) / BATCH
    result = {
        "config": config, "f2": f2 is not None, "ngspice_s_per_sample": spice_s,
        "surrogate_latency_s": latency, "numpy_batched_s_per_sample": numpy_s,
        "speedup_latency": spice_s / latency, "speedup_numpy_batched": spice_s / numpy_s,
        "max_error_vs_ngspice_fs": float(np.max(np.abs(f1(x) - d_spice))),
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
    parser.add_argument("--surrogates", default="fitting/extractions/p2m", help="folder of f1_<config>.json / f2_lower.json")
    parser.add_argument("--config", default="cmos", choices=("cmos", "mdwmtj", "cmosx"))
    parser.add_argument("--repeat", type=int, default=3, help="ngspice runs (median)")
    parser.add_argument("--out", default="results/benchmarks", help="output folder")
    args = parser.parse_args(argv)
    result = run(Path(args.surrogates), args.config, args.repeat)
    write_atomic(Path(args.out) / f"surrogate_speed_{args.config}.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
