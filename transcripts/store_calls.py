"""The run store's call cache: every model call, keyed by its request (agents.gateway.CallCache).

A rerun reads a recorded call back instead of asking the model again; a success replaces
an earlier failure of the same call, nothing replaces a success. ``put_call_grouped``
commits the calls of one event-loop turn together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from kernel.records import ModelCall
from transcripts.store_base import StoreBase

_PUT_CALL = (
    # A success replaces an earlier failure of the same call; nothing replaces a success.
    "INSERT INTO calls(key, model, scope, status, record) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET status=excluded.status, record=excluded.record "
    "WHERE calls.status != 'ok'"
)

_CallRow = tuple[str, str, str, str, str]
PendingCall = tuple[_CallRow, "asyncio.Future[None]"]


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


class CallTable(StoreBase):
    """The ``calls`` table: the gateway's cache and the run's record of what it spent."""

    _groups: dict[asyncio.AbstractEventLoop, list[PendingCall]]
    """Calls recorded by ``put_call_grouped`` and not yet committed, per event loop."""

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
