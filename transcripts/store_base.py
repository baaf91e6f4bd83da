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
