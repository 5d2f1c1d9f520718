"""spicegen: one sympy compact model, every simulator, a fast surrogate."""
from .device import Check, Device, DeviceModel, Equations, Pwl, Sine, State, get_device, register, registry
from .params import Param, Variation

__version__ = "0.1.0"
__all__ = ["Check", "Device", "DeviceModel", "Equations", "Param", "Pwl", "Sine", "State", "Variation",
           "get_device", "register", "registry"]
