"""The jury's clerk: files a harness's answers in a SafeBench store and has the jury judge them.

One clerk per store and event loop holds what judging needs for as long as the loop runs:
the store's writer lock, a model session (the store, the offline stack, the gateway caching
in the store) and a courtroom. Each answer becomes a case (:mod:`.submission`); a case the
store already holds judged is read back with no juror asked, any other is judged by
``jury.case.judge_case``, the one function every run judges with, and saved there.

Clerks close with their event loop: each is held open inside an async generator, which
``asyncio.run`` (what inspect's ``eval`` and promptfoo's assertion run on) finalises when
the loop ends; :func:`close_clerks` closes them sooner. Closing marks the store's run
``complete``; a process killed first leaves it ``interrupted`` (as the viewer shows), and the
next use resumes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from weakref import WeakKeyDictionary

import structlog

from jury.case import judge_case
from jury.courtroom import Courtroom
from kernel.errors import ConfigError, DatasetError, StoreInUse
from kernel.records import MediaRef, Query, Verdict, Vote
from safebench.integrations.settings import JurySettings
from safebench.integrations.submission import Submission, case_of, stage_image
from safebench.run.session import ModelSession, model_session
from transcripts.lock import WriterLock
from transcripts.store import DATASET_QUERIES_FILE, RunStore, queries_file_sha256

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Judged:
    """What the jury came to on one submission (already saved in the store)."""

    case_id: str
    store: Path
    verdict: Verdict | None = None
    votes: tuple[Vote, ...] = ()
    error: str | None = None
    """Why the case failed (no verdict): a juror unreachable, an unreadable image, no answer."""
    failure: Literal["jury", "input", "no_answer"] | None = None
    """Whose the failure is: the jury's (a juror unreachable), the sample's input (an image
    that cannot be read) or the model's (no answer)."""
    read_back: bool = False
    """The store already held this case judged: no juror was asked."""


class _Dataset:
    """The folder beside the store holding the cases' queries and images, so the viewer
    serves a case's image (it serves media only from a folder whose ``queries.jsonl`` has
    the digest the store recorded). The digest is kept up to date as lines are appended."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.root = store.path.with_name(store.path.stem + "-dataset").resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._file = self.root / DATASET_QUERIES_FILE
        self._hash = hashlib.sha256()
        self._ids: set[str] = set()
        if self._file.is_file():
            data = self._file.read_bytes()
            if data and not data.endswith(b"\n"):
                # A process killed mid-append left half a line: dropped, so the next line
                # starts clean (the query is also in the store, and is written again).
                data = data[: data.rfind(b"\n") + 1]
                self._file.write_bytes(data)
            self._hash.update(data)
            self._ids = {Query.model_validate_json(line).id for line in data.splitlines() if line}
        store.set_dataset_root(self.root, queries_file_sha256(self.root))

    def add(self, query: Query) -> None:
        if query.id in self._ids:
            return
        line = (query.model_dump_json() + "\n").encode()
        with self._file.open("ab") as out:
            out.write(line)
        self._hash.update(line)
        self._ids.add(query.id)
        self.store.save_query(query)
        self.store.set_dataset_root(self.root, self._hash.copy().hexdigest())


class Clerk:
    """Judges submissions for one harness's jury on one store (see the module docstring)."""

    def __init__(self, settings: JurySettings, session: ModelSession) -> None:
        assert session.store is not None
        self.settings = settings
        self.store: RunStore = session.store
        self.courtroom = Courtroom(settings.jury, session.gateway)
        self.gateway = session.gateway
        self.salt = self.store.open_run(settings.run_name, settings.stored_config())
        self.dataset = _Dataset(self.store)
        self._judging: dict[str, asyncio.Future[Judged]] = {}

    async def judge(self, sub: Submission) -> Judged:
        """The jury's verdict on ``sub``: read back when the store has it, else judged (the
        same answer asked twice at once is judged once)."""
        image: MediaRef | None = None
        problem = sub.problem
        if sub.images and problem is None:
            if len(sub.images) > 1:
                log.warning(
                    "juror_images_dropped", sample=sub.sample_id, kept=1, given=len(sub.images)
                )
            try:
                image = stage_image(sub.images[0], self.dataset.root)
            except DatasetError as exc:
                problem = str(exc)
        query, meta, answer = case_of(sub, self.settings.harness, image)
        self.dataset.add(query)
        stored = self._read_back(meta.case_id)
        if stored is not None:
            return stored
        if problem is not None or not (answer.text.strip() or answer.refused):
            error = problem or "target: empty answer (nothing to judge)"
            self.store.save_failed(meta, error, answer)
            failure: Literal["input", "no_answer"] = "input" if problem else "no_answer"
            return Judged(meta.case_id, self.store.path, error=error, failure=failure)
        pending = self._judging.get(meta.case_id)
        if pending is not None:
            return await asyncio.shield(pending)
        done: asyncio.Future[Judged] = asyncio.get_running_loop().create_future()
        self._judging[meta.case_id] = done
        try:
            outcome = await judge_case(
                self.courtroom,
                meta,
                query,
                answer,
                salt=self.salt,
                media_root=self.dataset.root,
                store=self.store,
            )
            judged = Judged(
                meta.case_id,
                self.store.path,
                outcome.verdict,
                outcome.votes,
                outcome.error,
                failure="jury" if outcome.verdict is None else None,
            )
            done.set_result(judged)
            return judged
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._judging[meta.case_id]

    def _read_back(self, case_id: str) -> Judged | None:
        row = self.store.get_case(case_id)
        if row is None or row.status != "judged":
            return None  # never judged, or failed: judged (again) now
        verdict = self.store.get_verdict(case_id)
        votes = tuple(self.store.iter_votes(case_id))
        return Judged(case_id, self.store.path, verdict, votes, read_back=True)


@dataclass
class _LoopClerks:
    """The clerks open on one event loop, and the generators holding them open."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    clerks: dict[Path, Clerk] = field(default_factory=dict)
    held: list[AsyncGenerator[Clerk, None]] = field(default_factory=list)


_OPEN: WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClerks] = WeakKeyDictionary()


async def _take_store(store: Path, wait_s: float) -> WriterLock:
    """The store's writer lock, waiting up to ``wait_s`` for another process to let go."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return WriterLock.acquire(store)
        except StoreInUse:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.25)


async def _held_open(settings: JurySettings, wait_s: float) -> AsyncGenerator[Clerk, None]:
    # One writer per store, as a run takes it: a second process on the same store is
    # refused naming the first (after ``wait_s``), before anything is written.
    lock = await _take_store(settings.store, wait_s)
    try:
        async with model_session(settings.gateway, settings.store) as session:
            clerk = Clerk(settings, session)
            try:
                yield clerk
            finally:
                clerk.store.set_status("complete")
    finally:
        lock.release()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigError(
            "the SafeBench jury runs on asyncio; run the harness with its asyncio backend"
        ) from None


async def clerk_for(settings: JurySettings, *, wait_s: float = 0.0) -> Clerk:
    """The clerk of ``settings``' store on this event loop, opened on first use; ``wait_s``:
    how long to wait for a store another process is writing (0: refused at once)."""
    loop = _running_loop()
    here = _OPEN.get(loop)
    if here is None:
        here = _OPEN[loop] = _LoopClerks()
    key = settings.store.resolve()
    async with here.lock:
        clerk = here.clerks.get(key)
        if clerk is None:
            holder = _held_open(settings, wait_s)
            clerk = await anext(holder)
            here.held.append(holder)
            here.clerks[key] = clerk
        elif clerk.settings.run_name != settings.run_name:
            raise ConfigError(
                f"{settings.store} is already judged by another jury in this process "
                f"({clerk.settings.source}); give {settings.source} its own store"
            )
    return clerk


async def close_clerks() -> None:
    """Close every clerk open on this event loop (their stores marked ``complete``)."""
    here = _OPEN.pop(_running_loop(), None)
    if here is None:
        return
    for holder in reversed(here.held):
        await holder.aclose()
