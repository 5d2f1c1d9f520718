"""Range checks of the LIF chain's biases and sizes: bad input is refused with its value and the valid range.

The checks read the dataclasses of :mod:`testbenches.lif.circuit` by their fields and do not import
that module, so its dataclasses can call them from ``__post_init__``:

- :func:`check_biases`: V_dd in (0, :data:`VDD_MAX`]; every other bias in [0, V_dd]; V_ref in
  [:data:`VREF_MIN`, V_dd], where the LDO still clamps the synapse node.
- :func:`check_design`: every capacitance, resistance, transistor width and length > 0, every
  parallel multiplier and the attenuation factor an integer >= 1.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from spicegen.naming import check_value

__all__ = ["VDD_MAX", "VREF_MIN", "check_bias", "check_bias_values", "check_biases", "check_design", "check_positive", "check_vref"]

VDD_MAX = 5.5
"""Highest supply (V) the sky130 g5v0d10v5 devices of the chain are rated for (5 V nominal + 10 %)."""
VREF_MIN = 0.85
"""Lowest V_ref (V) at which the LDO clamps the synapse node within 1 mV of V_ref up to 200 µA (tt, V_dd 3.3 V:
0.35 mV at 0.85 V, 39 mV at 0.8 V, where the OTA's NMOS input pair and tail leave saturation); up to V_dd the
clamp error stays below 0.3 mV."""
_UNITS = {"c": "F", "r": "ohm", "w": "m", "l": "m"}


def _refuse(what: str, value: Any, valid: str) -> ValueError:
    return ValueError(f"{what} = {value!r} is out of range; valid: {valid}.")


def check_positive(what: str, value: Any, unit: str) -> float:
    """``value`` as a float if it is finite and > 0, else a ValueError naming ``what``, the value and the range."""
    number = check_value(value, what)
    if number <= 0:
        raise _refuse(what, value, f"> 0 {unit}")
    return number


def check_bias(name: str, value: Any, vdd: float) -> float:
    """A bias voltage (V) inside [0, ``vdd``]."""
    number = check_value(value, f"bias {name}")
    if not 0.0 <= number <= vdd:
        raise _refuse(f"bias {name}", value, f"0 ... V_dd = {vdd:g} V")
    return number


def check_vref(vref: Any, vdd: float = 3.3) -> float:
    """V_ref (V) inside the LDO's clamping range [:data:`VREF_MIN`, ``vdd``]."""
    number = check_value(vref, "bias vref")
    if not VREF_MIN <= number <= vdd:
        raise _refuse("bias vref", vref, f"{VREF_MIN:g} ... V_dd = {vdd:g} V (the LDO's clamping range)")
    return number


def check_biases(biases: Any) -> None:
    """Refuse :class:`~testbenches.lif.circuit.Biases` with a bias outside 0 ... V_dd or V_ref outside the LDO's range.

    Raises
    ------
    ValueError
        Naming the bias, its value and the valid range.
    """
    check_bias_values({f.name: getattr(biases, f.name) for f in dataclasses.fields(biases)})


def check_bias_values(values: Mapping[str, Any]) -> None:
    """:func:`check_biases` on a mapping of bias name → value (V) holding ``vdd`` and ``vref``.

    The chain's netlist testbenches pass their biases here (their ``check``): the biases are
    parameters there, so ``spicegen sim lif-neuron --set vtaun=4`` is refused before ngspice runs.

    Raises
    ------
    ValueError
        Naming the bias, its value and the valid range.
    """
    values = dict(values)
    vdd = check_value(values.pop("vdd"), "bias vdd")
    if not 0.0 < vdd <= VDD_MAX:
        raise _refuse("bias vdd", vdd, f"> 0 ... {VDD_MAX:g} V")
    check_vref(values.pop("vref"), vdd)
    for name, value in values.items():
        check_bias(name, value, vdd)


def _unit(name: str) -> str:
    """Unit of a size field from its name (``c1``, ``c_comp`` -> F, ``r_zero`` -> ohm)."""
    return _UNITS.get(name[0], "")


def check_design(design: Any, path: str = "") -> None:
    """Refuse a :class:`~testbenches.lif.circuit.Design` (or any of its parts) with a size that is not physical.

    Every float field must be > 0 (a capacitance, a resistance, a width, a length); every integer
    field (a parallel multiplier, the attenuation ``k``) an integer >= 1. Nested dataclasses are
    checked field by field; other fields (the corner) are left to their users.

    Raises
    ------
    ValueError
        Naming the field by its path (``lif.c1``, ``ldo.pass_device.w``), its value and the valid range.
    """
    for f in dataclasses.fields(design):
        value, where = getattr(design, f.name), f"{path}{f.name}"
        if dataclasses.is_dataclass(value):
            check_design(value, f"{where}.")
        elif isinstance(value, bool):
            raise _refuse(where, value, "a number")
        elif isinstance(value, int):
            if value < 1:
                raise _refuse(where, value, "an integer >= 1")
        elif isinstance(value, float):
            check_positive(where, value, _unit(f.name))
