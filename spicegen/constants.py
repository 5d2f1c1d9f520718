"""Physical constants (CODATA 2018 exact SI values) used by the device library."""

BOLTZMANN = 1.380649e-23
"""Boltzmann constant k_B (J/K)."""
ELEMENTARY_CHARGE = 1.602176634e-19
"""Elementary charge e (C)."""
T_NOMINAL = 300.15
"""ngspice's default circuit temperature, 27 °C, in kelvin."""
