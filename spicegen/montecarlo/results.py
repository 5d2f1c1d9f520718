"""Read a study folder as an ``xarray.Dataset`` or a ``pandas.DataFrame``.

Dataset layout: dimensions are the sweep axes (e.g. ``corner``) then ``sample`` (and ``event``
for per-event parameters). Every measurement is a data variable (NaN where a sample failed or
is missing), ``status`` is ``"ok"``, ``"failed"`` or ``"missing"`` and ``error`` holds ngspice's
message. The drawn parameter values are coordinates (named ``<name>_drawn`` when the parameter
is also a sweep axis, whose coordinate holds the nominal values). The study definition
(testbench, seed, settings ...) is in ``attrs["definition"]`` as JSON. Where the study recorded
them, measurements and parameters carry xarray's ``units`` attribute (``""``: dimensionless) and
parameters a ``long_name`` in words (``"i0 of sinh_memristor m1"``).
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .store import Record, Store


def _layout(store: Store) -> tuple[dict[str, Any], dict[str, list[Any]], int]:
    definition = store.meta("definition")
    return definition, {k: list(v) for k, v in definition["sweep"].items()}, int(store.meta("n") or 0)


def _label(param: str, axes: dict[str, list[Any]]) -> str:
    """Name of a parameter's drawn values, kept apart from a sweep axis of the same name."""
    return f"{param}_drawn" if param in axes else param


def load_dataset(folder: str | os.PathLike[str]) -> Any:
    """The study in ``folder`` as an :class:`xarray.Dataset` (sweep axes × sample).

    Raises
    ------
    FileNotFoundError
        If ``folder`` holds no study.
    """
    import xarray as xr

    with Store.open(folder) as store:
        definition, axes, n = _layout(store)
        described = store.meta("quantities") or {}
        records = [r for r, _ in store.records()]
    shape = (*(len(v) for v in axes.values()), n)
    dims = (*axes, "sample")
    measured = {m: np.full(shape, np.nan) for m in definition["measurements"]}
    params = {p: np.full(shape + ((e,) if e else ()), np.nan) for p, e in definition["params"].items()}
    status = np.full(shape, "missing", dtype=object)
    error = np.full(shape, "", dtype=object)
    for r in records:
        if r.sample >= n:
            continue
        at = (*np.unravel_index(r.point, shape[:-1]), r.sample)
        status[at], error[at] = ("ok" if r.ok else "failed"), r.error
        for name, value in r.results.items():
            measured[name][at] = value
        for name, value in r.params.items():
            params[name][at] = value
    data = {m: (dims, v) for m, v in measured.items()}
    data.update(status=(dims, status.astype(str)), error=(dims, error.astype(str)))
    coords: dict[str, Any] = {"sample": np.arange(n), **{k: v for k, v in axes.items()}}
    for p, e in definition["params"].items():
        coords[_label(p, axes)] = ((*dims, "event") if e else dims, params[p])
    attrs = {"definition": json.dumps(definition, sort_keys=True), "testbench": definition["testbench"],
             "seed": definition["seed"]}
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    for m, about in described.get("measurements", {}).items():
        if m in ds and about.get("unit") is not None:
            ds[m].attrs["units"] = about["unit"]
    for p, about in described.get("params", {}).items():
        if _label(p, axes) in ds.coords:
            ds[_label(p, axes)].attrs.update(units=about["unit"], long_name=about["label"])
    return ds


def load_dataframe(folder: str | os.PathLike[str], *, meta: bool = False) -> Any:
    """The stored samples of the study in ``folder`` as a :class:`pandas.DataFrame`.

    One row per stored (point, sample): the sweep axis values, ``sample``, ``status``,
    ``error``, one column per measurement and one per parameter (``name[j]`` for per-event
    values). With ``meta=True`` also ``elapsed``, ``worker``, ``finished`` and ``attempts``.
    """
    import pandas as pd

    with Store.open(folder) as store:
        definition, axes, _ = _layout(store)
        rows = [_row(r, attempts, axes, definition, meta) for r, attempts in store.records()]
    return pd.DataFrame(rows)


def simulated(frame: Any) -> Any:
    """The rows of a :func:`load_dataframe` frame whose sample simulated (``status`` ``"ok"``)."""
    return frame[frame["status"] == "ok"]


def _row(record: Record, attempts: int, axes: dict[str, list[Any]], definition: dict[str, Any],
         meta: bool) -> dict[str, Any]:
    shape = tuple(len(v) for v in axes.values())
    index = np.unravel_index(record.point, shape) if shape else ()
    row: dict[str, Any] = {axis: values[i] for (axis, values), i in zip(axes.items(), index)}
    row.update(sample=record.sample, status="ok" if record.ok else "failed", error=record.error)
    row.update({m: record.results.get(m, np.nan) for m in definition["measurements"]})
    for name, events in definition["params"].items():
        value, label = record.params.get(name, np.nan), _label(name, axes)
        if events:
            row.update({f"{label}[{j}]": v for j, v in enumerate(np.broadcast_to(value, (events,)))})
        else:
            row[label] = value
    if meta:
        row.update(elapsed=record.elapsed, worker=record.worker, finished=record.finished, attempts=attempts)
    return row
