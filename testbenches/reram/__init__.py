"""The CMO/HfOx ReRAM, its 1T1R cell and the studies built on it."""

from . import cell, crossbar, crossbar_studies, program, pulse, studies  # noqa: F401  (register testbenches and studies on import)
