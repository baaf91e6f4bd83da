"""The run store: one SQLite file (WAL) per run, the source of truth and the resume cache.

It holds the run's config (secrets masked), every model call, every target answer, every
vote of every round and every verdict, each as a typed record (JSON through its pydantic
model) with the few columns queries need. Writes commit before they return (the calls of
one event-loop turn share a commit, ``put_call_grouped``): a run killed at any point loses
at most the calls in flight, and a rerun reads everything else back. The file itself
(schema, version, opening it to write or only to read) is ``transcripts.store_file``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kernel.errors import StoreError
from kernel.files import file_sha256
from kernel.records import ModelCall, Query, TargetAnswer, Verdict, Vote, utcnow
from transcripts.store_file import check_store, connect_readonly, connect_writable, migrate


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


class StoredRun(BaseModel):
    """The run a store holds, as recorded."""

    name: str
    config_json: str
    salt: str
    identity_json: str | None = None


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

_PUT_CALL = (
    # A success replaces an earlier failure of the same call; nothing replaces a success.
    "INSERT INTO calls(key, model, scope, status, record) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET status=excluded.status, record=excluded.record "
    "WHERE calls.status != 'ok'"
)

_CallRow = tuple[str, str, str, str, str]
_PendingCall = tuple[_CallRow, "asyncio.Future[None]"]


def _call_row(call: ModelCall) -> _CallRow:
    return (call.key, call.model, call.scope, call.status, call.model_dump_json())


def _settle(waiting: list[asyncio.Future[None]], failure: BaseException | None) -> None:
    for done in waiting:
        if done.done():
            continue  # its caller was cancelled; the row is recorded all the same
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)


DATASET_QUERIES_FILE = "queries.jsonl"
"""The dataset file whose digest the store records (generation.dataset.QUERIES_FILE)."""


class RunStore:
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
        self._groups: dict[asyncio.AbstractEventLoop, list[_PendingCall]] = {}
        """Calls recorded by ``put_call_grouped`` and not yet committed, per event loop."""
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

    # -- the run ---------------------------------------------------------------------------
    def open_run(self, name: str, config_json: str, *, identity_json: str | None = None) -> str:
        """Register the run, or check a resumed one is the same run. Returns its salt.

        ``identity_json`` (the result-bearing part of the config, safebench.run.fingerprint) is
        recorded with it; the caller compares it with ``stored_run()`` first, because a
        resume of another config must be refused before anything here is overwritten.
        """
        now = utcnow().isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                salt = self._open_run(name, config_json, now)
                if identity_json is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('run_identity', ?)",
                        (identity_json,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return salt

    def _open_run(self, name: str, config_json: str, now: str) -> str:
        row = self._db.execute("SELECT name, salt FROM run").fetchone()
        if row is None:
            salt = secrets.token_hex(16)
            self._db.execute(
                "INSERT INTO run VALUES (?, ?, ?, ?, ?, 'running')",
                (name, config_json, salt, now, now),
            )
            return salt
        if row[0] != name:
            raise StoreError(
                f"{self.path} holds run {row[0]!r}, not {name!r}; give this run its own "
                "store path (or the same name to resume it)"
            )
        self._db.execute(
            "UPDATE run SET config_json=?, updated_at=?, status='running'", (config_json, now)
        )
        return str(row[1])

    def stored_run(self) -> StoredRun | None:
        """The run as recorded: name, config and identity (None in a store made before
        identities were recorded); None for a store that holds no run yet."""
        with self._lock:
            row = self._db.execute("SELECT name, config_json, salt FROM run").fetchone()
            identity = self._db.execute(
                "SELECT value FROM meta WHERE key='run_identity'"
            ).fetchone()
        if row is None:
            return None
        return StoredRun(
            name=row[0],
            config_json=row[1],
            salt=row[2],
            identity_json=None if identity is None else identity[0],
        )

    def run_salt(self) -> str:
        """The opened run's salt, for a worker process of the run (the parent opened it)."""
        stored = self.stored_run()
        if stored is None:
            raise StoreError(f"{self.path} holds no run")
        return stored.salt

    def set_status(self, status: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE run SET status=?, updated_at=?", (status, utcnow().isoformat())
            )

    def run_info(self) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute(
                "SELECT name, config_json, created_at, updated_at, status FROM run"
            ).fetchone()
        if row is None:
            raise StoreError(f"{self.path} holds no run")
        return {
            "name": row[0],
            "config": json.loads(row[1]),
            "created_at": row[2],
            "updated_at": row[3],
            "status": row[4],
        }

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

    # -- the call cache (agents.gateway.CallCache) ----------------------------------------
    def get_call(self, key: str) -> ModelCall | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM calls WHERE key=?", (key,)).fetchone()
        return None if row is None else ModelCall.model_validate_json(row[0])

    def put_call(self, call: ModelCall) -> None:
        """Record ``call``, committed when this returns."""
        with self._lock:
            self._db.execute(_PUT_CALL, _call_row(call))

    async def put_call_grouped(self, call: ModelCall) -> None:
        """Record ``call``; return once it is committed, as ``put_call`` does.

        The calls recorded in one turn of the event loop share one transaction, committed
        at the loop's next turn: a commit per call was a tenth of a run's CPU. Each caller
        still waits for the commit that holds its call, so a call is durable before its
        result is used, and a run killed at any point repeats no recorded call (a call
        whose commit had not happened was never returned to anyone).
        """
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with self._lock:
            group = self._groups.get(loop)
            if group is None:
                group = self._groups[loop] = []
                loop.call_soon(self._commit_group, loop)
            group.append((_call_row(call), done))
        await done

    def _commit_group(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            group = self._groups.pop(loop, [])
            if not group:
                return
            failure: BaseException | None = None
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    # One statement per row, in order: a success still replaces an
                    # earlier failure of the same call within the group.
                    db.executemany(_PUT_CALL, [row for row, _ in group])
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except Exception as exc:  # every waiting caller fails with it, as put_call would
                failure = exc
        waiting = [done for _, done in group]
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            _settle(waiting, failure)
        elif not loop.is_closed():  # flushed from another thread (close): the loop settles
            loop.call_soon_threadsafe(_settle, waiting, failure)

    def flush_calls(self) -> None:
        """Commit the calls of every group still waiting (before the store closes)."""
        with self._lock:
            loops = list(self._groups)
        for loop in loops:
            self._commit_group(loop)

    def iter_calls(self) -> Iterator[ModelCall]:
        yield from (
            ModelCall.model_validate_json(r) for r in self._rows("SELECT record FROM calls")
        )

    def call_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM calls GROUP BY status").fetchall()
        return {status: count for status, count in rows}

    def spending(self) -> tuple[int, float, int]:
        """(calls recorded, dollars they cost, how many of them were priced): what the run
        has spent, each recorded call once (a budget counts it; a report shows it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(json_extract(record, '$.cost_usd')), 0), "
                "COALESCE(SUM(json_extract(record, '$.cost_usd') > 0), 0) FROM calls"
            ).fetchone()
        return int(row[0]), float(row[1]), int(row[2])

    # -- cases ---------------------------------------------------------------------------
    def finished_cases(self) -> set[str]:
        """Cases that need no more work: judged, or skipped for a declared reason."""
        with self._lock:
            rows = self._db.execute(
                "SELECT case_id FROM cases WHERE status IN ('judged', 'skipped')"
            ).fetchall()
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

    def data_version(self) -> int:
        """Changes whenever another connection (a live run) commits: when a reader's derived
        view of the store (the viewer's case index) must be built again."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

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

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

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


def queries_file_sha256(root: Path) -> str | None:
    """sha256 of ``root/queries.jsonl``, or None when there is no such regular file."""
    path = Path(root) / DATASET_QUERIES_FILE
    return file_sha256(path) if path.is_file() else None
