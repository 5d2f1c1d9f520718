"""The SOT magnetic domain-wall MTJ and the P²M MAC built from it."""

from . import device  # noqa: F401  (registers on import)
from . import mac  # noqa: F401  (registers on import)
