"""Plug-ins: how devices, testbenches, studies, extractions, compilers and commands are found.

spicegen's own library registers exactly as a user's does, so ``spicegen`` itself imports
nothing above it:

- **Entry points** of the installed distributions, one group per kind (:data:`GROUPS`). An
  entry point names a module; importing it registers what it defines (``@register``,
  :func:`~spicegen.testbench.register_testbench`, :func:`~spicegen.study.register_study`,
  :func:`~spicegen.study.register_extraction`). ``spicegen.compilers`` and
  ``spicegen.commands`` name callables instead (see :func:`compiler` and :func:`commands`).
- **Files**: ``spicegen --plugin my_device.py ...`` or the environment variable
  ``SPICEGEN_PLUGINS`` (paths separated by ``os.pathsep``). A file is imported as a module named
  after it, with its folder on ``sys.path``, so Monte Carlo worker processes can import it too.

A package of your own declares, in its ``pyproject.toml``::

    [project.entry-points."spicegen.devices"]
    my_memristor = "my_package.my_memristor"
"""
from __future__ import annotations

import functools
import os
import sys
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

GROUPS: dict[str, str] = {
    "devices": "spicegen.devices",
    "testbenches": "spicegen.testbenches",
    "studies": "spicegen.studies",
    "extractions": "spicegen.extractions",
}
"""Kind → entry-point group whose entries are modules that register that kind on import."""
ENV = "SPICEGEN_PLUGINS"
"""Environment variable with plug-in files, separated by ``os.pathsep``."""

_loaded: set[str] = set()
_files: dict[Path, ModuleType] = {}


def load(kinds: Iterable[str] = tuple(GROUPS)) -> None:
    """Import every module registered for ``kinds`` (entry points) and the files of :data:`ENV`.

    Idempotent: a second call imports nothing new.

    Raises
    ------
    ImportError
        If a plug-in cannot be imported; the message names the entry point or file.
    """
    for kind in kinds:
        if kind not in GROUPS:
            raise ValueError(f"unknown plug-in kind {kind!r}; choose from {', '.join(GROUPS)}.")
        if kind in _loaded:
            continue
        _loaded.add(kind)
        for entry in sorted(entry_points(group=GROUPS[kind]), key=lambda e: e.name):
            try:
                import_module(entry.value)
            except Exception as exc:
                raise ImportError(f"plug-in {entry.name!r} ({GROUPS[kind]} = {entry.value!r}) failed to import: "
                                  f"{type(exc).__name__}: {exc}") from exc
    load_files()


def source_file(module: str) -> Path | None:
    """The source file of ``module`` (dotted name): an imported module's own file (plug-in files loaded by path
    included), else the one the import system would load; ``None`` when there is none."""
    from importlib.util import find_spec

    origin = getattr(sys.modules.get(module), "__file__", None)
    if origin is None:
        try:
            origin = getattr(find_spec(module), "origin", None)
        except ModuleNotFoundError:  # a parent package is missing
            origin = None
    return Path(origin) if origin and Path(origin).is_file() else None


def load_files() -> None:
    """Import the plug-in files of :data:`ENV` (idempotent)."""
    for path in os.environ.get(ENV, "").split(os.pathsep):
        if path.strip():
            load_file(path.strip())


def load_file(path: str | os.PathLike[str]) -> ModuleType:
    """Import the plug-in file ``path`` (a ``.py`` file defining devices, testbenches, studies ...).

    The file's folder goes on ``sys.path`` and the file is imported as the module named after it,
    so worker processes unpickle what it defines by name.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a ``.py`` file.
    ImportError
        If another module of the same name is already imported from elsewhere (rename the file).
    """
    file = Path(path).expanduser().resolve()
    if file in _files:
        return _files[file]
    if file.suffix != ".py" or not file.is_file():
        raise FileNotFoundError(f"plug-in {str(path)!r} is not a .py file; pass the path of a Python file "
                                "that defines devices, testbenches, studies or extractions.")
    name = file.stem
    known = sys.modules.get(name)
    if known is not None and Path(getattr(known, "__file__", "") or "").resolve() != file:
        raise ImportError(f"plug-in {str(path)!r} would be imported as module {name!r}, but a module of that name "
                          f"is already loaded from {getattr(known, '__file__', 'a built-in')}; rename the file.")
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    paths = [p for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    if str(file) not in paths:  # worker processes and Dask workers load the same files
        os.environ[ENV] = os.pathsep.join([*paths, str(file)])
    _files[file] = import_module(name)
    return _files[file]


@functools.cache  # scanning the installed distributions' entry points takes 10-30 ms; once per process
def compiler(name: str) -> Callable[..., Any]:
    """The model compiler registered as ``name`` in the ``spicegen.compilers`` group
    (``"osdi"``: ``veriloga.compile_model``, model → path of the compiled ``.osdi`` file).

    Raises
    ------
    LookupError
        If no installed distribution provides it.
    """
    for entry in entry_points(group="spicegen.compilers", name=name):
        return entry.load()
    raise LookupError(f"no {name!r} compiler is installed (entry point group 'spicegen.compilers'); "
                      "install spicegen with its veriloga package: pip install spicegen.")


def commands() -> list[Callable[[Any], None]]:
    """Functions of the ``spicegen.commands`` group: each adds sub-commands to the CLI's sub-parsers."""
    return [entry.load() for entry in sorted(entry_points(group="spicegen.commands"), key=lambda e: e.name)]
