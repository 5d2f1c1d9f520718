"""The catalog: every name the installed plug-ins register, the module that registers it, and its listing text.

``spicegen list``, ``spicegen study list`` and ``spicegen study describe`` read the catalog without
importing a single plug-in (so without sympy, scipy or lmfit), and :func:`~spicegen.testbench.get_testbench`,
:func:`~spicegen.study.get_study` and :func:`~spicegen.study.get_extraction` import only the module that
registers the name asked for.

The catalog is built in a fresh interpreter that imports every entry-point module of
:data:`spicegen.plugins.GROUPS` one at a time and records what each registered. It is stored in the
cache folder (:data:`CACHE_ENV`, else ``$XDG_CACHE_HOME/spicegen``, else ``~/.cache/spicegen``) under
the SHA-256 of spicegen's version, the entry points and the text of every ``.py`` and ``.json`` file of
spicegen and of the packages the entry points name (sources, and calibration files that set parameter
defaults), so any edit of a plug-in's source or data rebuilds it. Plug-in files
(``--plugin``, ``SPICEGEN_PLUGINS``) are not in it: they are imported as they always were and their
registrations are added to what the catalog lists.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pickle
import subprocess
import sys
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Mapping

from . import __version__
from .files import write_json
from .plugins import GROUPS

COMMANDS = "spicegen.commands"
"""Entry-point group of CLI command plug-ins; the catalog records the sub-commands each adds."""
CACHE_ENV = "SPICEGEN_CACHE"
"""Environment variable naming the folder the catalog is stored in."""
FORMAT = 1
"""Version of the stored catalog's layout (part of its key)."""

Catalog = dict[str, dict[str, dict[str, Any]]]
"""Kind → name → ``{"module": ..., "line": ..., ...}`` (studies also have ``"describe"``); kind ``"commands"``:
entry-point name → ``{"module": ..., "commands": {sub-command: help}}``."""

_cached: Catalog | None = None


def catalog() -> Catalog:
    """The catalog of the installed plug-ins: read from the cache, or built and stored when any source changed.

    Raises
    ------
    ImportError
        If a plug-in cannot be imported; the message names it.
    """
    global _cached
    if _cached is None:
        path = cache_folder() / f"catalog-{source_key()}.json"
        try:
            _cached = json.loads(path.read_text())
        except (OSError, ValueError):
            _cached = _build_in_fresh_interpreter()
            try:
                write_json(path, _cached)
            except OSError:  # a read-only cache: build again next time
                pass
    return _cached


def module_of(kind: str, name: str) -> str | None:
    """The module whose import registers ``name`` of ``kind``, or ``None`` if no entry point registers it."""
    entry = catalog().get(kind, {}).get(name)
    return None if entry is None else entry["module"]


def import_for(kind: str, name: str) -> bool:
    """Import the module that registers ``name`` of ``kind``; ``False`` if no entry point registers it."""
    module = module_of(kind, name)
    if module is not None:
        import_module(module)
    return module is not None


def stored_device(name: str) -> Any:
    """The :class:`~spicegen.device.DeviceModel` of device ``name`` as the catalog stores it (its
    expressions built on use), or ``None`` if no installed plug-in registers it."""
    entry = catalog().get("devices", {}).get(name)
    return None if entry is None else pickle.loads(base64.b64decode(entry["model"]))


def cache_folder() -> Path:
    """Where the catalog is stored (see the module documentation)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spicegen"


@cache
def source_key() -> str:
    """SHA-256 of everything the catalog depends on: version, entry points, the plug-in packages' sources
    (computed once per process)."""
    digest = hashlib.sha256(f"{__version__}\n{FORMAT}\n".encode())
    packages = {"spicegen"}
    installed = entry_points()  # one scan of the installed distributions (a scan per group costs ~15 ms each)
    for group in (*GROUPS.values(), COMMANDS):
        for entry in sorted(installed.select(group=group), key=lambda e: e.name):
            digest.update(f"{group} {entry.name} {entry.value}\n".encode())
            packages.add(entry.value.split(".")[0].split(":")[0])
    for package in sorted(packages):
        for path in _sources(package):
            digest.update(f"{path}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _sources(package: str) -> list[Path]:
    spec = find_spec(package)
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return sorted(p for folder in spec.submodule_search_locations for pattern in ("*.py", "*.json")
                      for p in Path(folder).rglob(pattern))
    return [Path(spec.origin)] if spec.origin else []


def _build_in_fresh_interpreter() -> Catalog:
    """Run :func:`build` in a new interpreter (this one may hold plug-ins already, which would hide who
    registers what) with the same module path and no plug-in files."""
    env = {k: v for k, v in os.environ.items() if k != "SPICEGEN_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-c", "import json, spicegen.catalog as c; print(json.dumps(c.build()))"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise ImportError(f"building the plug-in catalog failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def build() -> Catalog:
    """Import every entry-point module, kind by kind, and record what each registers (in this interpreter)."""
    from . import device, study, testbench

    tables: dict[str, Mapping[str, Any]] = {"devices": device._declared, "testbenches": testbench._testbenches,
                                            "studies": study._studies, "extractions": study._extractions}
    found: Catalog = {kind: {} for kind in tables}
    import_module("spicegen.devices")
    _record(tables, found, "spicegen.devices")
    for group in GROUPS.values():
        for entry in sorted(entry_points(group=group), key=lambda e: e.name):
            import_module(entry.value)
            _record(tables, found, entry.value)
    found["commands"] = _commands()
    return found


def _commands() -> dict[str, dict[str, Any]]:
    """Entry-point name → its module and the sub-commands (name → help) its function adds."""
    sub = argparse.ArgumentParser().add_subparsers()
    found = {}
    for entry in sorted(entry_points(group=COMMANDS), key=lambda e: e.name):
        before = {action.dest for action in sub._choices_actions}
        entry.load()(sub)
        found[entry.name] = {"module": entry.value, "commands": {action.dest: action.help for action in
                                                                 sub._choices_actions if action.dest not in before}}
    return found


def _record(tables: Mapping[str, Mapping[str, Any]], found: Catalog, module: str) -> None:
    for kind, table in tables.items():
        for name in sorted(set(table) - set(found[kind])):
            found[kind][name] = {"module": module, **describe(kind, name, table[name])}


def describe(kind: str, name: str, obj: Any) -> dict[str, str]:
    """The listing texts of one registered object: ``line`` (``spicegen list``) and, for a study,
    ``describe`` (``spicegen study describe``) and ``family``."""
    if kind == "devices":
        from dataclasses import replace

        from .device import _declared_model

        model = _declared_model(obj)
        states = ", ".join(st.name for st in model.states) or "-"
        return {"line": f"{name:20s} ports={','.join(model.ports):12s} states={states:8s} {model.doc}",
                "model": base64.b64encode(pickle.dumps(replace(model, declaration=None))).decode()}
    if kind == "testbenches":
        return {"line": f"{name:20s} {obj.doc}"}
    if kind == "studies":
        from .study import describe_study
        return {"line": f"{name:28s} [{obj.family}] {obj.doc}", "describe": describe_study(obj),
                "family": obj.family}
    return {"line": f"{name:28s} from {obj.source}: {obj.doc}"}


def listing(kind: str) -> dict[str, dict[str, str]]:
    """Name → texts of ``kind``: the catalog's, plus what plug-in files registered in this process."""
    from .plugins import load_files

    load_files()
    merged = dict(catalog()[kind])
    live = _live_table(kind)
    merged.update({name: describe(kind, name, obj) for name, obj in live.items() if name not in merged})
    return dict(sorted(merged.items()))


def _live_table(kind: str) -> Mapping[str, Any]:
    """The in-process registry of ``kind``; empty when its module was never imported (nothing registered)."""
    module, table = {"devices": ("device", "_declared"), "testbenches": ("testbench", "_testbenches"),
                     "studies": ("study", "_studies"), "extractions": ("study", "_extractions")}[kind]
    loaded = sys.modules.get(f"{__package__}.{module}")
    return {} if loaded is None else getattr(loaded, table)
