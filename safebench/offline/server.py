"""An in-process OpenAI-compatible server for the simulated target models.

The offline demo serves simulated target models through it, so that they are reached over
real HTTP exactly as a vLLM server would be. It speaks just enough of the OpenAI wire protocol
(:mod:`.wire`) for that: ``POST /v1/chat/completions`` (plain JSON and SSE streaming),
``POST /v1/images/generations`` (``b64_json`` images) and ``POST /v1/audio/speech`` (for the
dataset's media step), ``GET /v1/models`` and ``GET /health``.

Nothing here may be slow: answers come from in-memory responders, no header is ever recorded
(an ``Authorization`` header is accepted whatever its value), and there is no per-request
logging. Tests and benchmarks extend it (faults, holds, a request log) through the one hook
:meth:`OpenAICompatServer.before_answer`; see ``tests/support/sim_server.py``.
"""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Self

import structlog
from aiohttp import web
from pydantic import BaseModel

from safebench.offline.wire import (
    ChatRequest,
    ImageRequest,
    ImageResponder,
    MediaRequestT,
    Responder,
    ResponderError,
    SpeechRequest,
    SpeechResponder,
    completion_body,
    split_content,
    sse_event,
    usage,
)

log = structlog.get_logger(__name__)

Route = Literal["chat", "image", "speech"]
RequestBody = ChatRequest | ImageRequest | SpeechRequest


class Exchange(BaseModel):
    """One request on its way to an answer: what the server made of it, and how it went.

    The server fills ``status``, ``answered`` and ``answered_at`` as it writes the answer; the
    :meth:`OpenAICompatServer.before_answer` hook may set ``truncate``.
    """

    route: Route
    model: str
    """The served model name it resolved to (the name as sent when unknown)."""
    requested_model: str
    """The model field exactly as sent."""
    known: bool
    """Whether a responder serves the model (an unknown one is answered 404)."""
    stream: bool = False
    truncate: bool = False
    """Cut the answer: streaming, half the chunks and no ``[DONE]``; non-streaming, half the
    announced JSON body. Then close the connection (chat only)."""
    status: int | None = None
    """The HTTP status sent, None if none was."""
    answered: bool = False
    """True only once the full response was written."""
    answered_at: float | None = None
    """time.monotonic() when it was."""


async def maybe_await(value: Any) -> Any:
    """Await ``value`` when it is awaitable: responders and hooks may be sync or async."""
    if inspect.isawaitable(value):
        return await value
    return value


def error_body(message: str, type_: str, code: str | int | None) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "code": code}}


def invalid_body(exc: Exception) -> web.Response:
    """A 400 for a body that is not JSON or not the route's shape, as OpenAI answers one."""
    return web.json_response(
        error_body(f"invalid request body: {exc}", "invalid_request_error", None), status=400
    )


def model_not_found(exchange: Exchange, message: str) -> web.Response:
    """A 404 for a model the server does not serve, recorded on the exchange."""
    exchange.status = 404
    return web.json_response(
        error_body(message, "invalid_request_error", "model_not_found"), status=404
    )


def close_connection(request: web.Request) -> None:
    """Close the client connection now (after flushing what was already written)."""
    transport = request.transport
    if transport is not None:
        transport.close()


class OpenAICompatServer:
    """An OpenAI-compatible chat server bound to 127.0.0.1 on an ephemeral port.

    Use as ``async with OpenAICompatServer({"m": responder}) as server: ...`` and point a client
    at ``server.base_url`` ("http://127.0.0.1:PORT/v1"). ``default`` answers any model that no
    responder matches (otherwise unknown models get a 404).
    """

    def __init__(
        self,
        responders: Mapping[str, Responder] | None = None,
        *,
        default: Responder | None = None,
        shutdown_timeout_s: float = 0.5,
    ) -> None:
        self._responders: dict[str, Responder] = dict(responders or {})
        self._image_responders: dict[str, ImageResponder] = {}
        self._speech_responders: dict[str, SpeechResponder] = {}
        self._default = default
        self._shutdown_timeout_s = shutdown_timeout_s
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

    # ----------------------------------------------------------------------------- hook

    async def before_answer(
        self, request: web.Request, exchange: Exchange, body: RequestBody
    ) -> web.StreamResponse | None:
        """Called for every parsed request, unknown models included, before it is answered.

        Return None to answer normally (after setting ``exchange.truncate``, if wanted), or a
        response that replaces the answer (already written with :meth:`send`, or one that
        needs no writing, as after :func:`close_connection`). The product answers everything:
        this hook is for tests and benchmarks (faults, holds, request logs).
        """
        return None

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        """Whether the server is started (and not stopped)."""
        return self._runner is not None

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
            return invalid_body(exc)

        match = self._responder_for(chat.model)
        exchange = Exchange(
            route="chat",
            model=match[0] if match else chat.model,
            requested_model=chat.model,
            known=match is not None,
            stream=chat.stream,
        )
        early = await self.before_answer(request, exchange, chat)
        if early is not None:
            return early
        if match is None:
            return model_not_found(
                exchange,
                f"The model `{chat.model}` does not exist or you do not have access to it.",
            )

        name = match[0]
        try:
            content = str(await maybe_await(match[1](chat)))
        except ResponderError as exc:
            exchange.status = exc.status
            resp = web.json_response(
                error_body(exc.message, exc.type, exc.code), status=exc.status
            )
            return await self.send(request, exchange, resp)
        except Exception as exc:
            log.warning("offline_server.responder_failed", model=name, error=repr(exc))
            exchange.status = 500
            resp = web.json_response(
                error_body(f"responder failed: {exc!r}", "server_error", None), status=500
            )
            return await self.send(request, exchange, resp)

        if chat.stream:
            return await self._stream(request, exchange, chat, name, content)
        body = completion_body(chat, name, content)
        if exchange.truncate:
            return await self._send_half(request, exchange, json.dumps(body).encode())
        return await self.send(request, exchange, web.json_response(body))

    async def _handle_image(self, request: web.Request) -> web.StreamResponse:
        """Text-to-image: the responder's bytes as ``b64_json``."""

        def reply(image: bytes) -> web.Response:
            data = {"b64_json": base64.b64encode(image).decode("ascii"), "revised_prompt": None}
            return web.json_response({"created": int(time.time()), "data": [data]})

        return await self._handle_media(
            request, ImageRequest, self._image_responders, "image", reply
        )

    async def _handle_speech(self, request: web.Request) -> web.StreamResponse:
        """Text-to-speech: the responder's bytes as the body."""
        return await self._handle_media(
            request,
            SpeechRequest,
            self._speech_responders,
            "speech",
            lambda audio: web.Response(body=audio, content_type="audio/wav"),
        )

    async def _handle_media(
        self,
        request: web.Request,
        parse: type[MediaRequestT],
        responders: Mapping[str, Callable[[MediaRequestT], bytes | Awaitable[bytes]]],
        what: Literal["image", "speech"],
        reply: Callable[[bytes], web.Response],
    ) -> web.StreamResponse:
        """One media route: parse, 404 unknown models, the hook, answer."""
        try:
            body = parse.model_validate(await request.json())
        except (ValueError, TypeError) as exc:
            return invalid_body(exc)
        model = str(getattr(body, "model", ""))
        name = model if model in responders or "/" not in model else model.split("/", 1)[1]
        responder = responders.get(name)
        exchange = Exchange(
            route=what, model=name, requested_model=model, known=responder is not None
        )
        early = await self.before_answer(request, exchange, body)
        if early is not None:
            return early
        if responder is None:
            return model_not_found(exchange, f"The {what} model `{model}` does not exist.")
        media = await maybe_await(responder(body))
        return await self.send(request, exchange, reply(media))

    async def send(
        self, request: web.Request, exchange: Exchange, resp: web.Response
    ) -> web.StreamResponse:
        """Write ``resp`` completely, then mark the exchange answered."""
        if exchange.status is None:
            exchange.status = resp.status
        try:
            await resp.prepare(request)
            await resp.write_eof()
        except ConnectionError:
            # The client went away first: the answer was not delivered.
            return resp
        exchange.answered = True
        exchange.answered_at = time.monotonic()
        return resp

    async def _send_half(
        self, request: web.Request, exchange: Exchange, body: bytes
    ) -> web.StreamResponse:
        """Announce the full body's length, send half of it, and close the connection."""
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        exchange.status = 200
        with contextlib.suppress(ConnectionError):
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
        close_connection(request)
        return resp

    async def _stream(
        self,
        request: web.Request,
        exchange: Exchange,
        chat: ChatRequest,
        model: str,
        content: str,
    ) -> web.StreamResponse:
        """Answer as Server-Sent Events of ``chat.completion.chunk`` objects."""
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
            },
        )
        exchange.status = 200
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
            return sse_event(obj)

        pieces = split_content(content)
        try:
            await resp.prepare(request)
            await resp.write(chunk({"role": "assistant", "content": ""}))
            if exchange.truncate:
                # Some of the answer, then the connection goes: no finish_reason, no [DONE].
                for piece in pieces[: max(1, len(pieces) // 2)]:
                    await resp.write(chunk({"content": piece}))
                close_connection(request)
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
                await resp.write(sse_event(usage_obj))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionError:
            return resp
        exchange.answered = True
        exchange.answered_at = time.monotonic()
        return resp
