"""The LIF chain's firing-rate surrogate: the study ``lif-rate-grid`` and the extraction ``lif-rate``."""

from . import rate  # noqa: F401  (registers on import)
