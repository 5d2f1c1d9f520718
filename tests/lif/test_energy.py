"""Where the neuron's energy per spike goes (per-block supply ammeters), in real ngspice with the sky130 models."""
from __future__ import annotations

from dataclasses import replace

import pytest

from spicegen.naming import format_number
from spicegen.ngspice import run_netlist

from testbenches.lif.circuit import Biases, Design, LifDesign, Mos, chain_lines, lif_subckt, nanoampere_references
from testbenches.lif.energy import BLOCKS, METERED_SUBCKT, breakdown, metered_subckt
from testbenches.lif.neuron import V_IDLE, firing_rate, idle_power, netlist
from testbenches.lif.power import vbcomp_for_power


def test_every_supply_device_is_metered_by_exactly_one_block() -> None:
    lines = metered_subckt(Design())
    assert lines[0].split()[1] == METERED_SUBCKT
    devices = [line.split() for line in lines if line[0] in "Mm"]
    # no transistor is left on the subcircuit's supply pin (the wells stay there: word 4 is the bulk)
    assert not [w[0] for w in devices if "vdd" in (w[1], w[3])]
    on_supply = {w[0].lower() for w in devices if any(x.startswith("vdd_") for x in (w[1], w[3]))}
    assert on_supply == {n for names in BLOCKS.values() for n in names}
    assert sum(line.startswith("Vm_") for line in lines) == len(BLOCKS) + 1  # the blocks and M8
    assert len([line for line in lines if line[0] in "Mm"]) == len([line for line in lif_subckt(LifDesign())
                                                                    if line[0] in "Mm"])


def test_a_stacked_device_is_a_chain_of_devices_sharing_gate_and_bulk() -> None:
    stack = Mos(0.42e-6, 50e-6, series=3)
    lines = stack.lines("Mgb", "nfet", "gr", "vgain", "0", "0")
    assert [line.split()[:5] for line in lines] == [["Mgb", "gr", "vgain", "mgb_1", "0"],
                                                    ["Mgbs1", "mgb_1", "vgain", "mgb_2", "0"],
                                                    ["Mgbs2", "mgb_2", "vgain", "0", "0"]]
    with pytest.raises(ValueError, match="stack of 3"):
        stack.line("Mgb", "nfet", "gr", "vgain", "0", "0")
    with pytest.raises(ValueError, match="series"):
        Mos(0.42e-6, 1e-6, series=0).lines("M1", "nfet", "d", "g", "0", "0")


@pytest.mark.ngspice
def test_the_blocks_add_up_to_the_supply_and_the_big_items_follow_their_arithmetic() -> None:
    design = Design()
    b = breakdown(200e-6, design=design, spikes=4)
    vdd = 3.3
    assert b.periods >= 2 and b.rate > 10e3
    # the blocks' ammeters account for the neuron supply (only the wells' junction currents are outside)
    assert b.sum_blocks == pytest.approx(b.total, rel=5e-3)
    assert sum(v for k, v in b.static.items() if k != "reset") == pytest.approx(b.static_total, rel=5e-3)
    # C2 is precharged from V_dd once per spike: C2 x swing x V_dd, and the tens of fF of the devices on its node
    assert design.lif.c2 * b.c2_swing * vdd < b.energy["timer_c2"] < 1.06 * design.lif.c2 * b.c2_swing * vdd
    # every charge that reaches the membrane leaves through M8
    assert b.energy["reset"] == pytest.approx(b.energy["membrane"], rel=0.02)
    # the buffer charges C_out to V_dd once per spike, and a little more (its own gates and crowbar)
    assert design.lif.c_out * vdd ** 2 < b.energy["buffer"] < 1.3 * design.lif.c_out * vdd ** 2
    # the starved inverter that watches C2 no longer conducts through while C2 slews past its threshold (with
    # 2/1 um devices it took 1.8 times C2's precharge)
    assert b.energy["timer_inv"] < 0.5 * b.energy["timer_c2"]
    # at rest the firing comparator's bias is most of the static power
    assert b.static["comparator"] > 0.7 * b.static_total


def _references(design: Design, biases: Biases) -> dict[str, float]:
    """Operating point: the DPI's gain / threshold reference voltages (V), their currents (A), neuron supply (W)."""
    body = [f"Vin in 0 {format_number(biases.vref - V_IDLE)}",
            *chain_lines("", vdd_ldo="vdda", vdd_lif="vddl", vin="in", thr="thr"),
            f"Vmem mem 0 {format_number(biases.vrest)}", ".save all @m.xlif.mgd[id] @m.xlif.mtp1[id]"]
    r = {k: float(v[0]) for k, v in run_netlist(netlist(body, ".op", biases=biases, design=design)).items()}
    return {"gr": r["xlif.gr"], "tb": r["xlif.tb"], "i_gain": r["i(@m.xlif.mgd[id])"],
            "i_tau": r["i(@m.xlif.mtp1[id])"], "p": -r["i(vvddl)"] * biases.vdd}


@pytest.mark.ngspice
def test_the_nanoampere_references_keep_the_reference_voltages_of_table_i() -> None:
    """The low-bias variant (not shipped): the same diode voltages at V_gain 2.1 V / V_taun 1.2 V at nanoamperes."""
    single = Design()
    nano = replace(single, lif=nanoampere_references(single.lif))
    before, after = _references(single, Biases()), _references(nano, Biases())
    assert after["gr"] == pytest.approx(before["gr"], abs=1e-3) and after["tb"] == pytest.approx(before["tb"], abs=1e-3)
    assert before["i_gain"] > 100e-9 and before["i_tau"] > 30e-9
    assert 0 < after["i_gain"] < 3e-9 and 0 < after["i_tau"] < 3e-9
    assert before["p"] - after["p"] > 1e-6  # the references no longer take a microwatt


@pytest.mark.ngspice
def test_the_low_bias_comparator_mode_reaches_17_nw_and_still_fires() -> None:
    # the shipped references alone draw 1.25 µW: out of reach, V_bcomp ends at V_dd
    assert vbcomp_for_power(17e-9, Biases(), Design()) == Biases().vdd
    design = replace(Design(), lif=nanoampere_references(LifDesign()))
    vbcomp = vbcomp_for_power(17e-9, Biases(), design)
    assert Biases().vbcomp < vbcomp < Biases().vdd
    low = replace(Biases(), vbcomp=vbcomp)
    assert idle_power(biases=low, design=design)["p_lif"] == pytest.approx(17e-9, rel=0.05)
    train = firing_rate(40e-6, biases=low, design=design, spikes=3)
    assert train.spikes.size >= 3 and train.rate > 1e3
