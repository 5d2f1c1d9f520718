"""The device library. Each module defines one device and registers it on import.

To add a device: write ``spicegen/devices/<name>.py`` with one :class:`~spicegen.Device`
subclass decorated by :func:`~spicegen.register`, and add its module name below. The
registry-parametrised tests, ``spicegen emit --all`` and ``spicegen check --all`` pick it up.
"""
from importlib import import_module

LIBRARY = ("sinh_memristor", "diode_rs", "threshold_switch", "reram_cmo", "mdwmtj", "hfox_forming")

for _name in LIBRARY:
    import_module(f"{__name__}.{_name}")
