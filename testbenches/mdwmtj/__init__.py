"""The SOT magnetic domain-wall MTJ and the P²M MAC built from it."""

from . import device, mac, studies  # noqa: F401  (register testbenches and studies on import)
