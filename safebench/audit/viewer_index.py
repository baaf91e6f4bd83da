"""The viewer's numbered pages and case neighbours over the case index.

:class:`~safebench.audit.case_index.CaseIndex` pages by keyset (a cursor per page); the viewer
shows numbered pages (1 2 3 … 100, previous, next) and, on a case page, the previous and next
case of the list it was opened from. Both are one indexed query on the in-memory index: a
page is ``LIMIT/OFFSET`` over the ``(filter column, sortkey)`` index (an offset of 100k rows
is a walk of the index, milliseconds), a neighbour is the first row before or after the
case's ``sortkey``.
"""

from __future__ import annotations

from pydantic import BaseModel

from safebench.audit.case_index import _SUMMARY_COLUMNS, CaseIndex
from safebench.audit.search import CaseFilter, CaseSummary


class NumberedPage(BaseModel):
    """The cases of page ``offset // limit + 1`` of what a filter keeps."""

    cases: list[CaseSummary]
    total: int
    """Cases in the run."""
    matching: int
    """Cases the filter keeps."""


class Neighbours(BaseModel):
    """Where one case sits in the list a filter keeps (viewer order)."""

    previous: str | None
    next: str | None
    position: int | None
    """1-based place of the case in the list; None when the filter does not keep it."""
    matching: int


class PagedCaseIndex(CaseIndex):
    """The case index with numbered pages and a case's neighbours."""

    def _prepare(self, case_filter: CaseFilter) -> tuple[str, list[object]]:
        # Under the caller's lock: the index is current and a text filter's hits are loaded.
        self.refresh()
        if case_filter.text:
            self._text_hits(case_filter.text)
        return self._where(case_filter)

    def page_at(self, case_filter: CaseFilter, offset: int, limit: int) -> NumberedPage:
        """``limit`` cases from the ``offset``-th (0-based) that ``case_filter`` keeps."""
        with self._lock:
            where, params = self._prepare(case_filter)
            total = int(self._db.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
            matching = int(
                self._db.execute(f"SELECT COUNT(*) FROM cases WHERE {where}", params).fetchone()[0]
            )
            rows = self._db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM cases WHERE {where} "
                "ORDER BY sortkey LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        keys = _SUMMARY_COLUMNS.split(", ")
        cases = [CaseSummary(**dict(zip(keys, r, strict=True))) for r in rows]
        return NumberedPage(cases=cases, total=total, matching=matching)

    def neighbours(self, case_filter: CaseFilter, case_id: str) -> Neighbours | None:
        """The cases before and after ``case_id`` in the list ``case_filter`` keeps; None when
        the run has no such case."""
        with self._lock:
            where, params = self._prepare(case_filter)
            row = self._db.execute(
                "SELECT sortkey FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
            if row is None:
                return None
            key = str(row[0])

            def first(condition: str, order: str) -> str | None:
                found = self._db.execute(
                    f"SELECT case_id FROM cases WHERE {where} AND {condition} "
                    f"ORDER BY sortkey {order} LIMIT 1",
                    (*params, key),
                ).fetchone()
                return None if found is None else str(found[0])

            kept = self._db.execute(
                f"SELECT 1 FROM cases WHERE {where} AND sortkey = ?", (*params, key)
            ).fetchone()
            before = int(
                self._db.execute(
                    f"SELECT COUNT(*) FROM cases WHERE {where} AND sortkey < ?", (*params, key)
                ).fetchone()[0]
            )
            matching = int(
                self._db.execute(f"SELECT COUNT(*) FROM cases WHERE {where}", params).fetchone()[0]
            )
            return Neighbours(
                previous=first("sortkey < ?", "DESC"),
                next=first("sortkey > ?", "ASC"),
                position=before + 1 if kept else None,
                matching=matching,
            )
