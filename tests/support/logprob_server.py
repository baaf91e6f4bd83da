"""A vLLM-shaped chat server that answers with first-token log-probabilities, on 127.0.0.1.

vLLM returns ``choices[0].logprobs.content[i].top_logprobs`` when a chat request asks for
``logprobs: true`` (and ``top_logprobs: k``); the simulated OpenAI server of the offline stack
does not, so the judge formats' probability is proven against this one. Each model is
scripted with its answer text and its first token's alternatives; ``logprobs=False`` plays a
server that ignores the request for them. Every request body is logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Scripted:
    text: str
    top: dict[str, float]
    """The first token's alternatives (token -> logprob), most likely first."""
    logprobs: bool = True
    """False: the server ignores ``logprobs`` (as some OpenAI-compatible servers do)."""


@dataclass
class LogprobServer:
    models: dict[str, Scripted] = field(default_factory=dict)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def asked(self, model: str) -> list[dict[str, Any]]:
        return [body for body in self.bodies if body.get("model") == model]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        scripted = self.models.get(body.get("model"))
        if scripted is None:
            return web.json_response({"error": {"message": "no such model"}}, status=404)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": scripted.text},
            "finish_reason": "stop",
        }
        if body.get("logprobs") and scripted.logprobs:
            wanted = int(body.get("top_logprobs") or 1)
            alternatives = [
                {"token": token, "logprob": value, "bytes": list(token.encode())}
                for token, value in list(scripted.top.items())[:wanted]
            ]
            first = alternatives[0] | {"top_logprobs": alternatives}
            choice["logprobs"] = {"content": [first]}
        payload = {
            "id": "chatcmpl-lp",
            "object": "chat.completion",
            "created": 1,
            "model": body.get("model"),
            "choices": [choice],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
        }
        return web.Response(text=json.dumps(payload), content_type="application/json")
