"""Anthropic's Messages API, natively: ``POST {base}/v1/messages``, plain or streamed.

The body is what litellm sends for the same call (held to it at the wire by
``tests/agents/test_native_equivalence.py``): system messages move to ``system`` as text
blocks, every other message's content becomes a list of ``text`` and base64 ``image``
blocks (consecutive messages of one role merged, as the API wants them alternating),
``stop`` becomes ``stop_sequences``, and ``max_tokens`` (which the API requires) defaults to
litellm's default: the model's ``max_output_tokens`` in litellm's price map, else 128000
(``DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS``, read from the environment as litellm does), so that a
spec sends the same limit through either transport. Audio is refused: the API takes none
(litellm drops it silently).

Stop reasons in the gateway's terms: ``end_turn``/``stop_sequence`` -> ``stop``,
``max_tokens`` -> ``length``, ``refusal`` -> ``content_filter``. A stream's ``event: error``
(``overloaded_error`` mid-answer) raises :class:`HTTPStatusError` with the status that error
type has when sent as a response (529 overloaded, 500 api error, 429 rate limit), so it is
retried like one; a stream without its ``message_delta`` stop reason is cut, and raises
:class:`MalformedReply`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from typing import Any

import aiohttp

from agents.pricing import price_map
from agents.spec import ModelSpec
from agents.transports.base import (
    REFUSED,
    MalformedReply,
    Messages,
    Reply,
    Route,
    checked_reply,
    transport_kind,
)
from agents.transports.http_session import (
    HTTPStatusError,
    PooledSession,
    ResponseInfo,
    UnsupportedContent,
    data_url,
    env_secret,
    env_value,
    refuse_unsent,
    unsent_param,
)
from agents.transports.native import served_model_name
from kernel.records import Usage

NAME = "native-anthropic"
API_VERSION = "2023-06-01"
"""The ``anthropic-version`` header litellm sends."""
DEFAULT_BASE = "https://api.anthropic.com"
BASE_VARIABLES = ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL")
"""Where litellm looks for a base URL when the spec names none, in its order."""
KEY_VARIABLES = ("ANTHROPIC_API_KEY",)

DEFAULT_MAX_TOKENS = 128000
"""litellm's ``DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS``: the limit sent for a model its price map
does not list (the API refuses a call without one)."""

PARAMS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "stop": "stop_sequences",
}
"""Spec params this transport sends, and the body field each becomes; any other param is
litellm's to translate (``auto``) or a configuration error (``native-anthropic``)."""

SAMPLING = ("temperature", "top_p", "top_k")

STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "pause_turn": "length",
    "model_context_window_exceeded": "length",
    "refusal": REFUSED,
    "tool_use": "tool_calls",
}
"""Anthropic's stop reasons in the gateway's (OpenAI's) terms, as litellm maps them; any
other is kept as Anthropic sent it."""

ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
"""The HTTP status Anthropic documents for each error type (for errors sent mid-stream)."""


def unsupported(model: str, params: Mapping[str, Any]) -> str | None:
    """Why this transport cannot send ``params`` as given, or None."""
    stop = params.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        return "takes stop as a string or a list of strings (it would drop the rest)"
    return unsent_param(params, PARAMS)


def auto_declines(model: str, params: Mapping[str, Any]) -> str | None:
    """Why ``auto`` should leave this call to litellm although the params are supported:
    where litellm would change them (it drops sampling params a model no longer takes, and
    whitespace-only stop sequences), the native body would differ."""
    name = served_model_name(model)
    if any(p in params for p in SAMPLING) and not takes_sampling_params(name):
        given = [p for p in SAMPLING if p in params]
        if given != ["temperature"] or params["temperature"] != 1:
            return f"{name} takes no sampling params (litellm drops {', '.join(given)})"
    stops = params.get("stop")
    if any(not s.strip() for s in _stop_list(stops)):
        return "a whitespace-only stop sequence (litellm drops it)"
    return None


def route_problem(api_base: str | None) -> str | None:
    """What the route lacks for this transport: nothing (the public API is the default)."""
    return None


@functools.lru_cache(maxsize=256)
def takes_sampling_params(name: str) -> bool:
    """Whether the model takes temperature/top_p/top_k: the price map's
    ``supports_sampling_params``, else by name (Claude Opus 4.7 and later, Fable, took them
    away; the API answers 400)."""
    entry = _entry(name)
    flag = entry.get("supports_sampling_params") if entry else None
    if isinstance(flag, bool):
        return flag
    lowered = name.lower().replace(".", "-").replace("_", "-")
    return not any(mark in lowered for mark in ("fable", "opus-4-7", "opus-4-8"))


@functools.lru_cache(maxsize=256)
def default_max_tokens(name: str) -> int:
    """What litellm sends as ``max_tokens`` when the spec gives none."""
    entry = _entry(name)
    found = entry.get("max_output_tokens") if entry else None
    if isinstance(found, int) and found > 0:
        return found
    configured = os.environ.get("DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS", "")
    return int(configured) if configured.strip().isdigit() else DEFAULT_MAX_TOKENS


def _entry(name: str) -> dict[str, Any] | None:
    prices = price_map()
    entry = prices.get(name) or prices.get(f"anthropic/{name}")
    return entry if isinstance(entry, dict) else None


def _stop_list(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str)]
    return []


def request_body(model: str, params: Mapping[str, Any], messages: Messages) -> dict[str, Any]:
    """The Messages API body for one call (without ``stream``)."""
    system, turns = convert_messages(messages)
    name = served_model_name(model)
    body: dict[str, Any] = {"model": name, "messages": turns}
    for key, value in params.items():
        field = PARAMS[key]
        if field == "stop_sequences":
            stops = _stop_list(value)
            if stops:
                body[field] = stops
        elif field == "max_tokens" and isinstance(value, float):
            body[field] = max(1, round(value))
        else:
            body[field] = value
    if "max_tokens" not in body:
        body["max_tokens"] = default_max_tokens(name)
    if system:
        body["system"] = system
    return body


def convert_messages(messages: Messages) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system blocks, messages)`` in Anthropic's shape."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            system += [{"type": "text", "text": text} for text in _system_texts(content) if text]
            continue
        if role not in ("user", "assistant"):
            raise UnsupportedContent(f"message {index}: role {role!r} (native-anthropic)")
        blocks = _blocks(content, index)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _system_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [str(p.get("text") or "") for p in content if isinstance(p, dict)]
    return []


def _blocks(content: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise UnsupportedContent(f"message {index}: content is neither text nor a list of parts")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "image_url":
            mime, data = data_url(part, index)
            source = {"type": "base64", "media_type": mime, "data": data}
            blocks.append({"type": "image", "source": source})
        elif kind == "input_audio":
            raise UnsupportedContent(
                f"message {index}: Anthropic's Messages API takes no audio; give this model "
                "text or image queries (or a model that hears)"
            )
        else:
            raise UnsupportedContent(f"message {index}: a {kind!r} part (native-anthropic)")
    return blocks


def endpoint(route: Route) -> str:
    base = route.api_base or env_value(*BASE_VARIABLES) or DEFAULT_BASE
    base = base.rstrip("/")
    return base if base.endswith("/v1/messages") else base + "/v1/messages"


class AnthropicTransport(PooledSession):
    """The Messages API over one pooled aiohttp session."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        refuse_unsent(unsupported(route.litellm_model, spec.params), spec.model, NAME)
        body = request_body(route.litellm_model, spec.params, messages)
        if stream:
            body["stream"] = True
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        key = route.key() or env_secret(*KEY_VARIABLES)
        if key:
            headers["x-api-key"] = key
        return await self.post(endpoint(route), body, headers, _read_stream if stream else _read)


async def _read(response: aiohttp.ClientResponse) -> Reply:
    raw = await response.read()
    try:
        payload = json.loads(raw)
        blocks = payload["content"]
        stop = payload["stop_reason"]
        texts = [b["text"] for b in blocks if b.get("type") == "text"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedReply(
            f"not an Anthropic message ({type(exc).__name__}): {raw[:200]!r}"
        ) from None
    reason = STOP_REASONS.get(stop, stop) if isinstance(stop, str) else None
    return checked_reply("".join(texts), reason, usage_of(payload.get("usage"), Usage()))


async def _read_stream(response: aiohttp.ClientResponse) -> Reply:
    parts: list[str] = []
    stop: str | None = None
    usage = Usage()
    async for line in response.content:
        if not line.startswith(b"data:"):
            continue  # event names, blank separators, pings' comments
        data = line[5:].strip()
        try:
            event = json.loads(data)
            kind = event.get("type")
        except (ValueError, AttributeError):
            raise MalformedReply(f"a stream event is not a JSON object: {data[:200]!r}") from None
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                parts.append(delta.get("text") or "")
        elif kind == "message_start":
            usage = usage_of((event.get("message") or {}).get("usage"), usage)
        elif kind == "message_delta":
            stop = (event.get("delta") or {}).get("stop_reason") or stop
            usage = usage_of(event.get("usage"), usage)
        elif kind == "error":
            raise _stream_error(event, response)
    if stop is None:
        # No message_delta: the stream was cut (or empty, or not a stream), and a partial
        # answer must never be judged.
        raise MalformedReply("the stream ended without a stop reason (cut)")
    return checked_reply("".join(parts), STOP_REASONS.get(stop, stop), usage)


def _stream_error(event: dict[str, Any], response: aiohttp.ClientResponse) -> HTTPStatusError:
    error = event.get("error") if isinstance(event.get("error"), dict) else {}
    kind = str(error.get("type") or "api_error")
    status = ERROR_STATUS.get(kind, 500)
    message = f"{kind} mid-stream: {error.get('message') or ''}".strip()
    return HTTPStatusError(status, message, ResponseInfo(status, response.headers))


def usage_of(raw: Any, before: Usage) -> Usage:
    """Token counts from an Anthropic usage object (prompt tokens include cache reads and
    writes, as litellm counts them); counts it lacks keep their value in ``before``."""
    if not isinstance(raw, dict):
        return before
    prompt = before.prompt_tokens
    if any(k in raw for k in ("input_tokens", "cache_creation_input_tokens")):
        prompt = sum(
            int(raw.get(k) or 0)
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
    completion = raw.get("output_tokens")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=int(completion) if completion is not None else before.completion_tokens,
    )


@transport_kind(NAME)
def anthropic_transport() -> AnthropicTransport:
    """Anthropic's Messages API (``anthropic/…``) over one pooled aiohttp session."""
    return AnthropicTransport()
