"""The LIF chain's firing-rate surrogate (study ``lif-rate-grid``, extraction ``lif-rate``) and the behavioural
twin's calibration (study ``lif-twin``)."""

from . import rate, twin  # noqa: F401  (registers on import)
