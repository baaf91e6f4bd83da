"""What a transport is: the last step of a model call, from chat messages to a reply.

The gateway owns everything around a call (cache, throttle, retries, timeouts, accounting,
the audit record); a transport only carries one attempt and raises on failure. Failures it
raises are classified by ``agents.failures.classify``: an exception with an int
``status_code`` (and ``response.headers`` for Retry-After) is an HTTP failure,
``MalformedReply`` a broken reply, ``OSError``/``ValueError`` a dropped or garbled one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import SecretStr

from agents.spec import ModelSpec
from kernel.records import Usage
from kernel.registry import registrar

Messages = list[dict[str, Any]]

transport_kind = registrar("transport")
"""Registers a transport factory ``() -> Transport`` under the name configs use."""


@dataclass
class Route:
    """Where a call actually goes once offline names are resolved, and by which transport.

    The key is held as a ``SecretStr`` from config to transport: a route printed in a log, a
    repr or a traceback frame's locals shows stars, never the key."""

    litellm_model: str
    api_base: str | None
    api_key: SecretStr | None
    transport: str = "litellm"

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):
            self.api_key = SecretStr(self.api_key)

    def key(self) -> str | None:
        """The key itself, for the one line that puts it on the wire."""
        return None if self.api_key is None else self.api_key.get_secret_value() or None


@dataclass(frozen=True)
class Reply:
    """One successful attempt: the text, why it ended, and the tokens it used."""

    text: str
    finish_reason: str | None
    usage: Usage
    top_logprobs: Mapping[str, float] | None = None
    """The first generated token's most likely tokens and their log-probabilities, when the
    call asked for them (``logprobs``) and the server gave them; a judge format reads its
    harm probability from these."""


class MalformedReply(Exception):
    """The server answered, but not with a usable completion (retryable)."""


REFUSED = "content_filter"
"""The one finish reason a provider's refusal or safety block is recorded under."""

REFUSAL_FINISH_REASONS = frozenset({"content_filter", "refusal", "safety", "blocked"})
"""Finish reasons that mean the provider refused or blocked the reply: litellm maps
Anthropic's ``stop_reason: refusal`` and Gemini's ``finishReason: SAFETY`` (and a blocked
prompt) to ``content_filter``; OpenAI-compatible servers send ``content_filter`` as is."""


def first_top_logprobs(logprobs: Any) -> dict[str, float] | None:
    """The first token's top log-probabilities (token -> logprob) from an OpenAI-shaped
    ``logprobs`` object (a dict from the wire, or litellm's typed object), or None.

    Chat completions put them at ``content[0].top_logprobs`` (a list of ``{token,
    logprob}``); text completions at ``top_logprobs[0]`` (a dict). A server that returns
    the chosen token but no alternatives still says something: that token alone is kept."""
    if logprobs is None:
        return None
    found = _top_logprobs(logprobs)
    if found is None:
        return None
    # -inf (a token the model rules out) and NaN are not numbers a record can hold: a floor
    # far below any real alternative keeps the odds and the record readable.
    kept = {t: max(v, LOGPROB_FLOOR) for t, v in found.items() if not math.isnan(v)}
    return kept or None


LOGPROB_FLOOR = -1.0e4
"""The lowest log-probability recorded (exp of it is 0 in any sum)."""


def _top_logprobs(logprobs: Any) -> dict[str, float] | None:
    content = _field(logprobs, "content")
    if isinstance(content, list) and content:
        first = content[0]
        found: dict[str, float] = {}
        for alternative in _field(first, "top_logprobs") or ():
            token, value = _field(alternative, "token"), _field(alternative, "logprob")
            if isinstance(token, str) and isinstance(value, int | float):
                found.setdefault(token, float(value))
        token, value = _field(first, "token"), _field(first, "logprob")
        if isinstance(token, str) and isinstance(value, int | float):
            found.setdefault(token, float(value))
        return found or None
    legacy = _field(logprobs, "top_logprobs")
    if isinstance(legacy, list) and legacy and isinstance(legacy[0], dict):
        return {
            str(token): float(value)
            for token, value in legacy[0].items()
            if isinstance(value, int | float)
        } or None
    return None


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def is_refusal(finish_reason: str | None) -> bool:
    return finish_reason is not None and finish_reason.lower() in REFUSAL_FINISH_REASONS


def refusal(usage: Usage) -> Reply:
    """A provider refusal with no content: a reply, not an error (the caller decides)."""
    return Reply("", REFUSED, usage)


def checked_reply(
    text: object,
    finish_reason: str | None,
    usage: Usage,
    top_logprobs: Mapping[str, float] | None = None,
) -> Reply:
    """The reply, or why it is not an answer.

    An empty, whitespace-only or non-text reply is never an answer (judging it would count
    as a safe answer): it is raised as ``MalformedReply``, which the gateway retries and
    then records as the case's failure. A refusal with no content is the one empty reply
    that stands, marked by ``REFUSED``.
    """
    empty = text is None or (isinstance(text, str) and not text.strip())
    if empty and is_refusal(finish_reason):
        return refusal(usage)
    if text is None:
        raise MalformedReply(f"the reply had no message content (finish reason {finish_reason})")
    if not isinstance(text, str):
        raise MalformedReply(f"the reply's content is not text ({type(text).__name__})")
    if not text.strip():
        what = "empty" if not text else "whitespace-only"
        raise MalformedReply(f"the reply was {what} (finish reason {finish_reason})")
    return Reply(text, finish_reason, usage, top_logprobs)


class Transport(Protocol):
    """Carries one attempt of a chat completion. One instance per gateway."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        """Complete ``messages``; raise on any failure (the gateway retries and records)."""
        ...

    async def aclose(self) -> None:
        """Release sessions, sockets or models; the gateway calls this once, at its end."""
        ...
