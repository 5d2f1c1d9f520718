"""Operating points of the LIF chain with and without the supply charge meters, in one run.

``python benchmarks/lif_op_meters.py [--repeat 5]`` (about a minute): ``chain_dc`` at 100 nA, 1 µA, 10 µA and
200 µA (one ``.op`` each) on decks whose supplies carry the charge meters (a current-controlled source into a
1 F capacitor, as every deck had before) and on the decks the package writes now (meters in transients only);
the two take turns, median wall seconds, and the largest relative difference of K, the clamp error and the LDO
power. ngspice's "gmin stepping" notes are counted per deck.
"""
from __future__ import annotations

import argparse
from contextlib import ExitStack
from unittest import mock

import numpy as np

from testbenches.lif import neuron
from testbenches.lif.circuit import supply_lines
from timing import time_interleaved

CURRENTS = (100e-9, 1e-6, 10e-6, 200e-6)


def with_meters(name: str, vdd: float, meter: bool = True) -> list[str]:
    """:func:`supply_lines` with its charge meter whatever the analysis (the decks before)."""
    return supply_lines(name, vdd, True)


def run(meters: bool) -> tuple[dict[str, np.ndarray], int]:
    """``chain_dc`` over :data:`CURRENTS` and the number of its ``.op`` runs that fell back on gmin stepping."""
    logs: list[str] = []
    original = neuron.run_netlist

    def logged(text: str, *args, **kwargs):
        result = original(text, *args, **kwargs)
        logs.append(result.log)
        return result

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(neuron, "run_netlist", logged))
        if meters:
            stack.enter_context(mock.patch.object(neuron, "supply_lines", with_meters))
        dc = neuron.chain_dc(list(CURRENTS))
    return dc, sum("gmin stepping" in log for log in logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    seconds = time_interleaved({"meters": lambda: run(True), "transients only": lambda: run(False)}, args.repeat)
    (before, gmin_before), (now, gmin_now) = run(True), run(False)
    diff = max(float(np.max(np.abs(now[k] / before[k] - 1))) for k in ("k", "clamp_error", "p_ldo"))
    print(f"chain_dc at {len(CURRENTS)} currents: with meters {seconds['meters']:.3f} s "
          f"({gmin_before} of {len(CURRENTS)} .op with gmin stepping), transients only "
          f"{seconds['transients only']:.3f} s ({gmin_now} with gmin stepping): "
          f"{seconds['meters'] / seconds['transients only']:.2f}x; largest relative difference {diff:.1e}")


if __name__ == "__main__":
    main()
