"""The simulated server answering in Anthropic's Messages format too, for bench/peer_inspect.py.

:class:`AnthropicSimServer` is ``tests/support/sim_server.py``'s :class:`SimServer` (the
same responders, latency and request log, through the product server's ``before_answer``
hook) with one more route: ``POST /v1/messages``. A Messages body is read into the
:class:`~safebench.offline.wire.ChatRequest` the responders already take (``system`` as a
system message first, every message's text blocks as they are, which ``message_text``
reads), and the responder's text goes back as a Messages object or, when the body asks
``"stream": true``, as its event stream, both rendered by ``bench/lean_server.py``'s
:func:`anthropic_bytes` (imported, not copied). Errors are Anthropic's error bodies.

Every request is also counted by path (:attr:`AnthropicSimServer.paths`), so the bench can
say how many calls each client really sent over HTTP, and to which wire format.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

BENCH = Path(__file__).resolve().parent
for where in (BENCH, BENCH.parent):  # lean_server imports ``common``; the rest is the repo's
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

from lean_server import anthropic_bytes  # noqa: E402

from safebench.offline.server import Exchange, RequestBody, maybe_await  # noqa: E402
from safebench.offline.wire import ChatRequest  # noqa: E402
from tests.support.sim_server import SimServer  # noqa: E402

MESSAGES_PATH = "/v1/messages"


def anthropic_error(status: int, kind: str, message: str) -> web.Response:
    """An error in Anthropic's shape: ``{"type": "error", "error": {type, message}}``."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status)


def chat_request_of(body: Any) -> ChatRequest:
    """A Messages API body as the chat request the responders read.

    ``system`` (a string or a list of text blocks) becomes a first system message; the
    messages keep their content, a string or a list of blocks whose ``text`` blocks
    ``message_text`` joins. Raises ValueError when the body is not a Messages request.
    """
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    messages = body.get("messages")
    if not isinstance(body.get("model"), str) or not isinstance(messages, list):
        raise ValueError("a Messages request needs 'model' (a string) and 'messages' (a list)")
    system = body.get("system")
    turns: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    turns += [m for m in messages if isinstance(m, dict)]
    return ChatRequest(
        model=body["model"],
        messages=turns,
        stream=bool(body.get("stream")),
        max_tokens=body.get("max_tokens"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
    )


class AnthropicSimServer(SimServer):
    """:class:`SimServer` with Anthropic's ``POST /v1/messages`` beside the OpenAI routes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paths: Counter[str] = Counter()
        """Requests per path (``/v1/messages``, ``/v1/chat/completions``, …), unknown
        models and malformed bodies included."""

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.router.add_post(MESSAGES_PATH, self._handle_messages)
        return app

    async def before_answer(
        self, request: web.Request, exchange: Exchange, body: RequestBody
    ) -> web.StreamResponse | None:
        self.paths[request.path] += 1
        return await super().before_answer(request, exchange, body)

    async def _handle_messages(self, request: web.Request) -> web.StreamResponse:
        try:
            chat = chat_request_of(await request.json())
        except (ValueError, TypeError) as exc:  # a JSON decode error is a ValueError
            self.paths[request.path] += 1
            return anthropic_error(400, "invalid_request_error", f"invalid request body: {exc}")
        name = self.resolve(chat.model)
        exchange = Exchange(
            route="chat",
            model=name or chat.model,
            requested_model=chat.model,
            known=name is not None,
            stream=chat.stream,
        )
        # The log, the latency and any scripted fault: the OpenAI route's, unchanged.
        early = await self.before_answer(request, exchange, chat)
        if early is not None:
            return early
        if name is None:
            exchange.status = 404
            return anthropic_error(404, "not_found_error", f"model: {chat.model}")
        try:
            text = str(await maybe_await(self._responders[name](chat)))
        except Exception as exc:  # the responder's failure is the server's 500, as upstream
            exchange.status = 500
            reply = anthropic_error(500, "api_error", f"responder failed: {exc!r}")
            return await self.send(request, exchange, reply)
        kind = "text/event-stream" if chat.stream else "application/json"
        reply = web.Response(body=anthropic_bytes(name, text, chat.stream), content_type=kind)
        return await self.send(request, exchange, reply)


def path_counts(server: AnthropicSimServer) -> str:
    """The per-path request counts as one JSON line (for the bench's driver)."""
    return json.dumps(dict(server.paths), sort_keys=True)
