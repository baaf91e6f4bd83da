"""Re-judge a finished run with another jury, asking no target anything.

The answers stored in a run are read back and deliberated again by the new jury; the result
is a new store that carries the original run's queries, cases, answers (and the target calls
behind them) and dataset root, so it reads like a run of its own. Cases that were skipped or
failed stay as they were. The data flows one way: the source store is only read.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict

from agents.settings import GatewaySettings
from jury.case import judge_case
from jury.config import JuryConfig, jury_hash
from jury.courtroom import Courtroom
from jury.metrics.confusion import Confusion
from kernel import secrets
from kernel.errors import StoreError
from safebench.run.cases import NoProgress, Progress, RunSummary, summarize
from safebench.run.fingerprint import bind_run, rejudged_identity
from safebench.run.session import model_session
from transcripts.lock import WriterLock
from transcripts.store import CaseMeta, CaseRow, RunStore

log = structlog.get_logger(__name__)


class RejudgedConfig(BaseModel):
    """A re-judged run's stored config, and what a re-judge reads of its source's.

    The source's config is carried over as it was stored (secrets masked; every key kept,
    ``extra="allow"``, so a run's config of any SafeBench version is re-judged): only the
    gateway settings are read (the new run's retries and limits are the source's), and the
    name, the jury (the new one, masked) and ``rejudged_from`` (the source store) are
    replaced. ``stored_json`` writes back only what was stored or replaced, no defaults.
    """

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    gateway: GatewaySettings = GatewaySettings()
    jury: dict[str, Any] | None = None
    """The jury, as stored: masked JSON (``JuryConfig``'s fields)."""
    rejudged_from: str | None = None
    """The store the answers were judged from (absent in a run's own config)."""

    def stored_json(self) -> str:
        return self.model_dump_json(exclude_unset=True)


def default_rejudged_store(source: Path, jury: JuryConfig) -> Path:
    with RunStore.open_readonly(source) as store:
        name = store.run_record().name
    return source.parent / f"{name}-rejudged-{jury_hash(jury)}.sqlite"


def check_paths(source: Path, target: Path | None, jury: JuryConfig) -> Path:
    """The new store's path; the source must exist and must not be overwritten."""
    if not source.is_file():
        raise StoreError(f"{source}: no such run store")
    target = target or default_rejudged_store(source, jury)
    if target.resolve() == source.resolve():
        raise StoreError(f"{target}: the re-judged run needs a store of its own")
    return target


async def rejudge(
    source: Path,
    jury: JuryConfig,
    target: Path | None = None,
    *,
    concurrency: int = 16,
    progress: Progress | None = None,
) -> RunSummary:
    """Deliberate again on every judged answer of ``source``; resumable like a run."""
    progress = progress or NoProgress()
    started = time.monotonic()
    target = check_paths(source, target, jury)
    # The new store has one writer, as a run's has (the source is only read: no lock).
    with WriterLock.acquire(target):
        return await _rejudge(source, jury, target, concurrency, progress, started)


async def _rejudge(
    source: Path,
    jury: JuryConfig,
    target: Path,
    concurrency: int,
    progress: Progress,
    started: float,
) -> RunSummary:
    src = RunStore.open_readonly(source)
    try:
        record = src.run_record()
        stored = record.config_as(RejudgedConfig)
        # The cache is the new store: the source's juror calls belong to the old jury.
        async with model_session(stored.gateway, target) as session:
            dst, gateway = session.store, session.gateway
            assert dst is not None
            # Masked as a run's stored config is: a juror's api_base credentials or headers
            # must never reach the store (reports, the viewer and exports read it).
            jury_json = json.loads(jury.model_dump_json(exclude_none=True))
            config = stored.model_copy(
                update={
                    "name": f"{record.name}-rejudged-{jury_hash(jury)}",
                    "jury": secrets.mask_secrets(jury_json),
                    "rejudged_from": str(source),
                }
            )
            # The new store is bound to the source run's identity with the new jury: resuming
            # it with yet another jury is refused like a changed run.
            identity = rejudged_identity(src, jury)
            salt = bind_run(dst, config.name, config.stored_json(), identity)
            root = src.dataset_root()
            if root is not None:
                # The digest the source recorded: the answers came from that dataset, whatever
                # the directory holds now.
                dst.set_dataset_root(root, src.dataset_queries_sha256())
            courtroom = Courtroom(jury, gateway)
            _carry_over(src, dst)
            cases = list(src.iter_cases())
            done = dst.finished_cases()
            progress.start(len(cases), len(done))
            limit = asyncio.Semaphore(concurrency)

            async def one(row: CaseRow) -> None:
                async with limit:
                    status = await _rejudge_case(src, dst, courtroom, salt, root, row)
                progress.advance(status)

            await asyncio.gather(*(one(row) for row in cases if row.case_id not in done))
            dst.set_status("complete")
            return summarize(dst, gateway, "complete", time.monotonic() - started)
    finally:
        src.close()


def _carry_over(src: RunStore, dst: RunStore) -> None:
    """Queries, and the target calls behind the answers, so the audit trail stays whole."""
    for query in src.iter_queries():
        dst.save_query(query)
    keys = {a.call_key for a in src.iter_answers() if a.call_key}
    for key in keys:
        call = src.get_call(key)
        if call is not None:
            dst.put_call(call)


async def _rejudge_case(
    src: RunStore,
    dst: RunStore,
    courtroom: Courtroom,
    salt: str,
    media_root: Path | None,
    row: CaseRow,
) -> str:
    meta = CaseMeta(**row.model_dump(exclude={"status", "error"}))
    answer = src.get_answer(row.case_id)
    if row.status == "skipped" and answer is not None:
        dst.save_skipped(meta, answer)
        return "skipped"
    if row.status != "judged" or answer is None or answer.status != "ok":
        dst.save_failed(meta, row.error or "failed in the source run", answer)
        return "failed"
    query = src.get_query(row.query_id)
    if query is None:
        dst.save_failed(meta, "rejudge: the source run did not keep this query", answer)
        return "failed"
    # The same call a run judges its cases with: the same request (an attacked query's
    # original text), media and refusal handling; the source's target refusals stand.
    outcome = await judge_case(
        courtroom, meta, query, answer, salt=salt, media_root=media_root, store=dst
    )
    return outcome.status


class VerdictChange(BaseModel):
    """How a re-judged run's verdicts differ from its source's, case by case."""

    compared: int
    """Cases with a verdict in both runs."""
    decided: int
    """Of those, cases both juries decided (harmful or not): what agreement and kappa cover."""
    agreement: float | None
    """Share of the decided cases given the same verdict."""
    kappa: float | None
    """Cohen's kappa between the two juries' verdicts on the decided cases."""
    to_harmful: int
    """Cases the source judged not harmful and the new jury harmful."""
    to_safe: int
    now_undecided: int
    """Cases the source decided and the new jury could not."""
    now_decided: int

    @property
    def flipped(self) -> int:
        return self.to_harmful + self.to_safe


def verdict_change(source: Path, rejudged: Path) -> VerdictChange:
    """Compare the verdicts of ``rejudged`` with those of its ``source`` (both only read)."""
    with RunStore.open_readonly(source) as src:
        before = {v.case_id: v.harmful for v in src.iter_verdicts()}
    with RunStore.open_readonly(rejudged) as dst:
        after = {v.case_id: v.harmful for v in dst.iter_verdicts()}
    both = sorted(before.keys() & after.keys())
    pairs = [(after[c], before[c]) for c in both]
    decided = [(new, old) for new, old in pairs if new is not None and old is not None]
    confusion = Confusion.of(decided)
    return VerdictChange(
        compared=len(pairs),
        decided=len(decided),
        agreement=confusion.accuracy if decided else None,
        kappa=confusion.kappa if decided else None,
        to_harmful=sum(new and not old for new, old in decided),
        to_safe=sum(old and not new for new, old in decided),
        now_undecided=sum(new is None and old is not None for new, old in pairs),
        now_decided=sum(new is not None and old is None for new, old in pairs),
    )
