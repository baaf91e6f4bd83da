"""The run store as a Ray actor on the driver's node, and the proxy case actors write through.

A Ray run's cases run on actors anywhere in the cluster, but the run's SQLite store stays one
file on the driver's machine, the one source of truth. :class:`StoreWriter` owns it there:
the gateway's ``CallCache`` (``get_call``/``put_call``) and the case writes. A case actor's
:class:`RemoteStore` waits for each write to be done before going on, so a call is recorded
before its result is used and a killed actor (or driver) resumes with no repeated recorded
call, as one process does.

The writer serves one request at a time (SQLite has one writer anyway): a caller's requests
run in the order it made them. Each request is a round trip (about 1 ms, half of it the
caller's CPU), so a case actor makes few: the successful calls of one event-loop turn go in
one request, awaited without blocking the loop (``put_call_grouped``); it asks the writer for
a recorded call only when the call's key was recorded when the actor started (the cases are
sharded, so no other actor records one of its keys) or recorded by itself since; and a case's
query goes with the case's own write.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from kernel.records import ModelCall, Query, TargetAnswer, Verdict, Vote
from transcripts.store import CaseMeta, RunStore
from transcripts.store_file import connect_readonly


def key_prefix(key: str) -> int:
    """The first 8 bytes of a call key (a sha256 in hex), as an integer."""
    return int(key[:16], 16)


class StoreWriter:
    """The run's store, served to the case actors (a Ray actor on the driver's node). It also
    keeps the status of each case finished since the driver last asked (its progress bar).

    It writes under the driver's writer lock, so it ends the moment the driver's process
    ``driver_pid`` does: Ray ends a dead driver's actors only seconds later, and until then
    they would go on writing the store unlocked (a rerun may already hold it). With the
    writer gone, a case actor's next write fails and it stops.
    """

    def __init__(self, path: str, driver_pid: int) -> None:
        self.store = RunStore(Path(path))
        self._finished: list[str] = []
        threading.Thread(
            target=_exit_when_gone, args=(driver_pid,), name="driver-watch", daemon=True
        ).start()

    def get_call(self, key: str) -> ModelCall | None:
        return self.store.get_call(key)

    def put_call(self, call: ModelCall) -> None:
        self.store.put_call(call)

    def put_calls(self, calls: list[ModelCall]) -> None:
        """Record ``calls`` (one event-loop turn's of a case actor), in order."""
        for call in calls:
            self.store.put_call(call)

    def run_salt(self) -> str:
        return self.store.run_salt()

    def recorded_prefixes(self) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """The :func:`key_prefix` of every recorded call, sorted (8 bytes a call)."""
        db = connect_readonly(self.store.path)
        try:
            prefixes = [key_prefix(key) for (key,) in db.execute("SELECT key FROM calls")]
        finally:
            db.close()
        return np.sort(np.array(prefixes, dtype=np.uint64))

    def finished_cases(self) -> set[str]:
        return self.store.finished_cases()

    def failed_cases(self) -> set[str]:
        return self.store.failed_cases()

    def dataset_root(self) -> Path | None:
        return self.store.dataset_root()

    def save_skipped(self, query: Query, meta: CaseMeta, answer: TargetAnswer) -> None:
        self.store.save_query(query)
        self.store.save_skipped(meta, answer)
        self._finished.append("skipped")

    def save_failed(
        self, query: Query, meta: CaseMeta, error: str, answer: TargetAnswer | None
    ) -> None:
        self.store.save_query(query)
        self.store.save_failed(meta, error, answer)
        self._finished.append("failed")

    def save_judged(
        self,
        query: Query,
        meta: CaseMeta,
        answer: TargetAnswer,
        votes: list[Vote],
        verdict: Verdict,
    ) -> None:
        self.store.save_query(query)
        self.store.save_judged(meta, answer, votes, verdict)
        self._finished.append("judged")

    def drain(self) -> list[str]:
        """The statuses of the cases finished since the last drain, in order."""
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> None:
        """Close the store: a write still queued after this fails instead of landing."""
        self.store.close()


def _exit_when_gone(pid: int) -> None:
    try:
        watch = os.pidfd_open(pid)  # Linux: readable when the process ends
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(0.05)
    else:
        select.select([watch], [], [])
    # SIGKILL, not an exception: a write in progress is one transaction, kept or lost whole.
    os.kill(os.getpid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, as another user
    return True


class RemoteStore:
    """What a case actor's gateway and case runner see as the store: each method is the
    :class:`StoreWriter`'s, awaited to completion (a write is durable when it returns)."""

    def __init__(self, writer: Any, path: Path) -> None:
        self.writer = writer
        self.path = path
        """The store's path on the driver's machine (named in messages, never opened here)."""
        self._dataset_root: Path | None = None
        self._dataset_root_read = False
        self._recorded = self._call("recorded_prefixes")
        """Calls recorded before this actor started (:func:`key_prefix`, sorted)."""
        self._mine: set[int] = set()
        """Calls this actor recorded since (:func:`key_prefix`)."""
        self._group: list[tuple[ModelCall, asyncio.Future[None]]] = []
        """Calls recorded in this turn of the event loop, sent together at the next."""
        self._sending: set[asyncio.Task[None]] = set()
        self._queries: dict[str, Query] = {}
        """Queries of the cases in flight, written with their case ..."""
        self._pending: dict[str, int] = {}
        """... and how many of their cases are in flight."""

    def _call(self, method: str, *args: Any) -> Any:
        import ray  # only a Ray actor builds one of these

        # Blocking on purpose: the gateway's CallCache is synchronous, and a call must be in
        # the store before its result is used (as with the SQLite file itself).
        return ray.get(getattr(self.writer, method).remote(*args))

    def get_call(self, key: str) -> ModelCall | None:
        prefix = key_prefix(key)
        if prefix not in self._mine and not self._recorded_before(prefix):
            return None  # never recorded: no round trip
        return self._call("get_call", key)  # type: ignore[no-any-return]

    def _recorded_before(self, prefix: int) -> bool:
        recorded = self._recorded
        at = int(np.searchsorted(recorded, np.uint64(prefix)))
        # A prefix shared with another key only costs a round trip: the writer answers exactly.
        return at < len(recorded) and int(recorded[at]) == prefix

    def put_call(self, call: ModelCall) -> None:
        self._mine.add(key_prefix(call.key))
        self._call("put_call", call)

    async def put_call_grouped(self, call: ModelCall) -> None:
        """Record ``call``; return once the writer has it in the store, as ``put_call`` does
        (the gateway uses this one for its successful calls when the cache has it).

        The calls of one turn of the event loop go to the writer in one request, and the
        event loop runs on while it is answered (``put_call`` blocks it for the round trip):
        each caller still waits for the request that holds its call, so a call is recorded
        before its result is used.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._group:
            loop.call_soon(self._send_group)
        self._group.append((call, done))
        self._mine.add(key_prefix(call.key))
        await done

    def _send_group(self) -> None:
        group, self._group = self._group, []
        task = asyncio.ensure_future(self._send(group))
        self._sending.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._sending.discard)

    async def _send(self, group: list[tuple[ModelCall, asyncio.Future[None]]]) -> None:
        failure: BaseException | None = None
        try:
            await self.writer.put_calls.remote([call for call, _ in group])
        except BaseException as exc:  # handed to every caller of the group
            failure = exc
        for _, done in group:
            if done.done():  # its caller was cancelled
                continue
            if failure is None:
                done.set_result(None)
            elif isinstance(failure, asyncio.CancelledError):
                done.cancel()  # the loop is closing: its callers are being cancelled too
            else:
                done.set_exception(failure)

    def run_salt(self) -> str:
        return self._call("run_salt")  # type: ignore[no-any-return]

    def finished_cases(self) -> set[str]:
        return self._call("finished_cases")  # type: ignore[no-any-return]

    def failed_cases(self) -> set[str]:
        return self._call("failed_cases")  # type: ignore[no-any-return]

    def dataset_root(self) -> Path | None:
        # Set by the driver before any actor starts, so asked once.
        if not self._dataset_root_read:
            self._dataset_root = self._call("dataset_root")
            self._dataset_root_read = True
        return self._dataset_root

    def save_query(self, query: Query) -> None:
        # Kept until its case is written (a case's first write): one round trip, not two.
        self._queries[query.id] = query
        self._pending[query.id] = self._pending.get(query.id, 0) + 1

    def _query(self, meta: CaseMeta) -> Query:
        # Several cases (modalities, targets) may share a query in flight: it stays until the
        # last of them is written, then goes (memory stays flat over a long run).
        query = self._queries[meta.query_id]
        self._pending[meta.query_id] -= 1
        if not self._pending[meta.query_id]:
            del self._queries[meta.query_id], self._pending[meta.query_id]
        return query

    def save_skipped(self, meta: CaseMeta, answer: TargetAnswer) -> None:
        self._call("save_skipped", self._query(meta), meta, answer)

    def save_failed(self, meta: CaseMeta, error: str, answer: TargetAnswer | None) -> None:
        self._call("save_failed", self._query(meta), meta, error, answer)

    def save_judged(
        self, meta: CaseMeta, answer: TargetAnswer, votes: list[Vote], verdict: Verdict
    ) -> None:
        self._call("save_judged", self._query(meta), meta, answer, votes, verdict)
