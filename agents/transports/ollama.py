"""Ollama's chat API (``ollama_chat/…``), natively: ``POST {base}/api/chat``, JSON or NDJSON.

The body is litellm's for the same call (held to it at the wire by
``tests/agents/test_native_equivalence.py``): each message with its text parts joined into
one ``content`` string and its images as a base64 ``images`` list; sampling params under
``options``, ``max_tokens`` as ``num_predict``; ``stream`` always said. The base is the spec's
``api_base``, else ``OLLAMA_API_BASE``, else ``http://localhost:11434``; a key, where one is
given, goes as ``Authorization: Bearer`` (a proxy in front of Ollama), as litellm sends it.
Audio is refused (Ollama's chat API takes none).

The stream is one JSON object per line, the last with ``"done": true``, its ``done_reason``
(``stop``, ``length``) and the token counts (``prompt_eval_count``, ``eval_count``); a stream
that ends before it was cut and raises :class:`MalformedReply`, as does a line carrying an
``error``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from agents.spec import ModelSpec
from agents.transports.base import (
    MalformedReply,
    Messages,
    Reply,
    Route,
    checked_reply,
    transport_kind,
)
from agents.transports.http_session import (
    PooledSession,
    UnsupportedContent,
    data_url,
    env_value,
    refuse_unsent,
    unsent_param,
)
from agents.transports.native import served_model_name
from kernel.records import Usage

NAME = "native-ollama"
DEFAULT_BASE = "http://localhost:11434"
BASE_VARIABLES = ("OLLAMA_API_BASE",)

OPTIONS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "num_predict",
    "max_completion_tokens": "num_predict",
    "stop": "stop",
    "seed": "seed",
}
"""Spec params this transport sends, and the ``options`` field each becomes (litellm's
mapping; it also turns ``frequency_penalty`` into ``repeat_penalty``, a different penalty,
which is left to litellm)."""

DONE_REASONS: dict[str, str] = {"stop": "stop", "length": "length"}


def unsupported(model: str, params: Mapping[str, Any]) -> str | None:
    """Why this transport cannot send ``params`` as given, or None."""
    return unsent_param(params, OPTIONS)


def auto_declines(model: str, params: Mapping[str, Any]) -> str | None:
    """Nothing litellm would change in what this transport sends."""
    return None


def route_problem(api_base: str | None) -> str | None:
    """What the route lacks for this transport: nothing (a local server is the default)."""
    return None


def endpoint(route: Route) -> str:
    base = (route.api_base or env_value(*BASE_VARIABLES) or DEFAULT_BASE).rstrip("/")
    return base if base.endswith("/api/chat") else base + "/api/chat"


def request_body(
    model: str, params: Mapping[str, Any], messages: Messages, stream: bool
) -> dict[str, Any]:
    options = {OPTIONS[key]: value for key, value in params.items()}
    return {
        "model": served_model_name(model),
        "messages": [_message(message, index) for index, message in enumerate(messages)],
        "options": options,
        "stream": stream,
    }


def _message(message: Mapping[str, Any], index: int) -> dict[str, Any]:
    content = message.get("content")
    texts: list[str] = []
    images: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(part.get("text") or "")
            elif kind == "image_url":
                images.append(data_url(part, index)[1])
            elif kind == "input_audio":
                raise UnsupportedContent(
                    f"message {index}: Ollama's chat API takes no audio; give this model "
                    "text or image queries"
                )
            else:
                raise UnsupportedContent(f"message {index}: a {kind!r} part (native-ollama)")
    elif content is not None:
        raise UnsupportedContent(f"message {index}: content is neither text nor a list of parts")
    return {"role": message.get("role"), "content": "".join(texts), "images": images}


class OllamaTransport(PooledSession):
    """Ollama's ``/api/chat`` over one pooled aiohttp session."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        refuse_unsent(unsupported(route.litellm_model, spec.params), spec.model, NAME)
        body = request_body(route.litellm_model, spec.params, messages, stream)
        headers = {"Content-Type": "application/json"}
        if route.key():
            headers["Authorization"] = f"Bearer {route.key()}"
        return await self.post(endpoint(route), body, headers, _read_stream if stream else _read)


async def _read(response: aiohttp.ClientResponse) -> Reply:
    raw = await response.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        raise MalformedReply(f"not an Ollama chat reply (not JSON): {raw[:200]!r}") from None
    parts: list[str] = []
    done = _take(payload, parts)
    if done is None:
        raise MalformedReply(f"the reply is not done: {raw[:200]!r}")
    return done.reply("".join(parts))


async def _read_stream(response: aiohttp.ClientResponse) -> Reply:
    parts: list[str] = []
    async for line in response.content:
        line = line.strip()
        if not line:
            continue
        try:
            chunk = json.loads(line)
        except ValueError:
            raise MalformedReply(f"a stream line is not JSON: {line[:200]!r}") from None
        done = _take(chunk, parts)
        if done is not None:
            return done.reply("".join(parts))
    # No line said done: the stream was cut (or empty), and a partial answer is never judged.
    raise MalformedReply("the stream ended before its done line (cut)")


class _Done:
    def __init__(self, reason: str, usage: Usage) -> None:
        self.reason = reason
        self.usage = usage

    def reply(self, text: str) -> Reply:
        return checked_reply(text, self.reason, self.usage)


def _take(chunk: Any, parts: list[str]) -> _Done | None:
    """Add one object's text to ``parts``; its ending, if it is the last."""
    if not isinstance(chunk, dict):
        raise MalformedReply(f"not an Ollama chat object: {str(chunk)[:200]}")
    if "error" in chunk:
        raise MalformedReply(f"the reply carried an error: {str(chunk['error'])[:200]}")
    message = chunk.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        parts.append(content)
    if chunk.get("done") is not True:
        return None
    reason = str(chunk.get("done_reason") or "stop")
    usage = Usage(
        prompt_tokens=int(chunk.get("prompt_eval_count") or 0),
        completion_tokens=int(chunk.get("eval_count") or 0),
    )
    return _Done(DONE_REASONS.get(reason, reason), usage)


@transport_kind(NAME)
def ollama_transport() -> OllamaTransport:
    """Ollama's chat API (``ollama_chat/…``) over one pooled aiohttp session."""
    return OllamaTransport()
