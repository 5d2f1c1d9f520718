"""Extractions and fitting studies of the MDWMTJ / P²M family: DW velocity law, f1/f2 surrogates, the P²M layer."""

from . import dw_velocity, f1f2, studies  # noqa: F401  (register studies and extractions on import)
