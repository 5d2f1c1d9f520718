"""Calibrated device values as package data: one JSON per device, written by its calibration studies.

A device file reads its calibrated defaults and variations from here, so a recalibration changes one
file (``spicegen/devices/calibration/<device>.json``), and the file says which study run produced
every value::

    {"device": "reram_cmo",
     "values": {"nu_set": 1.2e3, ...},                       # nominal parameter values
     "variations": {"nu_set": {"sigma": 0.8, "p_zero": 0.2}},  # fields of the parameter's Variation
     "sources": {"nu_set": {"study": "reram-calibration", "key": "…", "commit": "…"}}}

Calibration studies write the JSON into their output folder; ``spicegen study run NAME --set ship=yes``
also updates the package's copy (the only command that writes into the package, and only when asked).
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

from .files import write_json


def folder() -> Path:
    """Where the package keeps the calibration files."""
    return Path(str(files("spicegen.devices"))) / "calibration"


@lru_cache(maxsize=None)
def _read(device: str) -> dict[str, Any]:
    path = folder() / f"{device}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no calibration file for device {device!r} ({path}); run its calibration study "
                                "with --set ship=yes to create it.")
    return json.loads(path.read_text())


def value(device: str, name: str) -> float:
    """Calibrated nominal value of parameter ``name`` of ``device``."""
    values = _read(device)["values"]
    if name not in values:
        raise KeyError(f"the calibration of {device!r} has no value {name!r}; it has {sorted(values)}.")
    return float(values[name])


def variation(device: str, name: str) -> dict[str, Any]:
    """Calibrated :class:`~spicegen.params.Variation` fields of parameter ``name`` of ``device``."""
    table = _read(device).get("variations", {})
    if name not in table:
        raise KeyError(f"the calibration of {device!r} has no variation of {name!r}; it has {sorted(table)}.")
    return dict(table[name])


def update(device: str, out: Path, *, values: Mapping[str, float] | None = None,
           variations: Mapping[str, Mapping[str, Any]] | None = None, source: Mapping[str, Any],
           ship: bool = False) -> list[Path]:
    """Record calibrated ``values`` / ``variations`` of ``device`` (from the study run ``source``).

    Writes ``out/calibration_<device>.json`` (the shipped file with these entries replaced) and, with
    ``ship``, replaces the package's file too. Entries not named are kept.
    """
    try:
        data = json.loads(json.dumps(_read(device)))
    except FileNotFoundError:
        data = {"device": device, "values": {}, "variations": {}, "sources": {}}
    for name, v in (values or {}).items():
        data["values"][name] = float(v)
        data["sources"][name] = dict(source)
    for name, fields in (variations or {}).items():
        data["variations"][name] = dict(fields)
        data["sources"][f"{name}.variation"] = dict(source)
    written = [write_json(Path(out) / f"calibration_{device}.json", data)]
    if ship:
        written.append(write_json(folder() / f"{device}.json", data))
        _read.cache_clear()
    return written
