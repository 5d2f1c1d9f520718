"""Transistor-level netlists of the signal chain of Garg et al.: LDO + current attenuator + DPI LIF neuron.

N. Garg et al., "Versatile CMOS Analog LIF Neuron for Memristor-Integrated Neuromorphic Circuits",
give block diagrams (Figs. 1B, 2A-B, 7A), the bias table (Table I) and measured numbers, but no
transistor sizes, capacitor values or sub-block schematics. Everything below is built from sky130
5 V devices (``sky130_fd_pr__{n,p}fet_g5v0d10v5``) at V_dd = 3.3 V; every size is a named field of
a frozen dataclass, and ``docs/lif_neuron.md`` gives the source of each choice.

Signal chain (one neuron; ``[x]`` = subcircuit port)::

    IN ── R_syn ──┬── syn ──(+)OTA(−)── V_ref          LDO [Garg et al. §II.B, Fig. 2A]
                  │          │ og
                  └── drain M1 (NMOS pass, gate og)
                             │ ain
              low-voltage cascode mirror, input x K, output x 1      attenuator (K = 500)
                             │ iout  (sinks I_syn / K)
    LIF:  nin ── PMOS diode ─► mirror (x dpi gain) = tail of a PMOS differential pair:
          branch gate = mem, drain = mem (charges C1) | branch gate = V_gain, drain = gnd
          (the differential-pair integrator: C1 charges with the tail current while
          V_mem < V_gain and saturates near V_gain)
          leak toward V_rest: two PMOS pairs (mem vs V_rest), tails I_taun / I_taup from NMOS
          bias devices whose source sits on V_rest (gate V_taun / V_taup, subthreshold)
          comparator: PMOS-input OTA (tail and 2nd-stage load biased by V_bcomp), V_mem vs V_thr
          spike latch (two NOR gates) set by the comparator: while it is set, M8 holds mem at gnd,
          OUT is high and C2 (precharged to V_dd) discharges through M_pw (gate V_pw, source resistor
          R_pw); the latch is
          cleared when C2 crosses the inverter threshold, so V_pw sets pulse width = refractory time

Nodes brought out of the LIF subcircuit: ``mem`` (membrane, C1) and ``out`` (spike, V_dd
amplitude). The LDO OPAMP is a transistor-level two-stage Miller OTA: NMOS input pair with PMOS
mirror load and NMOS tail, PMOS common-source second stage with an NMOS mirror load (its output
reaches 0 V, so M1 is fully off when V_in < V_ref), both tails mirrored from a PMOS reference
whose gate is V_opa; ``c_comp`` in series with ``r_zero`` compensates it, and ``c_damp`` in series with
``r_damp`` from the regulated node to ground (the zero of an output capacitor's ESR) keeps the loop damped
when a large R_syn puts the pole of that node below the crossover.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from spicegen.calibration import CalibrationFile
from spicegen.naming import check_value, format_number
from spicegen.netlist import check_node
from spicegen.pdk import Corner, MosKind, sky130_include, sky130_mos

__all__ = [
    "Mos",
    "Biases",
    "LdoDesign",
    "AttenuatorDesign",
    "LifDesign",
    "Design",
    "nanoampere_references",
    "R_IC",
    "CALIBRATION",
    "calibrated",
    "LDO_SUBCKT",
    "LDO_OPEN_SUBCKT",
    "LDO_BIASES",
    "LIF_SUBCKT",
    "ldo_subckt",
    "lif_subckt",
    "model_lines",
    "chain_definition",
    "bias_lines",
    "chain_lines",
    "supply_lines",
]

#: On-chip series resistor R_IC (ohm) [Garg et al. §III.A]; the R_syn of every experiment here.
R_IC = 10e3
LDO_SUBCKT = "ldo_att"
LDO_OPEN_SUBCKT = "ldo_att_open"
"""The LDO + attenuator with its loop opened: the OTA's (+) input is the extra port ``fb`` instead of ``syn``."""
LIF_SUBCKT = "lif"
LDO_BIASES = ("held", "table")
"""How V_opa is set away from tt (:attr:`Design.ldo_bias`): held at the LDO's tt supply power, or as given."""
_LDO_PORTS = "vdd syn iout vref vopa"
_LIF_PORTS = "vdd nin mem thr out vgain vtaun vtaup vrest vbcomp vpw"
CALIBRATION = CalibrationFile("testbenches.lif", "calibration.json", "the LIF design", "calibration.json")
"""Package data beside this module: the calibrated sizes (``values``: ``c1``, ``c2``, ``c_dpi`` in F,
gate lengths ``l_*`` and M_pw's width ``w_pw`` in m, M_pw's source resistor ``r_pw`` in ohm) and, per value, the
study run that fitted it (``sources``)."""


def calibrated(name: str) -> float:
    """Calibrated value ``name`` (one of ``testbenches.lif.calibrate.PARAMETERS``) of the shipped calibration file."""
    return CALIBRATION.value(name)


@dataclass(frozen=True)
class Mos:
    """One transistor size: total width ``w`` and length ``l`` in metres, parallel multiplier ``mult``, and
    ``series`` such devices in series (common gate and bulk): a gate longer than the model bins' 100 µm."""

    w: float
    l: float  # noqa: E741  (SPICE name of the gate length)
    mult: int = 1
    series: int = 1

    def line(self, name: str, kind: MosKind, d: str, g: str, s: str, b: str) -> str:
        """The ngspice instance line of this size (sizes are checked against the sky130 bins); one device only."""
        if self.series != 1:
            raise ValueError(f"{name} is a stack of {self.series} devices: use Mos.lines")
        return sky130_mos(name, kind, d, g, s, b, w=self.w, l=self.l, mult=self.mult)

    def lines(self, name: str, kind: MosKind, d: str, g: str, s: str, b: str) -> list[str]:
        """The instance lines of this size: ``series`` devices ``<name>``, ``<name>s1`` ... from ``d`` to ``s``."""
        if isinstance(self.series, bool) or not isinstance(self.series, int) or self.series < 1:
            raise ValueError(f"series of {name} must be an integer >= 1, got {self.series!r}")
        if self.series == 1:
            return [self.line(name, kind, d, g, s, b)]
        nodes = [d, *(f"{name.lower()}_{k}" for k in range(1, self.series)), s]
        return [sky130_mos(name if k == 0 else f"{name}s{k}", kind, nodes[k], g, nodes[k + 1], b, w=self.w, l=self.l,
                           mult=self.mult) for k in range(self.series)]


@dataclass(frozen=True)
class Biases:
    """Bias voltages (V). Defaults: Table I of Garg et al. ("typical" column)."""

    vdd: float = 3.3
    vref: float = 2.4
    vopa: float = 2.4
    vgain: float = 2.1
    vtaun: float = 1.2
    vtaup: float = 1.2
    vrest: float = 0.6
    vthr: float = 1.2
    vbcomp: float = 2.4
    vpw: float = 1.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            check_value(value, f"bias {name}")


@dataclass(frozen=True)
class LdoDesign:
    """LDO sizes: OTA bias, input pair, mirror load, pass transistor M1, capacitors (F), resistors (Ω).

    ``c_damp`` (None: left out) in series with ``r_damp`` from ``syn`` to ground damps the loop when R_syn is large.
    """

    bias_ref: Mos = Mos(100e-6, 1e-6, 2)
    bias_mirror: Mos = Mos(2e-6, 2e-6)
    pair: Mos = Mos(10e-6, 1e-6)
    load: Mos = Mos(4e-6, 1e-6)
    stage2: Mos = Mos(8e-6, 1e-6)
    pass_device: Mos = Mos(50e-6, 0.5e-6)
    c_comp: float = 0.6e-12
    r_zero: float = 55e3
    c_syn: float = 0.1e-12
    c_damp: float | None = 10e-12
    r_damp: float = 50e3


@dataclass(frozen=True)
class AttenuatorDesign:
    """Low-voltage cascode mirror: ``k`` unit cells on the input side, one on the output side."""

    k: int = 500
    unit: Mos = Mos(2e-6, 1e-6)
    cascode: Mos = Mos(16e-6, 1e-6)


@dataclass(frozen=True)
class LifDesign:
    """LIF neuron sizes and capacitors (F).

    ``c1``, ``c2``, ``c_dpi``, the gate lengths of the bias devices and M_pw's width, length and source resistor
    ``r_pw`` (ohm; ``None``: M_pw's source on the switch) were fitted by the study
    ``lif-calibration`` (tt corner) and are read from the package's :data:`CALIBRATION`; the other sizes are design
    choices (docs/lif_neuron.md). :func:`nanoampere_references` gives the variant whose DPI references draw
    nanoamperes (the low-bias comparator mode of Garg et al. §III.E; measured, not the shipped design).
    """

    c1: float = calibrated("c1")
    c2: float = calibrated("c2")
    c_out: float = 1e-12
    c_dpi: float = calibrated("c_dpi")
    dpi_in: Mos = Mos(10e-6, 1e-6)
    dpi_tail: Mos = Mos(4e-6, 1e-6)
    bypass: Mos = Mos(0.42e-6, calibrated("l_bypass"))
    gain_bias: Mos = Mos(0.42e-6, calibrated("l_gain"))
    gain_ref: Mos = Mos(6.1e-6, 1e-6)
    dpi_out: Mos = Mos(20e-6, 1e-6)
    dpi_pair: Mos = Mos(2e-6, 1e-6)
    tau_bias: Mos = Mos(0.42e-6, calibrated("l_tau"))
    tau_mirror: Mos = Mos(2e-6, 1e-6)
    tau_ref: Mos = Mos(2e-6, 1e-6)
    leak_bias: Mos = Mos(20e-6, calibrated("l_leak"))
    leak_up_bias: Mos = Mos(0.42e-6, 1.589e-6)
    leak_unit: Mos = Mos(2e-6, 1e-6)
    leak_comp_bias: Mos = Mos(0.42e-6, 2e-6)
    comp_bias: Mos = Mos(100e-6, 1e-6)
    comp_unit: Mos = Mos(2e-6, 1e-6)
    charge: Mos = Mos(10e-6, 0.5e-6)
    pw: Mos = Mos(calibrated("w_pw"), calibrated("l_pw"))
    logic_n: Mos = Mos(2e-6, 1e-6)
    logic_p: Mos = Mos(2e-6, 1e-6)
    reset: Mos = Mos(2e-6, 1e-6)
    buffer_n: Mos = Mos(8e-6, 0.5e-6)
    buffer_p: Mos = Mos(16e-6, 0.5e-6)
    c_bias: float | None = None
    timer_inv_n: Mos = Mos(0.42e-6, 8e-6)
    timer_inv_p: Mos = Mos(0.42e-6, 8e-6)
    r_pw: float | None = calibrated("r_pw")


def nanoampere_references(lif: LifDesign) -> LifDesign:
    """``lif`` with the DPI's gain and threshold references at nanoamperes, the same diode voltages at Table I.

    The bias devices become stacks of 150 and 76 devices of their (calibrated) length in series, 1/154.5 and
    1/85.8 of one device's current at V_gain 2.1 V and V_taun 1.2 V (1.96 nA and 0.89 nA instead of 301 nA and
    76 nA); the diodes are 0.42 µm wide and as long as makes their voltages there those of the 6.1/1 and 2/1 µm
    diodes (within 0.01 mV, bisection on operating points); 5 pF from each reference node to V_dd holds it
    against the input pulses (docs/lif_neuron.md, "The low-bias comparator mode").
    """
    return replace(lif, gain_bias=replace(lif.gain_bias, series=150), gain_ref=Mos(0.42e-6, 29.20e-6),
                   tau_bias=replace(lif.tau_bias, series=76), tau_ref=Mos(0.42e-6, 30.49e-6), c_bias=5e-12)


@dataclass(frozen=True)
class Design:
    """The whole chain: LDO, attenuator and neuron, plus the process corner.

    ``ldo_bias`` is how V_opa is set away from tt: ``"held"`` re-tunes it so that the LDO draws the supply
    power it draws at tt (:func:`testbenches.lif.neuron.held_vopa`; at Table I's 2.4 V the LDO oscillates at
    ff, fs, ss and sf), ``"table"`` keeps the bias given.
    """

    ldo: LdoDesign = field(default_factory=LdoDesign)
    attenuator: AttenuatorDesign = field(default_factory=AttenuatorDesign)
    lif: LifDesign = field(default_factory=LifDesign)
    corner: Corner = "tt"
    ldo_bias: str = LDO_BIASES[0]


_PASSIVES = {"C": ("capacitor", "F"), "R": ("resistor", "ohm")}
"""SPICE letter of a two-terminal element -> (what it is, unit), for :func:`_passive`'s message."""


def _passive(name: str, a: str, b: str, value: float) -> str:
    """The netlist line of capacitor or resistor ``name`` (its SPICE letter says which), refusing a value <= 0."""
    what, unit = _PASSIVES[name[0]]
    value = check_value(value, f"{what} {name}")
    if value <= 0:
        raise ValueError(f"{what} {name} must be > 0 {unit}, got {value!r}")
    return f"{name} {a} {b} {format_number(value)}"


def ldo_subckt(ldo: LdoDesign, att: AttenuatorDesign, *, open_loop: bool = False) -> list[str]:
    """``.subckt ldo_att vdd syn iout vref vopa``: LDO clamping ``syn`` at ``vref`` + attenuator.

    ``iout`` sinks (I through M1) / ``att.k``. ``open_loop``: :data:`LDO_OPEN_SUBCKT`, whose OTA senses
    the extra port ``fb`` (for the loop gain, :func:`testbenches.lif.neuron.ldo_loop_gain`).
    """
    if isinstance(att.k, bool) or not isinstance(att.k, int) or att.k < 1:
        raise ValueError(f"attenuation k must be an integer >= 1 (unit-cell count), got {att.k!r}")
    inp = Mos(att.unit.w, att.unit.l, att.unit.mult * att.k)
    inc = Mos(att.cascode.w, att.cascode.l, att.cascode.mult * att.k)
    name, ports, sense = (LDO_OPEN_SUBCKT, f"{_LDO_PORTS} fb", "fb") if open_loop else (LDO_SUBCKT, _LDO_PORTS, "syn")
    return [
        f".subckt {name} {ports}",
        ldo.bias_ref.line("Mob", "pfet", "nb", "vopa", "vdd", "vdd"),
        ldo.bias_mirror.line("Mnb", "nfet", "nb", "nb", "0", "0"),
        ldo.bias_mirror.line("Mtl", "nfet", "tl", "nb", "0", "0"),
        # stage 1: o2 falls when syn rises; stage 2 (PMOS common source, NMOS mirror load) inverts
        ldo.pair.line("Mir", "nfet", "o1", "vref", "tl", "0"),
        ldo.pair.line("Mis", "nfet", "o2", sense, "tl", "0"),
        ldo.load.line("Mld1", "pfet", "o1", "o1", "vdd", "vdd"),
        ldo.load.line("Mld2", "pfet", "o2", "o1", "vdd", "vdd"),
        ldo.stage2.line("Ms2", "pfet", "og", "o2", "vdd", "vdd"),
        ldo.bias_mirror.line("Mn2", "nfet", "og", "nb", "0", "0"),
        _passive("Cc", "og", "oz", ldo.c_comp),
        _passive("Rz", "oz", "o2", ldo.r_zero),
        _passive("Csyn", "syn", "0", ldo.c_syn),
        # damping network: c_damp in series with r_damp adds a zero, as an LDO's output capacitor and its ESR do,
        # which keeps the loop's margin where a large R_syn puts the pole of syn below the crossover
        *([] if ldo.c_damp is None else [_passive("Cdamp", "syn", "dmp", ldo.c_damp),
                                         _passive("Rdamp", "dmp", "0", ldo.r_damp)]),
        ldo.pass_device.line("M1", "nfet", "syn", "og", "ain", "0"),
        inp.line("Ma1", "nfet", "ab", "ain", "0", "0"),
        inc.line("Ma3", "nfet", "ain", "ain", "ab", "0"),
        att.unit.line("Ma2", "nfet", "ob", "ain", "0", "0"),
        att.cascode.line("Ma4", "nfet", "iout", "ain", "ob", "0"),
        f".ends {name}",
    ]


def _dpi(d: LifDesign) -> list[str]:
    return [
        # input: the attenuator sinks I_in from the PMOS diode at nin; mirrors give the DPI its tail
        # current (sunk from cs) and the membrane a direct share bypass.w / dpi_in.w of it
        d.dpi_in.line("Mdin", "pfet", "nin", "nin", "vdd", "vdd"),
        d.dpi_in.line("Mdt", "pfet", "ti", "nin", "vdd", "vdd"),
        d.dpi_tail.line("Mdtn", "nfet", "ti", "ti", "0", "0"),
        d.dpi_tail.line("Mdts", "nfet", "cs", "ti", "0", "0"),
        d.bypass.line("Mdby", "pfet", "mem", "nin", "vdd", "vdd"),
        # I_gain: set by V_gain, mirrored by the diode that also gives the pair its reference gr
        *d.gain_bias.lines("Mgb", "nfet", "gr", "vgain", "0", "0"),
        *d.gain_ref.lines("Mgd", "pfet", "gr", "gr", "vdd", "vdd"),
        # the differential pair: the syn branch discharges C_syn, I_tau (V_taun) charges it
        d.dpi_pair.line("Mda", "nfet", "vdd", "gr", "cs", "0"),
        d.dpi_pair.line("Mdb", "nfet", "syn", "syn", "cs", "0"),
        *d.tau_bias.lines("Mtb", "nfet", "tb", "vtaun", "0", "0"),
        *d.tau_ref.lines("Mtp1", "pfet", "tb", "tb", "vdd", "vdd"),
        d.tau_mirror.line("Mtp2", "pfet", "syn", "tb", "vdd", "vdd"),
        _passive("Csyn", "syn", "vdd", d.c_dpi),
        # the DPI's bias nodes, when their references carry nanoamperes, held by capacitors to V_dd
        *([] if d.c_bias is None else [_passive("Cgr", "gr", "vdd", d.c_bias), _passive("Ctb", "tb", "vdd", d.c_bias)]),
        # output: I_out = I_gain (I_in / I_tau - 1) for I_in > I_tau, into the membrane
        d.dpi_out.line("Mdo", "pfet", "mem", "syn", "vdd", "vdd"),
        _passive("C1", "mem", "0", d.c1),
    ]


def _leak(d: LifDesign) -> list[str]:
    u = d.leak_unit
    return [
        # direction: a comparator of mem with V_rest (tail from V_bcomp); dn is high while mem > V_rest
        d.leak_comp_bias.line("Mlt", "pfet", "lt", "vbcomp", "vdd", "vdd"),
        u.line("Mlr", "pfet", "lo1", "vrest", "lt", "lt"),
        u.line("Mlm", "pfet", "dnb", "mem", "lt", "lt"),
        u.line("Mln1", "nfet", "lo1", "lo1", "0", "0"),
        u.line("Mln2", "nfet", "dnb", "lo1", "0", "0"),
        d.leak_comp_bias.line("Mlc", "pfet", "dn", "vbcomp", "vdd", "vdd"),
        u.line("Mli", "nfet", "dn", "dnb", "0", "0"),
        # down: I_taun (V_taun, source on V_rest, weak inversion: a long, wide device) mirrored to sink from mem
        # while dn is high
        d.leak_bias.line("Mbn", "nfet", "bn", "vtaun", "vrest", "0"),
        u.line("Mpbn", "pfet", "bn", "bn", "vdd", "vdd"),
        u.line("Mptn", "pfet", "kn", "bn", "vdd", "vdd"),
        u.line("Mndd", "nfet", "kn", "kn", "0", "0"),
        u.line("Mndl", "nfet", "sd", "kn", "0", "0"),
        u.line("Msd", "nfet", "mem", "dn", "sd", "0"),
        # up: I_taup (V_taup) mirrored to source into mem while dn is low
        d.leak_up_bias.line("Mbp", "nfet", "bp", "vtaup", "vrest", "0"),
        u.line("Mpbp", "pfet", "bp", "bp", "vdd", "vdd"),
        u.line("Mptp", "pfet", "su", "bp", "vdd", "vdd"),
        u.line("Msu", "pfet", "mem", "dn", "su", "vdd"),
    ]


def _inverter(d: LifDesign, name: str, a: str, y: str, n: Mos | None = None, p: Mos | None = None) -> list[str]:
    return [(p or d.logic_p).line(f"M{name}p", "pfet", y, a, "vdd", "vdd"),
            (n or d.logic_n).line(f"M{name}n", "nfet", y, a, "0", "0")]


def _nor(d: LifDesign, name: str, a: str, b: str, y: str) -> list[str]:
    return [d.logic_p.line(f"M{name}pa", "pfet", f"{name}_m", a, "vdd", "vdd"),
            d.logic_p.line(f"M{name}pb", "pfet", y, b, f"{name}_m", "vdd"),
            d.logic_n.line(f"M{name}na", "nfet", y, a, "0", "0"),
            d.logic_n.line(f"M{name}nb", "nfet", y, b, "0", "0")]


def _fire(d: LifDesign) -> list[str]:
    u = d.comp_unit
    return [
        # comparator: PMOS pair, co low when mem > thr; CS stage: cmp high when mem > thr
        d.comp_bias.line("Mct", "pfet", "ct", "vbcomp", "vdd", "vdd"),
        u.line("Mcp", "pfet", "co1", "thr", "ct", "ct"),
        u.line("Mcm", "pfet", "co", "mem", "ct", "ct"),
        u.line("Mcn1", "nfet", "co1", "co1", "0", "0"),
        u.line("Mcn2", "nfet", "co", "co1", "0", "0"),
        u.line("Mcs", "nfet", "cmp", "co", "0", "0"),
        d.comp_bias.line("Mcl", "pfet", "cmp", "vbcomp", "vdd", "vdd"),
        # spike latch: set by the comparator, cleared when C2 has discharged; spk = buffered latch state
        *_nor(d, "Xa", "pwb", "qb", "q"),
        *_nor(d, "Xb", "cmp", "q", "qb"),
        *_inverter(d, "i3", "qb", "spk"),
        # pulse width / refractory timer: C2 precharged to V_dd between spikes, discharged during a
        # spike through M_pw (gate V_pw), its source resistor R_pw (source degeneration: it flattens the
        # strong-inversion current, not the subthreshold one) and a switch; the spike ends when pw falls
        # below the inverter
        d.charge.line("Mchg", "pfet", "pw", "spk", "vdd", "vdd"),
        d.pw.line("Mpw", "nfet", "pw", "vpw", "pws" if d.r_pw is None else "pwr", "0"),
        *([] if d.r_pw is None else [_passive("Rpw", "pwr", "pws", d.r_pw)]),
        d.logic_n.line("Mpws", "nfet", "pws", "spk", "0", "0"),
        _passive("C2", "pw", "0", d.c2),
        *_inverter(d, "i2", "pw", "pwb", d.timer_inv_n, d.timer_inv_p),
        d.reset.line("M8", "nfet", "mem", "spk", "0", "0"),
        *_inverter(d, "b1", "spk", "ob"),
        *_inverter(d, "b2", "ob", "out", d.buffer_n, d.buffer_p),
    ]


def lif_subckt(d: LifDesign) -> list[str]:
    """``.subckt lif vdd nin mem thr out vgain vtaun vtaup vrest vbcomp vpw``: the LIF neuron.

    ``nin`` is the input (the attenuator output sinks the input current from it).
    """
    return [f".subckt {LIF_SUBCKT} {_LIF_PORTS}", *_dpi(d), *_leak(d), *_fire(d),
            _passive("Cout", "out", "0", d.c_out), f".ends {LIF_SUBCKT}"]


def model_lines(design: Design) -> list[str]:
    """Model include and both subcircuits; put once in every netlist."""
    return [sky130_include(design.corner), *ldo_subckt(design.ldo, design.attenuator), *lif_subckt(design.lif)]


def chain_definition(design: Design | None = None) -> dict[str, object]:
    """What a result of the chain depends on: the calibrated sizes (``calibration.json``) and a hash of the
    subcircuits of ``design`` (default: the shipped one), which hold every size, calibrated or chosen; a LIF
    study's key includes it, so a redesign is not answered from an earlier run."""
    text = "\n".join(model_lines(design or Design()))
    return {"design": CALIBRATION.read()["values"], "subcircuits": hashlib.sha256(text.encode()).hexdigest()[:16]}


def bias_lines(b: Biases, suffix: str = "", vthr: bool = True) -> list[str]:
    """Voltage sources of the bias nodes ``<name><suffix>`` (``thr`` only when ``vthr``)."""
    names = ["vref", "vopa", "vgain", "vtaun", "vtaup", "vrest", "vbcomp", "vpw"] + (["vthr"] if vthr else [])
    nodes = {"vthr": "thr"}
    return [f"V{n}{suffix} {check_node(nodes.get(n, n) + suffix)} 0 {format_number(getattr(b, n))}" for n in names]


def supply_lines(name: str, vdd: float, meter: bool = True) -> list[str]:
    """Supply ``V<name>`` on node ``<name>`` and, with ``meter``, a charge meter: ``v(q_<name>)`` = charge
    delivered (C).

    The meter is a current-controlled current source into a 1 F capacitor started at 0 V
    (``.ic``), so the simulator integrates the supply current with its own error control. It belongs in
    transients only: at an operating point its node has no DC path, the matrix is singular and ngspice
    falls back to gmin stepping.
    """
    check_node(name)
    supply = [f"V{name} {name} 0 {format_number(check_value(vdd, 'vdd'))}"]
    return supply + ([f"Fq{name} 0 q_{name} V{name} -1", f"Cq{name} q_{name} 0 1", f".ic v(q_{name})=0"]
                     if meter else [])


def chain_lines(tag: str, *, vdd_ldo: str, vdd_lif: str, vin: str, thr: str, suffix: str = "",
                r_syn: float = R_IC, open_loop: bool = False) -> list[str]:
    """One synapse + LDO/attenuator + LIF chain: input node ``vin``, membrane ``mem<tag>``, spike ``out<tag>``.

    ``suffix`` selects the bias node set (see :func:`bias_lines`); ``thr`` is the threshold node.
    The 0 V source ``Vi<tag>`` between attenuator and neuron measures the neuron input current:
    ``i(vi<tag>)`` > 0 when the attenuator sinks current from the neuron. ``open_loop``: the LDO is
    :data:`LDO_OPEN_SUBCKT`, its OTA sensing node ``fb<tag>`` (the netlist defines that subcircuit).
    """
    for node in (vdd_ldo, vdd_lif, vin, thr, f"mem{tag}"):
        check_node(node)
    r_syn = check_value(r_syn, "r_syn")
    if r_syn <= 0:
        raise ValueError(f"r_syn must be > 0 ohm, got {r_syn!r}")
    s = suffix
    return [
        f"Rsyn{tag} {vin} syn{tag} {format_number(r_syn)}",
        f"Xldo{tag} {vdd_ldo} syn{tag} iout{tag} vref{s} vopa{s} "
        + (f"fb{tag} {LDO_OPEN_SUBCKT}" if open_loop else LDO_SUBCKT),
        f"Vi{tag} nin{tag} iout{tag} 0",
        f"Xlif{tag} {vdd_lif} nin{tag} mem{tag} {thr} out{tag} vgain{s} vtaun{s} vtaup{s} vrest{s} "
        f"vbcomp{s} vpw{s} {LIF_SUBCKT}",
    ]
