"""Generic testbenches: the equivalence harness, the library report, the Monte Carlo demo."""

from . import mc_demo  # noqa: F401  (registers on import)
from . import studies  # noqa: F401  (registers on import)
from . import zoo  # noqa: F401  (registers on import)
