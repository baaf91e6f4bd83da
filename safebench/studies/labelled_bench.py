"""Put labelled items before a real courtroom: one case per item, every call via the gateway.

The "answer" a jury sees is the labelled answer, and the request is the item's question, so
a calibration or a sweep deliberates exactly as a run does. The gateway caches every call in
the study's store under the case and seat, so a rerun asks no model again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agents.gateway import Gateway, GatewaySettings
from agents.routes import RegisteredRoutes
from jury.config import JuryConfig
from jury.labels import LabelledItem
from kernel.errors import SafeBenchError
from kernel.records import Query, TargetAnswer, Verdict, Vote
from transcripts.store import CaseMeta, RunStore

STUDY_CATEGORY = "Labelled set"


@dataclass(frozen=True)
class ItemOutcome:
    """One item's deliberation: the verdict, every vote, and the model calls it took."""

    item: LabelledItem
    verdict: Verdict
    votes: tuple[Vote, ...]
    calls: int


@dataclass
class Bench:
    """A store and a gateway caching in it, shared by every jury of one study."""

    store: RunStore
    gateway: Gateway
    salt: str


class Models(Protocol):
    """What a study calls models with: the gateway, and the store it caches in."""

    @property
    def gateway(self) -> Gateway: ...

    @property
    def store(self) -> RunStore | None: ...


OpenModels = Callable[[GatewaySettings | None, Path], AbstractAsyncContextManager[Models]]
"""Opens a study's models on its store: the app's ``safebench.run.session.model_session``, which
the commands hand down (this package sits below the app and never builds one itself)."""


@dataclass
class _OwnModels:
    gateway: Gateway
    store: RunStore | None


@asynccontextmanager
async def registered_models(
    settings: GatewaySettings | None, store_path: Path
) -> AsyncIterator[Models]:
    """A study's models when its caller hands it no opener: the store, and a gateway routing
    each model through the route provider registered for its prefix (the app registers the
    offline stack's), closed in the order a model session closes them."""
    store = RunStore(store_path)
    routes = RegisteredRoutes()
    try:
        gateway = Gateway(settings, cache=store, resolve=routes.resolve)
        try:
            yield _OwnModels(gateway, store)
        finally:
            await gateway.aclose()
    finally:
        await routes.aclose()
        store.close()


@asynccontextmanager
async def open_bench(
    store_path: Path,
    name: str,
    description: str,
    settings: GatewaySettings | None = None,
    *,
    open_models: OpenModels | None = None,
) -> AsyncIterator[Bench]:
    """The study's bench, on the models ``open_models`` opens on ``store_path``."""
    async with (open_models or registered_models)(settings, store_path) as models:
        store = models.store
        if store is None:
            raise ValueError("a study needs the store its calls are cached in")
        salt = store.open_run(name, description)
        yield Bench(store, models.gateway, salt)
        store.set_status("complete")


async def deliberate(
    bench: Bench,
    jury: JuryConfig,
    items: Sequence[LabelledItem],
    *,
    prefix: str,
    concurrency: int = 32,
    keep_cases: bool = False,
    advance: Callable[[], None] | None = None,
) -> list[ItemOutcome]:
    """Judge every item with ``jury``; ``prefix`` keeps this jury's cases (and cache) apart.
    ``advance`` is called as each item is judged (the CLI's progress bar)."""
    # Imported here: the courtroom loads autogen (seconds), which reading a spec or a labelled
    # set must not wait for (a config error answers at once).
    from jury.case import judge_case
    from jury.courtroom import Courtroom

    courtroom = Courtroom(jury, bench.gateway)
    limit = asyncio.Semaphore(concurrency)
    extra_calls = 1 if jury.foreperson is not None else 0

    async def one(item: LabelledItem) -> ItemOutcome:
        query, meta, answer = item_case(item, prefix)
        if keep_cases:
            bench.store.save_query(query)
        async with limit:
            # The same call a run judges its cases with; the case is kept in the study's
            # store only when asked (a calibration is then audited like a run).
            outcome = await judge_case(
                courtroom,
                meta,
                query,
                answer,
                salt=bench.salt,
                media_root=None,
                store=bench.store if keep_cases else None,
            )
        if outcome.verdict is None:
            raise SafeBenchError(f"{meta.case_id}: {outcome.error}")
        calls = sum(v.attempts for v in outcome.votes) + extra_calls
        if advance is not None:
            advance()
        return ItemOutcome(item, outcome.verdict, outcome.votes, calls)

    return list(await asyncio.gather(*(one(item) for item in items)))


def item_case(item: LabelledItem, prefix: str) -> tuple[Query, CaseMeta, TargetAnswer]:
    """A labelled item as a case: its question is the request, its answer the answer;
    ``prefix`` keeps one jury's cases (and cached calls) apart from another's."""
    cid = f"{prefix}::{item.id}"
    query = Query(
        id=item.id, category=STUDY_CATEGORY, scenario=prefix, text=item.question, source="labels"
    )
    meta = CaseMeta(
        case_id=cid,
        target="labelled",
        query_id=item.id,
        modality="text",
        category=STUDY_CATEGORY,
        scenario=prefix,
    )
    answer = TargetAnswer(
        case_id=cid,
        target="labelled",
        query_id=item.id,
        modality="text",
        status="ok",
        text=item.answer,
    )
    return query, meta, answer
