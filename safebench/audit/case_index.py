"""The viewer's case index: every case's summary columns in an in-memory SQLite table.

The run store is opened read-only, so the index lives beside it: built from one pass of
``RunStore.case_index_rows`` (SQLite summarises each case's verdict and votes), rebuilt when
the store's ``data_version`` says another connection (a live run) has committed since. A page
is then one indexed keyset query, whatever the run's size; filters are SQL conditions on the
same table, and a text filter is one scan of the store per needle (kept for the next pages).

The order is the viewer's: split juries first, then cases with flips, then by case id. It
is encoded in one indexed ``sortkey`` column, so the keyset cursor of a page is a string.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel

from safebench.audit.search import CaseFilter, CaseSummary, VerdictLabel
from transcripts.store import RunStore

FILTER_COLUMNS = ("target", "category", "scenario", "modality", "status", "verdict")
"""The columns a filter picks one value of (the viewer's select boxes)."""
TEXT_CACHE = 8
"""Text filters whose matching cases are kept (paging through one asks the store once)."""

_SCHEMA = """
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY, target TEXT, query_id TEXT, modality TEXT, category TEXT,
    scenario TEXT, status TEXT, verdict TEXT, safety_rating INTEGER, rounds INTEGER,
    flips INTEGER, abstentions INTEGER, rule TEXT, disagreement INTEGER, sortkey TEXT
);
CREATE TABLE text_hits (needle TEXT, case_id TEXT, PRIMARY KEY (needle, case_id));
"""
_INDEXES = "CREATE UNIQUE INDEX cases_by_sortkey ON cases(sortkey);" + "".join(
    f"CREATE INDEX cases_by_{c} ON cases({c}, sortkey);" for c in FILTER_COLUMNS
)
_SUMMARY_COLUMNS = (
    "case_id, target, query_id, modality, category, scenario, status, verdict, "
    "safety_rating, rounds, flips, abstentions, rule, disagreement"
)


class CasePage(BaseModel):
    """One page of the cases a filter keeps, in the viewer's order."""

    cases: list[CaseSummary]
    total: int
    """Cases in the run."""
    matching: int
    """Cases the filter keeps."""
    next_after: str | None
    """The cursor of the next page (``after``); None on the last page."""


def _label(has_verdict: int, harmful: int | None) -> VerdictLabel:
    if not has_verdict:
        return "none"
    if harmful is None:
        return "undecided"
    return "harmful" if harmful else "safe"


def sort_key(disagreement: bool, flips: int, case_id: str) -> str:
    """Split juries first, then cases where a juror changed its vote, then by case id."""
    return f"{0 if disagreement else 1}{0 if flips > 0 else 1}{case_id}"


class CaseIndex:
    """Pages and filters the cases of ``store``; thread-safe (the viewer calls it from
    worker threads, off the event loop)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        # Re-entrant: a page holds it from refresh to its last row, so a rebuild (a live run
        # committed) never clears the text hits a page is reading.
        self._lock = threading.RLock()
        self._version: int | None = None
        self._needles: OrderedDict[str, None] = OrderedDict()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def refresh(self) -> None:
        """Build the index, or build it again if the store has changed since."""
        with self._lock:
            version = self.store.data_version()
            if version == self._version:
                return
            self._rebuild()
            self._version = version

    def _rebuild(self) -> None:
        db = self._db
        db.execute("DELETE FROM cases")
        db.execute("DELETE FROM text_hits")
        self._needles.clear()
        for statement in _INDEXES.split(";"):
            if statement.strip():  # dropped while filling, built once at the end (faster)
                name = statement.split(" ON ")[0].split()[-1]
                db.execute(f"DROP INDEX IF EXISTS {name}")
        after = ""
        while True:
            rows = self.store.case_index_rows(after)
            if not rows:
                break
            db.executemany(
                "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [self._row(r) for r in rows],
            )
            after = rows[-1][0]
        db.executescript(_INDEXES)
        db.commit()

    @staticmethod
    def _row(r: tuple[Any, ...]) -> tuple[Any, ...]:
        harmful, rating, rounds, flips, abstentions, rule, has_verdict, split = r[7:]
        flips = int(flips or 0)
        disagreement = bool(split)
        return (
            *r[:7],  # case_id, target, query_id, modality, category, scenario, status
            _label(int(has_verdict), harmful),
            rating,
            int(rounds or 0),
            flips,
            int(abstentions or 0),
            rule,
            int(disagreement),
            sort_key(disagreement, flips, str(r[0])),
        )

    def options(self) -> dict[str, list[str]]:
        """Each filter column's values, sorted (the viewer's select boxes)."""
        with self._lock:
            self.refresh()
            return {
                column: [
                    str(r[0])
                    for r in self._db.execute(
                        f"SELECT DISTINCT {column} FROM cases ORDER BY {column}"
                    ).fetchall()
                ]
                for column in FILTER_COLUMNS
            }

    def page(self, case_filter: CaseFilter, after: str = "", limit: int = 1000) -> CasePage:
        """The first ``limit`` cases ``case_filter`` keeps after the cursor ``after``."""
        where, params = self._where(case_filter)
        with self._lock:
            self.refresh()
            if case_filter.text:
                self._text_hits(case_filter.text)
            total = int(self._db.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
            matching = int(
                self._db.execute(f"SELECT COUNT(*) FROM cases WHERE {where}", params).fetchone()[0]
            )
            rows = self._db.execute(
                f"SELECT {_SUMMARY_COLUMNS}, sortkey FROM cases WHERE {where} AND sortkey > ? "
                "ORDER BY sortkey LIMIT ?",
                (*params, after, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        keys = _SUMMARY_COLUMNS.split(", ")
        cases = [CaseSummary(**dict(zip(keys, r[:-1], strict=True))) for r in rows]
        return CasePage(
            cases=cases,
            total=total,
            matching=matching,
            next_after=rows[-1][-1] if more and rows else None,
        )

    @staticmethod
    def _where(case_filter: CaseFilter) -> tuple[str, list[object]]:
        conditions = ["1"]
        params: list[object] = []
        for column in FILTER_COLUMNS:
            wanted = getattr(case_filter, column)
            if wanted:
                conditions.append(f"{column} = ?")
                params.append(wanted)
        if case_filter.disagreement is not None:
            conditions.append("disagreement = ?")
            params.append(int(case_filter.disagreement))
        if case_filter.flip is not None:
            conditions.append("flips > 0" if case_filter.flip else "flips = 0")
        if case_filter.text:
            conditions.append("case_id IN (SELECT case_id FROM text_hits WHERE needle = ?)")
            params.append(case_filter.text)
        return " AND ".join(conditions), params

    def _text_hits(self, needle: str) -> None:
        with self._lock:
            if needle in self._needles:
                self._needles.move_to_end(needle)
                return
            hits = self.store.cases_with_text(needle)  # one scan of the store per needle
            self._db.executemany(
                "INSERT OR IGNORE INTO text_hits VALUES (?, ?)", [(needle, c) for c in hits]
            )
            self._needles[needle] = None
            while len(self._needles) > TEXT_CACHE:
                old, _ = self._needles.popitem(last=False)
                self._db.execute("DELETE FROM text_hits WHERE needle = ?", (old,))
            self._db.commit()
