"""Calibrated values as package data: a JSON file per device (or circuit design), written by its calibration studies.

A device file reads its calibrated defaults and variations from here, so a recalibration changes one
file (``spicegen/devices/calibration/<device>.json``), and the file says which study run produced
every value::

    {"device": "reram_cmo",
     "values": {"nu_set": 1.2e3, ...},                       # nominal parameter values
     "variations": {"nu_set": {"sigma": 0.8, "p_zero": 0.2}},  # fields of the parameter's Variation
     "sources": {"nu_set": {"study": "reram-calibration", "key": "…", "commit": "…"}}}

A circuit design keeps its calibrated sizes the same way in a :class:`CalibrationFile` of its own
package. Calibration studies write the JSON into their output folder; ``spicegen study run NAME --set
ship=yes`` also updates the package's copy (the only command that writes into the package, and only
when asked).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

from .files import write_json


@dataclass(frozen=True)
class CalibrationFile:
    """One calibration file shipped inside a package.

    Parameters
    ----------
    package
        The package holding it (``importlib.resources`` anchor).
    name
        Its path inside the package.
    subject
        What it calibrates, for messages (``"device 'reram_cmo'"``).
    out_name
        Name of the copy a calibration study writes into its run folder.
    """

    package: str
    name: str
    subject: str
    out_name: str

    @property
    def path(self) -> Path:
        """The file inside the installed package."""
        return Path(str(files(self.package))) / self.name

    def read(self) -> dict[str, Any]:
        """The file's content (read once per process; :meth:`update` with ``ship`` re-reads it)."""
        return _read(str(self.path), self.subject)

    def value(self, name: str) -> float:
        """Calibrated value ``name``."""
        values = self.read()["values"]
        if name not in values:
            raise KeyError(f"the calibration of {self.subject} has no value {name!r}; it has {sorted(values)}.")
        return float(values[name])

    def variation(self, name: str) -> dict[str, Any]:
        """Calibrated :class:`~spicegen.params.Variation` fields of parameter ``name``."""
        table = self.read().get("variations", {})
        if name not in table:
            raise KeyError(f"the calibration of {self.subject} has no variation of {name!r}; it has {sorted(table)}.")
        return dict(table[name])

    def update(self, out: Path, *, values: Mapping[str, float] | None = None,
               variations: Mapping[str, Mapping[str, Any]] | None = None, source: Mapping[str, Any],
               detail: Mapping[str, Mapping[str, Any]] | None = None, ship: bool = False) -> list[Path]:
        """Record calibrated ``values`` / ``variations`` from the study run ``source``.

        Writes ``out/<out_name>`` (the shipped file with these entries replaced; entries not named are
        kept) and, with ``ship``, replaces the package's file too. ``detail`` adds per-entry fields to
        an entry's source (e.g. the lmfit stage that fitted it).
        """
        try:
            data = json.loads(json.dumps(self.read()))
        except FileNotFoundError:
            data = {"values": {}, "variations": {}, "sources": {}}
        for name, v in (values or {}).items():
            data["values"][name] = float(v)
            data["sources"][name] = {**source, **(detail or {}).get(name, {})}
        for name, fields in (variations or {}).items():
            data.setdefault("variations", {})[name] = dict(fields)
            data["sources"][f"{name}.variation"] = {**source, **(detail or {}).get(name, {})}
        written = [write_json(Path(out) / self.out_name, data)]
        if ship:
            written.append(write_json(self.path, data))
            _read.cache_clear()
        return written


@lru_cache(maxsize=None)
def _read(path: str, subject: str) -> dict[str, Any]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no calibration file for {subject} ({path}); run its calibration study "
                                "with --set ship=yes to create it.")
    return json.loads(Path(path).read_text())


def significant(value: float, digits: int) -> float:
    """``value`` rounded to ``digits`` significant digits, as a calibrated value is written (more digits would
    only record a fit's numerical noise)."""
    return float(f"{value:.{digits}g}")


def device_file(device: str) -> CalibrationFile:
    """The calibration file of a library device."""
    return CalibrationFile("spicegen.devices", f"calibration/{device}.json", f"device {device!r}",
                           f"calibration_{device}.json")


def folder() -> Path:
    """Where the package keeps the devices' calibration files."""
    return Path(str(files("spicegen.devices"))) / "calibration"


def value(device: str, name: str) -> float:
    """Calibrated nominal value of parameter ``name`` of ``device``."""
    return device_file(device).value(name)


def variation(device: str, name: str) -> dict[str, Any]:
    """Calibrated :class:`~spicegen.params.Variation` fields of parameter ``name`` of ``device``."""
    return device_file(device).variation(name)


def update(device: str, out: Path, *, values: Mapping[str, float] | None = None,
           variations: Mapping[str, Mapping[str, Any]] | None = None, source: Mapping[str, Any],
           ship: bool = False) -> list[Path]:
    """Record calibrated values / variations of ``device`` (see :meth:`CalibrationFile.update`)."""
    return device_file(device).update(out, values=values, variations=variations, source=source, ship=ship)
