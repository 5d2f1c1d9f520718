"""Text of a device in each target language, and the emitted library (``veriloga/library``)."""
from __future__ import annotations

from pathlib import Path

from spicegen.device import get_device, registry
from spicegen.files import write_text
from spicegen.netlist import format_subckt
from spicegen.numpy_code import format_numpy_module

from .module import format_module

FORMATS = ("veriloga", "spice", "numpy")
LIBRARY_DIR = Path(__file__).resolve().parent / "library"
"""The emitted library shipped with the package (Verilog-A ``.va`` and SPICE twins ``.cir``)."""


def render(name: str, fmt: str) -> str:
    """Text of device ``name`` in format ``fmt`` (one of :data:`FORMATS`)."""
    model = get_device(name)
    if fmt == "veriloga":
        return format_module(model)
    if fmt == "spice":
        return format_subckt(model)
    if fmt == "numpy":
        return format_numpy_module(model)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def write_library(directory: Path) -> list[Path]:
    """Write every registered device as ``<name>.va`` and its SPICE twin ``<name>.cir`` into ``directory``."""
    written = []
    for name in registry():
        for fmt, suffix in (("veriloga", ".va"), ("spice", ".cir")):
            written.append(write_text(Path(directory) / f"{name}{suffix}", render(name, fmt)))
    return written
