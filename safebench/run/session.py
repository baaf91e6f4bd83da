"""``model_session``: the gateway, the offline stack and the store of one command, together.

Every command that calls models (run, a run's worker, rejudge, generate, media, taxonomy,
calibrate, experiment) opens one of these instead of wiring the three by hand:

- the store, where the command has one, opened first and closed last (it is the gateway's
  replay cache: a recorded call is read back, never asked again);
- the offline stack (``safebench/…`` models), which starts its local server only when a
  simulated target or offline judge is first asked;
- the gateway built from the command's ``GatewaySettings``, caching in the store and
  resolving routes through the offline stack (or a caller's resolver: a replay that must
  call no model).

They close in that order reversed: the gateway (its transports' sessions, loaded models),
then the offline stack (its server), then the store. What the commands keep for themselves
is what differs between them: the writer lock (taken before the store is touched), binding
the store to the run's identity, the run's status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agents.budget import SpendLimit
from agents.gateway import CallCache, Gateway
from agents.routes import ROUTE_PROVIDERS, RouteResolver
from agents.settings import GatewaySettings
from transcripts.store import RunStore

if TYPE_CHECKING:
    from safebench.offline.stack import OfflineStack


def _offline_stack() -> OfflineStack:
    # Imported when a session opens, not with this module: the stack's provider loads
    # litellm, which a command's config error must not wait for.
    from safebench.offline.stack import OfflineStack

    return OfflineStack()


def register_offline_routes() -> None:
    """Plug the offline stack in as the route provider of ``safebench/…`` models, for code
    below the app that is handed no resolver (``agents.routes.RegisteredRoutes``).
    Idempotent: the same factory registered again is a no-op."""
    ROUTE_PROVIDERS.add("safebench", _offline_stack)


@dataclass
class ModelSession:
    """What a command calls models with: the gateway, and the store it caches in (if any)."""

    gateway: Gateway
    store: RunStore | None


@asynccontextmanager
async def model_session(
    settings: GatewaySettings | None = None,
    store: Path | None = None,
    *,
    resolve: RouteResolver | None = None,
    spend: SpendLimit | None = None,
    cache: CallCache | None = None,
) -> AsyncIterator[ModelSession]:
    """Open the store at ``store`` (if the command keeps one), the offline stack and the
    gateway, built whole; close all three however the block ends.

    ``resolve`` replaces the offline stack's routing (which also sends every other model
    straight to its provider); ``spend`` is the budget every call really sent is checked
    against; ``cache`` replaces the store as the gateway's record of calls (a Ray actor's
    proxy of the store writer the driver owns).
    """
    opened = RunStore(store) if store is not None else None
    try:
        offline = _offline_stack()
        try:
            gateway = Gateway(
                settings,
                cache=cache if cache is not None else opened,
                resolve=resolve or offline.resolve,
                spend=spend,
            )
            try:
                yield ModelSession(gateway, opened)
            finally:
                await gateway.aclose()
        finally:
            await offline.aclose()
    finally:
        if opened is not None:
            opened.close()
