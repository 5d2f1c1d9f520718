"""``snn-nonideal`` smoke configuration: the row DAC on every crossbar read vs only where rows are analog.

``python benchmarks/snn_dac.py --out results/benchmarks``

The smoke configuration of the study (timesteps 1 and 2, one epoch, 16 hidden neurons, depth 4, one test
pass, 5-bit ADC), both encodings. Baseline: every layer drives its rows through the DAC at every read (the
code before). Ours: :func:`fitting.reram.snn.hardware` keeps the DAC on the first crossbar under direct
encoding only; every other layer reads spikes, which the DAC passes unchanged. Measured per encoding and T:
training (floating point, no crossbar: unaffected), the whole evaluation (``evaluate``: builds the
crossbars, which dominates), and one inference pass over the test set on the crossbars with all
non-idealities (median of ``--repeat``), with the logits of both compared bit for bit.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from fitting.reram import snn
from timing import time_interleaved

XBAR = snn.SpikeSimCrossbar(adc_bits=5, weight_bits=8)
"""The study's crossbar with its smoke setting ``adc_bits=5``."""


def logits(net: snn.SpikingMLP, x: torch.Tensor, steps: int, layers: list[snn.CrossbarLayer]) -> torch.Tensor:
    """One inference pass on the crossbars (input spikes and read noise from fixed seeds)."""
    for layer in layers:
        layer.generator.manual_seed(1)
    with torch.no_grad():
        return net(snn.encode(x, steps, torch.Generator().manual_seed(2), net.encoding), layers)


def measure(encoding: str, steps: int, data: tuple[torch.Tensor, ...], repeat: int) -> dict:
    """Training, evaluation and inference times of one smoke setting, inference with and without the DAC
    on every layer."""
    start = time.perf_counter()
    net = snn.train(data[0], data[1], steps, 1, 16, 0.9, 0, 4, encoding)
    trained = time.perf_counter()
    snn.evaluate(net, data, steps, XBAR, 0, 1)
    evaluated = time.perf_counter()
    ours = snn.hardware(net, XBAR, torch.Generator())
    every = snn.hardware(net, XBAR, torch.Generator())
    for layer in every:
        layer.analog_rows = True
    return {"encoding": encoding, "timesteps": steps, "train_s": trained - start,
            "evaluate_s": evaluated - trained,
            **time_interleaved({"inference_dac_everywhere_s": lambda: logits(net, data[2], steps, every),
                           "inference_dac_where_analog_s": lambda: logits(net, data[2], steps, ours)}, repeat),
            "analog_rows": [layer.analog_rows for layer in ours],
            "bit_identical": bool(torch.equal(logits(net, data[2], steps, every), logits(net, data[2], steps, ours)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    parser.add_argument("--repeat", type=int, default=100, help="timed inference passes (median)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = snn.digits(np.random.default_rng(0))
    rows = [measure(encoding, steps, data, args.repeat) for encoding in snn.ENCODINGS for steps in (1, 2)]
    for r in rows:
        every, ours = r["inference_dac_everywhere_s"], r["inference_dac_where_analog_s"]
        print(f"{r['encoding']:6s} T={r['timesteps']}  train {r['train_s']:.2f} s  evaluate {r['evaluate_s']:.2f} s  "
              f"inference {1e3 * every:.1f} -> {1e3 * ours:.1f} ms ({every / ours:.2f}x)  "
              f"bit-identical {r['bit_identical']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "snn_dac.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
