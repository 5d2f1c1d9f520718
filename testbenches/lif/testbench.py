"""The LIF chain as a netlist testbench: ``spicegen sim lif-neuron`` and ``spicegen mc lif-neuron``.

One synapse (R_IC) + LDO/attenuator + LIF neuron of :mod:`testbenches.lif.circuit` under a DC
input current switched on at 1 us. Every bias voltage and the input current ``isyn`` are netlist
parameters (``--set vthr=1.8 --set isyn=100e-6``); every transistor of the LDO, the attenuator and
the neuron has a local threshold mismatch (BSIM4 ``delvto``, Pelgrom σ = :data:`A_VT` / √(W·L·m)),
so ``spicegen mc lif-neuron`` gives the spread of the firing rate under transistor mismatch.

Measurements: ``rate`` (1 / mean inter-spike interval from the first spike on, Hz), ``spikes``,
``t_first`` (first spike, s), ``width`` (first pulse at V_dd/2, s), ``p_lif`` and ``p_ldo``
(mean supply power of the neuron and of the LDO over the run, W). A spike is a rising crossing
of 1.65 V (V_dd/2 at the default V_dd) by OUT.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from spicegen.measure import SCALE, AvgPower, CrossTime, PulseWidth, SpikeCount, Waves, crossings
from spicegen.naming import format_number
from spicegen.params import Param, Variation
from spicegen.pdk import CORNERS, sky130_include
from spicegen.testbench import Circuit, Option, Testbench, register_testbench

from testbenches.lif.circuit import R_IC, Biases, Design, chain_lines, ldo_subckt, lif_subckt
from testbenches.lif.neuron import EDGE, OPTIONS, STEPS, V_IDLE

__all__ = ["A_VT", "SPIKE_LEVEL", "IsiRate", "build_neuron", "mismatch", "LIF_NEURON"]

A_VT = 10e-3 * 1e-6
"""Pelgrom threshold-mismatch coefficient (V·m): 10 mV·µm, a typical value for 130 nm thick-oxide
(5 V) transistors (the sky130 model files carry no mismatch), the value the P²M testbenches use."""
SPIKE_LEVEL = 1.65
"""OUT level (V) whose rising crossings are the spikes: V_dd/2 at the default V_dd = 3.3 V."""
T_ON = 1e-6
"""Time (s) at which the input current switches on."""
_BIAS_DESC = {"vdd": "supply of the LDO and the neuron", "vref": "LDO reference (clamp of the synapse node)",
              "vopa": "LDO OTA bias", "vgain": "DPI gain bias", "vtaun": "downward leak bias",
              "vtaup": "upward leak bias", "vrest": "resting potential", "vthr": "firing threshold",
              "vbcomp": "comparator bias", "vpw": "pulse-width (refractory) bias"}


@dataclass(frozen=True)
class IsiRate:
    """1 / mean interval between rising crossings of ``threshold`` by ``signal`` (Hz; NaN with < 2)."""

    unit: ClassVar[str] = "Hz"
    signal: str
    threshold: float

    def __call__(self, waves: Waves) -> float:
        spikes = crossings(waves[SCALE], waves[self.signal], self.threshold)
        return float(1.0 / np.mean(np.diff(spikes))) if spikes.size >= 2 else math.nan


def mismatch(lines: Sequence[str], prefix: str) -> tuple[list[str], list[Param]]:
    """``lines`` with ``delvto={dvt_<prefix>_<instance>}`` (e.g. ``dvt_lif_mcm``) on every transistor, and
    those parameters.

    Each parameter is 0 V nominal with a local normal variation of σ = A_VT / √(W·L·m): the ``m``
    parallel devices of an instance (the attenuator's 500 input cells) average their mismatch.
    """
    out: list[str] = []
    params: list[Param] = []
    for line in lines:
        words = line.split()
        if not words or words[0][0] not in "Mm":
            out.append(line)
            continue
        size = {k: float(v) for k, v in (w.split("=", 1) for w in words if "=" in w)}
        sigma = A_VT / math.sqrt(size["w"] * size["l"] * size.get("m", 1.0))
        name = f"dvt_{prefix}_{words[0].lower()}"
        params.append(Param(name, 0.0, "V", f"threshold shift of {words[0]} in .subckt {prefix} (mismatch)",
                            variation=Variation("local", sigma, relative=False)))
        out.append(f"{line} delvto={{{name}}}")
    return out, params


def build_neuron(options: Mapping[str, Any]) -> Circuit:
    """The chain under a DC input current, biases and input as parameters, transistor mismatch as slots.

    Raises
    ------
    ValueError
        If ``t_stop`` lies outside 10 us ... 1 s.
    """
    t_stop = float(options["t_stop"])
    if not 10e-6 <= t_stop <= 1.0:
        raise ValueError(f"option 't_stop' = {t_stop!r} s lies outside [1e-05, 1]; choose a value inside.")
    design = Design(corner=options["corner"])
    c = Circuit("lif-neuron: synapse + LDO + K = 500 attenuator + DPI LIF neuron under a DC input current")
    c.include(sky130_include(design.corner))
    for lines, prefix in ((ldo_subckt(design.ldo, design.attenuator), "ldo"), (lif_subckt(design.lif), "lif")):
        varied, params = mismatch(lines, prefix)
        for param in params:
            c.param(param)
        for line in varied:
            c.include(line)
    c.include(OPTIONS)
    for f in fields(Biases):
        c.param(Param(f.name, f.default, "V", _BIAS_DESC[f.name], (0.0, 5.0)))
    c.param(Param("isyn", 40e-6, "A", "DC synaptic input current (through R_IC into V_ref)", (0.0, 1e-3)))
    idle, on = f"{{vref-{format_number(V_IDLE)}}}", f"{{vref+isyn*{format_number(R_IC)}}}"
    c.element(f"Vin in 0 PWL(0 {idle} {format_number(T_ON)} {idle} {format_number(T_ON + EDGE)} {on})")
    for supply in ("vdda", "vddl"):
        c.element(f"V{supply} {supply} 0 {{vdd}}")
    for name in ("vref", "vopa", "vgain", "vtaun", "vtaup", "vrest", "vbcomp", "vpw"):
        c.element(f"V{name} {name} 0 {{{name}}}")
    c.element("Vvthr thr 0 {vthr}")
    c.element(".ic v(mem)={vrest}")
    for line in chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"):
        c.element(line)
    c.analysis(f".tran {format_number(t_stop / STEPS)} {format_number(t_stop)}")
    return c


LIF_NEURON = register_testbench(Testbench(
    name="lif-neuron",
    doc="LDO + K = 500 attenuator + DPI LIF neuron (sky130) under a DC input current; transistor mismatch",
    build=build_neuron,
    measurements={
        "rate": IsiRate("out", SPIKE_LEVEL),
        "spikes": SpikeCount("out", SPIKE_LEVEL),
        "t_first": CrossTime("out", SPIKE_LEVEL),
        "width": PulseWidth("out", SPIKE_LEVEL),
        "p_lif": AvgPower("vvddl", "vddl"),
        "p_ldo": AvgPower("vvdda", "vdda"),
    },
    options=(Option("corner", "tt", CORNERS, "sky130 process corner"),
             Option("t_stop", 1e-3, desc="transient length (s), 1e-5 ... 1")),
    specs={"spikes": (2.0, None)},
))
