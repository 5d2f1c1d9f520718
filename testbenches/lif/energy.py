"""Where a spike's energy goes: the neuron's supply charge per block, per spike (Garg et al. §III.E).

The neuron of :mod:`testbenches.lif.circuit` has one supply pin. Here every transistor that connects a
drain or source to it is moved onto a block's own supply node, fed from the pin through a 0 V source
(an ammeter) whose current a charge meter integrates (a current-controlled current source into a 1 F
capacitor, as :func:`~testbenches.lif.circuit.supply_lines` does for the whole supply). The PMOS wells
stay on the pin (their junction currents are the picoamperes the sum of the blocks misses). The reset
device M8 has no supply: its source gets an ammeter of its own, so the charge it takes from the
membrane per spike is reported beside the supply blocks (it is part of the "membrane" block's charge).

A breakdown runs the same chain twice: at rest (no input; the static power of each block, the mean over
the second half of the run) and under a DC input current until ``spikes`` spikes. The energy per spike
of a block is V_dd × (its charge between the second and the last spike − its static current × that
time) / the number of whole periods between them: whole inter-spike intervals in the steady state,
without the first interval (which starts from V_rest) and the time before the first spike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np

from spicegen.measure import spike_times
from spicegen.naming import format_number
from spicegen.ngspice import run_netlist

from testbenches.lif.circuit import LIF_SUBCKT, Biases, Design, chain_lines, lif_subckt
from testbenches.lif.neuron import MIN_SPIKE, V_IDLE, _period_guess, _rest, _tran, _until, netlist, step_source

__all__ = ["BLOCKS", "DESCRIPTIONS", "METERED_SUBCKT", "metered_subckt", "Breakdown", "block_charges", "breakdown", "describe"]

METERED_SUBCKT = "lif_metered"
"""Name of the neuron subcircuit with one supply ammeter per block."""

BLOCKS: dict[str, tuple[str, ...]] = {
    "input": ("mdin", "mdt"),
    "membrane": ("mdo", "mdby"),
    "gain_ref": ("mgd", "mda"),
    "tau_ref": ("mtp1", "mtp2"),
    "leak": ("mlt", "mlc", "mpbn", "mptn", "mpbp", "mptp"),
    "comparator": ("mct", "mcl"),
    "latch": ("mxapa", "mxbpa", "mi3p"),
    "timer_c2": ("mchg",),
    "timer_inv": ("mi2p",),
    "buffer": ("mb1p", "mb2p"),
}
"""The neuron's blocks: instance names (lower case) of the transistors whose drain or source is on V_dd.

``input``: the input diode and the mirror of the DPI tail current; ``membrane``: the DPI output device
and the direct input share (both charge C1); ``gain_ref`` / ``tau_ref``: the DPI's gain reference
(diode and the pair's reference side) and threshold reference (its mirror); ``leak``: the comparator
that picks the leak's direction and the two leak mirrors; ``comparator``: tail and output-stage load of
the firing comparator; ``latch``: the NOR latch and the inverter that gives ``spk``; ``timer_c2``: the
device that precharges C2; ``timer_inv``: the inverter that watches C2; ``buffer``: the two output
inverters (they charge C_out)."""

DESCRIPTIONS = {
    "input": "input diode + DPI tail mirror",
    "membrane": "DPI output + direct share (charge C1)",
    "gain_ref": "DPI gain reference (V_gain)",
    "tau_ref": "DPI threshold reference (V_taun)",
    "leak": "leak comparator + leak mirrors",
    "comparator": "firing comparator (V_bcomp)",
    "latch": "NOR latch + spk inverter",
    "timer_c2": "C2 precharge (M_chg)",
    "timer_inv": "C2 inverter",
    "buffer": "output buffer (C_out)",
}
"""What each block of :data:`BLOCKS` is, for tables."""


def _block_of(instance: str) -> str | None:
    for block, names in BLOCKS.items():
        if instance.lower() in names:
            return block
    return None


def metered_subckt(design: Design) -> list[str]:
    """``.subckt lif_metered`` (the ports of ``lif``): the neuron with a supply ammeter and a charge meter per block.

    Internal node ``q_<block>`` carries the charge (C) the block drew from V_dd; ``q_reset`` the charge
    through M8. Every transistor on V_dd belongs to exactly one block (checked).
    """
    lines = lif_subckt(design.lif)
    out, seen = [], set()
    for line in lines:
        words = line.split()
        if words[0].lower() == ".subckt" and words[1] == LIF_SUBCKT:
            words[1] = METERED_SUBCKT
        elif words[0].lower() == "m8":
            words[3] = "s_reset"
        elif words[0][0].lower() == "m" and "vdd" in (words[1], words[3]):
            block = _block_of(words[0])
            if block is None:
                raise ValueError(f"transistor {words[0]} is on V_dd but in no block of BLOCKS")
            seen.add(block)
            words[1], words[3] = (f"vdd_{block}" if w == "vdd" else w for w in (words[1], words[3]))
        if words[0].lower() == ".ends":
            for block in BLOCKS:
                out += [f"Vm_{block} vdd vdd_{block} 0", f"Fq_{block} 0 q_{block} Vm_{block} 1",
                        f"Cq_{block} q_{block} 0 1"]
            out += ["Vm_reset s_reset 0 0", "Fq_reset 0 q_reset Vm_reset 1", "Cq_reset q_reset 0 1",
                    f".ends {METERED_SUBCKT}"]
            continue
        out.append(" ".join(words))
    missing = set(BLOCKS) - seen
    if missing:
        raise ValueError(f"blocks {sorted(missing)} match no transistor on V_dd")
    return out


def _metered_body(body: list[str], design: Design) -> list[str]:
    """``body`` with the neuron ``Xlif`` replaced by the metered subcircuit, its definition and the meters' start."""
    swapped = [line.rsplit(" ", 1)[0] + f" {METERED_SUBCKT}" if line.startswith("Xlif") else line for line in body]
    ics = [f".ic v(xlif.q_{b})=0" for b in [*BLOCKS, "reset"]]
    return [*metered_subckt(design), *swapped, *ics]


@dataclass(frozen=True)
class Breakdown:
    """Energy per spike of each block (J), the static power of each (W), and what they were taken over.

    ``energy`` and ``static`` are keyed by the names of :data:`BLOCKS` plus ``reset`` (charge through M8
    times V_dd, not a supply: already inside ``membrane``). ``total`` is the supply's own meter (J per
    spike), ``sum_blocks`` the sum over the blocks (without ``reset``).
    """

    isyn: float
    rate: float
    periods: int
    energy: dict[str, float]
    static: dict[str, float]
    total: float
    static_total: float
    c2_swing: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def sum_blocks(self) -> float:
        """Sum of the supply blocks' energies per spike (J)."""
        return float(sum(v for k, v in self.energy.items() if k != "reset"))


def block_charges(isyn: float, t_stop: float, *, biases: Biases = Biases(), design: Design = Design(),
                  t_on: float = 1e-6) -> dict[str, np.ndarray]:
    """One transient of the metered chain: DC ``isyn`` (A; 0: no input, the membrane started at V_rest)
    switched on at ``t_on`` (s), until ``t_stop`` (s). Vectors: ``time``, ``out``, ``mem``, ``pw`` (C2),
    ``q_<block>`` and ``q_reset`` (C), ``q_total`` (the neuron supply's meter)."""
    src = step_source("Vin", "in", biases, isyn, t_on) if isyn > 0 else f"Vin in 0 {format_number(biases.vref - V_IDLE)}"
    body = [src, *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"), _rest("mem", biases)]
    r = run_netlist(netlist(_metered_body(body, design), _tran(t_stop), biases=biases, design=design))
    out = {"time": r["time"], "out": r["out"], "mem": r["mem"], "pw": r["xlif.pw"], "q_total": r["q_vddl"]}
    return out | {f"q_{b}": r[f"xlif.q_{b}"] for b in [*BLOCKS, "reset"]}


def breakdown(isyn: float, *, biases: Biases = Biases(), design: Design = Design(), spikes: int = 6,
              t_idle: float = 2e-3) -> Breakdown:
    """Energy per spike of each block of the neuron under DC ``isyn`` (A), static power subtracted.

    Runs the metered chain at rest (``t_idle`` s; static power per block over the second half) and
    firing (long enough for ``spikes`` spikes, grown 2x until it has them); the energies are over the
    whole periods from the second spike to the last. ``c2_swing`` is how far C2 falls in a spike (V).
    """
    if spikes < 3:
        raise ValueError(f"spikes must be >= 3 (two whole periods after the first), got {spikes!r}")
    idle = block_charges(0.0, t_idle, biases=biases, design=design)
    t = idle["time"]
    half = int(np.searchsorted(t, t[-1] / 2))
    span = float(t[-1] - t[half])
    static = {k[2:]: float(idle[k][-1] - idle[k][half]) / span * biases.vdd for k in idle if k.startswith("q_")}
    def fired(charges: dict[str, np.ndarray]) -> np.ndarray:
        return spike_times(charges["time"], charges["out"], biases.vdd / 2, MIN_SPIKE)

    run = _until(lambda t: block_charges(isyn, t, biases=biases, design=design),
                 _period_guess(isyn, biases, design) * (spikes + 1), lambda r: fired(r).size >= spikes, tries=6, grow=2)
    times = fired(run)
    if times.size < spikes:
        raise RuntimeError(f"the neuron fired {times.size} < {spikes} spikes at isyn = {isyn!r} A in "
                           f"{run['time'][-1]:g} s")
    time = run["time"]
    i0, i1 = (int(np.searchsorted(time, x)) for x in (times[1], times[-1]))
    periods = times.size - 2
    dt = float(time[i1] - time[i0])
    energy = {k[2:]: (float(run[k][i1] - run[k][i0]) * biases.vdd - static[k[2:]] * dt) / periods
              for k in run if k.startswith("q_")}
    total = energy.pop("total")
    static_total = static.pop("total")
    # C2's swing in the steady-state spikes: from its precharge level to its lowest point
    pw = run["pw"][i0:i1]
    swing = float(np.max(pw) - np.min(pw))
    return Breakdown(isyn=isyn, rate=periods / float(times[-1] - times[1]), periods=periods, energy=energy,
                     static=static, total=total, static_total=static_total, c2_swing=swing,
                     extra={"t_window": dt, "vmem_peak": float(np.max(run["mem"][i0:i1]))})


def describe(b: Breakdown) -> str:
    """A plain-text table of a breakdown (pJ per spike, static µW)."""
    rows = [f"I_syn {b.isyn * 1e6:g} uA: rate {b.rate:.1f} Hz over {b.periods} periods; C2 swing {b.c2_swing:.3f} V"]
    for k, v in b.energy.items():
        rows.append(f"  {k:11s} {v * 1e12:9.1f} pJ   static {b.static[k] * 1e6:8.4f} uW   {DESCRIPTIONS.get(k, 'M8')}")
    rows.append(f"  sum blocks {b.sum_blocks * 1e12:9.1f} pJ; supply meter {b.total * 1e12:9.1f} pJ; "
                f"static {b.static_total * 1e6:.3f} uW (blocks {sum(v for k, v in b.static.items() if k != 'reset') * 1e6:.3f})")
    return "\n".join(rows) + ("" if math.isfinite(b.total) else "\n  (no total)")
