"""The run pipeline: dataset -> targets -> jury -> store, resumable at any point.

One function opens and closes a run, whatever executes its cases: :func:`conduct_run` takes
the store's writer lock, resolves the dataset, binds the store to the run's identity,
attacks the dataset once, shares out the budget, starts the progress, hands the cases to an
executor and writes the status and summary. Executors only run shards of the cases
(``safebench.run.workers.run_shard``, each case judged by ``jury.case.judge_case``):

- one process (the default): one shard, on this event loop;
- ``workers: N``: N shards in N worker processes (``safebench.run.workers``);
- ``executor: ray``: N shards on Ray actors (``safebench.run.executors.ray_run``).

Each case is finished in the store as judged, skipped or failed, in one transaction; a rerun
skips finished cases and replays any model call already recorded, so a killed run resumes
without asking any model twice.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from agents.budget import BudgetExhausted, SpendLimit
from kernel.errors import RunAborted
from safebench.run.attacked import attack_dataset_in_session
from safebench.run.cases import (
    NoProgress,
    Progress,
    RunOverBudget,
    RunSummary,
    case_calls,
    count_chosen,
    over_budget_message,
    resolve_dataset,
    spend_limit,
    summarize,
)
from safebench.run.config import RunConfig
from safebench.run.fingerprint import bind_run, dataset_digest, run_identity
from safebench.run.session import model_session
from safebench.run.workers import (
    Supervise,
    WorkerReport,
    budget_shares,
    run_shard,
    supervise_processes,
)
from transcripts.lock import WriterLock
from transcripts.store import RunStore

__all__ = ["NoProgress", "Progress", "RunOverBudget", "RunSummary", "conduct_run", "run_evaluation"]


async def run_evaluation(config: RunConfig, progress: Progress | None = None) -> RunSummary:
    """Run (or resume) the evaluation ``config`` describes, on the executor it names.

    Raises ``RunOverBudget`` (status ``budget``, the summary so far attached) when the next
    model call would pass ``config.budget``."""
    progress = progress or NoProgress()
    if config.executor == "ray":
        # Imported here: the Ray executor is an extra, and checks for it before any lock.
        from safebench.run.executors.ray_run import ray_executor

        supervise, shards = ray_executor(config)
    elif config.workers > 1:
        supervise, shards = supervise_processes, config.workers
    else:
        supervise, shards = supervise_in_process, 1
    return await conduct_run(config, progress, supervise, shards)


async def supervise_in_process(
    config: RunConfig,
    dataset_root: Path,
    progress: Progress,
    spends: list[SpendLimit | None],
) -> list[WorkerReport]:
    """The one-process executor: the run's one shard, on this event loop. A run abort, a
    stop or a bug propagates as it is (there is no process boundary to report across)."""
    (spend,) = spends
    async with model_session(config.gateway, config.store_path(), spend=spend) as session:
        assert session.store is not None
        return [
            await run_shard(config, dataset_root, (0, 1), session.store, session.gateway, progress)
        ]


async def conduct_run(
    config: RunConfig, progress: Progress, supervise: Supervise, shards: int
) -> RunSummary:
    """Open the run, have ``supervise`` run its cases in ``shards`` shards, close it."""
    started = time.monotonic()
    # One writer per store, taken before the store (or the seed dataset beside it) is
    # touched: a refused second run changes nothing. Released when the run ends or its
    # process dies (an OS lock). Shards write under it and take none.
    with WriterLock.acquire(config.store_path()):
        dataset_root = resolve_dataset(config)  # built once, here, never raced by shards
        identity = run_identity(config, dataset_root)
        store = RunStore(config.store_path())
        try:
            return await _conduct(
                config, store, dataset_root, identity, progress, supervise, shards, started
            )
        finally:
            store.close()


async def _conduct(
    config: RunConfig,
    store: RunStore,
    dataset_root: Path,
    identity: dict[str, object],
    progress: Progress,
    supervise: Supervise,
    shards: int,
    started: float,
) -> RunSummary:
    # Refuses, before any model call, a resume of a store made with another config.
    bind_run(store, config.name, config.public_json(), identity)
    # Attacked once, here, in a model session of its own, within the run's budget; the
    # shards read the result and share what is left of the budget.
    try:
        dataset_root = await attack_dataset_in_session(
            config, dataset_root, spend_limit(config, store)
        )
    except BudgetExhausted as exc:
        store.set_status("budget")
        summary = summarize(store, None, "budget", time.monotonic() - started)
        raise RunOverBudget(over_budget_message(str(exc), summary.store), summary) from None
    # What is left of the budget (earlier sessions' calls are in the store), shared out.
    spend = spend_limit(config, store)
    # The attacked copy's digest is its own (computed there); the identity's is the source's.
    store.set_dataset_root(dataset_root, None if config.attack else dataset_digest(identity))
    if config.only_failed:
        # --retry-failed: the failed cases, and no case that never started.
        progress.start(len(store.failed_cases()), 0)
    else:
        total = count_chosen(config, dataset_root) * len(config.modalities) * len(config.targets)
        progress.start(total, len(store.finished_cases()))
    status = "complete"
    try:
        shares = budget_shares(spend, shards, case_calls(config))
        reports = await supervise(config, dataset_root, progress, shares)
        if any(r.status == "budget" for r in reports):
            status = "budget"
    except RunAborted:
        status = "aborted"
        raise
    except BaseException:
        # Ctrl-C, a bad dataset row, a bug: what finished is kept, but the run did not
        # complete.
        status = "stopped"
        raise
    finally:
        store.set_status(status)
    summary = summarize(store, None, status, time.monotonic() - started)
    summary = dataclasses.replace(
        summary,
        model_calls=sum(r.calls for r in reports),
        cached_calls=sum(r.cached for r in reports),
        retries=sum(r.retries for r in reports),
    )
    if status == "budget":
        stopped = next(r for r in reports if r.status == "budget")
        reason = stopped.error or "budget reached"
        if shards > 1:
            reason = (
                f"{config.budget.model_dump(exclude_none=True)} shared out among "
                f"{shards} workers; worker {stopped.index}: {stopped.error}"
            )
        raise RunOverBudget(over_budget_message(reason, summary.store), summary)
    return summary
