"""Which failures of a model call are worth another try, and how long to wait first.

Every exception a transport raises is turned into a :class:`Failure` here; the gateway retries
the retryable ones and records the rest. litellm's error classes are consulted only when
litellm is loaded (an exception cannot be one of them otherwise), so classifying a failure
never imports it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from agents.transports.base import MalformedReply

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass(frozen=True)
class Failure:
    kind: str
    message: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None


def _litellm_error(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is one of litellm's exception classes ``names`` (False when litellm
    was never imported: nothing could have raised one)."""
    litellm = sys.modules.get("litellm")
    if litellm is None:
        return False
    classes = tuple(getattr(litellm, name) for name in names)
    return isinstance(exc, classes)


def classify(exc: BaseException, timeout_s: float) -> Failure:
    """Turn any exception from a provider call into a retry decision."""
    if isinstance(exc, asyncio.TimeoutError) or _litellm_error(exc, "Timeout"):
        return Failure("timeout", f"no complete reply within {timeout_s:g}s", True)
    if isinstance(exc, MalformedReply):
        return Failure("malformed_reply", str(exc), True)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    message = short(str(exc))
    if _litellm_error(exc, "RateLimitError") or status == 429:
        return Failure("rate_limit", message, True, 429, retry_after_of(exc))
    if unreadable_reply(exc, status):
        return Failure("malformed_reply", message, True, status)
    if _litellm_error(
        exc,
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "BadRequestError",
        "UnsupportedParamsError",
    ):
        return Failure("client_error", message, False, status)
    if _litellm_error(exc, "APIConnectionError"):
        return Failure("connection", message, True, status)
    if status is not None:
        kind = "server_error" if status >= 500 else "client_error"
        return Failure(kind, message, status in RETRYABLE_STATUS, status, retry_after_of(exc))
    if _litellm_error(exc, "APIError") or isinstance(
        exc, json.JSONDecodeError | ValueError | OSError
    ):
        # Garbage bodies, dropped connections and truncated streams surface as these.
        return Failure("malformed_reply", message, True, status)
    return Failure("unexpected", f"{type(exc).__name__}: {message}", False, status)


_UNREADABLE_MARKERS = (
    "unable to get json response",
    "error converting to valid response",
    "empty or invalid response",
    "expecting value",
    "expecting property name",
    "invalid json",
)
"""What litellm says when a provider's body could not be read as a reply, whatever status it
pins on the error: ``hosted_vllm/`` reports garbage as status 200, Gemini as 422."""


def unreadable_reply(exc: BaseException, status: int | None) -> bool:
    """A 2xx or 3xx that failed, or a body litellm could not parse: a broken reply to retry,
    not a client error that asking again cannot fix."""
    if status is not None and status < 400:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _UNREADABLE_MARKERS)


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait, from the Retry-After header if it sent one."""
    headers: dict[str, Any] = {}
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "headers", None) is not None:
        headers.update({k.lower(): v for k, v in response.headers.items()})
    extra = getattr(exc, "litellm_response_headers", None)
    if extra:
        headers.update({k.lower(): v for k, v in dict(extra).items()})
    for name in ("retry-after-ms", "retry-after"):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
            return value / 1000 if name.endswith("-ms") else value
        except ValueError:
            try:
                when = parsedate_to_datetime(str(raw))
                return max(0.0, when.timestamp() - time.time())
            except (TypeError, ValueError):
                continue
    return None


def short(text: str, limit: int = 500) -> str:
    """One line of at most ``limit`` characters, for a failure's message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
