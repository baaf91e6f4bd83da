"""What a transport is: the last step of a model call, from chat messages to a reply.

The gateway owns everything around a call (cache, throttle, retries, timeouts, accounting,
the audit record); a transport only carries one attempt and raises on failure. Failures it
raises are classified by ``agents.gateway.classify``: an exception with an int
``status_code`` (and ``response.headers`` for Retry-After) is an HTTP failure,
``MalformedReply`` a broken reply, ``OSError``/``ValueError`` a dropped or garbled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from agents.spec import ModelSpec
from safebench.records import Usage
from safebench.registry import registrar

Messages = list[dict[str, Any]]

transport_kind = registrar("transport")
"""Registers a transport factory ``() -> Transport`` under the name configs use."""


@dataclass
class Route:
    """Where a call actually goes once offline names are resolved, and by which transport."""

    litellm_model: str
    api_base: str | None
    api_key: str | None
    transport: str = "litellm"


@dataclass(frozen=True)
class Reply:
    """One successful attempt: the text, why it ended, and the tokens it used."""

    text: str
    finish_reason: str | None
    usage: Usage


class MalformedReply(Exception):
    """The server answered, but not with a usable completion (retryable)."""


class Transport(Protocol):
    """Carries one attempt of a chat completion. One instance per gateway."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        """Complete ``messages``; raise on any failure (the gateway retries and records)."""
        ...

    async def aclose(self) -> None:
        """Release sessions, sockets or models; the gateway calls this once, at its end."""
        ...
