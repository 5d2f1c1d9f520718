"""The CMO/HfOx ReRAM, its 1T1R cell and the studies built on it."""

from . import studies  # noqa: F401  (registers on import)
from . import program  # noqa: F401  (registers on import)
from . import pulse  # noqa: F401  (registers on import)
from . import crossbar  # noqa: F401  (registers on import)
