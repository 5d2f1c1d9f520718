"""The device library. Each module defines one device and registers it on import.

To add a device: write ``spicegen/devices/<name>.py`` with one :class:`~spicegen.Device`
subclass decorated by :func:`~spicegen.register`. Every module of this folder is imported, so
the registry-parametrised tests, ``spicegen emit --all`` and ``spicegen check --all`` pick it up.
Importing a device costs no sympy work: its model is built on first use.
"""
from importlib import import_module
from pkgutil import iter_modules

LIBRARY = tuple(sorted(info.name for info in iter_modules(__path__) if not info.ispkg))
"""Module names of the library's devices (every module of this folder)."""

for _name in LIBRARY:
    import_module(f"{__name__}.{_name}")
