"""The LDO + current attenuator + DPI LIF neuron chain."""
from . import testbench  # noqa: F401  (registers on import)
from . import studies  # noqa: F401  (registers on import)
from . import mc  # noqa: F401  (registers on import)
