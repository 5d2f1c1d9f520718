"""Small Monte Carlo testbenches on the reference devices: the demo, two benchmark circuits and
one that fails on purpose.

``mc-demo`` exercises every variation kind in one circuit:

============================  ===============================================================
kind                          where
============================  ===============================================================
global                        ``vprog`` (programming amplitude, 2 %); ``rs`` of both diodes
                              (declared on ``diode_rs``: one draw shared by ``d1`` and ``d2``)
local (mismatch)              ``is_`` of each diode (declared, lognormal 20 %); the access
                              transistor's threshold (``delvto``, 10 mV) and width (3 %)
d2d                           the memristor's ``i0`` (lognormal 10 %) and ``a`` (3 %), a
                              correlated group (ρ = +0.8 / -0.8 with the common factor)
c2c                           the memristor's ``k`` (declared, 5 %), redrawn per pulse
timing jitter                 width and delay of each programming pulse (10 %, per pulse)
corners                       option ``corner`` (sweep it: ``--sweep corner=tt,ff,ss``)
============================  ===============================================================

Each sample programs the memristor ``m1`` of a 1T1R cell (sky130 NMOS access transistor) with
``pulses`` pulses, one ngspice run per pulse, carrying the state ``w`` from pulse to pulse, and
reads a pair of current-biased diodes.
"""
from __future__ import annotations

from typing import Any, Mapping

from spicegen import get_device
from spicegen.measure import CrossTime, Energy, Final, PulseWidth, SpikeCount
from spicegen.params import Param, Variation
from spicegen.pdk import CORNERS, sky130_include
from spicegen.testbench import Circuit, Events, Option, Testbench, register_testbench


PULSE_WIDTH = 20e-6
PULSE_DELAY = 1e-6
EDGE = 0.1e-6


FLAVOR = Option("flavor", "twin", ("twin", "osdi"), "device as B-source twin or compiled Verilog-A (OSDI)")


def build_demo(options: Mapping[str, Any]) -> Circuit:
    """The mc-demo circuit: a 1T1R cell programmed pulse by pulse, and a diode pair."""
    c = Circuit("mc-demo: 1T1R programming and a diode pair", events=options["pulses"])
    c.include(sky130_include(options["corner"]))
    c.param(Param("vprog", 1.4, "V", "programming pulse amplitude", (0.0, 5.0), Variation("global", 0.02)))
    c.param(Param("vgate", 1.3, "V", "access transistor gate voltage", (0.0, 5.0)))
    c.pulse("vw", "te", "0", v1=0.0, v2="vprog", delay=PULSE_DELAY, width=PULSE_WIDTH, rise=EDGE, fall=EDGE,
            width_jitter=Variation("c2c", 0.1), delay_jitter=Variation("c2c", 0.1))
    c.element("Vg g 0 {vgate}")
    c.mos("ma", "nfet", "d", "g", "0", "0", w=1e-6, l=0.5e-6,
          vth=Variation("local", 0.01, relative=False), width=Variation("local", 0.03))
    c.device("sinh_memristor", "m1", ("te", "d"), flavor=options["flavor"], values={"i0": 2e-5}, settable=("w0",),
            variations={"i0": Variation("d2d", 0.1, "lognormal", group="cond", correlation=0.8),
                        "a": Variation("d2d", 0.03, group="cond", correlation=-0.8)})
    for k in (1, 2):
        c.element(f"I{k} 0 d{k} 10u")
        c.device("diode_rs", f"d{k}", (f"d{k}", "0"), flavor=options["flavor"])
    c.analysis(f".tran 0.2u {PULSE_DELAY + 1.5 * PULSE_WIDTH:g}")
    return c


MC_DEMO = register_testbench(Testbench(
    name="mc-demo",
    doc="1T1R memristor programming + diode pair: every variation kind (global/local/d2d/c2c/jitter/corner)",
    build=build_demo,
    measurements={
        "w_final": Final("m1.w"),
        "t_half": CrossTime("m1.w", 0.4),
        "e_write": Energy("vw", "te"),
        "width1": PulseWidth("te", 0.7),
        "pulses": SpikeCount("te", 0.7),
        "vd1": Final("d1"),
        "vd2": Final("d2"),
    },
    options=(
        Option("corner", "tt", CORNERS, "sky130 process corner"),
        FLAVOR,
        Option("pulses", 4, desc="programming pulses (events) per sample"),
    ),
    procedure=Events(carry={"m1__w0": "m1.w"}),
    specs={"w_final": (0.4, None)},
))


def build_tran(options: Mapping[str, Any]) -> Circuit:
    """The benchmark transient: one memristor programmed by a jittered pulse train in one run."""
    c = Circuit("mc-tran: memristor programmed by a pulse train")
    c.param(Param("vprog", 1.4, "V", "programming pulse amplitude", (0.0, 5.0), Variation("global", 0.02)))
    c.pulse("vw", "te", "0", v1=0.0, v2="vprog", delay=PULSE_DELAY, width=3e-6, rise=EDGE, fall=EDGE,
            period=10e-6, count=options["pulses"], width_jitter=Variation("c2c", 0.1))
    c.device(get_device("sinh_memristor"), "m1", ("te", "0"))
    c.analysis(f".tran 0.1u {10e-6 * options['pulses']:g}")
    return c


MC_TRAN = register_testbench(Testbench(
    name="mc-tran",
    doc="memristor programmed by a jittered 4-pulse train in one transient (the throughput benchmark)",
    build=build_tran,
    measurements={"w_final": Final("m1.w"), "t_cross": CrossTime("m1.w", 0.3), "e_write": Energy("vw", "te")},
    options=(Option("pulses", 4, desc="pulses in the train"),),
))


def build_dc(options: Mapping[str, Any]) -> Circuit:
    """The benchmark operating point: one device at a shared bias (packs K samples per netlist).

    ``device="nmos"``: saturation current of a sky130 5 V NMOS (W/L = 1/0.5 µm, V_GS = 1.2 V,
    V_DS = 3.3 V) with local threshold mismatch (10 mV, set by ``alter`` without re-parsing) and,
    with ``mismatch="vth+w"``, width mismatch (3 %, a ``.param``: ``alterparam`` + ``reset``).
    ``device="diode"``: the current of a ``diode_rs`` at 0.6 V (local ``is_``, global ``rs``).
    """
    c = Circuit(f"mc-dc: {options['device']} current", shared_nodes=("bias", "gate"))
    c.element("Vbias bias 0 " + ("3.3" if options["device"] == "nmos" else "0.6"), shared=True)
    c.element("Vgate gate 0 1.2", shared=True)
    c.element("Vsense bias a 0")
    c.save("i(vsense)")
    if options["device"] == "nmos":
        c.include(sky130_include("tt"))
        width = Variation("local", 0.03) if options["mismatch"] == "vth+w" else None
        c.mos("mn", "nfet", "a", "gate", "0", "0", w=1e-6, l=0.5e-6,
              vth=Variation("local", 0.01, relative=False), width=width)
    else:
        c.device("diode_rs", "d1", ("a", "0"), flavor=options["flavor"])
    c.analysis(".op")
    return c


MC_DC = register_testbench(Testbench(
    name="mc-dc",
    doc="current of one device at a fixed bias, sky130 NMOS or diode (operating point; the packing benchmark)",
    build=build_dc,
    measurements={"id": Final("i(vsense)")},
    options=(Option("device", "nmos", ("nmos", "diode"), "device under test"),
             Option("mismatch", "vth+w", ("vth", "vth+w"), "NMOS mismatch: threshold, or threshold and width"),
             FLAVOR),
))


def build_fail(options: Mapping[str, Any]) -> Circuit:
    """A circuit ngspice cannot solve whenever the drawn ``vx`` is negative (about 16 % of samples)."""
    c = Circuit("mc-fail: ln of a node voltage")
    c.param(Param("vx", 1.0, "V", "bias whose logarithm is taken", (-10.0, 10.0),
                  Variation("local", 1.0, relative=False)))
    c.element("Vx x 0 {vx}")
    c.element("Rx x 0 1k")
    c.element("B1 y 0 V = ln(v(x))")
    c.element("Ry y 0 1k")
    c.analysis(".op")
    return c


MC_FAIL = register_testbench(Testbench(
    name="mc-fail",
    doc="ln(v(x)) with vx ~ N(1, 1): the negative draws fail in ngspice (failure handling demo)",
    build=build_fail,
    measurements={"y": Final("y")},
))
