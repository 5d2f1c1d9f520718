"""The device library. Each module defines one device and registers it on import.

To add a device: write ``spicegen/devices/<name>.py`` with one :class:`~spicegen.Device`
subclass decorated by :func:`~spicegen.register`. Every module of this folder and of its sub-packages
(``zoo/``: ports of public models) is imported, so
the registry-parametrised tests, ``spicegen emit --all`` and ``spicegen check --all`` pick it up.
Importing a device costs no sympy work: its model is built on first use.
"""
from importlib import import_module
from pkgutil import walk_packages

LIBRARY = tuple(sorted(info.name.removeprefix(f"{__name__}.") for info in walk_packages(__path__, f"{__name__}.")
                       if not info.ispkg))
"""Module names of the library's devices (every module of this folder and its sub-packages, e.g. ``zoo.yakopcic``)."""

for _name in LIBRARY:
    import_module(f"{__name__}.{_name}")
