"""Two runs of one dataset, case by case: where their verdicts differ.

A case of run A meets the case of run B with the same target, query id and modality (the
same case id). The comparison is paged in SQL: run B's store is attached, read-only, to a
connection on run A's, and each page is one join walked in case-id order from the page's
first case id (the store's primary keys; no new index). Nothing is loaded whole: the first
visit of a comparison streams the join once to count it and note the first case id of every
page (of the flips and of all shared cases), kept until either store changes.

A *flip* is a case whose verdict label differs (harmful, safe, undecided, or none for a case
without a verdict): the cases a jury-size or voting-rule experiment changed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from kernel.errors import StoreError
from safebench.audit.browse_folder import signature
from safebench.audit.search import VerdictLabel
from transcripts.store_file import connect_readonly

Show = Literal["flips", "all"]


def _label(v: str) -> str:
    return (
        f"CASE WHEN {v}.case_id IS NULL THEN 'none' WHEN {v}.harmful IS NULL THEN 'undecided' "
        f"WHEN {v}.harmful = 1 THEN 'harmful' ELSE 'safe' END"
    )


_FROM = (
    "FROM main.cases a JOIN other.cases b ON b.case_id = a.case_id AND b.target = a.target "
    "AND b.query_id = a.query_id AND b.modality = a.modality "
    "LEFT JOIN main.verdicts va ON va.case_id = a.case_id "
    "LEFT JOIN other.verdicts vb ON vb.case_id = a.case_id"
)
_FLIP = f"({_label('va')} <> {_label('vb')})"
_COLUMNS = (
    f"a.case_id, a.target, a.query_id, a.modality, a.category, a.scenario, a.status, b.status, "
    f"{_label('va')}, {_label('vb')}, va.safety_rating, vb.safety_rating"
)


class ComparedCase(BaseModel):
    case_id: str
    target: str
    query_id: str
    modality: str
    category: str
    scenario: str
    status_a: str
    status_b: str
    verdict_a: VerdictLabel
    verdict_b: VerdictLabel
    rating_a: int | None
    rating_b: int | None

    @property
    def flipped(self) -> bool:
        return self.verdict_a != self.verdict_b


class Tally(BaseModel):
    """A comparison's sizes, and where each page of its two lists starts."""

    cases_a: int
    cases_b: int
    shared: int
    flips: int
    starts: dict[str, list[str]]
    """The first case id of each page of the list of flips (``flips``) and of every shared
    case (``all``)."""


class Comparison:
    """Runs A and B (two store files), compared case by case; thread-safe."""

    def __init__(self, a: Path, b: Path) -> None:
        self.a, self.b = a, b
        self._lock = threading.Lock()
        self._tallies: dict[tuple[object, ...], Tally] = {}

    def _connect(self) -> sqlite3.Connection:
        db = connect_readonly(self.a)
        try:
            # The URI form keeps the attached store read-only too (the connection is a URI one).
            db.execute("ATTACH DATABASE ? AS other", (f"{self.b.resolve().as_uri()}?mode=ro",))
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _where(show: Show, target: str | None) -> tuple[str, list[object]]:
        conditions, params = ["1"], []
        if show == "flips":
            conditions.append(_FLIP)
        if target:
            conditions.append("a.target = ?")
            params.append(target)
        return " AND ".join(conditions), params

    def tally(self, target: str | None, per: int) -> Tally:
        """The sizes of the comparison and the first case id of each of its pages: one pass
        of the join in case-id order, streamed (only every ``per``-th case id is kept)."""
        key = (signature(self.a), signature(self.b), target, per)
        with self._lock:
            kept = self._tallies.get(key)
        if kept is not None:
            return kept
        where, params = self._where("all", target)
        starts: dict[str, list[str]] = {"all": [], "flips": []}
        shared = flips = 0
        with closing(self._connect()) as db:
            cases_a = int(db.execute("SELECT COUNT(*) FROM main.cases").fetchone()[0])
            cases_b = int(db.execute("SELECT COUNT(*) FROM other.cases").fetchone()[0])
            cursor = db.execute(
                f"SELECT a.case_id, {_FLIP} {_FROM} WHERE {where} ORDER BY a.case_id", params
            )
            try:
                for case_id, flipped in cursor:
                    if shared % per == 0:
                        starts["all"].append(case_id)
                    shared += 1
                    if flipped:
                        if flips % per == 0:
                            starts["flips"].append(case_id)
                        flips += 1
            except sqlite3.DatabaseError as exc:  # a store damaged past its first pages
                raise StoreError(f"{self.a} or {self.b}: not a readable store ({exc})") from None
        tally = Tally(cases_a=cases_a, cases_b=cases_b, shared=shared, flips=flips, starts=starts)
        with self._lock:
            self._tallies = {k: v for k, v in self._tallies.items() if k[:2] == key[:2]}
            self._tallies[key] = tally
        return tally

    def page(self, show: Show, target: str | None, start: str, per: int) -> list[ComparedCase]:
        """``per`` cases of the list from case id ``start`` on."""
        where, params = self._where(show, target)
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} {_FROM} WHERE {where} AND a.case_id >= ? "
                "ORDER BY a.case_id LIMIT ?",
                (*params, start, per),
            ).fetchall()
        return [_compared(r) for r in rows]

    def one(self, case_id: str) -> ComparedCase | None:
        with self._reading() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} {_FROM} WHERE a.case_id = ?", (case_id,)
            ).fetchone()
        return None if row is None else _compared(row)

    def neighbours(
        self, show: Show, target: str | None, case_id: str
    ) -> tuple[str | None, str | None]:
        """The cases before and after ``case_id`` in the list."""
        where, params = self._where(show, target)
        found: list[str | None] = []
        with self._reading() as db:
            for op, order in (("<", "DESC"), (">", "ASC")):
                row = db.execute(
                    f"SELECT a.case_id {_FROM} WHERE {where} AND a.case_id {op} ? "
                    f"ORDER BY a.case_id {order} LIMIT 1",
                    (*params, case_id),
                ).fetchone()
                found.append(None if row is None else str(row[0]))
        return found[0], found[1]


    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection over both stores; a store damaged where a page reads it is a
        ``StoreError`` naming the two (a page saying so), never a server error."""
        try:
            with closing(self._connect()) as db:
                yield db
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.a} or {self.b}: not a readable store ({exc})") from None


def _compared(row: tuple[object, ...]) -> ComparedCase:
    keys = list(ComparedCase.model_fields)
    return ComparedCase.model_validate(dict(zip(keys, row, strict=True)))
