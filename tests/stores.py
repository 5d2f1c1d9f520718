"""Reading a Monte Carlo store straight from SQLite, for the tests (importable like ``cli``)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from spicegen.montecarlo.store import FILE_NAME


def rows(folder: Path) -> dict[tuple[int, int], tuple]:
    """(point, sample) → (ok, finished, worker, attempts), read-only (empty while the study is still
    creating the store)."""
    path = folder / FILE_NAME
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
    try:
        return stored(db)
    finally:
        db.close()


def stored(db: sqlite3.Connection) -> dict[tuple[int, int], tuple]:
    """The rows of an open store connection (empty before the table exists)."""
    try:
        found = db.execute("SELECT point, sample, ok, finished, worker, attempts FROM samples").fetchall()
    except sqlite3.OperationalError:  # the table is not created yet
        return {}
    return {(p, s): rest for p, s, *rest in found}
