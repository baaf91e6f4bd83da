"""A scripted server that speaks each provider's own wire format, broken shapes included.

litellm turns every provider's wire format into one OpenAI-shaped reply, and that is where
broken replies get lost: an empty Anthropic stream or a Gemini chunk cut mid-answer comes back
as a tidy, empty or partial "answer". The OpenAI shape alone hides those, so this server
answers at each provider's own path in that provider's format:

- ``openai`` / ``hosted_vllm``: ``POST …/chat/completions`` (JSON or SSE)
- ``anthropic``: ``POST /v1/messages`` (Messages JSON or its event stream)
- ``gemini``: ``POST /models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``
- ``ollama_chat``: ``POST /api/chat`` (JSON or NDJSON)
- ``azure``: ``POST /openai/deployments/{deployment}/chat/completions?api-version=…`` (the
  OpenAI body and replies, Azure's path and ``api-key`` header)

Each reply is scripted per provider as a ``Shape`` (``good``, ``empty_stream``, ``html``,
``garbage``, ``cut``, ``empty``, ``refusal``, ``blocked_prompt``, ``length``); with nothing
scripted the server answers ``good`` with ``default_text``. Every request is logged.

Error statuses are shapes too, each in the provider's own error body: ``rate_limit`` (429
with ``Retry-After``), ``overloaded`` (529, Anthropic's overload; the others send it as
503), ``server_error`` (500), and ``overloaded_stream`` (a stream that starts and then
carries the provider's error: Anthropic's ``event: error`` with ``overloaded_error``, an
OpenAI-style ``data: {"error": …}`` chunk elsewhere).
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

Provider = Literal["openai", "anthropic", "gemini", "ollama_chat", "azure"]
Shape = Literal[
    "good",
    "empty_stream",
    "html",
    "garbage",
    "cut",
    "empty",
    "refusal",
    "blocked_prompt",
    "length",
    "rate_limit",
    "overloaded",
    "server_error",
    "overloaded_stream",
]

RETRY_AFTER_S = 1
"""The ``Retry-After`` the ``rate_limit`` and ``overloaded`` shapes send, in seconds."""

TextFor = Callable[[dict[str, Any]], str]


@dataclass
class Logged:
    provider: Provider
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Raw:
    status: int = 200
    content_type: str = "application/json"
    body: str = ""
    chunks: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WireServer:
    """Serve scripted replies in each provider's wire format on 127.0.0.1."""

    default_text: str | TextFor = "The answer."
    log: list[Logged] = field(default_factory=list)
    _scripts: dict[str, deque[Shape]] = field(default_factory=lambda: defaultdict(deque))
    _runner: web.AppRunner | None = None
    _port: int = 0

    # -- control ----------------------------------------------------------------------
    def script(self, provider: Provider, shapes: Iterable[Shape]) -> None:
        """The next replies of ``provider``, in order; then ``good`` again."""
        self._scripts[provider].extend(shapes)

    def always(self, provider: Provider, shape: Shape, times: int = 100) -> None:
        self.script(provider, [shape] * times)

    def count(self, provider: Provider | None = None) -> int:
        return sum(1 for entry in self.log if provider is None or entry.provider == provider)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- life -------------------------------------------------------------------------
    async def start(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/api/chat", self._ollama)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure)
        app.router.add_post("/{tail:.*}", self._gemini)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handlers ---------------------------------------------------------------------
    async def _take(self, provider: Provider, request: web.Request) -> tuple[Shape, dict, str]:
        body = await request.json()
        self.log.append(Logged(provider, request.path_qs, body, dict(request.headers)))
        queue = self._scripts[provider]
        shape: Shape = queue.popleft() if queue else "good"
        text = self.default_text(body) if callable(self.default_text) else self.default_text
        return shape, body, text

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        shape, body, text = await self._take("openai", request)
        stream = bool(body.get("stream"))
        return await _send(request, error_reply("openai", shape, stream, text, openai_reply))

    async def _azure(self, request: web.Request) -> web.StreamResponse:
        shape, body, text = await self._take("azure", request)
        stream = bool(body.get("stream"))
        return await _send(request, error_reply("azure", shape, stream, text, azure_reply))

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        shape, body, text = await self._take("anthropic", request)
        stream = bool(body.get("stream"))
        return await _send(request, error_reply("anthropic", shape, stream, text, anthropic_reply))

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        shape, _, text = await self._take("gemini", request)
        stream = ":streamGenerateContent" in request.path
        return await _send(request, error_reply("gemini", shape, stream, text, gemini_reply))

    async def _ollama(self, request: web.Request) -> web.StreamResponse:
        shape, body, text = await self._take("ollama_chat", request)
        stream = body.get("stream") is not False
        return await _send(request, error_reply("ollama_chat", shape, stream, text, ollama_reply))


async def _send(request: web.Request, raw: _Raw) -> web.StreamResponse:
    headers = {"Content-Type": raw.content_type, **raw.headers}
    if raw.chunks is None:
        return web.Response(status=raw.status, body=raw.body.encode(), headers=headers)
    response = web.StreamResponse(status=raw.status, headers=headers)
    await response.prepare(request)
    for chunk in raw.chunks:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


ReplyMaker = Callable[[Shape, str, bool], _Raw]

_STATUS: dict[str, tuple[int, str]] = {
    "rate_limit": (429, "rate limited"),
    "overloaded": (529, "Overloaded"),
    "server_error": (500, "internal error"),
}
"""The status shapes: HTTP status and message (``overloaded`` is 503 but at Anthropic)."""


def error_reply(
    provider: Provider, shape: Shape, stream: bool, text: str, reply: ReplyMaker
) -> _Raw:
    """The status shapes and the overloaded stream in ``provider``'s own error format;
    every other shape is ``reply``'s (the provider's answer)."""
    if shape == "overloaded_stream" and stream:
        return _overloaded_stream(provider, text)
    if shape not in _STATUS:
        return reply(shape, text, stream)
    status, message = _STATUS[shape]
    if shape == "overloaded" and provider != "anthropic":
        status = 503
    headers = {"Retry-After": str(RETRY_AFTER_S)} if shape != "server_error" else {}
    body: dict[str, Any]
    if provider == "anthropic":
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
    elif provider == "gemini":
        names = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
        body = {
            "error": {"code": status, "message": message, "status": names.get(status, "INTERNAL")}
        }
    elif provider == "ollama_chat":
        body = {"error": message}
    else:
        body = {"error": {"message": message, "type": "server_error", "code": str(status)}}
    return _Raw(status=status, body=json.dumps(body), headers=headers)


def _overloaded_stream(provider: Provider, text: str) -> _Raw:
    """A stream that began well and then carried the provider's error instead of its end."""
    if provider == "anthropic":
        started = anthropic_reply("cut", text, True).chunks or []
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return _Raw(content_type="text/event-stream", chunks=[*started, _sse(error, "error")])
    error_body = {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}}
    if provider == "ollama_chat":
        started = ollama_reply("cut", text, True).chunks or []
        line = json.dumps({"error": "Overloaded"}) + "\n"
        return _Raw(content_type="application/x-ndjson", chunks=[*started, line])
    if provider == "gemini":
        started = gemini_reply("cut", text, True).chunks or []
    else:
        started = openai_reply("cut", text, True).chunks or []
    return _Raw(content_type="text/event-stream", chunks=[*started, _sse(error_body)])


def _half(text: str) -> str:
    return text[: max(1, len(text) // 2)]


def _broken(shape: Shape, stream: bool, stream_type: str) -> _Raw | None:
    """The shapes that look the same whoever the provider."""
    if shape == "html":
        return _Raw(content_type="text/html", body="<html><body>Bad gateway</body></html>")
    if shape == "garbage":
        return _Raw(body='{"this is": not json')
    if shape == "empty_stream" and stream:
        return _Raw(content_type=stream_type, chunks=[])
    return None


def _sse(obj: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n"


# -- OpenAI (and hosted_vllm, which speaks it) ----------------------------------------------
def azure_reply(shape: Shape, text: str, stream: bool) -> _Raw:
    """OpenAI's replies, with the usage chunk Azure streams before ``[DONE]``."""
    return openai_reply(shape, text, stream, usage_chunk=True)


def openai_reply(shape: Shape, text: str, stream: bool, *, usage_chunk: bool = False) -> _Raw:
    broken = _broken(shape, stream, "text/event-stream")
    if broken is not None:
        return broken
    content: str | None = text
    finish: str | None = "stop"
    if shape in ("empty", "empty_stream"):
        content = ""
    elif shape in ("refusal", "blocked_prompt"):
        content, finish = None, "content_filter"
    elif shape == "length":
        content, finish = _half(text), "length"
    elif shape == "cut":
        content, finish = _half(text), None
    if not stream:
        message = {"role": "assistant", "content": content}
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish or "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        return _Raw(body=json.dumps(body))

    def chunk(delta: dict[str, Any], reason: str | None) -> str:
        return _sse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }
        )

    chunks = [chunk({"role": "assistant", "content": content or ""}, None)]
    if shape != "cut":
        chunks.append(chunk({}, finish))
        if usage_chunk:
            usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
            chunks.append(_sse({"id": "chatcmpl-1", "choices": [], "usage": usage}))
        chunks.append("data: [DONE]\n\n")
    return _Raw(content_type="text/event-stream", chunks=chunks)


# -- Anthropic Messages ---------------------------------------------------------------------
def anthropic_reply(shape: Shape, text: str, stream: bool) -> _Raw:
    broken = _broken(shape, stream, "text/event-stream")
    if broken is not None:
        return broken
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}]
    stop: str | None = "end_turn"
    if shape in ("empty", "empty_stream"):
        blocks = [{"type": "text", "text": ""}]
    elif shape in ("refusal", "blocked_prompt"):
        blocks, stop = [], "refusal"
    elif shape == "length":
        blocks, stop = [{"type": "text", "text": _half(text)}], "max_tokens"
    elif shape == "cut":
        blocks, stop = [{"type": "text", "text": _half(text)}], None
    usage = {"input_tokens": 5, "output_tokens": 3}
    if not stream:
        body = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": blocks,
            "stop_reason": stop or "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        return _Raw(body=json.dumps(body))
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }
    chunks = [_sse(start, "message_start")]
    for index, block in enumerate(blocks):
        opened = {
            "type": "content_block_start",
            "index": index,
            "content_block": block | {"text": ""},
        }
        delta = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": block["text"]},
        }
        chunks += [_sse(opened, "content_block_start"), _sse(delta, "content_block_delta")]
        if shape != "cut":
            stopped = {"type": "content_block_stop", "index": index}
            chunks.append(_sse(stopped, "content_block_stop"))
    if shape != "cut":
        ending = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 3},
        }
        chunks += [_sse(ending, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]
    return _Raw(content_type="text/event-stream", chunks=chunks)


# -- Gemini generateContent ------------------------------------------------------------------
def gemini_reply(shape: Shape, text: str, stream: bool) -> _Raw:
    broken = _broken(shape, stream, "text/event-stream")
    if broken is not None:
        return broken
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8}
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": text}], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
    }
    body: dict[str, Any] = {"candidates": [candidate], "usageMetadata": usage}
    if shape in ("empty", "empty_stream"):
        candidate["content"]["parts"] = [{"text": ""}]
    elif shape == "refusal":
        candidate.pop("content")
        candidate["finishReason"] = "SAFETY"
        candidate["safetyRatings"] = [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ]
    elif shape == "blocked_prompt":
        body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage}
    elif shape == "length":
        candidate["content"]["parts"] = [{"text": _half(text)}]
        candidate["finishReason"] = "MAX_TOKENS"
    if not stream:
        # A body cut in transit: broken JSON, never a shorter answer.
        whole_body = json.dumps(body)
        return _Raw(body=whole_body[: len(whole_body) // 2] if shape == "cut" else whole_body)
    # Gemini sends usageMetadata with every chunk (the running count) and finishReason only
    # with the last: a stream cut after its first chunk has usage but no finishReason.
    parts = candidate.get("content", {}).get("parts", [{"text": ""}])
    whole = parts[0]["text"]
    head = whole[: len(whole) // 2]
    if shape == "cut" or (head and "finishReason" in candidate and shape == "good"):
        first_usage = {**usage, "candidatesTokenCount": 1, "totalTokenCount": 6}
        first = {
            "candidates": [{"content": {"parts": [{"text": head}], "role": "model"}, "index": 0}],
            "usageMetadata": first_usage,
        }
        if shape == "cut":
            return _Raw(content_type="text/event-stream", chunks=[_sse(first)])
        candidate["content"]["parts"] = [{"text": whole[len(head) :]}]
        return _Raw(content_type="text/event-stream", chunks=[_sse(first), _sse(body)])
    return _Raw(content_type="text/event-stream", chunks=[_sse(body)])


# -- Ollama /api/chat ------------------------------------------------------------------------
def ollama_reply(shape: Shape, text: str, stream: bool) -> _Raw:
    broken = _broken(shape, stream, "application/x-ndjson")
    if broken is not None:
        return broken
    content = text
    reason = "stop"
    if shape in ("empty", "empty_stream", "refusal", "blocked_prompt"):
        content = ""
    elif shape == "length":
        content, reason = _half(text), "length"
    elif shape == "cut":
        content = _half(text)

    def line(part: str, done: bool) -> dict[str, Any]:
        message = {"role": "assistant", "content": part}
        out: dict[str, Any] = {"model": "m", "created_at": "2024-01-01T00:00:00Z"}
        out |= {"message": message, "done": done}
        if done:
            out |= {"done_reason": reason, "prompt_eval_count": 5, "eval_count": 3}
        return out

    if not stream:
        return _Raw(body=json.dumps(line(content, True)))
    chunks = [json.dumps(line(content, False)) + "\n"]
    if shape != "cut":
        chunks.append(json.dumps(line("", True)) + "\n")
    return _Raw(content_type="application/x-ndjson", chunks=chunks)
