"""An in-process OpenAI-compatible chat server for simulated models and scripted tests.

The offline demo serves simulated target models through it, and the test suite starts it on
127.0.0.1 to drive the real client stack (litellm over HTTP) against scripted answers and
faults. It speaks just enough of the OpenAI wire protocol for that: ``POST
/v1/chat/completions`` (plain JSON and SSE streaming), ``POST /v1/images/generations``
(``b64_json`` images) and ``POST /v1/audio/speech`` (for the dataset's media step),
``GET /v1/models`` and ``GET /health``.

Nothing here may be slow: answers come from in-memory responders, no header is ever recorded
(an ``Authorization`` header is accepted whatever its value), and there is no per-request
logging.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Self, TypeVar

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

log = structlog.get_logger(__name__)

FaultKind = Literal["rate_limit", "server_error", "delay", "drop", "garbage", "truncate"]
FAULT_KINDS: tuple[str, ...] = (
    "rate_limit",
    "server_error",
    "delay",
    "drop",
    "garbage",
    "truncate",
)

# Aliases so that callers may ask ``has_part("image")`` as well as the wire name.
_PART_ALIASES = {"image": "image_url", "audio": "input_audio"}

# Words (with their trailing whitespace) grouped per SSE chunk: several chunks per answer, few
# enough writes that long answers stay cheap.
_WORDS_PER_CHUNK = 3
_WORD_RE = re.compile(r"\S+\s*")


class ChatRequest(BaseModel):
    """The body of a ``POST /v1/chat/completions`` request (unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(default_factory=list)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None

    def texts(self, role: str | None = None) -> list[str]:
        """Every text of the messages (of ``role`` if given), in order, one per message."""
        return [message_text(m) for m in self.messages if role is None or m.get("role") == role]

    def last_user_text(self) -> str:
        """The text of the last ``user`` message (text parts joined by newlines), or ""."""
        users = self.texts("user")
        return users[-1] if users else ""

    def system_text(self) -> str:
        """The text of every ``system``/``developer`` message, joined by newlines."""
        parts = [message_text(m) for m in self.messages if m.get("role") in ("system", "developer")]
        return "\n".join(p for p in parts if p)

    def has_part(self, kind: str) -> bool:
        """Whether any message holds a content part of ``kind``.

        ``kind`` is a wire type ("text", "image_url", "input_audio") or an alias ("image",
        "audio"). A plain string content counts as a "text" part.
        """
        wanted = _PART_ALIASES.get(kind, kind)
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, str):
                if wanted == "text":
                    return True
            elif isinstance(content, list) and any(
                isinstance(p, dict) and p.get("type") == wanted for p in content
            ):
                return True
        return False

    def include_usage(self) -> bool:
        """Whether a streaming client asked for the final usage chunk."""
        return bool((self.stream_options or {}).get("include_usage"))


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one chat message: a string content, or its text parts joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def body_key(model: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """A stable key of a request: sha256 of canonical JSON of ``{model, messages}``.

    Canonical means sorted keys, no whitespace and ASCII escapes, so any client can compute the
    same key from what it sent. The server keys on the *resolved* model name (provider prefix
    stripped when that is how it matched), so "openai/x" and "x" give the same key.
    """
    canonical = json.dumps(
        {"model": model, "messages": list(messages)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def count_tokens(text: str) -> int:
    """A cheap token estimate: whitespace-separated words."""
    return len(text.split())


Responder = Callable[[ChatRequest], str | Awaitable[str]]


class ImageRequest(BaseModel):
    """The body of a ``POST /v1/images/generations`` request (unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")

    model: str
    prompt: str
    n: int | None = None
    size: str | None = None
    response_format: str | None = None


# Returns the image's bytes (any format); the server sends them base64-encoded.
ImageResponder = Callable[[ImageRequest], bytes | Awaitable[bytes]]


class SpeechRequest(BaseModel):
    """The body of a ``POST /v1/audio/speech`` request (unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")

    model: str
    input: str
    voice: str
    response_format: str | None = None


# Returns the audio file's bytes, sent as the response body.
SpeechResponder = Callable[[SpeechRequest], bytes | Awaitable[bytes]]
MediaRequestT = TypeVar("MediaRequestT", ImageRequest, SpeechRequest)


class ResponderError(Exception):
    """Raised by a responder to answer with an OpenAI-style HTTP error instead of a message.

    For example a text-only simulated model answers an image with a 400, as real APIs do.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",  # the OpenAI error field name
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code


class Fault(BaseModel):
    """A failure to inject into one request.

    ``rate_limit``: HTTP 429 with ``Retry-After: <retry_after>`` (fractional seconds allowed).
    ``server_error``: HTTP 500. ``delay``: sleep ``seconds`` then answer normally (to trigger
    client timeouts). ``drop``: close the connection without any response. ``garbage``: HTTP
    200 with a non-JSON body. ``truncate``: streaming, send some chunks then close the
    connection without ``[DONE]``; non-streaming, announce the full JSON body but send half of
    it and close.
    """

    kind: FaultKind
    retry_after: float = 1.0
    seconds: float = 5.0
    status: int | None = Field(default=None, description="override the HTTP status (errors)")

    def retry_after_header(self) -> str:
        """The ``Retry-After`` value: an integer when whole, else a short decimal."""
        value = self.retry_after
        return str(int(value)) if float(value).is_integer() else f"{value:g}"


class RequestLogEntry(BaseModel):
    """One request as the server saw it. Headers are never recorded."""

    seq: int
    model: str = Field(description="the resolved model name (the raw one when unknown)")
    requested_model: str = Field(description="the model field exactly as sent")
    body_key: str
    received: float = Field(description="time.monotonic() when the request was parsed")
    stream: bool = False
    answered: bool = Field(False, description="true only once the full response was written")
    answered_at: float | None = None
    status: int | None = Field(None, description="HTTP status sent, None if none was")
    fault: Fault | None = None
    request: ChatRequest | None = Field(None, description="the parsed body, when kept")


OnRequest = Callable[[RequestLogEntry], Awaitable[None] | None]


async def _maybe_await(value: Any) -> Any:
    """Await ``value`` when it is awaitable: responders and hooks may be sync or async."""
    if inspect.isawaitable(value):
        return await value
    return value


def _error_body(message: str, type_: str, code: str | int | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code}}


class OpenAICompatServer:
    """An OpenAI-compatible chat server bound to 127.0.0.1 on an ephemeral port.

    Use as ``async with OpenAICompatServer({"m": responder}) as server: ...`` and point a client
    at ``server.base_url`` ("http://127.0.0.1:PORT/v1"). ``default`` answers any model that no
    responder matches (otherwise unknown models get a 404). ``latency_s`` plus a seeded uniform
    ``jitter_s`` is slept before each answer.
    """

    def __init__(
        self,
        responders: Mapping[str, Responder] | None = None,
        *,
        default: Responder | None = None,
        latency_s: float = 0.0,
        jitter_s: float = 0.0,
        seed: int = 0,
        keep_bodies: bool = True,
        shutdown_timeout_s: float = 0.5,
    ) -> None:
        self._responders: dict[str, Responder] = dict(responders or {})
        self._image_responders: dict[str, ImageResponder] = {}
        self._speech_responders: dict[str, SpeechResponder] = {}
        self._default = default
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self._rng = random.Random(seed)
        self.keep_bodies = keep_bodies
        self._shutdown_timeout_s = shutdown_timeout_s

        self.requests: list[RequestLogEntry] = []
        self.on_request: OnRequest | None = None

        # Faults may be scripted from another thread (ServerThread); a lock keeps the queues and
        # the random mix consistent with the loop thread that consumes them.
        self._fault_lock = threading.Lock()
        self._scripted: dict[str | None, deque[Fault]] = {}
        self._mix_rate = 0.0
        self._mix_faults: list[Fault] = []
        self._mix_rng = random.Random(0)

        self._held = False
        self._release_event: asyncio.Event | None = None
        self._held_tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ----------------------------------------------------------------------------- models

    def add_model(self, name: str, responder: Responder) -> None:
        """Serve ``name`` with ``responder`` (replacing any responder of that name)."""
        self._responders[name] = responder

    def add_image_model(self, name: str, responder: ImageResponder) -> None:
        """Serve ``name`` on ``/v1/images/generations`` with ``responder`` (text-to-image)."""
        self._image_responders[name] = responder

    def add_speech_model(self, name: str, responder: SpeechResponder) -> None:
        """Serve ``name`` on ``/v1/audio/speech`` with ``responder`` (text-to-speech)."""
        self._speech_responders[name] = responder

    @property
    def models(self) -> list[str]:
        """The names of the served models."""
        return list(self._responders)

    def resolve(self, model: str) -> str | None:
        """The served name ``model`` matches: exact, or with a provider prefix stripped."""
        if model in self._responders:
            return model
        if "/" in model:
            stripped = model.split("/", 1)[1]
            if stripped in self._responders:
                return stripped
        return None

    def _responder_for(self, model: str) -> tuple[str, Responder] | None:
        name = self.resolve(model)
        if name is not None:
            return name, self._responders[name]
        if self._default is not None:
            return model, self._default
        return None

    # ----------------------------------------------------------------------------- faults

    def script_faults(self, model: str | None, faults: Sequence[Fault | str]) -> None:
        """Queue ``faults`` for the next requests to ``model`` (None: any model), in order.

        A request consumes the next fault scripted for its own model first, then one scripted
        for any model. Strings are shorthand for ``Fault(kind=...)`` with default parameters.
        """
        key = model if model is None else (self.resolve(model) or model)
        with self._fault_lock:
            queue = self._scripted.setdefault(key, deque())
            queue.extend(_as_fault(f) for f in faults)

    def set_fault_mix(self, rate: float, kinds: Sequence[str | Fault], seed: int = 0) -> None:
        """Inject a random fault into a fraction ``rate`` of unscripted requests (soak runs).

        Each faulted request gets one of ``kinds`` chosen uniformly by an RNG seeded with
        ``seed``; pass ``Fault`` objects instead of names to set their parameters. A rate of 0
        turns the mix off.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {rate}")
        faults = [_as_fault(k) for k in kinds]
        if rate > 0 and not faults:
            raise ValueError("set_fault_mix needs at least one fault kind when rate > 0")
        with self._fault_lock:
            self._mix_rate = rate
            self._mix_faults = faults
            self._mix_rng = random.Random(seed)

    def clear_faults(self) -> None:
        """Forget scripted faults and turn the random mix off."""
        with self._fault_lock:
            self._scripted.clear()
            self._mix_rate = 0.0
            self._mix_faults = []

    def pending_faults(self, model: str | None = None) -> int:
        """How many scripted faults are still queued for ``model`` (None: the any-model queue)."""
        key = model if model is None else (self.resolve(model) or model)
        with self._fault_lock:
            return len(self._scripted.get(key, ()))

    def _take_fault(self, model: str) -> Fault | None:
        with self._fault_lock:
            for key in (model, None):
                queue = self._scripted.get(key)
                if queue:
                    return queue.popleft()
            if self._mix_rate > 0 and self._mix_rng.random() < self._mix_rate:
                return self._mix_rng.choice(self._mix_faults)
        return None

    # ----------------------------------------------------------------------------- hold

    def hold(self) -> None:
        """Make requests wait before answering until :meth:`release` (thread-safe)."""
        self._held = True
        self._in_loop(self._clear_release)

    def release(self) -> None:
        """Let held requests (and later ones) answer (thread-safe)."""
        self._held = False
        self._in_loop(self._set_release)

    @property
    def held(self) -> bool:
        """Whether answers are currently held."""
        return self._held

    def _clear_release(self) -> None:
        if self._release_event is not None:
            self._release_event.clear()

    def _set_release(self) -> None:
        if self._release_event is not None:
            self._release_event.set()

    def _in_loop(self, fn: Callable[[], None]) -> None:
        # asyncio.Event is not thread-safe: from another thread, hand the change to the loop.
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    # ----------------------------------------------------------------------------- log

    def count(self, model: str | None = None) -> int:
        """How many requests arrived (for ``model``, by resolved or requested name)."""
        if model is None:
            return len(self.requests)
        return sum(1 for e in self.requests if model in (e.model, e.requested_model))

    def answered_keys(self) -> list[str]:
        """The ``body_key`` of every fully answered request, in arrival order (with repeats)."""
        return [e.body_key for e in self.requests if e.answered]

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        """The bound port (only once started)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (only once started)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:PORT/v1`` (only once started)."""
        return f"{self.root_url}/v1"

    def make_app(self) -> web.Application:
        """The aiohttp application (routes only; :meth:`start` runs it)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_post("/chat/completions", self._handle_chat)
        app.router.add_post("/v1/images/generations", self._handle_image)
        app.router.add_post("/images/generations", self._handle_image)
        app.router.add_post("/v1/audio/speech", self._handle_speech)
        app.router.add_post("/audio/speech", self._handle_speech)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_get("/models", self._handle_models)
        app.router.add_get("/health", self._handle_health)
        return app

    async def start(self) -> None:
        """Bind 127.0.0.1 on an ephemeral port and start serving."""
        if self._runner is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._release_event = asyncio.Event()
        if not self._held:
            self._release_event.set()
        # No access log (speed); handler_cancellation so a client that goes away (timeout,
        # kill) cancels its handler instead of letting it answer into the void.
        runner = web.AppRunner(
            self.make_app(),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout_s,
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if not sockets:
            await runner.cleanup()
            raise RuntimeError("the server bound no socket")
        self._port = int(sockets[0].getsockname()[1])
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving; requests still in flight are cancelled after a short grace."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for task in list(self._held_tasks):
            task.cancel()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------------------- handlers

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "models": len(self._responders)})

    async def _handle_models(self, request: web.Request) -> web.Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "safebench-offline"}
            for name in self._responders
        ]
        return web.json_response({"object": "list", "data": data})

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        try:
            payload = await request.json()
            chat = ChatRequest.model_validate(payload)
        except (ValueError, TypeError) as exc:
            # pydantic's ValidationError is a ValueError; so is a JSON decode error.
            return web.json_response(
                _error_body(f"invalid request body: {exc}", "invalid_request_error", None),
                status=400,
            )

        match = self._responder_for(chat.model)
        name = match[0] if match else chat.model
        entry = RequestLogEntry(
            seq=len(self.requests),
            model=name,
            requested_model=chat.model,
            body_key=body_key(name, chat.messages),
            received=time.monotonic(),
            stream=chat.stream,
            request=chat if self.keep_bodies else None,
        )
        self.requests.append(entry)

        if match is None:
            entry.status = 404
            return web.json_response(
                _error_body(
                    f"The model `{chat.model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
                status=404,
            )

        # The fault is taken at arrival so scripted faults follow the order requests came in.
        entry.fault = self._take_fault(name)

        if self.on_request is not None:
            await _maybe_await(self.on_request(entry))
        if self._release_event is not None and not self._release_event.is_set():
            # Tracked so that stop() can cancel held requests at once instead of waiting out
            # the shutdown grace for answers that cannot come.
            task = asyncio.current_task()
            if task is not None:
                self._held_tasks.add(task)
            try:
                await self._release_event.wait()
            finally:
                if task is not None:
                    self._held_tasks.discard(task)
        delay = self.latency_s + (self._rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0)
        if delay > 0:
            await asyncio.sleep(delay)

        fault = entry.fault
        if fault is not None and fault.kind != "truncate":
            early = await self._apply_fault(request, entry, fault, stream=chat.stream)
            if early is not None:
                return early

        try:
            content = str(await _maybe_await(match[1](chat)))
        except ResponderError as exc:
            entry.status = exc.status
            resp = web.json_response(
                _error_body(exc.message, exc.type, exc.code), status=exc.status
            )
            return await self._send(request, entry, resp)
        except Exception as exc:
            log.warning("offline_server.responder_failed", model=name, error=repr(exc))
            entry.status = 500
            resp = web.json_response(
                _error_body(f"responder failed: {exc!r}", "server_error", None), status=500
            )
            return await self._send(request, entry, resp)

        truncate = fault is not None and fault.kind == "truncate"
        if chat.stream:
            return await self._stream(request, entry, chat, name, content, truncate=truncate)
        body = completion_body(chat, name, content)
        if truncate:
            return await self._send_half(request, entry, json.dumps(body).encode())
        return await self._send(request, entry, web.json_response(body))

    async def _handle_image(self, request: web.Request) -> web.StreamResponse:
        """Text-to-image: the responder's bytes as ``b64_json``; faults apply as for chat."""

        def reply(image: bytes) -> web.Response:
            data = {"b64_json": base64.b64encode(image).decode("ascii"), "revised_prompt": None}
            return web.json_response({"created": int(time.time()), "data": [data]})

        return await self._handle_media(
            request, ImageRequest, self._image_responders, "image", lambda b: b.prompt, reply
        )

    async def _handle_speech(self, request: web.Request) -> web.StreamResponse:
        """Text-to-speech: the responder's bytes as the body; faults apply as for chat."""
        return await self._handle_media(
            request,
            SpeechRequest,
            self._speech_responders,
            "speech",
            lambda b: f"{b.voice}:{b.input}",
            lambda audio: web.Response(body=audio, content_type="audio/wav"),
        )

    async def _handle_media(
        self,
        request: web.Request,
        parse: type[MediaRequestT],
        responders: Mapping[str, Callable[[MediaRequestT], bytes | Awaitable[bytes]]],
        what: str,
        key_text: Callable[[MediaRequestT], str],
        reply: Callable[[bytes], web.Response],
    ) -> web.StreamResponse:
        """One media route: parse, log (keyed like chat), 404 unknown models, faults, answer."""
        try:
            body = parse.model_validate(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response(
                _error_body(f"invalid request body: {exc}", "invalid_request_error", None),
                status=400,
            )
        model = str(getattr(body, "model", ""))
        name = model if model in responders or "/" not in model else model.split("/", 1)[1]
        entry = RequestLogEntry(
            seq=len(self.requests),
            model=name,
            requested_model=model,
            body_key=body_key(name, [{"role": "user", "content": key_text(body)}]),
            received=time.monotonic(),
        )
        self.requests.append(entry)
        responder = responders.get(name)
        if responder is None:
            entry.status = 404
            return web.json_response(
                _error_body(
                    f"The {what} model `{model}` does not exist.",
                    "invalid_request_error",
                    "model_not_found",
                ),
                status=404,
            )
        entry.fault = self._take_fault(name)
        if entry.fault is not None and entry.fault.kind != "truncate":
            early = await self._apply_fault(request, entry, entry.fault, stream=False)
            if early is not None:
                return early
        media = await _maybe_await(responder(body))
        return await self._send(request, entry, reply(media))

    async def _apply_fault(
        self, request: web.Request, entry: RequestLogEntry, fault: Fault, *, stream: bool
    ) -> web.StreamResponse | None:
        """Apply a fault that replaces the answer; None when the answer goes on (delay)."""
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "rate_limit":
            status = fault.status or 429
            resp = web.json_response(
                _error_body("Rate limit reached (simulated).", "rate_limit_error", "rate_limit"),
                status=status,
                headers={"Retry-After": fault.retry_after_header()},
            )
            entry.status = status
            return await self._send(request, entry, resp)
        if fault.kind == "server_error":
            status = fault.status or 500
            resp = web.json_response(
                _error_body("The server had an error (simulated).", "server_error", None),
                status=status,
            )
            entry.status = status
            return await self._send(request, entry, resp)
        if fault.kind == "garbage":
            # A streaming client gets garbage inside the SSE framing it expects, so that the
            # failure is a parse error rather than a silently empty stream.
            garbage = b"<html><body>502 upstream garbage (simulated)</body></html>"
            resp = web.Response(
                status=fault.status or 200,
                body=b"data: " + garbage + b"\n\n" if stream else garbage,
                content_type="text/event-stream" if stream else "application/json",
            )
            entry.status = resp.status
            return await self._send(request, entry, resp)
        if fault.kind == "drop":
            _close(request)
            # aiohttp's attempt to send this response fails quietly on the closed transport.
            return web.Response(status=204)
        raise AssertionError(f"unhandled fault kind {fault.kind}")

    async def _send(
        self, request: web.Request, entry: RequestLogEntry, resp: web.Response
    ) -> web.StreamResponse:
        """Write ``resp`` completely, then mark the entry answered."""
        if entry.status is None:
            entry.status = resp.status
        try:
            await resp.prepare(request)
            await resp.write_eof()
        except ConnectionError:
            # The client went away first: the answer was not delivered.
            return resp
        entry.answered = True
        entry.answered_at = time.monotonic()
        return resp

    async def _send_half(
        self, request: web.Request, entry: RequestLogEntry, body: bytes
    ) -> web.StreamResponse:
        """Announce the full body's length, send half of it, and close the connection."""
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        entry.status = 200
        with contextlib.suppress(ConnectionError):
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
        _close(request)
        return resp

    async def _stream(
        self,
        request: web.Request,
        entry: RequestLogEntry,
        chat: ChatRequest,
        model: str,
        content: str,
        *,
        truncate: bool,
    ) -> web.StreamResponse:
        """Answer as Server-Sent Events of ``chat.completion.chunk`` objects."""
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
            },
        )
        entry.status = 200
        completion_id = f"chatcmpl-sim-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return _sse(obj)

        pieces = _split_content(content)
        try:
            await resp.prepare(request)
            await resp.write(chunk({"role": "assistant", "content": ""}))
            if truncate:
                # Some of the answer, then the connection goes: no finish_reason, no [DONE].
                for piece in pieces[: max(1, len(pieces) // 2)]:
                    await resp.write(chunk({"content": piece}))
                _close(request)
                return resp
            for piece in pieces:
                await resp.write(chunk({"content": piece}))
            await resp.write(chunk({}, "stop"))
            if chat.include_usage():
                usage_obj = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage(chat, content),
                }
                await resp.write(_sse(usage_obj))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionError:
            return resp
        entry.answered = True
        entry.answered_at = time.monotonic()
        return resp


def _as_fault(value: Fault | str) -> Fault:
    return value if isinstance(value, Fault) else Fault(kind=value)  # type: ignore[arg-type]


def _close(request: web.Request) -> None:
    """Close the client connection now (after flushing what was already written)."""
    transport = request.transport
    if transport is not None:
        transport.close()


def _sse(obj: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _split_content(content: str) -> list[str]:
    words = _WORD_RE.findall(content)
    if not words:
        return [content] if content else []
    # Leading whitespace is not matched by the word pattern; keep it on the first piece.
    lead = content[: len(content) - len(content.lstrip())]
    pieces = [
        "".join(words[i : i + _WORDS_PER_CHUNK]) for i in range(0, len(words), _WORDS_PER_CHUNK)
    ]
    pieces[0] = lead + pieces[0]
    return pieces


def usage(chat: ChatRequest, content: str) -> dict[str, int]:
    """Whitespace-token usage of one exchange."""
    prompt = sum(count_tokens(t) for t in chat.texts())
    completion = count_tokens(content)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_body(chat: ChatRequest, model: str, content: str) -> dict[str, Any]:
    """A standard non-streaming ``chat.completion`` object."""
    return {
        "id": f"chatcmpl-sim-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage(chat, content),
    }


class ServerThread:
    """Run an :class:`OpenAICompatServer` in a daemon thread with its own event loop.

    For clients that live in a subprocess or another event loop: ``start()`` returns once the
    server listens, ``base_url`` is then valid, and ``stop()`` shuts it down and joins.
    """

    def __init__(self, server: OpenAICompatServer, *, start_timeout_s: float = 10.0) -> None:
        self.server = server
        self._start_timeout_s = start_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """The served OpenAI base URL."""
        return self.server.base_url

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server thread's event loop (only once started)."""
        if self._loop is None:
            raise RuntimeError("the server thread is not started")
        return self._loop

    def start(self) -> Self:
        """Start the thread and wait until the server listens."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="offline-openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._start_timeout_s):
            raise RuntimeError("the offline server thread did not start in time")
        if self._error is not None:
            raise RuntimeError("the offline server thread failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as exc:  # surfaced to start() in the calling thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, coro: Awaitable[Any], timeout_s: float | None = 10.0) -> Any:
        """Run ``coro`` on the server's loop from another thread and return its result."""
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self.loop)
        return future.result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server and the thread."""
        thread, self._thread = self._thread, None
        if thread is None or self._loop is None:
            return
        loop = self._loop
        if not loop.is_closed():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.server.stop(), loop).result(timeout_s)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
