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
loss can drop the last commits. Every commit is followed by a checkpoint that copies it from
``study.sqlite-wal`` into ``study.sqlite``, and closing the store empties the log, so
``study.sqlite`` alone holds every sample committed before the last one (after a SIGKILL during a
commit, the log beside it holds that last batch).

One process at a time writes a study: :meth:`Store.create_or_open` takes an exclusive lock on
``<folder>/study.lock`` (an ``flock``, which the system releases when the holder dies, even by
SIGKILL) and refuses a second writer, naming the holder's process id. Checking for a stored
definition and writing one is a single ``BEGIN IMMEDIATE`` transaction. Readers
(:meth:`Store.open`) never write: they open the database read-only, so a study on read-only
storage (an archive, a copy of ``study.sqlite`` alone) can be read.
"""
from __future__ import annotations

import errno
import fcntl
import itertools
import json
import math
import operator
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

FILE_NAME = "study.sqlite"
LOCK_NAME = "study.lock"
_T = TypeVar("_T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS samples (
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
)""",
)


class StudyMismatch(ValueError):
    """The folder already holds a study with another definition."""


class StudyInUse(ValueError):
    """Another live process is writing the study folder."""


class StudyDamaged(ValueError):
    """The study folder's database cannot be read, or holds samples without a definition."""


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

    Use :meth:`create_or_open` to start or resume a study (the one writer) and :meth:`open` to
    read one (read-only).
    """

    def __init__(self, folder: Path, connection: sqlite3.Connection, lock: int | None = None) -> None:
        self.folder, self._db, self._lock = folder, connection, lock

    @classmethod
    def create_or_open(cls, folder: str | os.PathLike[str], definition: Mapping[str, Any]) -> Store:
        """Open the study in ``folder`` (created if needed) for writing, checking it has ``definition``.

        The store holds the folder's lock until :meth:`close`.

        Raises
        ------
        StudyInUse
            If another live process writes the folder; the message names its process id.
        StudyMismatch
            If the folder holds a study with another definition; the message lists the
            differences.
        StudyDamaged
            If ``study.sqlite`` is not a readable database, or holds samples but no definition.
        """
        path = Path(folder)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"--out {str(path)!r} is a file, not a study folder; choose a folder path.")
        path.mkdir(parents=True, exist_ok=True)
        definition = json.loads(json.dumps(dict(definition)))
        lock = _take_lock(path)
        try:
            connection = _guard(path, lambda: _connect_writer(path / FILE_NAME))
            store = cls(path, connection, lock)
        except BaseException:
            os.close(lock)
            raise
        try:
            _guard(path, lambda: store._claim(definition))
        except BaseException:
            store.close()
            raise
        return store

    def _claim(self, definition: Mapping[str, Any]) -> None:
        """Write ``definition`` into an empty store, or check the stored one, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                self._db.execute(statement)
            stored = self.meta("definition")
            if stored is None and self._db.execute("SELECT 1 FROM samples LIMIT 1").fetchone() is not None:
                raise StudyDamaged(f"{str(self.folder / FILE_NAME)!r} holds samples but no study definition, so "
                                   "nobody can tell which study they belong to; delete the folder and run the "
                                   "study again, or choose another --out folder.")
            if stored is None:
                self._set("definition", definition)
                self._set("created", time.time())
            elif stored != definition:
                raise StudyMismatch(f"the folder {str(self.folder)!r} holds a different study "
                                    f"({_differences(stored, definition)}); choose another --out folder, or "
                                    "delete this one to start over.")
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Store:
        """Open an existing study folder for reading, read-only (it may be on read-only storage).

        Raises
        ------
        FileNotFoundError
            If ``folder`` holds no study.
        StudyDamaged
            If ``study.sqlite`` is not a readable database or holds no study definition.
        """
        path = Path(folder)
        if not (path / FILE_NAME).is_file():
            raise FileNotFoundError(f"no Monte Carlo study in {str(path)!r} (no {FILE_NAME}); "
                                    "run 'spicegen mc TESTBENCH --out DIR' first.")
        store = cls(path, _guard(path, lambda: _connect_reader(path / FILE_NAME)))
        try:
            if _guard(path, lambda: store.meta("definition")) is None:
                raise StudyDamaged(f"{str(path / FILE_NAME)!r} holds no study definition (the run that made it "
                                   "stopped before recording one, or only part of the folder was copied); "
                                   "run the study again into this folder or a new one.")
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close the database (a writer first copies the log into ``study.sqlite``) and release the lock."""
        try:
            if self._lock is not None:
                self._checkpoint("PASSIVE")
            self._db.close()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

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
                [(r.point, r.sample, int(r.ok), params, results, r.error, r.elapsed, r.worker, r.finished)
                 for r, params, results in zip(records, _json_texts([r.params for r in records]),
                                               _json_texts([r.results for r in records]))],
            )
        self._checkpoint("PASSIVE")

    def _checkpoint(self, mode: str) -> None:
        """Copy committed transactions from the log into ``study.sqlite`` (PASSIVE never waits for readers)."""
        self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def records(self) -> Iterator[tuple[Record, int]]:
        """Every stored sample with its attempt count, ordered by point and sample."""
        rows = self._db.execute("SELECT point, sample, ok, params, results, error, elapsed, worker, finished, "
                                "attempts FROM samples ORDER BY point, sample")
        for p, s, ok, params, results, error, elapsed, worker, finished, attempts in rows:
            yield Record(p, s, bool(ok), json.loads(params), json.loads(results), error, elapsed, worker,
                         finished), attempts


def _json_texts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``json.dumps(row)`` of every row, the same text, for a batch at once (see :func:`_same_keys_json`)."""
    shapes = list(map(tuple, rows))
    if not rows or shapes.count(shapes[0]) == len(rows):
        return _same_keys_json(rows, shapes[0] if rows else ())
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, keys in enumerate(shapes):
        groups.setdefault(keys, []).append(i)
    texts = [""] * len(rows)
    for keys, members in groups.items():
        for i, text in zip(members, _same_keys_json([rows[i] for i in members], keys)):
            texts[i] = text
    return texts


def _same_keys_json(rows: Sequence[Mapping[str, Any]], keys: tuple[Any, ...]) -> list[str]:
    """``json.dumps`` of rows that share ``keys``. When every value is a finite float (a batch's parameters,
    or its measurements) the rows are written column by column into one template: a third of the CPU of
    one ``json.dumps`` call per row."""
    columns = [list(map(operator.itemgetter(k), rows)) for k in keys]
    values = list(itertools.chain.from_iterable(columns))
    if not all(type(k) is str for k in keys) or set(map(type, values)) - {float} or not all(map(math.isfinite, values)):
        return [json.dumps(row) for row in rows]
    template = "{" + ", ".join(json.dumps(k).replace("%", "%%") + ": %s" for k in keys) + "}"
    if not keys:
        return [template] * len(rows)
    return [template % text for text in zip(*[map(float.__repr__, column) for column in columns])]


def _connect_writer(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection. Without a log beside the file (a finished study, or a copy of
    ``study.sqlite`` alone) and where SQLite cannot create its shared-memory file (read-only
    storage), the file is opened as immutable: nobody is writing it."""
    connection = sqlite3.connect(f"file:{_quote(path)}?mode=ro", uri=True, timeout=60.0)
    try:
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        if Path(f"{path}-wal").exists():
            raise
    return sqlite3.connect(f"file:{_quote(path)}?immutable=1", uri=True)


def _quote(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def _guard(folder: Path, action: Callable[[], _T]) -> _T:
    """``action()``, with SQLite's errors on a damaged or unreadable file turned into a message."""
    try:
        return action()
    except sqlite3.DatabaseError as exc:
        file = str(folder / FILE_NAME)
        if isinstance(exc, sqlite3.OperationalError) and Path(f"{file}-wal").exists() and "readonly" in str(exc):
            raise StudyDamaged(f"cannot read {file!r} ({exc}): its log study.sqlite-wal is beside it on read-only "
                               "storage; copy the folder to writable storage and read it there.") from None
        raise StudyDamaged(f"cannot read the study database {file!r} ({exc}); it is damaged or not a study "
                           "database: restore the folder from a copy, or delete it and run the study again.") from None


def _take_lock(folder: Path) -> int:
    """Hold ``<folder>/study.lock`` exclusively; the file records who holds it (``pid host``)."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            os.close(fd)
            raise
        holder = _holder(fd)
        os.close(fd)
        pid, host = (holder + ["?", "?"])[:2]
        where = "" if host == socket.gethostname() else f" on host {host}"
        raise StudyInUse(f"study folder {str(folder)!r} is in use by pid {pid}{where}; wait for that run to "
                         f"finish or stop it (kill {pid}), then run again to resume, or choose another --out "
                         "folder.") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    return fd


def _holder(fd: int, wait: float = 2.0) -> list[str]:
    """``[pid, host]`` from the lock file. The holder writes them just after taking the lock, so a launch that
    loses the race by microseconds reads an empty file: it reads again until they appear (up to ``wait`` s)."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        if holder or time.monotonic() > deadline:
            return holder
        time.sleep(0.01)


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    shown = [f"{k}: stored {_short(stored.get(k))}, now {_short(wanted.get(k))}" for k in keys]
    return "; ".join(shown)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:16] + "…"
