"""What every part of the run store shares: the open SQLite connection and its lock.

``transcripts.store.RunStore`` is assembled from the store's parts (the run's record, the
call cache, the cases); each part reads and writes its tables through this base.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernel.errors import StoreError

SAFEBENCH_TABLES = frozenset(
    {"meta", "run", "calls", "cases", "answers", "votes", "verdicts", "queries"}
)
"""Every table a SafeBench store holds (transcripts.store_file's schema)."""


def store_note(path: Path) -> str:
    """The note a writer's SQLite error carries, so the CLI's last handler can name the store
    (``safebench.cli.failures``): ``database is locked`` alone does not say which file."""
    return f"run store: {path}"


class StoreConnection(sqlite3.Connection):
    """A writer's connection: every SQLite error it raises carries :func:`store_note`."""

    store_path: Path

    def _note(self, exc: sqlite3.Error) -> None:
        note = store_note(self.store_path)
        if note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            self._note(exc)
            raise

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            self._note(exc)
            raise

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(script)
        except sqlite3.Error as exc:
            self._note(exc)
            raise

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            self._note(exc)
            raise


def refuse_foreign(db: sqlite3.Connection, path: Path) -> None:
    """Refuse, before anything is written, a file that is not a SafeBench store: a damaged or
    random file, or the SQLite database of another program (tables that are not SafeBench's
    and no SafeBench ``schema_version``). Such a file used to be adopted: SafeBench's tables
    added beside the other program's, its journal switched to WAL. An empty file, and a
    SafeBench store cut short while its tables were being made, are opened as usual."""
    try:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        versioned = (
            "meta" in tables
            and db.execute("SELECT 1 FROM meta WHERE key='schema_version'").fetchone()
            is not None
        )
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise  # another program holds the file: the CLI says so (safebench.cli.failures)
        raise StoreError(
            f"{path}: not a readable SQLite database ({exc}): a damaged store, or no store at "
            "all; give --store a new path, or restore the file from a copy (it was left as is)"
        ) from None
    foreign = sorted(t for t in tables if t not in SAFEBENCH_TABLES and not t.startswith("sqlite_"))
    if foreign and not versioned:
        shown = ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else "")
        raise StoreError(
            f"{path}: refused: a SQLite database of another program (tables: {shown}), not a "
            "SafeBench run store; it was left unchanged. Give --store a new path"
        )


class StoreBase:
    """The connection of one store file and the lock that serialises its use."""

    path: Path
    readonly: bool
    _db: sqlite3.Connection
    _lock: threading.Lock

    def _rows(
        self, query: str, params: tuple[Any, ...] = (), *, many: bool = False
    ) -> Iterator[Any]:
        # Fetched whole under the lock so a reader never interleaves with a writer's
        # transaction; per-run tables are small enough (one row per case or call).
        with self._lock:
            cursor = self._db.execute(query, params)
            rows = cursor.fetchall()
        for row in rows:
            yield row if many else row[0]
