"""The simulated OpenAI-compatible server, scripted for tests and benchmarks.

:class:`SimServer` is the product's :class:`~safebench.offline.server.OpenAICompatServer`
plus what only tests and benchmarks need, all through the product's one hook
(``before_answer``): injected faults (scripted per model, or a random mix for soak runs), a
hold/release gate, simulated latency, and a log of every request. :class:`ServerThread` runs
a server in a thread of its own, for clients in a subprocess or another event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Self, get_args

from aiohttp import web
from pydantic import BaseModel, Field

from safebench.offline.models import OFFLINE_MODELS
from safebench.offline.reading import OfflineModel
from safebench.offline.seeding import seeded
from safebench.offline.server import (
    Exchange,
    OpenAICompatServer,
    RequestBody,
    close_connection,
    error_body,
    maybe_await,
)
from safebench.offline.wire import ChatRequest, ImageRequest, Responder

FaultKind = Literal["rate_limit", "server_error", "delay", "drop", "garbage", "truncate"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


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
    """One request as the server saw it. Headers are never recorded.

    The answer's outcome (``status``, ``answered``) is read from the server's own
    :class:`~safebench.offline.server.Exchange`, which the server updates as it writes.
    """

    seq: int
    exchange: Exchange
    body_key: str
    received: float = Field(description="time.monotonic() when the request was parsed")
    fault: Fault | None = None
    request: ChatRequest | None = Field(None, description="the parsed body, when kept")

    @property
    def model(self) -> str:
        """The resolved model name (the raw one when unknown)."""
        return self.exchange.model

    @property
    def requested_model(self) -> str:
        """The model field exactly as sent."""
        return self.exchange.requested_model

    @property
    def stream(self) -> bool:
        return self.exchange.stream

    @property
    def answered(self) -> bool:
        """True only once the full response was written."""
        return self.exchange.answered

    @property
    def answered_at(self) -> float | None:
        return self.exchange.answered_at

    @property
    def status(self) -> int | None:
        """HTTP status sent, None if none was."""
        return self.exchange.status


OnRequest = Callable[[RequestLogEntry], Awaitable[None] | None]


def _key_of(exchange: Exchange, body: RequestBody) -> str:
    # Media requests are keyed like a chat with one user message of their text.
    if isinstance(body, ChatRequest):
        return body_key(exchange.model, body.messages)
    text = body.prompt if isinstance(body, ImageRequest) else f"{body.voice}:{body.input}"
    return body_key(exchange.model, [{"role": "user", "content": text}])


class SimServer(OpenAICompatServer):
    """The product server with faults, a hold gate, latency and a request log.

    ``latency_s`` plus a seeded uniform ``jitter_s`` is slept before each chat answer.
    ``keep_bodies`` keeps each chat request's parsed body in its log entry.
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
        super().__init__(responders, default=default, shutdown_timeout_s=shutdown_timeout_s)
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self._rng = random.Random(seed)
        self.keep_bodies = keep_bodies

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

    async def start(self) -> None:
        if not self.running:
            # The gate's event belongs to the loop the server runs on.
            self._loop = asyncio.get_running_loop()
            self._release_event = asyncio.Event()
            if not self._held:
                self._release_event.set()
        await super().start()

    async def stop(self) -> None:
        # Held requests are cancelled at once instead of waiting out the shutdown grace for
        # answers that cannot come.
        if self.running:
            for task in list(self._held_tasks):
                task.cancel()
        await super().stop()

    # ----------------------------------------------------------------------------- the hook

    async def before_answer(
        self, request: web.Request, exchange: Exchange, body: RequestBody
    ) -> web.StreamResponse | None:
        chat = body if isinstance(body, ChatRequest) else None
        entry = RequestLogEntry(
            seq=len(self.requests),
            exchange=exchange,
            body_key=_key_of(exchange, body),
            received=time.monotonic(),
            request=chat if chat is not None and self.keep_bodies else None,
        )
        self.requests.append(entry)
        if not exchange.known:
            return None
        # The fault is taken at arrival so scripted faults follow the order requests came in.
        entry.fault = self._take_fault(exchange.model)
        if chat is not None:
            await self._gate(entry)
        fault = entry.fault
        if fault is None:
            return None
        if fault.kind == "truncate":
            exchange.truncate = True
            return None
        return await self._apply_fault(request, exchange, fault)

    async def _gate(self, entry: RequestLogEntry) -> None:
        """The chat route's test controls: the on_request callback, the hold, the latency."""
        if self.on_request is not None:
            await maybe_await(self.on_request(entry))
        if self._release_event is not None and not self._release_event.is_set():
            # Tracked so that stop() can cancel held requests at once.
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

    async def _apply_fault(
        self, request: web.Request, exchange: Exchange, fault: Fault
    ) -> web.StreamResponse | None:
        """Apply a fault that replaces the answer; None when the answer goes on (delay)."""
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "rate_limit":
            status = fault.status or 429
            resp = web.json_response(
                error_body("Rate limit reached (simulated).", "rate_limit_error", "rate_limit"),
                status=status,
                headers={"Retry-After": fault.retry_after_header()},
            )
            exchange.status = status
            return await self.send(request, exchange, resp)
        if fault.kind == "server_error":
            status = fault.status or 500
            resp = web.json_response(
                error_body("The server had an error (simulated).", "server_error", None),
                status=status,
            )
            exchange.status = status
            return await self.send(request, exchange, resp)
        if fault.kind == "garbage":
            # A streaming client gets garbage inside the SSE framing it expects, so that the
            # failure is a parse error rather than a silently empty stream.
            garbage = b"<html><body>502 upstream garbage (simulated)</body></html>"
            resp = web.Response(
                status=fault.status or 200,
                body=b"data: " + garbage + b"\n\n" if exchange.stream else garbage,
                content_type="text/event-stream" if exchange.stream else "application/json",
            )
            exchange.status = resp.status
            return await self.send(request, exchange, resp)
        if fault.kind == "drop":
            close_connection(request)
            # aiohttp's attempt to send this response fails quietly on the closed transport.
            return web.Response(status=204)
        raise AssertionError(f"unhandled fault kind {fault.kind}")


def _as_fault(value: Fault | str) -> Fault:
    return value if isinstance(value, Fault) else Fault(kind=value)  # type: ignore[arg-type]


class ServerThread:
    """Run an :class:`OpenAICompatServer` in a daemon thread with its own event loop.

    For clients that live in a subprocess or another event loop: ``start()`` returns once the
    server listens, ``base_url`` is then valid, and ``stop()`` shuts it down and joins.
    """

    def __init__(self, server: SimServer, *, start_timeout_s: float = 10.0) -> None:
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


def serve_offline_jurors(server: OpenAICompatServer) -> OpenAICompatServer:
    """Also serve the offline jurors over HTTP (as ``<name>``), for tests and benchmarks that
    need every call, jurors' included, to cross a real socket."""
    for name, model in OFFLINE_MODELS.items():
        server.add_model(name, lambda request, model=model: _seeded_reply(model, request))
    return server


def _seeded_reply(model: OfflineModel, request: ChatRequest) -> str:
    # Over HTTP the jury's seed is the request body's ``seed``, as litellm would send it.
    with seeded(request.seed):
        return model(request.messages)
