"""spicegen: one sympy compact model, every simulator, a fast surrogate."""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what static tools (type checkers, the API reference) read; at run time see __getattr__
    from spicegen.device import (Check, Device, DeviceModel, Equations, FlickerNoise, Pwl, Sine, State, WhiteNoise,
                                 get_device, register, registry)
    from spicegen.params import Param, Variation

__version__ = "0.1.0"
__all__ = ["Check", "Device", "DeviceModel", "Equations", "FlickerNoise", "Param", "Pwl", "Sine", "State",
           "Variation", "WhiteNoise", "get_device", "register", "registry"]

_HOMES = {**dict.fromkeys(("Param", "Variation"), ".params"),
          **dict.fromkeys(set(__all__) - {"Param", "Variation"}, ".device")}


def __getattr__(name: str) -> Any:
    # The public names are imported on first use, so `spicegen --help` and the CLI's start stay light.
    if name not in _HOMES:
        raise AttributeError(f"module 'spicegen' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name], __name__), name)
    globals()[name] = value
    return value
