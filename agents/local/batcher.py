"""Micro-batching: concurrent requests to one local model share one forward pass.

Requests are queued under a key (requests that may share a batch: same generation
settings, same kinds of media). A single worker per batcher takes the oldest key's queue
once it holds ``batch_size`` requests or its oldest request has waited ``max_wait_ms``, and
runs the batch in a thread, so the event loop keeps serving while the model computes.
Requests that arrive meanwhile wait for the next batch, which is then fuller.

Out of memory (a CUDA OOM, a RuntimeError saying "out of memory", or a batch over
``max_batch_tokens``) splits the batch in halves that run one after the other; a request
that fails alone fails with ``LocalOutOfMemory`` (the gateway records it; the run goes on).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

from agents.local.options import BatchOptions
from agents.local.stats import ModelStats

log = structlog.get_logger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
BatchRunner = Callable[[list[ItemT]], list[ResultT]]


class OverBudget(RuntimeError):
    """A batch larger than ``max_batch_tokens``: treated as out of memory before it runs."""


class LocalOutOfMemory(RuntimeError):
    """One request alone does not fit in memory (a RuntimeError: retrying cannot help)."""


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, OverBudget | MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


@dataclass
class _Job(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT]
    queued_at: float


@dataclass
class MicroBatcher(Generic[ItemT, ResultT]):
    """Gathers requests into batches for ``run`` (a blocking function, called in a thread)."""

    name: str
    run: BatchRunner[ItemT, ResultT]
    options: BatchOptions
    stats: ModelStats
    _queues: dict[Hashable, list[_Job[ItemT, ResultT]]] = field(default_factory=dict)
    _arrived: asyncio.Event | None = None
    _worker: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT, key: Hashable) -> ResultT:
        """The result of ``item``, computed in a batch with other requests under ``key``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._queues.setdefault(key, []).append(_Job(item, future, loop.time()))
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name=f"batcher:{self.name}")
        return await future

    async def aclose(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        for jobs in self._queues.values():
            for job in jobs:
                if not job.future.done():
                    job.future.cancel()
        self._queues.clear()

    async def _work(self) -> None:
        try:
            await self._serve()
        except Exception as exc:  # a bug here must fail the callers, not leave them waiting
            log.exception("local_batcher_failed", model=self.name)
            for jobs in self._queues.values():
                self._fail([job for job in jobs if not job.future.done()], exc)
            self._queues.clear()

    async def _serve(self) -> None:
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while True:
            self._queues = {
                k: [j for j in v if not j.future.done()] for k, v in self._queues.items()
            }
            self._queues = {k: v for k, v in self._queues.items() if v}
            if not self._queues:
                return
            key = min(self._queues, key=lambda k: self._queues[k][0].queued_at)
            deadline = self._queues[key][0].queued_at + self.options.max_wait_ms / 1000
            while len(self._queues[key]) < self.options.batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
            queue = self._queues[key]
            batch, self._queues[key] = (
                queue[: self.options.batch_size],
                queue[self.options.batch_size :],
            )
            await self._execute(batch)

    async def _execute(self, jobs: list[_Job[ItemT, ResultT]]) -> None:
        live = [job for job in jobs if not job.future.done()]  # a caller may have timed out
        if not live:
            return
        try:
            results = await asyncio.to_thread(self.run, [job.item for job in live])
        except Exception as exc:
            if not isinstance(exc, OverBudget):  # refused before it ran: not a model call
                self.stats.batches.append(len(live))
            if not is_out_of_memory(exc):
                self._fail(live, exc)
                return
            if not isinstance(exc, OverBudget):  # a budget refusal allocated nothing
                await asyncio.to_thread(free_memory)
            if len(live) == 1:
                self._fail(
                    live,
                    LocalOutOfMemory(
                        f"{self.name}: out of memory even for a single request ({exc}); "
                        "lower max_new_tokens, use a smaller dtype or a larger device"
                    ),
                )
                return
            self.stats.oom_splits += 1
            half = len(live) // 2
            log.warning("local_batch_split", model=self.name, size=len(live), error=str(exc))
            await self._execute(live[:half])
            await self._execute(live[half:])
            return
        self.stats.batches.append(len(live))
        for job, result in zip(live, results, strict=True):
            self.stats.requests += 1
            if not job.future.done():
                job.future.set_result(result)

    def _fail(self, jobs: list[_Job[ItemT, ResultT]], exc: BaseException) -> None:
        for job in jobs:
            self.stats.requests += 1
            self.stats.failed += 1
            if not job.future.done():
                job.future.set_exception(exc)
