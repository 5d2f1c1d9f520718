"""Physical constants used by the device library.

Two sets, for two purposes:

* :data:`BOLTZMANN` and :data:`ELEMENTARY_CHARGE` are the CODATA 2018 exact SI values; device
  equations that write ``BOLTZMANN * s.T / ELEMENTARY_CHARGE`` print these numbers in every target.
* :data:`VT_PER_KELVIN` is what the thermal voltage ``s.vt`` is built from. The Verilog-A module
  prints ``s.vt`` as ``$vt``, and openvaf-r evaluates ``$vt`` with the CODATA 2010 values
  (k_B = 1.3806488e-23 J/K, q = 1.602176565e-19 C; measured: a compiled ``$vt`` run in ngspice
  and VACASK equals ``T * (1.3806488e-23 / 1.602176565e-19)`` to the last bit at 223.15, 300.15
  and 398.15 K), k_B/q 1.0e-7 below CODATA 2018. The ngspice twin and the numpy module print
  ``T * VT_PER_KELVIN``, so the three targets agree. Neither set is openvaf-r's
  ``constants.vams``, whose ``P_K`` and ``P_Q`` are CODATA 1998 (1.3806503e-23 J/K,
  1.602176462e-19 C: k_B/q 1.0e-6 above CODATA 2018).
"""

BOLTZMANN = 1.380649e-23
"""Boltzmann constant k_B (J/K), CODATA 2018."""
ELEMENTARY_CHARGE = 1.602176634e-19
"""Elementary charge e (C), CODATA 2018."""
OPENVAF_BOLTZMANN = 1.3806488e-23
"""k_B (J/K) as openvaf-r's ``$vt`` uses it (CODATA 2010)."""
OPENVAF_ELEMENTARY_CHARGE = 1.602176565e-19
"""q (C) as openvaf-r's ``$vt`` uses it (CODATA 2010)."""
VT_PER_KELVIN = OPENVAF_BOLTZMANN / OPENVAF_ELEMENTARY_CHARGE
"""Thermal voltage per kelvin (V/K): ``s.vt`` is ``T * VT_PER_KELVIN`` in the twin and numpy."""
