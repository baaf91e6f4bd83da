"""The run pipeline: dataset -> targets -> jury -> store, resumable at any point.

Cases (target x query x modality) stream from the dataset through a bounded pool of
workers (``safebench.run.cases.CaseRunner``). Each case is finished in the store as judged,
skipped or failed, in one transaction; a rerun skips finished cases and replays any model
call already recorded, so a killed run resumes without asking any model twice. With
``workers: N`` the same runner runs in N processes (``safebench.run.workers``); with
``executor: ray``, on Ray actors across a cluster (``safebench.run.executors.ray_run``).
"""

from __future__ import annotations

import time
from pathlib import Path

from agents.budget import BudgetExhausted
from jury.courtroom import Courtroom
from kernel.errors import RunAborted
from safebench.run.attacked import attack_dataset
from safebench.run.cases import (
    CaseRunner,
    NoProgress,
    Progress,
    RunOverBudget,
    RunSummary,
    build_targets,
    chosen_queries,
    count_chosen,
    over_budget_message,
    resolve_dataset,
    spend_limit,
    summarize,
)
from safebench.run.config import RunConfig
from safebench.run.executors.ray_run import run_on_ray
from safebench.run.fingerprint import bind_run, dataset_digest, run_identity
from safebench.run.session import model_session
from safebench.run.workers import run_with_workers
from targets.base import TargetContext
from transcripts.lock import WriterLock

__all__ = ["NoProgress", "Progress", "RunOverBudget", "RunSummary", "run_evaluation"]


async def run_evaluation(config: RunConfig, progress: Progress | None = None) -> RunSummary:
    """Run (or resume) the evaluation ``config`` describes.

    Raises ``RunOverBudget`` (status ``budget``, the summary so far attached) when the next
    model call would pass ``config.budget``."""
    progress = progress or NoProgress()
    if config.executor == "ray":
        return await run_on_ray(config, progress)
    if config.workers > 1:
        return await run_with_workers(config, progress)
    started = time.monotonic()
    # One writer per store, taken before the store (or the seed dataset beside it) is
    # touched: a refused second run changes nothing. Released when the run ends or its
    # process dies (an OS lock).
    with WriterLock.acquire(config.store_path()):
        dataset_root = resolve_dataset(config)
        identity = run_identity(config, dataset_root)
        return await _run_one_process(config, dataset_root, identity, progress, started)


async def _run_one_process(
    config: RunConfig,
    dataset_root: Path,
    identity: dict[str, object],
    progress: Progress,
    started: float,
) -> RunSummary:
    async with model_session(config.gateway, config.store_path()) as session:
        store, gateway = session.store, session.gateway
        assert store is not None
        # Refuses, before any model call, a resume of a store made with another config.
        salt = bind_run(store, config.name, config.public_json(), identity)
        # The budget counts what earlier sessions of this run spent (recorded in the store).
        gateway.spend = spend_limit(config, store)
        # "running" until the cases start: a failure before then leaves it so, as it always did.
        status = "running"
        try:
            # With an attack the cases read its attacked copy (made here, its model calls in
            # the store); the identity stays the source's plus the attack.
            dataset_root = await attack_dataset(config, dataset_root, gateway)
            # The attacked copy's digest is its own (computed there); the identity's is the
            # source's.
            digest = None if config.attack else dataset_digest(identity)
            store.set_dataset_root(dataset_root, digest)
            targets = build_targets(config, TargetContext(dataset_root, gateway))
            courtroom = Courtroom(config.jury, gateway)
            runner = CaseRunner(
                config, store, targets, courtroom, salt, progress, spend=gateway.spend
            )
            total = count_chosen(config, dataset_root) * len(config.modalities)
            finished = store.finished_cases()
            progress.start(total * len(targets), len(finished))
            status = "stopped"  # until it completes (Ctrl-C, a bad dataset row, a bug)
            await runner.run(chosen_queries(config, dataset_root), finished)
            status = "complete"
        except RunAborted:
            status = "aborted"
            raise
        except BudgetExhausted as exc:
            # What finished is kept; a higher budget resumes.
            status = "budget"
            summary = summarize(store, gateway, status, time.monotonic() - started)
            raise RunOverBudget(over_budget_message(str(exc), summary.store), summary) from None
        finally:
            # A bad dataset row, Ctrl-C or a bug leaves "stopped": what finished is kept, but
            # the run did not complete (it used to be marked "complete" here).
            store.set_status(status)
        return summarize(store, gateway, status, time.monotonic() - started)
