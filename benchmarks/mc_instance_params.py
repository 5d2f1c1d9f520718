"""Monte Carlo with many OSDI instances: instance parameters set with ``alter`` vs a card per instance.

Run from the repository root (about a minute)::

    PYTHONPATH=. .venv/bin/python benchmarks/mc_instance_params.py [--sizes 1000,3000]

The circuit: N ``sinh_memristor`` OSDI instances in parallel on one 0.3 V source, frozen, each with its own
device-to-device ``i0`` (lognormal 10 %), one ``.op`` per sample. Two builds of the same module:

* ``instance``: the package's ``sinh_memristor``, whose ``i0`` is an instance parameter: one shared
  ``.model`` card, ``i0`` on each ``N`` line, set per sample with ``alter`` (no re-parse);
* ``card``: the same device with ``i0`` declared a model parameter (``instance=False``): a ``.model`` card
  per instance holding ``i0={slot}``, set per sample with ``alterparam`` and one ``reset`` (a re-parse).

Times: loading the circuit (``ngSpice_Circ``) and one sample (set every slot, run the ``.op``), medians of
3 loads x 5 samples in this process's libngspice.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import numpy as np

from spicegen import get_device
from spicegen.device import build_model
from spicegen.devices.sinh_memristor import SinhMemristor
from spicegen.montecarlo.sampling import Sampler
from spicegen.montecarlo.worker import _apply
from spicegen.ngspice import NgSpiceShared
from spicegen.testbench import Circuit
from veriloga import compile_model


class CardPerInstance(SinhMemristor):
    """sinh_memristor with ``i0`` a model parameter (a card per instance when it varies per instance)."""

    name = "sinh_memristor_cards"
    params = tuple(replace(p, instance=False) if p.name == "i0" else p for p in SinhMemristor.params)


def circuit(model, osdi: str, n: int) -> Circuit:
    """``n`` frozen instances in parallel on one source."""
    c = Circuit(f"{n} memristors, i0 per instance")
    c.element("Vp p 0 0.3")
    for k in range(n):
        c.device(model, f"m{k}", ("p", "0"), flavor="osdi", osdi=osdi, values={"freeze": 1.0})
    c.analysis(".op")
    return c


def measure(model, n: int, loads: int = 3, samples: int = 5) -> dict[str, float]:
    """Median seconds of loading the circuit and of one sample (set the slots, ``.op``)."""
    osdi = str(compile_model(model))
    c = circuit(model, osdi, n)
    text, sampler, spice = c.format(), Sampler(c.slots), NgSpiceShared.get()
    load_s, sample_s = [], []
    with spice.lock:
        spice.use_osdi([osdi])
        for _ in range(loads):
            start = time.perf_counter()
            spice.load_circuit(text)
            load_s.append(time.perf_counter() - start)
            for s in range(samples):
                values = {k: float(np.ravel(v)[0]) for k, v in sampler.draw(1, s).items()}
                start = time.perf_counter()
                _apply(spice, c.slots, [(None, values)])
                spice.run()
                sample_s.append(time.perf_counter() - start)
            spice.destroy_all()
    return {"cards": text.count(".model"), "load_s": statistics.median(load_s), "sample_s": statistics.median(sample_s)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,3000", help="instance counts, comma-separated")
    args = parser.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",")):
        for label, model in (("instance", get_device("sinh_memristor")), ("card", build_model(CardPerInstance))):
            print(json.dumps({"n": n, "build": label, **measure(model, n)}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
