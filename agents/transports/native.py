"""A lean aiohttp client for OpenAI-compatible servers (vLLM, the offline simulators, proxies).

litellm spends milliseconds of CPU per call building and parsing its typed objects; against
a fast local server that, not the network, bounds a run. This transport does the minimum: one
pooled keep-alive session, ``POST {api_base}/chat/completions`` with the OpenAI body, and a
plain JSON or SSE parse. Like every transport it carries one attempt; the gateway owns
retries, timeouts and the record, and classifies what this module raises:

- an HTTP error status raises :class:`HTTPStatusError` (``status_code`` and a ``response``
  with ``headers``, so 429 + Retry-After and 5xx are retried and other 4xx are not);
- an unusable body (garbage JSON, no content, a stream cut before its finish reason) raises
  :class:`MalformedReply`;
- a dropped or refused connection raises :class:`NativeConnectionError` (an ``OSError``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from agents.spec import ModelSpec
from agents.transports.base import (
    MalformedReply,
    Messages,
    Reply,
    Route,
    checked_reply,
    first_top_logprobs,
    transport_kind,
)
from agents.transports.http_session import (
    DEFAULT_MAX_CONNECTIONS,
    HTTPStatusError,
    NativeConnectionError,
    PooledSession,
    ResponseInfo,
)
from kernel.errors import ConfigError
from kernel.records import Usage

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "HTTPStatusError",
    "NativeConnectionError",
    "NativeTransport",
    "ResponseInfo",
    "endpoint",
    "openai_reader",
    "served_model_name",
    "usage_of",
]


class NativeTransport(PooledSession):
    """One aiohttp session per transport (so per gateway), opened on the first call."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        url = endpoint(route, spec)
        body: dict[str, Any] = dict(spec.params)
        body["model"] = served_model_name(route.litellm_model)
        body["messages"] = messages
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        headers = {"Content-Type": "application/json"}
        if route.key():
            headers["Authorization"] = f"Bearer {route.key()}"
        return await self.post(url, body, headers, openai_reader(stream))


def openai_reader(stream: bool) -> Callable[[aiohttp.ClientResponse], Awaitable[Reply]]:
    """How an OpenAI chat completion is read: the SSE stream, or the one JSON body."""
    return _read_stream if stream else _read_completion


async def _read_completion(response: aiohttp.ClientResponse) -> Reply:
    return _parse_completion(await response.read())


def endpoint(route: Route, spec: ModelSpec) -> str:
    """``{api_base}/chat/completions``; a missing ``api_base`` is a config error."""
    if not route.api_base:
        raise ConfigError(
            f"{spec.model}: transport 'native' needs an api_base (the OpenAI-compatible "
            "server's base URL, e.g. http://localhost:8000/v1); set api_base or use "
            "transport: litellm"
        )
    return route.api_base.rstrip("/") + "/chat/completions"


def served_model_name(model: str) -> str:
    """The name the server knows: the part after the provider prefix (``openai/x`` -> ``x``,
    ``hosted_vllm/meta-llama/Llama-3-8B`` -> ``meta-llama/Llama-3-8B``)."""
    return model.split("/", 1)[1] if "/" in model else model


def _parse_completion(raw: bytes) -> Reply:
    try:
        payload = json.loads(raw)
        choice = payload["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MalformedReply(
            f"not a chat completion ({type(exc).__name__}): {raw[:200]!r}"
        ) from None
    return checked_reply(
        text,
        choice.get("finish_reason"),
        usage_of(payload.get("usage")),
        first_top_logprobs(choice.get("logprobs")),
    )


async def _read_stream(response: aiohttp.ClientResponse) -> Reply:
    parts: list[str] = []
    finish: str | None = None
    usage = Usage()
    top: dict[str, float] | None = None
    done = False
    async for line in response.content:
        if not line.startswith(b"data:"):
            continue  # blank separators, comments (": keep-alive"), event names
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise MalformedReply(f"a stream chunk is not JSON: {data[:200]!r}") from None
        if not isinstance(chunk, dict):
            raise MalformedReply(f"a stream chunk is not an object: {data[:200]!r}")
        if "error" in chunk:
            raise MalformedReply(f"the stream carried an error: {str(chunk['error'])[:200]}")
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if top is None and not parts and choice.get("logprobs"):
                # The first token's alternatives: read from the chunk that carries the first
                # content, never from a later token's.
                top = first_top_logprobs(choice["logprobs"])
            if content:
                parts.append(content)
            finish = choice.get("finish_reason") or finish
        if chunk.get("usage"):
            usage = usage_of(chunk["usage"])
    if finish is None:
        # A cut stream may still have sent [DONE] or nothing at all: without a finish reason
        # the answer may be partial, and a partial answer must not be judged.
        cause = "after [DONE]" if done else "(truncated)"
        raise MalformedReply(f"the stream ended without a finish reason {cause}")
    return checked_reply("".join(parts), finish, usage, top)


def usage_of(raw: Any) -> Usage:
    """Token counts from an OpenAI usage object (missing counts are 0)."""
    if not isinstance(raw, dict):
        return Usage()
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
    )


@transport_kind("native")
def native_transport() -> NativeTransport:
    """OpenAI-compatible servers over one pooled aiohttp session (needs ``api_base``)."""
    return NativeTransport()
