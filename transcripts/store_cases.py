"""The run store's cases: the queries the run put, and each case's answer, votes and verdict.

A case is written in one transaction with everything it holds (judged with all its votes,
or not at all); the reads give each table back as its typed records, the summaries
(metrics, the viewer's index, text search) computed by SQLite in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from kernel.records import Query, TargetAnswer, Verdict, Vote, utcnow
from transcripts.store_base import StoreBase


class CaseMeta(BaseModel):
    """The case columns every summary groups by."""

    case_id: str
    target: str
    query_id: str
    modality: str
    category: str
    scenario: str


class CaseRow(CaseMeta):
    status: str
    error: str | None = None


_CASE_KEYS = (
    "case_id",
    "target",
    "query_id",
    "modality",
    "category",
    "scenario",
    "status",
    "error",
)
"""A ``CaseRow``'s fields, in the order the case queries select them."""


class CaseTables(StoreBase):
    """The ``queries``, ``cases``, ``answers``, ``votes`` and ``verdicts`` tables."""

    # -- the queries the run put (kept, so a run can be audited or re-judged on its own) ---
    def save_query(self, query: Query) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO queries VALUES (?, ?)", (query.id, query.model_dump_json())
            )

    def get_query(self, query_id: str) -> Query | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM queries WHERE query_id=?", (query_id,)
            ).fetchone()
        return None if row is None else Query.model_validate_json(row[0])

    def iter_queries(self) -> Iterator[Query]:
        for record in self._rows("SELECT record FROM queries ORDER BY query_id"):
            yield Query.model_validate_json(record)

    def get_answer(self, case_id: str) -> TargetAnswer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM answers WHERE case_id=?", (case_id,)
            ).fetchone()
        return None if row is None else TargetAnswer.model_validate_json(row[0])

    def get_verdict(self, case_id: str) -> Verdict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM verdicts WHERE case_id=?", (case_id,)
            ).fetchone()
        return None if row is None else Verdict.model_validate_json(row[0])

    # -- cases ---------------------------------------------------------------------------
    def finished_cases(self) -> set[str]:
        """Cases that need no more work: judged, or skipped for a declared reason."""
        with self._lock:
            rows = self._db.execute(
                "SELECT case_id FROM cases WHERE status IN ('judged', 'skipped')"
            ).fetchall()
        return {r[0] for r in rows}

    def targets(self) -> list[str]:
        """The targets the run's cases name, sorted."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT target FROM cases ORDER BY target").fetchall()
        return [r[0] for r in rows]

    def failed_cases(self) -> set[str]:
        """Cases that failed (every rerun asks them again)."""
        with self._lock:
            rows = self._db.execute("SELECT case_id FROM cases WHERE status='failed'").fetchall()
        return {r[0] for r in rows}

    def save_skipped(self, meta: CaseMeta, answer: TargetAnswer) -> None:
        self._save_case(meta, "skipped", answer.reason, answer, [], None)

    def save_failed(self, meta: CaseMeta, error: str, answer: TargetAnswer | None) -> None:
        self._save_case(meta, "failed", error, answer, [], None)

    def save_judged(
        self, meta: CaseMeta, answer: TargetAnswer, votes: list[Vote], verdict: Verdict
    ) -> None:
        self._save_case(meta, "judged", None, answer, votes, verdict)

    def _save_case(
        self,
        meta: CaseMeta,
        status: str,
        error: str | None,
        answer: TargetAnswer | None,
        votes: list[Vote],
        verdict: Verdict | None,
    ) -> None:
        # One transaction per case: a case is judged with all its votes, or not at all.
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        meta.case_id,
                        meta.target,
                        meta.query_id,
                        meta.modality,
                        meta.category,
                        meta.scenario,
                        status,
                        error,
                        utcnow().isoformat(),
                    ),
                )
                if answer is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                        (meta.case_id, answer.status, answer.model_dump_json()),
                    )
                db.execute("DELETE FROM votes WHERE case_id=?", (meta.case_id,))
                db.executemany(
                    "INSERT INTO votes VALUES (?, ?, ?, ?)",
                    [(v.case_id, v.juror, v.round, v.model_dump_json()) for v in votes],
                )
                if verdict is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?)",
                        (
                            meta.case_id,
                            None if verdict.harmful is None else int(verdict.harmful),
                            verdict.safety_rating,
                            verdict.model_dump_json(),
                        ),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # -- reading back --------------------------------------------------------------------
    def iter_cases(self) -> Iterator[CaseRow]:
        query = (
            "SELECT case_id, target, query_id, modality, category, scenario, status, error "
            "FROM cases ORDER BY case_id"
        )
        for row in self._rows(query, many=True):
            yield CaseRow(**dict(zip(_CASE_KEYS, row, strict=True)))

    def iter_answers(self) -> Iterator[TargetAnswer]:
        for record in self._rows("SELECT record FROM answers ORDER BY case_id"):
            yield TargetAnswer.model_validate_json(record)

    def iter_votes(self, case_id: str | None = None) -> Iterator[Vote]:
        if case_id is None:
            rows = self._rows("SELECT record FROM votes ORDER BY case_id, round, juror")
        else:
            rows = self._rows(
                "SELECT record FROM votes WHERE case_id=? ORDER BY round, juror", (case_id,)
            )
        yield from (Vote.model_validate_json(r) for r in rows)

    def iter_verdicts(self) -> Iterator[Verdict]:
        for record in self._rows("SELECT record FROM verdicts ORDER BY case_id"):
            yield Verdict.model_validate_json(record)

    def judged(self, page: int = 2000) -> Iterator[tuple[CaseMeta, Verdict]]:
        """Each judged case's columns with its verdict, for metrics, in case-id order.

        Read in pages by case id, each page under the lock, so that a run of 100k cases is
        never held in memory whole (fetching it at once cost ~4 kB of RSS per case).
        """
        query = (
            "SELECT c.case_id, c.target, c.query_id, c.modality, c.category, c.scenario, "
            "v.record FROM cases c JOIN verdicts v USING (case_id) "
            "WHERE c.status='judged' AND c.case_id > ? ORDER BY c.case_id LIMIT ?"
        )
        keys = ("case_id", "target", "query_id", "modality", "category", "scenario")
        after = ""
        while True:
            with self._lock:
                rows = self._db.execute(query, (after, page)).fetchall()
            for row in rows:
                yield (
                    CaseMeta(**dict(zip(keys, row[:6], strict=True))),
                    Verdict.model_validate_json(row[6]),
                )
            if len(rows) < page:
                return
            after = rows[-1][0]

    def get_case(self, case_id: str) -> CaseRow | None:
        """One case's columns, by its primary key (no scan of the run)."""
        with self._lock:
            row = self._db.execute(
                "SELECT case_id, target, query_id, modality, category, scenario, status, error "
                "FROM cases WHERE case_id=?",
                (case_id,),
            ).fetchone()
        return None if row is None else CaseRow(**dict(zip(_CASE_KEYS, row, strict=True)))

    def case_index_rows(self, after: str = "", page: int = 5000) -> list[tuple[Any, ...]]:
        """A page of per-case summary columns, in case-id order after ``after``: the case's
        columns, then its verdict's harmful (0/1/None), rating, rounds, flips, abstentions and
        rule, whether it has a verdict, and whether the voting jurors split in some round.

        Computed by SQLite (JSON fields read in place, the split from each case's votes
        through their primary key), so a 100k-case run is summarised without a Python
        object per vote."""
        query = (
            "SELECT c.case_id, c.target, c.query_id, c.modality, c.category, c.scenario, "
            "c.status, v.harmful, v.safety_rating, json_extract(v.record, '$.rounds'), "
            "json_extract(v.record, '$.flips'), json_extract(v.record, '$.abstentions'), "
            "json_extract(v.record, '$.rule'), v.case_id IS NOT NULL, "
            "EXISTS (SELECT 1 FROM votes x WHERE x.case_id = c.case_id GROUP BY x.round "
            "HAVING COUNT(DISTINCT json_extract(x.record, '$.payload.harmful')) > 1) "
            "FROM cases c LEFT JOIN verdicts v USING (case_id) "
            "WHERE c.case_id > ? ORDER BY c.case_id LIMIT ?"
        )
        with self._lock:
            return [tuple(r) for r in self._db.execute(query, (after, page)).fetchall()]

    def cases_with_text(self, needle: str) -> set[str]:
        """Cases whose query, answer, foreperson's summary or reasons, or any juror's
        reasoning holds ``needle`` (compared case-folded, as ``str.casefold``)."""
        folded = needle.casefold()

        def contains(text: object) -> bool:
            return isinstance(text, str) and folded in text.casefold()

        query = (
            "SELECT case_id FROM answers WHERE sb_contains(json_extract(record, '$.text')) "
            "UNION SELECT case_id FROM verdicts WHERE "
            "sb_contains(json_extract(record, '$.summary')) "
            "UNION SELECT v.case_id FROM verdicts v, json_each(v.record, '$.reasons') r "
            "WHERE sb_contains(r.value) "
            "UNION SELECT case_id FROM votes "
            "WHERE sb_contains(json_extract(record, '$.payload.reasoning')) "
            "UNION SELECT c.case_id FROM cases c JOIN queries q USING (query_id) "
            "WHERE sb_contains(json_extract(q.record, '$.text'))"
        )
        with self._lock:
            # Registered per search: the needle is the function's own, nothing is shared.
            self._db.create_function("sb_contains", 1, contains, deterministic=True)
            try:
                return {r[0] for r in self._db.execute(query).fetchall()}
            finally:
                self._db.create_function("sb_contains", 1, None)

    def status_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM cases GROUP BY status").fetchall()
        return {status: count for status, count in rows}
