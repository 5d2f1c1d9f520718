"""The LIF chain as a netlist testbench: ``spicegen sim lif-neuron`` and ``spicegen mc lif-neuron``.

One synapse (R_IC) + LDO/attenuator + LIF neuron of :mod:`testbenches.lif.circuit` under a DC
input current switched on at 1 us. Every bias voltage and the input current ``isyn`` are netlist
parameters (``--set vthr=1.8 --set isyn=100e-6``). Every transistor of the LDO, the attenuator and
the neuron has local mismatch of its threshold (BSIM4 ``delvto``, Pelgrom σ = :data:`A_VT` / √(W·L·m))
and of its width (σ = :data:`SIGMA_W` / √m, applied as the multiplier ``m``), so ``spicegen mc
lif-neuron`` gives the spread of the firing rate under transistor mismatch.

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

from spicegen.measure import SCALE, AvgPower, PulseWidth, SpikeCount, SpikeTime, Waves, spike_times
from spicegen.naming import format_number
from spicegen.params import Param, Variation
from spicegen.pdk import CORNERS, sky130_include
from spicegen.testbench import Circuit, Option, Testbench, register_testbench

from testbenches.lif.checks import check_bias_values
from testbenches.lif.circuit import R_IC, Biases, Design, chain_lines, ldo_subckt, lif_subckt
from testbenches.lif.neuron import EDGE, MIN_SPIKE, OPTIONS, STEPS, V_IDLE, corner_biases

__all__ = ["A_VT", "SIGMA_W", "SPIKE_LEVEL", "IsiRate", "mismatch", "chain_circuit", "build_neuron", "LIF_NEURON"]

A_VT = 10e-3 * 1e-6
"""Pelgrom threshold-mismatch coefficient (V·m): 10 mV·µm, a typical value for 130 nm thick-oxide
(5 V) transistors (the sky130 model files carry no mismatch), the value the P²M testbenches use."""
SIGMA_W = 5e-9
"""Local gate-width variation of one device (m, σ; truncated at 3σ): edge roughness of a 130 nm process,
the value the P²M testbenches use."""
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
    """1 / mean interval between the spikes of ``signal`` (Hz; NaN with < 2): pulses above ``threshold``
    lasting at least ``min_width``."""

    unit: ClassVar[str] = "Hz"
    signal: str
    threshold: float
    min_width: float = 0.0

    def __call__(self, waves: Waves) -> float:
        times = spike_times(waves[SCALE], waves[self.signal], self.threshold, self.min_width)
        return float(1.0 / np.mean(np.diff(times))) if times.size >= 2 else math.nan


def _mismatched(words: list[str], vt: str, dw: str) -> str:
    """An instance line with ``delvto={vt}`` and its multiplier scaled by (1 + ``dw``/W)."""
    size = dict(w.split("=", 1) for w in words if "=" in w)
    mult = size.get("m", "1")
    kept = [w for w in words if not w.startswith("m=")]
    return " ".join([*kept, f"m={{{mult}*(1+{dw}/{size['w']})}}", f"delvto={{{vt}}}"])


def mismatch(lines: Sequence[str], prefix: str) -> tuple[list[str], list[Param]]:
    """``lines`` with threshold and width mismatch on every transistor, and those parameters.

    Instance ``M<x>`` gets ``delvto={dvt_<prefix>_m<x>}`` (e.g. ``dvt_lif_mcm``): 0 V nominal, local
    normal, σ = A_VT / √(W·L·m). Its width change ``dw_<prefix>_m<x>`` (0 m nominal, local normal
    truncated at 3σ, σ = SIGMA_W / √m) scales the multiplier to m·(1 + ΔW/W): the same current and
    capacitance as a device ΔW wider, while W itself stays in its model bin (several devices sit at
    the bins' smallest width, 0.42 µm). The ``m`` parallel devices of an instance (the attenuator's
    500 input cells) average their mismatch.
    """
    out: list[str] = []
    params: list[Param] = []
    for line in lines:
        words = line.split()
        if not words or words[0][0] not in "Mm":
            out.append(line)
            continue
        size = {k: float(v) for k, v in (w.split("=", 1) for w in words if "=" in w)}
        count = size.get("m", 1.0)
        device = words[0].lower()
        vt, dw = f"dvt_{prefix}_{device}", f"dw_{prefix}_{device}"
        params.append(Param(vt, 0.0, "V", f"threshold shift of {words[0]} in .subckt {prefix} (mismatch)",
                            variation=Variation("local", A_VT / math.sqrt(size["w"] * size["l"] * count),
                                                relative=False)))
        params.append(Param(dw, 0.0, "m", f"width change of {words[0]} in .subckt {prefix} (mismatch)",
                            variation=Variation("local", SIGMA_W / math.sqrt(count), "truncnormal",
                                                relative=False)))
        out.append(_mismatched(words, vt, dw))
    return out, params


def chain_circuit(title: str, corner: str) -> Circuit:
    """Models, both subcircuits with every transistor's mismatch as slots, supplies and bias sources.

    Every bias of :class:`~testbenches.lif.circuit.Biases` is a parameter driving the node of its
    name (V_thr drives ``thr``), with the defaults a netlist of that corner uses (away from tt the LDO's
    V_opa is held at its tt supply power, :func:`~testbenches.lif.neuron.corner_biases`); the supplies
    are ``vdda`` (LDO) and ``vddl`` (neuron). Testbenches built on it draw the same mismatch for the
    same sample and seed.
    """
    design = Design(corner=corner)
    defaults = corner_biases(Biases(), design)
    c = Circuit(title)
    c.include(sky130_include(design.corner))
    for lines, prefix in ((ldo_subckt(design.ldo, design.attenuator), "ldo"), (lif_subckt(design.lif), "lif")):
        varied, params = mismatch(lines, prefix)
        for param in params:
            c.param(param)
        for line in varied:
            c.include(line)
    c.include(OPTIONS)
    for f in fields(Biases):
        c.param(Param(f.name, getattr(defaults, f.name), "V", _BIAS_DESC[f.name], (0.0, 5.0)))
    for supply in ("vdda", "vddl"):
        c.element(f"V{supply} {supply} 0 {{vdd}}")
    for name in ("vref", "vopa", "vgain", "vtaun", "vtaup", "vrest", "vbcomp", "vpw"):
        c.element(f"V{name} {name} 0 {{{name}}}")
    c.element("Vvthr thr 0 {vthr}")
    return c


def check_chain_biases(values: Mapping[str, float]) -> None:
    """A chain testbench's ``check``: its bias parameters inside 0 ... V_dd, V_ref inside the LDO's range."""
    check_bias_values({f.name: values[f.name] for f in fields(Biases)})


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
    c = chain_circuit("lif-neuron: synapse + LDO + K = 500 attenuator + DPI LIF neuron under a DC input current",
                      options["corner"])
    c.param(Param("isyn", 40e-6, "A", "DC synaptic input current (through R_IC into V_ref)", (0.0, 1e-3)))
    idle, on = f"{{vref-{format_number(V_IDLE)}}}", f"{{vref+isyn*{format_number(R_IC)}}}"
    c.element(f"Vin in 0 PWL(0 {idle} {format_number(T_ON)} {idle} {format_number(T_ON + EDGE)} {on})")
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
        "rate": IsiRate("out", SPIKE_LEVEL, MIN_SPIKE),
        "spikes": SpikeCount("out", SPIKE_LEVEL, MIN_SPIKE),
        "t_first": SpikeTime("out", SPIKE_LEVEL, min_width=MIN_SPIKE),
        "width": PulseWidth("out", SPIKE_LEVEL, min_width=MIN_SPIKE),
        "p_lif": AvgPower("vvddl", "vddl"),
        "p_ldo": AvgPower("vvdda", "vdda"),
    },
    options=(Option("corner", "tt", CORNERS, "sky130 process corner"),
             Option("t_stop", 1e-3, desc="transient length (s), 1e-5 ... 1")),
    specs={"spikes": (2.0, None)},
    check=check_chain_biases,
))
