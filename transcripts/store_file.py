"""The run store's SQLite file: its tables, its schema version, and opening it.

``transcripts.store.RunStore`` reads and writes the records; this is the file underneath:
a writer opens it in WAL mode and creates (or checks) the tables, a reader opens it with
SQLite's read-only mode and checks that it is a SafeBench store of this version, and a
damaged file reads as a StoreError naming it, never a traceback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from kernel.errors import StoreError
from transcripts.store_base import StoreConnection, refuse_foreign, store_note

SCHEMA_VERSION = 1
"""Bump with any change to the tables or to the records stored in them."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run (
    name TEXT PRIMARY KEY, config_json TEXT NOT NULL, salt TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY, model TEXT NOT NULL, scope TEXT NOT NULL, status TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, target TEXT NOT NULL, query_id TEXT NOT NULL,
    modality TEXT NOT NULL, category TEXT NOT NULL, scenario TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (case_id TEXT PRIMARY KEY, status TEXT NOT NULL,
    record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    case_id TEXT NOT NULL, juror TEXT NOT NULL, round INTEGER NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (case_id, juror, round)
);
CREATE TABLE IF NOT EXISTS verdicts (case_id TEXT PRIMARY KEY, harmful INTEGER,
    safety_rating INTEGER, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queries (query_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS cases_by_status ON cases(status);
"""


_STORE_TABLES = ("run", "meta", "cases", "calls", "answers", "votes", "verdicts", "queries")
"""The tables a reader needs; a file without them is not a SafeBench store."""


def _not_a_store(path: Path, why: object) -> StoreError:
    return StoreError(f"{path}: not a SafeBench store ({why})")


class _GuardedCursor(sqlite3.Cursor):
    """A read-only store's cursor: a damaged file reads as a StoreError naming it.

    A truncated or corrupt store often opens fine and fails only on the page a query
    reaches; every command already reports StoreError as a message, never a traceback.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> _GuardedCursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise _not_a_store(self.connection.store_path, exc) from None  # type: ignore[attr-defined]
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise _not_a_store(self.connection.store_path, exc) from None  # type: ignore[attr-defined]

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise _not_a_store(self.connection.store_path, exc) from None  # type: ignore[attr-defined]


class _ReadOnlyConnection(sqlite3.Connection):
    store_path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> _GuardedCursor:  # type: ignore[override]
        return self.cursor(_GuardedCursor).execute(sql, parameters)


def connect_readonly(path: Path) -> sqlite3.Connection:
    """The store opened for reading only: nothing created, no journal mode changed.

    ``mode=ro`` makes SQLite refuse every write to the file (a foreign database stays
    byte-identical); a WAL store written by a live run is still read consistently, as
    SQLite maps its -shm index (creating it beside the store if it is missing).
    """
    if not path.is_file():
        raise StoreError(f"{path}: no such run store")
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            factory=_ReadOnlyConnection,
        )
    except sqlite3.Error as exc:
        raise _not_a_store(path, exc) from None
    db.store_path = path  # type: ignore[attr-defined]
    db.execute("PRAGMA query_only=1")
    db.execute("PRAGMA busy_timeout=10000")
    return db


def connect_writable(path: Path) -> sqlite3.Connection:
    """The store opened to write (created with its folder when missing), in WAL mode; a
    file that is not a SafeBench store is refused before anything is written to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, factory=StoreConnection
        )
    except sqlite3.Error as exc:  # a directory, or a folder this user may not write
        exc.add_note(store_note(path))
        raise
    db.store_path = path  # type: ignore[attr-defined]
    db.execute("PRAGMA busy_timeout=10000")
    try:
        refuse_foreign(db, path)
    except BaseException:
        db.close()
        raise
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process (the OS keeps the log); only a power
    # cut could lose the last commits, and a rerun would then simply ask again.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """A writer's set-up: the tables created if missing, the schema version recorded or
    checked (StoreError naming ``path`` for another version)."""
    db.executescript(_SCHEMA)
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
    elif int(row[0]) != SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema version {row[0]}, this SafeBench reads "
            f"version {SCHEMA_VERSION}; use a matching SafeBench or a new store path"
        )


def check_store(db: sqlite3.Connection, path: Path) -> None:
    """A reader's check, creating nothing: the tables are there, the version is ours."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    tables = {r[0] for r in rows}
    for table in _STORE_TABLES:
        if table not in tables:
            raise _not_a_store(path, f"no {table} table")
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise _not_a_store(path, "no schema version")
    if str(row[0]) != str(SCHEMA_VERSION):
        raise StoreError(
            f"{path}: store schema version {row[0]}, this SafeBench reads "
            f"version {SCHEMA_VERSION}; use a matching SafeBench"
        )
