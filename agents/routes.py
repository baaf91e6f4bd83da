"""Where a model call goes: straight to its provider, or through a registered route provider.

A route provider answers for the models under one prefix (the offline stack answers for
``safebench/…``) and may hold something open (a local server) until it is closed. Layers
above ``agents`` plug theirs in through :data:`ROUTE_PROVIDERS`; nothing here imports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from agents.spec import ModelSpec
from agents.transports import transport_for_spec
from agents.transports.base import Route
from kernel.registry import Registry

RouteResolver = Callable[[ModelSpec], Awaitable[Route]]


async def direct_route(spec: ModelSpec) -> Route:
    transport = transport_for_spec(spec.model, spec.transport)
    return Route(spec.model, spec.api_base, spec.resolve_api_key(), transport)


class RouteProvider(Protocol):
    """Resolves the models of its prefix; ``aclose`` stops what it started."""

    async def resolve(self, spec: ModelSpec) -> Route: ...

    async def aclose(self) -> None: ...


ROUTE_PROVIDERS: Registry[Callable[[], RouteProvider]] = Registry("route provider")
"""Factories of route providers, by the model prefix they serve (``safebench``)."""


class RegisteredRoutes:
    """Each model through the provider registered for its prefix (made on first use), every
    other model straight to its provider. For callers that are handed no resolver."""

    def __init__(self) -> None:
        self._open: dict[str, RouteProvider] = {}

    async def resolve(self, spec: ModelSpec) -> Route:
        factory = ROUTE_PROVIDERS.get(spec.provider)
        if factory is None:
            return await direct_route(spec)
        provider = self._open.get(spec.provider)
        if provider is None:
            provider = self._open[spec.provider] = factory()
        return await provider.resolve(spec)

    async def aclose(self) -> None:
        providers, self._open = self._open, {}
        for provider in providers.values():
            await provider.aclose()
