"""``zoo-read``: the read current of any model-zoo device, for Monte Carlo over its declared variations.

The first port is driven by ``vread`` and every other port is grounded; the states are held at their
initial values (``freeze=1``), so the operating point is a read of the as-fabricated device. Each sample
draws the device's declared variations (``d2d``, ``c2c`` ...), as in any Monte Carlo study.
"""
from __future__ import annotations

from pathlib import Path
from pkgutil import iter_modules
from typing import Any, Mapping

import spicegen
from spicegen import get_device
from spicegen.measure import Final
from spicegen.testbench import Circuit, Option, Testbench, register_testbench

from .mc_demo import FLAVOR

#: The zoo's device names, read from its folder: importing ``spicegen.devices`` would import every device
#: module (and sympy), which a Monte Carlo run from cached twins must not pay for.
DEVICES = tuple(sorted(module.name for module in iter_modules([str(Path(spicegen.__file__).parent / "devices/zoo")])))


def build_zoo_read(options: Mapping[str, Any]) -> Circuit:
    """One zoo device read at ``vread`` (V) on its first port, the other ports grounded."""
    model = get_device(options["device"])
    c = Circuit(f"zoo-read: {model.name} read current")
    c.element(f"Vread p 0 {float(options['vread'])!r}")
    c.save("i(vread)")
    values = {"freeze": 1.0} if model.states else {}
    c.device(model, "dut", ("p",) + ("0",) * (len(model.ports) - 1), flavor=options["flavor"], values=values)
    c.analysis(".op")
    return c


ZOO_READ = register_testbench(Testbench(
    name="zoo-read",
    doc="read current of a model-zoo device at its initial state (Monte Carlo over its declared variations)",
    build=build_zoo_read,
    measurements={"i_read": Final("i(vread)")},
    options=(Option("device", DEVICES[0], DEVICES, "zoo device under test"),
             Option("vread", 0.05, desc="read voltage on the first port (V)"),
             FLAVOR),
))
