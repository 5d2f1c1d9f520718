"""``s.vt`` and ``s.temperature``: ``$vt`` / ``$temperature`` in Verilog-A, the same numbers in every target."""
from __future__ import annotations

import pytest

from spicegen import Device, Equations, Param
from spicegen.constants import BOLTZMANN, ELEMENTARY_CHARGE, VT_PER_KELVIN
from spicegen.device import Symbols, build_model
from spicegen.netlist import format_instance, format_subckt, spice_constant
from spicegen.ngspice import run_netlist
from spicegen.numpy_code import load_numpy_module
from veriloga import compile_model, format_module
from veriloga.vacask import format_instance as vacask_instance
from veriloga.vacask import run_vacask


class ThermalProbe(Device):
    """Currents equal to the thermal voltage (port a) and a thousandth of the temperature (port b), per volt."""

    name = "thermal_probe"
    ports = ("a", "b")
    params = (Param("g", 1.0, "S", "scale", (0.0, 10.0)),)

    def equations(self, s):
        return Equations({("a",): s.g * s.vt * s.V("a"), ("b",): 1e-3 * s.g * s.temperature * s.V("b")})


def test_temperature_is_an_alias_of_T_and_both_print_as_the_target_spells_them():
    model = build_model(ThermalProbe)
    assert Symbols.temperature == Symbols.T
    va = format_module(model)
    assert "$vt" in va and "$temperature" in va and "1.38" not in va
    assert "((temper + 273.15)*(8.617332385e-05 - 3.9044830737e-16))" in format_subckt(model)


def test_a_twin_constant_survives_ngspice_rounding_to_11_digits():
    head, tail = spice_constant(VT_PER_KELVIN)[1:-1].split(" - ")
    assert float(head) - float(tail) == VT_PER_KELVIN and len(head) <= 16 and len(tail) <= 16


def test_the_thermal_voltage_uses_the_constants_of_openvaf_r():
    assert VT_PER_KELVIN == 1.3806488e-23 / 1.602176565e-19  # CODATA 2010, as openvaf-r's $vt
    assert VT_PER_KELVIN / (BOLTZMANN / ELEMENTARY_CHARGE) - 1 == pytest.approx(-1.018e-7, rel=1e-3)


@pytest.mark.ngspice
@pytest.mark.openvaf
@pytest.mark.vacask
@pytest.mark.parametrize("celsius", [-50.0, 27.0, 125.0])
def test_vt_and_temperature_agree_in_numpy_twin_osdi_and_vacask(celsius):
    model = build_model(ThermalProbe)
    osdi = str(compile_model(model))
    lines = [f"* thermal probe at {celsius} C", format_subckt(model), f".options temp={celsius!r}"]
    for flavor in ("twin", "osdi"):
        lines += format_instance(model, flavor, [f"a_{flavor}", f"b_{flavor}"], {}, flavor)
        lines += [f"Va_{flavor} a_{flavor} 0 1", f"Vb_{flavor} b_{flavor} 0 1"]
    ngspice = run_netlist("\n".join(lines + [".op", ".end"]), osdi=[osdi])
    vacask = run_vacask("\n".join(["thermal probe", "ground 0", "model vsource vsource",
                                   *vacask_instance(model, "d1", ["a", "b"]),
                                   "sa (a 0) vsource dc=1", "sb (b 0) vsource dc=1",
                                   "control", f"  options temp={celsius!r}", "  analysis op1 op", "endc"]), osdi=[osdi])
    kelvin = celsius + 273.15
    numpy = load_numpy_module(model).evaluate({"a": 1.0, "b": 1.0}, temperature=kelvin)["currents"]
    vt = {"numpy": float(numpy["a"]), "vacask": -vacask["sa:flow(br)"][0]}
    vt.update({flavor: -ngspice[f"va_{flavor}#branch"][0] for flavor in ("twin", "osdi")})
    temperature = {"numpy": float(numpy["b"]), "vacask": -vacask["sb:flow(br)"][0]}
    temperature.update({flavor: -ngspice[f"vb_{flavor}#branch"][0] for flavor in ("twin", "osdi")})
    for target in vt:
        assert vt[target] == pytest.approx(kelvin * VT_PER_KELVIN, rel=1e-12, abs=0), target
        assert temperature[target] == pytest.approx(1e-3 * kelvin, rel=1e-12, abs=0), target
