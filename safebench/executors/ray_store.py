"""The run store as a Ray actor on the driver's node, and the proxy case actors write through.

A Ray run's cases run on actors anywhere in the cluster, but the run's SQLite store stays one
file on the driver's machine, the one source of truth. :class:`StoreWriter` owns it there:
the gateway's ``CallCache`` (``get_call``/``put_call``) and the case writes. A case actor's
:class:`RemoteStore` waits for each write to be done before going on, so a call is recorded
before its result is used and a killed actor (or driver) resumes with no repeated recorded
call, as one process does.

The writer serves one request at a time (SQLite has one writer anyway): a caller's requests
run in the order it made them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safebench.core.records import ModelCall, Query, TargetAnswer, Verdict, Vote
from transcripts.store import CaseMeta, RunStore


class StoreWriter:
    """The run's store, served to the case actors (a Ray actor on the driver's node). It also
    keeps the status of each case finished since the driver last asked (its progress bar)."""

    def __init__(self, path: str) -> None:
        self.store = RunStore(Path(path))
        self._finished: list[str] = []

    def get_call(self, key: str) -> ModelCall | None:
        return self.store.get_call(key)

    def put_call(self, call: ModelCall) -> None:
        self.store.put_call(call)

    def run_salt(self) -> str:
        return self.store.run_salt()

    def finished_cases(self) -> set[str]:
        return self.store.finished_cases()

    def dataset_root(self) -> Path | None:
        return self.store.dataset_root()

    def save_query(self, query: Query) -> None:
        self.store.save_query(query)

    def save_skipped(self, meta: CaseMeta, answer: TargetAnswer) -> None:
        self.store.save_skipped(meta, answer)
        self._finished.append("skipped")

    def save_failed(self, meta: CaseMeta, error: str, answer: TargetAnswer | None) -> None:
        self.store.save_failed(meta, error, answer)
        self._finished.append("failed")

    def save_judged(
        self, meta: CaseMeta, answer: TargetAnswer, votes: list[Vote], verdict: Verdict
    ) -> None:
        self.store.save_judged(meta, answer, votes, verdict)
        self._finished.append("judged")

    def drain(self) -> list[str]:
        """The statuses of the cases finished since the last drain, in order."""
        finished, self._finished = self._finished, []
        return finished

    def close(self) -> None:
        """Close the store: a write still queued after this fails instead of landing."""
        self.store.close()


class RemoteStore:
    """What a case actor's gateway and case runner see as the store: each method is the
    :class:`StoreWriter`'s, awaited to completion (a write is durable when it returns)."""

    def __init__(self, writer: Any, path: Path) -> None:
        self.writer = writer
        self.path = path
        """The store's path on the driver's machine (named in messages, never opened here)."""
        self._dataset_root: Path | None = None
        self._dataset_root_read = False

    def _call(self, method: str, *args: Any) -> Any:
        import ray  # only a Ray actor builds one of these

        # Blocking on purpose: the gateway's CallCache is synchronous, and a call must be in
        # the store before its result is used (as with the SQLite file itself).
        return ray.get(getattr(self.writer, method).remote(*args))

    def get_call(self, key: str) -> ModelCall | None:
        return self._call("get_call", key)  # type: ignore[no-any-return]

    def put_call(self, call: ModelCall) -> None:
        self._call("put_call", call)

    def run_salt(self) -> str:
        return self._call("run_salt")  # type: ignore[no-any-return]

    def finished_cases(self) -> set[str]:
        return self._call("finished_cases")  # type: ignore[no-any-return]

    def dataset_root(self) -> Path | None:
        # Set by the driver before any actor starts, so asked once.
        if not self._dataset_root_read:
            self._dataset_root = self._call("dataset_root")
            self._dataset_root_read = True
        return self._dataset_root

    def save_query(self, query: Query) -> None:
        self._call("save_query", query)

    def save_skipped(self, meta: CaseMeta, answer: TargetAnswer) -> None:
        self._call("save_skipped", meta, answer)

    def save_failed(self, meta: CaseMeta, error: str, answer: TargetAnswer | None) -> None:
        self._call("save_failed", meta, error, answer)

    def save_judged(
        self, meta: CaseMeta, answer: TargetAnswer, votes: list[Vote], verdict: Verdict
    ) -> None:
        self._call("save_judged", meta, answer, votes, verdict)
