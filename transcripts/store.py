"""The run store: one SQLite file (WAL) per run, the source of truth and the resume cache.

It holds the run's config (secrets masked), every model call, every target answer, every
vote of every round and every verdict, each as a typed record (JSON through its pydantic
model) with the few columns queries need. Writes commit before they return (the calls of
one event-loop turn share a commit, ``put_call_grouped``): a run killed at any point loses
at most the calls in flight, and a rerun reads everything else back. The file itself
(schema, version, opening it to write or only to read) is ``transcripts.store_file``; the
store's parts are ``transcripts.store_run`` (the run's typed record, ``RunRecord``),
``transcripts.store_calls`` (the call cache) and ``transcripts.store_cases`` (the queries
and each case's answer, votes and verdict), assembled here into ``RunStore``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from kernel.files import file_sha256
from transcripts.store_calls import CallTable
from transcripts.store_cases import CaseMeta, CaseRow, CaseTables
from transcripts.store_file import check_store, connect_readonly, connect_writable, migrate
from transcripts.store_run import RunRecord, RunTable, StoredRun

__all__ = [
    "DATASET_QUERIES_FILE",
    "CaseMeta",
    "CaseRow",
    "RunRecord",
    "RunStore",
    "StoredRun",
    "queries_file_sha256",
]

DATASET_QUERIES_FILE = "queries.jsonl"
"""The dataset file whose digest the store records (generation.dataset.QUERIES_FILE)."""


class RunStore(RunTable, CallTable, CaseTables):
    """A run's store. Thread-safe for the single-writer, many-reader use of one run.

    ``RunStore(path)`` opens (or creates) a store to write; ``RunStore.open_readonly(path)``
    (or ``readonly=True``) opens an existing one only to read it, for reports, audits,
    exports and the viewer: it never writes the file and refuses a file that is not a
    SafeBench store (or is damaged) with a StoreError naming it.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        self._groups = {}  # the calls put_call_grouped has not committed yet (CallTable)
        if readonly:
            self._db = connect_readonly(self.path)
            try:
                self._check_store()
            except BaseException:
                self._db.close()
                raise
            return
        self._db = connect_writable(self.path)
        self._migrate()

    @classmethod
    def open_readonly(cls, path: Path) -> RunStore:
        """An existing store, opened only to read it (see the class docstring)."""
        return cls(path, readonly=True)

    def _migrate(self) -> None:
        with self._lock:
            migrate(self._db, self.path)

    def _check_store(self) -> None:
        """A reader's check, creating nothing: the tables are there, the version is ours."""
        with self._lock:
            check_store(self._db, self.path)

    def close(self) -> None:
        if self._groups:
            self.flush_calls()
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the dataset the run read -------------------------------------------------------
    def set_dataset_root(self, root: Path, queries_sha256: str | None = None) -> None:
        """Where the run's media live, so audits can show a case's image and audio.

        The digest of the dataset's queries.jsonl is recorded with it (or cleared when the
        directory holds none yet): the viewer serves media only from a root whose
        queries.jsonl still has that digest, so a store edited to name another directory
        (``/``) proves nothing and is refused.
        """
        resolved = Path(root).resolve()
        # A caller that already hashed the file (the run's identity) or knows the digest the
        # answers came from (a re-judged run's source) passes it: hashed once, one truth.
        digest = queries_sha256 or queries_file_sha256(resolved)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('dataset_root', ?)",
                (str(resolved),),
            )
            if digest is None:
                self._db.execute("DELETE FROM meta WHERE key='dataset_queries_sha256'")
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('dataset_queries_sha256', ?)",
                    (digest,),
                )

    def dataset_queries_sha256(self) -> str | None:
        """The digest of the dataset's queries.jsonl when the run started (None: unknown)."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM meta WHERE key='dataset_queries_sha256'"
            ).fetchone()
        return None if row is None else str(row[0])

    def dataset_root(self) -> Path | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='dataset_root'").fetchone()
        return None if row is None else Path(row[0])

    # -- the file ----------------------------------------------------------------------
    def data_version(self) -> int:
        """Changes whenever another connection (a live run) commits: when a reader's derived
        view of the store (the viewer's case index) must be built again."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def queries_file_sha256(root: Path) -> str | None:
    """sha256 of ``root/queries.jsonl``, or None when there is no such regular file."""
    path = Path(root) / DATASET_QUERIES_FILE
    return file_sha256(path) if path.is_file() else None
