"""Calibrations and extractions of the CMO/HfOx ReRAM: transport, kinetics, per-pulse noise, σ_prog, relaxation."""

from . import calibration, d2d_joint, stats, studies, ttt  # noqa: F401  (register studies and extractions on import)
