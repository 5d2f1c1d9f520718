"""Place spicegen devices in a PySpice 1.5 circuit (``pip install "spicegen[pyspice]"``).

PySpice is imported inside the functions, so ``import spicegen`` never needs it.

- :func:`place_twin` adds the device's SPICE twin (B-sources and capacitor state nodes, runs in
  any ngspice) as raw SPICE and an ``X`` instance.
- :func:`place_osdi` loads the compiled Verilog-A (``.osdi``) into PySpice's shared ngspice and
  adds a ``.model`` card and an ``N`` instance (PySpice has no ``N`` element of its own).
- :func:`ngspice_shared` returns PySpice's shared ngspice, set up for ngspice 46.

Measured with PySpice 1.5 and Debian's ngspice 46 (libngspice0 46+ds-1~bpo12+1):

- PySpice looks for ``libngspice.so``, which only the ``-dev`` package provides; the library is
  ``libngspice.so.0``. :func:`ngspice_shared` points PySpice at the file spicegen's own binding
  uses (``$SPICEGEN_LIBNGSPICE``, else ``ctypes.util.find_library('ngspice')``) unless
  ``$NGSPICE_LIBRARY_PATH`` or ``NgSpiceShared.LIBRARY_PATH`` was set by you.
- PySpice 1.5 knows ngspice up to version 34 and logs "Unsupported Ngspice version 46"; it then
  uses its table for the newest version it knows, which works. That one warning is dropped.
- ``pre_osdi`` fails in shared mode; ``osdi FILE`` works. It must come before the first circuit is
  loaded into that ngspice (a circuit parsed earlier is read out of bounds when it is removed), so
  call :func:`place_osdi` (or :func:`load_osdi`) before the first simulation.
- Debian's start-up file asks for 8 OpenMP threads (OSDI is about 20x slower on 2 cores) and
  ngspice 46 reads ``/proc/meminfo`` at every time point: ``set num_threads=1`` and
  ``set no_mem_check`` are sent once.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from .. import ngspice
from ..device import get_device
from ..netlist import format_instance, format_subckt

_VERSION_WARNING = "Unsupported Ngspice version"
_LOGGER = "PySpice.Spice.NgSpice.Shared.NgSpiceShared"


class _KnownVersion(logging.Filter):
    """Drops PySpice's 'Unsupported Ngspice version N' for N >= 46 (measured to work)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_VERSION_WARNING):
            try:
                return int(message.split()[-1]) < 46
            except ValueError:
                return True
        return True


def library_path() -> str:
    """The ``libngspice`` file PySpice should load: ``$NGSPICE_LIBRARY_PATH``, else the one spicegen's
    binding uses (:func:`spicegen.ngspice.library_path`)."""
    return os.environ.get("NGSPICE_LIBRARY_PATH") or ngspice.library_path()


def ngspice_shared(ngspice_id: int = 0) -> Any:
    """PySpice's shared ngspice (``NgSpiceShared.new_instance``), set up for ngspice 46.

    Pass it to ``circuit.simulator(simulator="ngspice-shared", ngspice_shared=...)``; PySpice's
    default simulator uses the same instance for ``ngspice_id=0``.
    """
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    logger = logging.getLogger(_LOGGER)
    if not any(isinstance(f, _KnownVersion) for f in logger.filters):
        logger.addFilter(_KnownVersion())
    if NgSpiceShared.LIBRARY_PATH is None or NgSpiceShared.LIBRARY_PATH.startswith("libngspice{}"):
        NgSpiceShared.LIBRARY_PATH = library_path()
    shared = NgSpiceShared.new_instance(ngspice_id=ngspice_id)
    if not getattr(shared, "_spicegen_ready", False):
        for command in ngspice.SETTINGS:
            shared.exec_command(command)
        shared._spicegen_ready = True
        shared._spicegen_osdi = set()
    return shared


def load_osdi(path: str | os.PathLike[str], ngspice: Any = None) -> Any:
    """Load a compiled ``.osdi`` into PySpice's shared ngspice (once per file); returns that ngspice.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    RuntimeError
        If a circuit was already loaded into this ngspice, or ngspice rejects the file.
    """
    shared = ngspice or ngspice_shared()
    file = Path(path).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"no compiled model at {file}; make one with 'spicegen compile DEVICE'.")
    if not all(c.isalnum() or c in "/._+-@%," for c in str(file)):
        raise ValueError(f"ngspice cannot load the path {str(file)!r}: use letters, digits and / . _ - only.")
    loaded = getattr(shared, "_spicegen_osdi", set())
    if str(file) in loaded:
        return shared
    if shared.plot_names and shared.plot_names != ["const"]:
        raise RuntimeError("load the .osdi before the first simulation: ngspice must know a device type "
                           "before it parses a circuit (call place_osdi before circuit.simulator().transient).")
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

    try:
        output = shared.exec_command(f"osdi {file}")
    except NgSpiceCommandError as exc:  # ngspice printed why (not an ELF file, wrong OSDI version ...)
        raise RuntimeError(f"ngspice could not load {file} as a compiled model; make one with "
                           "'spicegen compile DEVICE'.") from exc
    if "error" in output.lower() or "couldn't" in output.lower():
        raise RuntimeError(f"ngspice could not load {file}: {output.strip()}")
    loaded.add(str(file))
    shared._spicegen_osdi = loaded
    return shared


def _instance(circuit: Any, lines: Sequence[str]) -> None:
    circuit.raw_spice += "".join(f"{line}\n" for line in lines)


def place_twin(circuit: Any, device: str, name: str, nodes: Sequence[Any], **params: float) -> str:
    """Add ``device``'s SPICE twin subcircuit (once per circuit) and an instance ``X<name>``.

    Parameters
    ----------
    circuit
        A ``PySpice.Spice.Netlist.Circuit``.
    device
        Registered device name (``spicegen list``).
    name
        Instance name without the letter; the state node ``w`` reads as ``x<name>.w``.
    nodes
        One node per port (``circuit.gnd`` or ``0`` for ground).
    params
        Instance parameters (validated against the device's bounds).

    Returns
    -------
    str
        The instance line.
    """
    model = get_device(device)
    if f".subckt {model.name} " not in (circuit.raw_spice or ""):
        circuit.raw_spice += format_subckt(model)
    lines = format_instance(model, name, [str(n) for n in nodes], params, "twin")
    _instance(circuit, lines)
    return lines[-1]


def place_osdi(circuit: Any, device: str, name: str, nodes: Sequence[Any], *,
               osdi: str | os.PathLike[str] | None = None, ngspice: Any = None, **params: float) -> str:
    """Add ``device`` as compiled Verilog-A: ``.model m_<name>`` and an instance ``N<name>``.

    ``osdi`` is the compiled file (``spicegen compile DEVICE``); by default the device is compiled
    by the installed ``osdi`` compiler (openvaf-r, cached). The file is loaded into ``ngspice``
    (default: :func:`ngspice_shared`), which the circuit must be simulated with. The state node
    ``w`` reads as ``n<name>#w``.

    Returns
    -------
    str
        The instance line.
    """
    from .. import plugins

    model = get_device(device)
    path = osdi if osdi is not None else plugins.compiler("osdi")(model)
    load_osdi(path, ngspice)
    lines = format_instance(model, name, [str(n) for n in nodes], params, "osdi")
    _instance(circuit, lines)
    return lines[-1]


__all__ = ["library_path", "load_osdi", "ngspice_shared", "place_osdi", "place_twin"]
