"""The case runner: what one run, in one process or many, does with each case.

A case is a target x query x modality. :class:`CaseRunner` streams cases from the dataset
through a bounded pool of workers; each case is finished in the store as judged, skipped or
failed, in one transaction. ``safebench.run.pipeline`` (one process) and ``safebench.run.workers``
(one runner per worker process) both drive it, and share the run's set-up helpers here:
the dataset's resolution, the targets, the closing summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from agents.budget import BudgetExhausted, SpendLimit
from agents.gateway import Gateway
from agents.pricing import spec_priced
from agents.transports.base import REFUSED
from generation.dataset import iter_queries, oversized_query
from generation.sampling import sample_ids, sampled
from jury.case import judge_case
from jury.courtroom import Courtroom
from jury.metrics.scores import Score, group_scores
from kernel.errors import (
    ConfigError,
    DatasetError,
    ProviderError,
    RunAborted,
    SafeBenchError,
)
from kernel.records import Modality, Query, TargetAnswer, case_id, modality_kind
from safebench.offline.seed import SEED_DATASET_NAME, build_seed_dataset
from safebench.run.config import RunConfig
from safebench.run.failures import FailureGroup, failure_groups
from targets.base import Target, TargetContext, TargetReply, target_factory
from targets.replay import MissingAnswer
from transcripts.store import CaseMeta, CaseRow, RunStore

log = structlog.get_logger(__name__)


class Progress(Protocol):
    """Where the pipeline reports progress; the CLI draws it with rich."""

    def start(self, total: int, already_done: int) -> None: ...

    def advance(self, status: str) -> None: ...


class NoProgress:
    def start(self, total: int, already_done: int) -> None:
        return None

    def advance(self, status: str) -> None:
        return None


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing table."""

    store: Path
    status: str
    counts: dict[str, int]
    model_calls: int
    cached_calls: int
    retries: int
    wall_s: float
    by_target_category: dict[tuple[str, str], Score] = field(default_factory=dict)
    by_target: dict[str, Score] = field(default_factory=dict)
    by_target_modality: dict[tuple[str, str], Score] = field(default_factory=dict)
    spent_calls: int = 0
    """Model calls the run's store records, over every session of the run."""
    spent_usd: float = 0.0
    """What they cost, priced calls only (litellm's price map)."""
    priced_calls: int = 0
    """How many of them litellm priced (the others are to unpriced models)."""
    failures: list[FailureGroup] = field(default_factory=list)
    """The failed cases, grouped by cause (stage, failure kind, model)."""
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)
    """The skipped cases by (target, reason): "target does not accept audio input", "query
    has no audio in voice 'female'" (a bare "skipped 16" left the user to guess)."""


class RunOverBudget(SafeBenchError):
    """The run stopped at its budget (status ``budget``); everything finished is kept and
    the summary so far is here."""

    def __init__(self, message: str, summary: RunSummary) -> None:
        super().__init__(message)
        self.summary = summary


def spend_limit(config: RunConfig, store: RunStore) -> SpendLimit | None:
    """The run's budget as the gateway checks it, with what earlier sessions spent."""
    budget = config.budget
    if budget.max_calls is None and budget.max_usd is None:
        return None
    calls, usd, _priced = store.spending()
    return SpendLimit(budget.max_calls, budget.max_usd, calls=calls, usd=usd)


def over_budget_message(reason: str, store: Path) -> str:
    return (
        f"run stopped at its budget: {reason}. Finished cases are kept in {store}; raise "
        "budget.max_calls / budget.max_usd in the config and rerun the same command to resume."
    )


def case_calls(config: RunConfig) -> int:
    """The most calls one case makes: its target, every juror in every round, the
    foreperson (re-asks of unreadable votes aside)."""
    jury = config.jury
    return 1 + len(jury.jurors) * (1 + jury.rounds) + (jury.foreperson is not None)


def resolve_dataset(config: RunConfig) -> Path:
    if config.dataset == SEED_DATASET_NAME:
        return build_seed_dataset(config.store_path().parent / "datasets" / "seed")
    root = Path(config.dataset)
    if not (root / "queries.jsonl").is_file():
        raise ConfigError(f"dataset {root}: no queries.jsonl there (or use builtin:seed)")
    return root


def count_queries(root: Path, limit: int | None) -> int:
    with (root / "queries.jsonl").open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return min(lines, limit) if limit else lines


def build_targets(config: RunConfig, context: TargetContext) -> list[Target]:
    targets: list[Target] = []
    for target_config in config.targets:
        factory = target_factory(target_config.kind)
        targets.append(factory(target_config, context))
    return targets


def limited(queries: Iterator[Query], limit: int | None) -> Iterator[Query]:
    """The first ``limit`` queries (all of them when ``limit`` is None)."""
    for index, query in enumerate(queries):
        if limit is not None and index >= limit:
            return
        yield query


def chosen_queries(config: RunConfig, root: Path) -> Iterator[Query]:
    """The queries the run asks, in the dataset's order: its stratified ``sample``, else
    the first ``limit``, else all."""
    if config.sample is not None:
        return sampled(iter_queries(root), sample_ids(iter_queries(root), config.sample))
    return limited(iter_queries(root), config.limit)


def count_chosen(config: RunConfig, root: Path) -> int:
    """How many queries :func:`chosen_queries` yields."""
    if config.sample is not None:
        return len(sample_ids(iter_queries(root), config.sample))
    return count_queries(root, config.limit)


class CaseRunner:
    """Runs cases (target x query x modality) through a bounded pool of workers, each case
    finished in the store as judged, skipped or failed in one transaction. The one-process
    run and each worker process of a multi-process run drive one of these; ``shard`` picks a
    worker's share of the cases."""

    def __init__(
        self,
        config: RunConfig,
        store: RunStore,
        targets: list[Target],
        courtroom: Courtroom,
        salt: str,
        progress: Progress,
        *,
        media_root: Path,
        shard: Callable[[str], bool] | None = None,
        spend: SpendLimit | None = None,
    ) -> None:
        self.config = config
        self.spend = spend
        self.over_budget: BudgetExhausted | None = None
        self.shard = shard
        self.store = store
        self.targets = targets
        self.courtroom = courtroom
        self.salt = salt
        self.progress = progress
        self.finished = 0
        self.failed = 0
        # The run's dataset, passed in (not read back from the store): jurors that accept
        # images or audio are shown the same files as the target. Resolved, as the store
        # records it (``set_dataset_root``).
        self.media_root = media_root.resolve()
        self.case_calls = case_calls(config)
        """What a budget admits a case for (:func:`case_calls`)."""
        self.target_specs = {t.display_name: t for t in config.targets}
        self._case_finished = asyncio.Condition()
        self.target_limits = {
            t.display_name: asyncio.Semaphore(t.max_concurrency)
            for t in config.targets
            if t.max_concurrency
        }

    def _cases(
        self, queries: Iterator[Query], done: set[str], only: set[str] | None
    ) -> Iterator[tuple[Query, Modality, Target, str]]:
        for query in queries:
            for modality in self.config.modalities:
                for target in self.targets:
                    cid = case_id(target.name, query.id, modality)
                    if cid in done or (only is not None and cid not in only):
                        continue
                    if self.shard is None or self.shard(cid):
                        yield query, modality, target, cid

    async def run(
        self, queries: Iterator[Query], done: set[str], only: set[str] | None = None
    ) -> None:
        """Run every case of ``queries`` not in ``done`` (and, given ``only``, in it)."""
        cases = self._cases(queries, done, only)
        # A fixed pool pulling from one iterator: memory stays flat however big the dataset.
        workers = [asyncio.create_task(self._worker(cases)) for _ in range(self.config.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        if self.over_budget is not None:
            raise self.over_budget

    async def _admitted(self, usd: float) -> bool:
        """Whether the budget admits one more whole case, waiting while cases in flight may
        still leave room for it; False (the run stops at its budget) once none can."""
        spend = self.spend
        if spend is None:
            return True
        while (refused := spend.admit(self.case_calls, usd)) is not None:
            if spend.admitted == 0 or self.over_budget is not None:
                # Whole cases only: a case the budget cannot see through is not started, so
                # a budget never ends with its calls spent and nothing judged.
                self.over_budget = self.over_budget or BudgetExhausted(refused)
                return False
            async with self._case_finished:
                await self._case_finished.wait()
        return True

    def _case_usd(self, target: Target) -> float:
        """What a case of ``target`` is expected to cost: each call priced as its model's
        dearest so far (nothing before a first priced reply, as the call check does)."""
        spend = self.spend
        assert spend is not None
        spec = self.target_specs.get(target.name)
        usd = 0.0 if spec is None else spend.expected_usd(spec.model, spec_priced(spec))
        jury = self.config.jury
        for juror in jury.jurors:
            usd += (1 + jury.rounds) * spend.expected_usd(juror.model, spec_priced(juror))
        if jury.foreperson is not None:
            usd += spend.expected_usd(jury.foreperson.model, spec_priced(jury.foreperson))
        return usd

    def _budget_stop(self, exc: BaseException) -> BudgetExhausted | None:
        """The budget stop behind ``exc``, however it came (raw, in a jury's task group,
        through an agent), or None: the case then failed for a cause of its own."""
        if isinstance(exc, BudgetExhausted):
            return exc
        if self.spend is not None and self.spend.exhausted is not None:
            return BudgetExhausted(self.spend.exhausted)
        return None

    async def _worker(self, cases: Iterator[tuple[Query, Modality, Target, str]]) -> None:
        for query, modality, target, cid in cases:
            if self.over_budget is not None:
                return  # the others finish what they hold; no new case starts
            usd = self._case_usd(target) if self.spend is not None else 0.0
            if not await self._admitted(usd):
                return
            try:
                status = await self._case(query, modality, target, cid)
            except Exception as exc:
                stop = self._budget_stop(exc)
                if stop is None:
                    raise
                # Left unfinished, not failed: a resume asks it again (its recorded calls
                # are read back).
                self.over_budget = stop
                return
            finally:
                if self.spend is not None:
                    self.spend.release(self.case_calls, usd)
                    async with self._case_finished:
                        self._case_finished.notify_all()
            self.progress.advance(status)
            self._check_failure_rate(status)

    async def _case(self, query: Query, modality: Modality, target: Target, cid: str) -> str:
        self.store.save_query(query)
        meta = CaseMeta(
            case_id=cid,
            target=target.name,
            query_id=query.id,
            modality=modality,
            category=query.category,
            scenario=query.scenario,
        )
        if query.attack is not None and query.attack.error is not None:
            # The attack failed on this query: recorded, never sent as written.
            error = f"attack {query.attack.name}: {query.attack.error}"
            self.store.save_failed(meta, error, _answer(meta, "failed", reason=error))
            return "failed"
        missing = query.missing_input(modality)
        if missing is not None:  # e.g. "query has no audio in voice 'female'"
            self.store.save_skipped(meta, _answer(meta, "skipped", reason=missing))
            return "skipped"
        kind = modality_kind(modality)
        if kind not in target.accepts:  # accepts names kinds: audio takes every voice
            reason = f"target does not accept {kind} input"
            self.store.save_skipped(meta, _answer(meta, "skipped", reason=reason))
            return "skipped"
        too_long = oversized_query(query)
        if too_long:  # a row written past the importers' check: recorded, never sent
            error = f"dataset: {too_long}"
            self.store.save_failed(meta, error, _answer(meta, "failed", reason=error))
            return "failed"
        try:
            reply = await self._ask_target(target, query, modality, cid)
        except (ProviderError, MissingAnswer, DatasetError) as exc:
            if (stop := self._budget_stop(exc)) is not None:
                raise stop from exc
            error = f"target: {exc}"
            self.store.save_failed(meta, error, _answer(meta, "failed", reason=error))
            return "failed"
        answer = _answer(meta, "ok", text=reply.text, call_key=reply.call_key).model_copy(
            update={
                "truncated": reply.finish_reason == "length",
                "refused": reply.finish_reason == REFUSED and not reply.text.strip(),
            }
        )
        outcome = await judge_case(
            self.courtroom,
            meta,
            query,
            answer,
            salt=self.salt,
            media_root=self.media_root,
            store=self.store,
            stop=self._budget_stop,
        )
        return outcome.status

    async def _ask_target(
        self, target: Target, query: Query, modality: Modality, cid: str
    ) -> TargetReply:
        limit = self.target_limits.get(target.name)
        if limit is None:
            return await target.answer(query, modality, case_id=cid)
        async with limit:
            return await target.answer(query, modality, case_id=cid)

    def _check_failure_rate(self, status: str) -> None:
        self.finished += 1
        self.failed += status == "failed"
        config = self.config
        if (
            self.finished >= config.min_cases_before_abort
            and self.failed / self.finished > config.max_failure_rate
        ):
            raise RunAborted(
                f"{self.failed} of {self.finished} cases failed (over the run's "
                f"max_failure_rate {config.max_failure_rate:g}); the causes are in the store "
                f"({self.store.path}, table cases). Fix the provider or config, then rerun the "
                "same command to resume."
            )


def _answer(
    meta: CaseMeta,
    status: str,
    *,
    text: str = "",
    reason: str | None = None,
    call_key: str | None = None,
) -> TargetAnswer:
    return TargetAnswer(
        case_id=meta.case_id,
        target=meta.target,
        query_id=meta.query_id,
        modality=meta.modality,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        text=text,
        reason=reason,
        call_key=call_key,
    )


def summarize(store: RunStore, gateway: Gateway | None, status: str, wall_s: float) -> RunSummary:
    stats = gateway.stats if gateway is not None else None
    spent_calls, spent_usd, priced_calls = store.spending()
    skipped: dict[tuple[str, str], int] = {}

    def counting_skips() -> Iterator[CaseRow]:
        # One pass over the cases for the failures and the skips' reasons.
        for row in store.iter_cases():
            if row.status == "skipped":
                key = (row.target, row.error or "no reason recorded")
                skipped[key] = skipped.get(key, 0) + 1
            yield row

    failures = failure_groups(counting_skips())
    return RunSummary(
        store=store.path,
        status=status,
        counts=store.status_counts(),
        model_calls=stats.calls if stats else 0,
        cached_calls=stats.cached if stats else 0,
        retries=stats.retries if stats else 0,
        wall_s=wall_s,
        # Three streamed passes, not one list: a list of every verdict grew RSS by ~4 kB
        # per case at the end of a run (bench/scale.py).
        by_target_category=group_scores(((m.target, m.category), v) for m, v in store.judged()),
        by_target=group_scores((m.target, v) for m, v in store.judged()),
        by_target_modality=group_scores(((m.target, m.modality), v) for m, v in store.judged()),
        spent_calls=spent_calls,
        spent_usd=spent_usd,
        priced_calls=priced_calls,
        failures=failures,
        skipped=skipped,
    )
