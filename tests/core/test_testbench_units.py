"""Every registered netlist testbench knows the unit of every measurement (by its kind, the signal it
reads or the testbench's ``units``), so a Monte Carlo report's axes and tables never read "(unit not
declared)"."""
from __future__ import annotations

import pytest

from spicegen import testbench as tb_api
from spicegen.testbench import get_testbench

# building a circuit with the default (compiled Verilog-A) flavour compiles the device models
pytestmark = pytest.mark.openvaf


@pytest.mark.parametrize("name", list(tb_api.testbench_names()))
def test_every_measurement_has_a_unit(name):
    testbench = get_testbench(name)
    units = testbench.measurement_units(testbench.circuit())
    assert [m for m, unit in units.items() if unit is None] == [], (
        f"{name}: declare these units in Testbench(units=...) or as the measurement's `unit`")


@pytest.mark.parametrize("name, expected", [
    # wall displacement: the state node holds q / l_FL, scaled back to metres
    ("mdwmtj-pulse", {"dq_100ua": "m", "dq_m200ua": "m"}),
    ("mdwmtj-rq", {"r_p": "Ohm", "r_ap": "Ohm", "ap_over_p": "", "monotone": "", "tmr_100mv": ""}),
    ("p2m-f1", {"dq0": "m", "dq8": "m"}),
    # the raw state node: a position normalised to l_FL, not the state's metres
    ("p2m-f2", {"d_pos": "", "d_neg": "", "v_pre": ""}),
    ("p2m-mac", {"q_pos": "m", "q_neg_rst": "m", "v_pre": "V", "spike": ""}),
    ("reram-forming", {"V_form": "V", "V_form_1T1R": "V", "I_form": "A"}),
    ("reram-read", {"R_LRS": "Ohm", "R_HRS": "Ohm"}),
    ("reram-cycling", {"R_LRS": "Ohm", "R_HRS": "Ohm"}),
    ("lif-neuron", {"rate": "Hz", "spikes": "", "t_first": "s", "p_lif": "W"}),
])
def test_device_family_measurements_have_the_right_unit(name, expected):
    testbench = get_testbench(name)
    units = testbench.measurement_units(testbench.circuit())
    assert {m: units[m] for m in expected} == expected
