"""A run over several processes: one event loop per core, one store for all.

One asyncio loop tops out near one core of CPU (litellm's per-call cost, autogen, the jury's
parsing), so ``workers: N`` starts N processes. Each owns an event loop, a gateway, its own
offline stack (the simulated targets' HTTP server and the in-process offline jurors) and the
cases whose id hashes to it; all of them write the run's one SQLite store (WAL, a busy
timeout, one short transaction per case or call). The parent opens the run, builds the
dataset once, draws the progress bar from the workers' reports, checks the run's failure
rate over all of them and writes the closing summary.

Each worker has its own offline simulator server rather than one shared one: the simulators
answer as a pure function of the request, so a per-worker server changes no answer, costs no
coordination, and spreads the server's CPU over the workers instead of one core.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import hashlib
import logging
import math
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, Protocol

import structlog

from agents.budget import BudgetExhausted, SpendLimit
from agents.gateway import Gateway
from agents.settings import GatewaySettings
from jury.courtroom import Courtroom
from kernel.errors import RunAborted, SafeBenchError
from kernel.logs import configure_logging
from safebench.run.cases import (
    CaseRunner,
    Progress,
    build_targets,
    chosen_queries,
)
from safebench.run.config import RunConfig
from safebench.run.session import model_session
from targets.base import TargetContext

log = structlog.get_logger(__name__)

_POLL_S = 0.2
"""How often the parent looks at its workers while no report arrives."""
_PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal this process gets when its parent dies."""
_EXIT_GRACE_S = 2.0
"""How long a worker's report may trail its exit before the worker counts as crashed."""


def shard_of(case_id: str, workers: int) -> int:
    """The worker that owns ``case_id``: stable across runs, so a resume with the same number
    of workers gives each the same cases (any number of workers still resumes correctly)."""
    digest = hashlib.blake2b(case_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % workers


def worker_share(config: RunConfig, workers: int | None = None) -> RunConfig:
    """The config one worker runs: the run's concurrency and limits divided among ``workers``
    (``config.workers`` unless given: a Ray run has ``ray.num_workers``)."""
    n = workers or config.workers

    def split(value: int) -> int:
        return max(1, math.ceil(value / n))

    gateway: GatewaySettings = config.gateway.model_copy(deep=True)
    for limits in [gateway.default_limits, *gateway.providers.values()]:
        limits.max_concurrency = split(limits.max_concurrency)
        if limits.requests_per_second is not None:
            limits.requests_per_second = limits.requests_per_second / n
        if limits.requests_per_minute is not None:
            limits.requests_per_minute = limits.requests_per_minute / n
        if limits.tokens_per_minute is not None:
            limits.tokens_per_minute = max(1, limits.tokens_per_minute // n)
    targets = [
        t.model_copy(update={"max_concurrency": split(t.max_concurrency)})
        if t.max_concurrency
        else t
        for t in config.targets
    ]
    return config.model_copy(
        update={"concurrency": split(config.concurrency), "gateway": gateway, "targets": targets}
    )


@dataclass
class WorkerReport:
    """What a worker says when it ends."""

    index: int
    status: str  # "complete" | "aborted" | "budget" | "crashed"
    calls: int = 0
    cached: int = 0
    retries: int = 0
    error: str | None = None


class Supervise(Protocol):
    """How an executor runs the shards and waits for their reports: ``workers`` shards, the
    i-th with budget ``spends[i]``; raises as :func:`raise_for_report` does."""

    def __call__(
        self,
        config: RunConfig,
        dataset_root: Path,
        progress: Progress,
        spends: list[SpendLimit | None],
    ) -> Awaitable[list[WorkerReport]]: ...


class ShardStore(Protocol):
    """What one shard's runner needs of the run's store: a :class:`RunStore`, or (on Ray) a
    proxy of the store writer the driver owns."""

    path: Path

    def run_salt(self) -> str: ...

    def finished_cases(self) -> set[str]: ...

    def failed_cases(self) -> set[str]: ...


class _QueueProgress:
    """A worker's progress: every finished case goes to the parent as ("case", status)."""

    def __init__(self, reports: Queue[Any]) -> None:
        self.reports = reports

    def start(self, total: int, already_done: int) -> None:
        return None

    def advance(self, status: str) -> None:
        self.reports.put(("case", status))


def budget_shares(
    spend: SpendLimit | None, workers: int, case_calls: int = 1
) -> list[SpendLimit | None]:
    """What is left of the run's budget, split among the workers: each stops at its share,
    so together they never pass the whole. Calls are shared out in whole cases of
    ``case_calls`` (a budget admits only whole cases: a share smaller than one case would
    judge nothing), the rest to the first worker; dollars evenly."""
    if spend is None:
        return [None] * workers
    shares: list[SpendLimit | None] = []
    left = max(0, spend.max_calls - spend.calls) if spend.max_calls is not None else 0
    cases, spare = divmod(left, max(1, case_calls))
    for index in range(workers):
        calls = None
        if spend.max_calls is not None:
            mine = cases // workers + (index < cases % workers)
            calls = mine * case_calls + (spare if index == 0 else 0)
        usd = None
        if spend.max_usd is not None:
            usd = max(0.0, spend.max_usd - spend.usd) / workers
        shares.append(SpendLimit(calls, usd))  # a share of 0 refuses its first call
    return shares


def _worker_main(
    config: RunConfig,
    dataset_root: Path,
    index: int,
    reports: Queue[Any],
    verbose: bool,
    spend: SpendLimit | None = None,
) -> None:
    """A worker process: run its shard of the cases, then report."""
    _die_with_parent()
    configure_logging(verbose)
    report = WorkerReport(index, "crashed")
    try:
        report = run_reported(index, _run_shard(config, dataset_root, index, reports, spend))
    finally:
        reports.put(("done", dataclasses.asdict(report)))


def run_reported(index: int, shard: Coroutine[Any, Any, WorkerReport]) -> WorkerReport:
    """Run a shard's coroutine on a new event loop; whatever stops it becomes its report."""
    try:
        return asyncio.run(shard)
    except RunAborted as exc:
        return WorkerReport(index, "aborted", error=str(exc))
    except BaseException as exc:  # reported to the parent, which fails the run with it
        return WorkerReport(index, "crashed", error=f"{type(exc).__name__}: {exc}")


def _die_with_parent() -> None:
    """End this worker when the run's process ends, however it ends (SIGTERM, kill -9).

    A worker left behind would go on calling models unsupervised, and its writes would race
    the next run of the store (whose lock only the parent holds). Two ways, as either can
    miss: Linux's PR_SET_PDEATHSIG kills us when our parent (the fork server, which itself
    exits when the run's process does) dies; and a thread waits on multiprocessing's parent
    sentinel, a pipe whose write end only the run's process holds, so it reads EOF the
    moment that process is gone, on any platform.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError) as exc:  # no prctl: the sentinel still watches
            log.debug("workers.no_pdeathsig", error=repr(exc))
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_when_gone, args=(parent.sentinel,), name="parent-watch", daemon=True
        ).start()


def _exit_when_gone(sentinel: int) -> None:
    wait([sentinel])
    # SIGKILL, not an exception: the event loop may be busy, and a case in flight is one
    # transaction, so dying here loses only that case (a rerun asks it again).
    os.kill(os.getpid(), signal.SIGKILL)


async def _run_shard(
    config: RunConfig,
    dataset_root: Path,
    index: int,
    reports: Queue[Any],
    spend: SpendLimit | None = None,
) -> WorkerReport:
    share = worker_share(config)
    async with model_session(share.gateway, config.store_path(), spend=spend) as session:
        assert session.store is not None
        return await run_shard(
            share,
            dataset_root,
            (index, config.workers),
            session.store,
            session.gateway,
            _QueueProgress(reports),
        )


async def run_shard(
    share: RunConfig,
    dataset_root: Path,
    shard: tuple[int, int],
    store: ShardStore,
    gateway: Gateway,
    progress: Progress,
) -> WorkerReport:
    """Run shard ``shard = (index, of)`` of the cases (those whose id hashes to ``index``)
    with ``share`` (:func:`worker_share`'s config), writing to ``store``, within the budget
    share ``gateway`` was built with; the one-process run, a worker process and a Ray actor
    all run this."""
    index, workers = shard
    # The parent opened (and checked) the run and holds the store's writer lock; a worker
    # only reads the salt, and takes no lock (it writes under its parent's).
    salt = store.run_salt()
    targets = build_targets(share, TargetContext(dataset_root, gateway))
    courtroom = Courtroom(share.jury, gateway)
    runner = CaseRunner(
        share,
        store,  # type: ignore[arg-type]  # a RunStore, or the Ray writer's proxy of one
        targets,
        courtroom,
        salt,
        progress,
        media_root=dataset_root,
        shard=lambda cid: shard_of(cid, workers) == index,
        spend=gateway.spend,
    )
    status, error = "complete", None
    try:
        only = store.failed_cases() if share.only_failed else None
        await runner.run(chosen_queries(share, dataset_root), store.finished_cases(), only)
    except BudgetExhausted as exc:
        status, error = "budget", str(exc)  # its share is spent; the others go on
    stats = gateway.stats
    return WorkerReport(index, status, stats.calls, stats.cached, stats.retries, error)


async def supervise_processes(
    config: RunConfig,
    dataset_root: Path,
    progress: Progress,
    spends: list[SpendLimit | None],
) -> list[WorkerReport]:
    # Not fork: the parent holds an event loop and threads (rich's refresher, the executor)
    # that a forked child must not inherit. A fork server is a clean process that imports
    # SafeBench once (litellm alone takes seconds) and forks every worker from there.
    context = multiprocessing.get_context("forkserver")
    # The offline stack too: a model session imports it only when it opens.
    context.set_forkserver_preload([__name__, "safebench.offline.stack"])
    reports: Queue[Any] = context.Queue()
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    processes: list[BaseProcess] = [
        context.Process(
            target=_worker_main,
            args=(config, dataset_root, index, reports, verbose, spends[index]),
            name=f"safebench-worker-{index}",
            daemon=True,
        )
        for index in range(config.workers)
    ]
    for process in processes:
        process.start()
    finished = failed = 0
    done: dict[int, WorkerReport] = {}
    exited_at: dict[int, float] = {}
    try:
        while len(done) < len(processes):
            try:
                message = await asyncio.to_thread(reports.get, True, _POLL_S)
            except queue.Empty:
                _check_alive(processes, done, exited_at)
                continue
            if message[0] == "case":
                progress.advance(message[1])
                finished += 1
                failed += message[1] == "failed"
                check_failure_rate(config, finished, failed)
                continue
            report = WorkerReport(**message[1])
            done[report.index] = report
            raise_for_report(config, report)
        return [done[i] for i in sorted(done)]
    finally:
        for process in processes:
            if process.is_alive():
                # Each case is one transaction, so a stopped worker loses only its cases
                # in flight; a rerun asks them again.
                process.terminate()
        for process in processes:
            process.join(5)
        reports.close()


def raise_for_report(config: RunConfig, report: WorkerReport) -> None:
    """Stop the run on a worker's report of an abort or a crash (complete and budget pass)."""
    if report.status == "aborted":
        raise RunAborted(report.error or "a worker stopped the run")
    if report.status not in ("complete", "budget"):
        raise SafeBenchError(
            f"worker {report.index} failed: {report.error}; finished cases are in "
            f"{config.store_path()}, rerun the same command to resume"
        )


def _check_alive(
    processes: list[BaseProcess], done: dict[int, WorkerReport], exited_at: dict[int, float]
) -> None:
    """Fail the run when a worker died without its report (killed, out of memory)."""
    now = time.monotonic()
    for index, process in enumerate(processes):
        if index in done or process.exitcode is None:
            continue
        # A worker's last report may still be in the pipe when its exit is seen: wait a little.
        if now - exited_at.setdefault(index, now) > _EXIT_GRACE_S:
            raise SafeBenchError(
                f"worker {index} exited with code {process.exitcode} before reporting; "
                "finished cases are in the store, rerun the same command to resume"
            )


def check_failure_rate(config: RunConfig, finished: int, failed: int) -> None:
    """The run-wide check (each worker also checks its own share)."""
    if finished >= config.min_cases_before_abort and failed / finished > config.max_failure_rate:
        raise RunAborted(
            f"{failed} of {finished} cases failed (over the run's max_failure_rate "
            f"{config.max_failure_rate:g}); the causes are in the store "
            f"({config.store_path()}, table cases). Fix the provider or config, then rerun the "
            "same command to resume."
        )
