"""The study folder: an SQLite database in WAL mode, one row per finished sample.

``<folder>/study.sqlite`` holds

- ``meta``: the study definition (JSON, including the seed), the plan's layout, the
  number of samples asked for so far and what the columns are (units, parameters in words);
- ``samples``: per (point, sample) the status, the drawn parameter values, the measurements,
  ngspice's message for a failure, and bookkeeping (seconds it took, which worker, when it
  finished, how many attempts).

Each batch of finished samples is one transaction, so a run killed at any moment (SIGKILL
included) leaves only whole samples behind, and re-running the same study computes exactly the
missing ones.
With ``synchronous=NORMAL`` a committed sample survives a crash of the process; only a power
loss can drop the last commits.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

FILE_NAME = "study.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    point INTEGER NOT NULL,
    sample INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    params TEXT NOT NULL,
    results TEXT NOT NULL,
    error TEXT NOT NULL,
    elapsed REAL NOT NULL,
    worker TEXT NOT NULL,
    finished REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (point, sample)
);
"""


class StudyMismatch(ValueError):
    """The folder already holds a study with another definition."""


@dataclass(frozen=True)
class Record:
    """One finished sample.

    Attributes
    ----------
    point, sample
        Sweep point and sample index.
    ok
        Whether it simulated and measured.
    params
        Drawn parameter values (lists for per-event values).
    results
        Measurement name → value (empty for a failure).
    error
        Why it failed (ngspice's message), else ``""``.
    elapsed
        Seconds spent on it.
    worker
        ``host:pid`` of the process that computed it.
    finished
        Unix time it finished.
    """

    point: int
    sample: int
    ok: bool
    params: Mapping[str, Any]
    results: Mapping[str, float]
    error: str
    elapsed: float
    worker: str
    finished: float


class Store:
    """An open study folder.

    Use :meth:`create_or_open` to start or resume a study and :meth:`open` to read one.
    """

    def __init__(self, folder: Path, connection: sqlite3.Connection) -> None:
        self.folder, self._db = folder, connection

    @classmethod
    def create_or_open(cls, folder: str | os.PathLike[str], definition: Mapping[str, Any]) -> Store:
        """Open the study in ``folder`` (created if needed), checking it has ``definition``.

        Raises
        ------
        StudyMismatch
            If the folder holds a study with another definition; the message lists the
            differences.
        """
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        definition = json.loads(json.dumps(dict(definition)))
        store = cls(path, _connect(path / FILE_NAME))
        stored = store.meta("definition")
        if stored is None:
            with store._db:
                store._set("definition", definition)
                store._set("created", time.time())
        elif stored != definition:
            store.close()
            raise StudyMismatch(f"the folder {str(path)!r} holds a different study ({_differences(stored, definition)}); "
                                "choose another --out folder, or delete this one to start over.")
        return store

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Store:
        """Open an existing study folder for reading.

        Raises
        ------
        FileNotFoundError
            If ``folder`` holds no study.
        """
        path = Path(folder)
        if not (path / FILE_NAME).is_file():
            raise FileNotFoundError(f"no Monte Carlo study in {str(path)!r} (no {FILE_NAME}); "
                                    "run 'spicegen mc TESTBENCH --out DIR' first.")
        return cls(path, _connect(path / FILE_NAME))

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta

    def meta(self, key: str) -> Any:
        """A stored meta value (``definition``, ``n``, ``created``, ``quantities``), or ``None``."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _set(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def write_quantities(self, quantities: Mapping[str, Any]) -> None:
        """Record what the columns are (:func:`~spicegen.montecarlo.plan.quantities`); read back as
        ``meta("quantities")``. Not part of the definition: a newer description replaces an older one."""
        with self._db:
            self._set("quantities", dict(quantities))

    def ask(self, n: int) -> int:
        """Record that ``n`` samples per point are wanted; returns the largest ``n`` asked so far."""
        largest = max(n, self.meta("n") or 0)
        with self._db:
            self._set("n", largest)
        return largest

    # -- samples

    def statuses(self) -> dict[tuple[int, int], bool]:
        """(point, sample) → ok, for every stored sample."""
        rows = self._db.execute("SELECT point, sample, ok FROM samples")
        return {(p, s): bool(ok) for p, s, ok in rows}

    def count_stored(self, n: int, *, include_failed: bool = True) -> int:
        """How many samples with index below ``n`` are stored (failed ones only if ``include_failed``)."""
        row = self._db.execute("SELECT COUNT(*) FROM samples WHERE sample < ? AND (ok = 1 OR ?)",
                               (n, int(include_failed))).fetchone()
        return int(row[0])

    def samples_to_run(self, point: int, n: int, retry_failed: bool = False) -> Iterator[int]:
        """Sample indices below ``n`` of ``point`` not stored yet (and the failed ones if
        ``retry_failed``), ascending; one byte per sample of memory."""
        wanted = bytearray(b"\x01") * n
        rows = self._db.execute("SELECT sample FROM samples WHERE point = ? AND sample < ? AND (ok = 1 OR ?)",
                                (point, n, int(not retry_failed)))
        for (sample,) in rows:
            wanted[sample] = 0
        return (sample for sample in range(n) if wanted[sample])

    def commit(self, records: Sequence[Record]) -> None:
        """Store ``records`` in one transaction (a retried sample replaces its row).

        A batch's samples arrive together, so committing them together loses nothing on a
        crash, and the database never holds part of a sample.
        """
        with self._db:
            self._db.executemany(
                "INSERT INTO samples (point, sample, ok, params, results, error, elapsed, worker, finished) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (point, sample) DO UPDATE SET "
                "ok = excluded.ok, params = excluded.params, results = excluded.results, "
                "error = excluded.error, elapsed = excluded.elapsed, worker = excluded.worker, "
                "finished = excluded.finished, attempts = samples.attempts + 1",
                [(r.point, r.sample, int(r.ok), json.dumps(r.params), json.dumps(r.results), r.error,
                  r.elapsed, r.worker, r.finished) for r in records],
            )

    def records(self) -> Iterator[tuple[Record, int]]:
        """Every stored sample with its attempt count, ordered by point and sample."""
        rows = self._db.execute("SELECT point, sample, ok, params, results, error, elapsed, worker, finished, "
                                "attempts FROM samples ORDER BY point, sample")
        for p, s, ok, params, results, error, elapsed, worker, finished, attempts in rows:
            yield Record(p, s, bool(ok), json.loads(params), json.loads(results), error, elapsed, worker,
                         finished), attempts


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_SCHEMA)
    return connection


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    shown = [f"{k}: stored {_short(stored.get(k))}, now {_short(wanted.get(k))}" for k in keys]
    return "; ".join(shown)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:16] + "…"
