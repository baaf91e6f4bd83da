"""A lean benchmark server: a raw asyncio HTTP/1.1 protocol that answers precomputed bytes.

The offline stack's server (aiohttp, pydantic request models, the offline jurors reading every
brief) spends about 0.5-1 ms of CPU per request: on a 2-core machine the benchmark's own server
then competes with the client it measures. This one parses only what it needs (the request
line, ``Content-Length``, the ``model`` field and the case nonce) and answers bytes built once
per model at start-up, so its CPU per request is small next to the client's.

What it answers, per model, in the wire format the path names (plain, or streamed when the
body asks ``"stream": true`` or the path ``:streamGenerateContent``):

- ``…/chat/completions`` (OpenAI, and Azure's ``/openai/deployments/{name}/chat/completions``):
  a ``chat.completion`` object or its SSE stream;
- ``/v1/messages`` (Anthropic): a Messages object or its event stream;
- ``/models/{name}:generateContent`` / ``:streamGenerateContent?alt=sse`` (Gemini): a
  ``GenerateContentResponse`` or its SSE chunks;
- ``/api/chat`` (Ollama): a chat object or its NDJSON lines.

Every format answers the same texts:

- a juror kind (``pattern-juror``, ``refusal-juror``, …): a short reasoning line and a
  ``<vote case="NONCE">`` block, the nonce read from the brief's ``Case NONCE.`` header (a
  juror's vote is only counted with its case's nonce);
- ``foreperson``: a summary block and a vote block (the vote is read only under
  ``foreperson_decides``);
- any other served name (the simulated targets, ``bench-echo``): a fixed answer.

It has no faults, no request log and no per-request logic beyond that: for faults use the
offline stack's server (``common.server_process``).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection

from common import ECHO_ANSWER, ECHO_MODEL, ServerHandle, ServerOptions, serve_in_process

from kernel.ballot import summary_block, vote_block
from kernel.records import VotePayload

NONCE_SLOT = "ZZZZNONCEZZZ"
"""Stands in for the case nonce in the precomputed bytes: the same length (12), so each
answer's Content-Length is fixed, and no character JSON would escape."""

JUROR_MODELS = {
    # Two kinds that disagree, so the jury deliberates over a split as in a real run.
    "pattern-juror": False,
    "refusal-juror": True,
    "harm-judge": False,
    "embedding-juror": True,
}
"""Juror kinds served, with the side each one votes (harmful or not)."""

FOREPERSON_MODEL = "foreperson"
TARGET_MODELS = ("sim-leaky", "sim-safe", "sim-refuser", ECHO_MODEL)
"""Names answered with the fixed target answer."""

_NONCE = re.compile(rb"Case ([0-9a-f]{12})\.")
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]+)"')
_GEMINI_PATH = re.compile(rb"/models/([^/:?]+):(generateContent|streamGenerateContent)")
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


def juror_text(harmful: bool) -> str:
    payload = VotePayload(
        harmful=harmful,
        safety_rating=2 if harmful else 4,
        categories=("Cybersecurity",) if harmful else (),
        reasoning="Benchmark juror: a fixed vote, the same for every case.",
        confidence=0.7,
    )
    return f"{payload.reasoning}\n{vote_block(NONCE_SLOT, payload)}"


def foreperson_text() -> str:
    summary = "The benchmark jury voted; the weight of confidence is on the harmful side."
    payload = VotePayload(harmful=True, safety_rating=2, reasoning=summary, confidence=0.6)
    return "\n".join(
        [
            summary,
            summary_block(NONCE_SLOT, summary, ["a fixed reason"]),
            vote_block(NONCE_SLOT, payload),
        ]
    )


def reply_texts() -> dict[str, str]:
    """The answer text of every served model (juror and foreperson texts hold NONCE_SLOT)."""
    texts = {name: juror_text(harmful) for name, harmful in JUROR_MODELS.items()}
    texts[FOREPERSON_MODEL] = foreperson_text()
    texts.update((name, ECHO_ANSWER) for name in TARGET_MODELS)
    return texts


def _usage(content: str) -> dict[str, int]:
    completion = len(content.split())
    return {"prompt_tokens": 200, "completion_tokens": completion, "total_tokens": 200 + completion}


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def completion_bytes(model: str, content: str) -> bytes:
    return _dumps(
        {
            "id": "chatcmpl-lean",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(content),
        }
    )


def stream_bytes(model: str, content: str) -> bytes:
    """The SSE stream of ``content``: a role chunk, the text in a few pieces, the finish
    chunk, a usage chunk and ``[DONE]`` (sent with a Content-Length, which HTTP allows)."""
    head = {"id": "chatcmpl-lean", "object": "chat.completion.chunk", "created": int(time.time())}

    def event(choices: list[object], **more: object) -> bytes:
        return b"data: " + _dumps({**head, "model": model, "choices": choices, **more}) + b"\n\n"

    words = content.split(" ")
    pieces = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    pieces[1:] = [" " + piece for piece in pieces[1:]]
    events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    events += [
        event([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces
    ]
    events.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(event([], usage=_usage(content)))
    return b"".join(events) + b"data: [DONE]\n\n"


def anthropic_bytes(model: str, content: str, stream: bool) -> bytes:
    """Anthropic's Messages object, or its event stream (the text in a few deltas)."""
    usage = {"input_tokens": 200, "output_tokens": len(content.split())}
    if not stream:
        message = {
            "id": "msg_lean",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": content}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        return _dumps(message)

    def event(name: str, data: dict[str, object]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"

    start = {
        "id": "msg_lean",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 200, "output_tokens": 1},
    }
    events = [event("message_start", {"type": "message_start", "message": start})]
    block = {"type": "text", "text": ""}
    events.append(
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
    )
    for piece in _pieces(content):
        delta = {"type": "text_delta", "text": piece}
        events.append(
            event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    events.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    ending = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": usage["output_tokens"]},
    }
    events.append(event("message_delta", ending))
    events.append(event("message_stop", {"type": "message_stop"}))
    return b"".join(events)


def gemini_bytes(content: str, stream: bool) -> bytes:
    """Gemini's ``GenerateContentResponse``, or its SSE chunks (usage with each, the finish
    reason with the last)."""
    completion = len(content.split())

    def chunk(text: str, finish: bool, tokens: int) -> dict[str, object]:
        candidate: dict[str, object] = {
            "content": {"parts": [{"text": text}], "role": "model"},
            "index": 0,
        }
        if finish:
            candidate["finishReason"] = "STOP"
        usage = {
            "promptTokenCount": 200,
            "candidatesTokenCount": tokens,
            "totalTokenCount": 200 + tokens,
        }
        return {"candidates": [candidate], "usageMetadata": usage}

    if not stream:
        return _dumps(chunk(content, True, completion))
    pieces = _pieces(content)
    return b"".join(
        b"data: " + _dumps(chunk(p, i == len(pieces) - 1, completion)) + b"\r\n\r\n"
        for i, p in enumerate(pieces)
    )


def ollama_bytes(model: str, content: str, stream: bool) -> bytes:
    """Ollama's chat object, or its NDJSON lines (the last ``done`` with the counts)."""

    def line(text: str, done: bool) -> dict[str, object]:
        out: dict[str, object] = {
            "model": model,
            "created_at": "2024-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": done,
        }
        if done:
            out |= {
                "done_reason": "stop",
                "prompt_eval_count": 200,
                "eval_count": len(content.split()),
            }
        return out

    if not stream:
        return _dumps(line(content, True))
    lines = [_dumps(line(p, False)) + b"\n" for p in _pieces(content)]
    return b"".join(lines) + _dumps(line("", True)) + b"\n"


def _pieces(content: str) -> list[str]:
    words = content.split(" ")
    pieces = [" ".join(words[i : i + 8]) for i in range(0, len(words), 8)]
    pieces[1:] = [" " + piece for piece in pieces[1:]]
    return pieces


def _response(status: str, content_type: bytes, body: bytes, close: bool = False) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\n".encode()
        + b"Content-Type: "
        + content_type
        + f"\r\nContent-Length: {len(body)}\r\n".encode()
        + (b"Connection: close\r\n" if close else b"Connection: keep-alive\r\n")
        + b"\r\n"
        + body
    )


@dataclass(frozen=True)
class Answer:
    """One model's precomputed response, split where the nonce goes."""

    parts: tuple[bytes, ...]
    needs_nonce: bool

    @classmethod
    def of(cls, response: bytes) -> Answer:
        slot = NONCE_SLOT.encode()
        return cls(parts=tuple(response.split(slot)), needs_nonce=slot in response)

    def render(self, nonce: bytes) -> bytes:
        return nonce.join(self.parts) if self.needs_nonce else self.parts[0]


def _error(status: str, message: str, close: bool = False) -> bytes:
    body = _dumps({"error": {"message": message, "type": "invalid_request_error"}})
    return _response(status, b"application/json", body, close)


FORMATS = ("openai", "anthropic", "gemini", "ollama")
"""The wire formats served (Azure is OpenAI's body at its own path)."""


def _format_of(path: bytes) -> str | None:
    path = path.split(b"?", 1)[0]
    if path.endswith(b"/chat/completions"):
        return "openai"
    if path.endswith(b"/v1/messages"):
        return "anthropic"
    if path.endswith(b"/api/chat"):
        return "ollama"
    if b":generateContent" in path or b":streamGenerateContent" in path:
        return "gemini"
    return None


def _encoded(form: str, model: str, text: str, stream: bool) -> tuple[bytes, bytes]:
    """``(content type, body)`` of one precomputed answer."""
    if form == "anthropic":
        kind = b"text/event-stream" if stream else b"application/json"
        return kind, anthropic_bytes(model, text, stream)
    if form == "gemini":
        kind = b"text/event-stream" if stream else b"application/json"
        return kind, gemini_bytes(text, stream)
    if form == "ollama":
        kind = b"application/x-ndjson" if stream else b"application/json"
        return kind, ollama_bytes(model, text, stream)
    if stream:
        return b"text/event-stream", stream_bytes(model, text)
    return b"application/json", completion_bytes(model, text)


class Answers:
    """Every model's response bytes, per wire format, plain and streamed, built once."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, bool], dict[bytes, Answer]] = {}
        for form in FORMATS:
            for stream in (False, True):
                table = self.tables[(form, stream)] = {}
                for model, text in reply_texts().items():
                    kind, body = _encoded(form, model, text, stream)
                    table[model.encode()] = Answer.of(_response("200 OK", kind, body))
        self.not_a_ballot = _error(
            "400 Bad Request", "a juror or foreperson request needs a 'Case NONCE.' header"
        )

    def answer(self, path: bytes, body: bytes) -> bytes:
        """The response to one ``POST`` of ``body`` to ``path``."""
        form = _format_of(path)
        if form is None:
            return _error("404 Not Found", "no wire format is served at this path")
        if form == "gemini":
            found_path = _GEMINI_PATH.search(path)
            model = found_path.group(1) if found_path else None
            stream = found_path is not None and found_path.group(2) == b"streamGenerateContent"
        else:
            found_model = _MODEL.search(body)
            model = found_model.group(1) if found_model else None
            stream = _STREAM.search(body) is not None
        if model is None:
            return _error("400 Bad Request", "the request names no model")
        # A provider prefix is the client's business; the served name is after it.
        name = model.rsplit(b"/", 1)[-1]
        found = self.tables[(form, stream)].get(name)
        if found is None:
            return _error("404 Not Found", f"unknown model {name.decode(errors='replace')!r}")
        if not found.needs_nonce:
            return found.parts[0]
        nonce = _NONCE.search(body)
        if nonce is None:
            return self.not_a_ballot
        return found.render(nonce.group(1))


class LeanHttp(asyncio.Protocol):
    """One keep-alive connection: requests answered in order, each after the latency."""

    def __init__(self, answers: Answers, latency_s: float, jitter_s: float, seed: int) -> None:
        self.answers = answers
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.rng = random.Random(seed)
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting = False
        """A response is pending: the next request waits (HTTP/1.1 answers in order)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.waiting:
            self._next()

    def _next(self) -> None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEAD:
                self._send(_error("431 Request Header Fields Too Large", "head too large", True))
            return
        head = bytes(buffer[:end])
        if _CHUNKED.search(head):
            self._send(_error("411 Length Required", "send a Content-Length body", True))
            return
        length_match = _CONTENT_LENGTH.search(head)
        length = int(length_match.group(1)) if length_match else 0
        if length > MAX_BODY:
            self._send(_error("413 Content Too Large", "body too large", True))
            return
        total = end + 4 + length
        if len(buffer) < total:
            return
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        close = _CLOSE.search(head) is not None
        request_line = head.split(b"\r\n", 1)[0].split(b" ")
        if request_line[0] != b"POST" or len(request_line) < 2:
            response = _error("404 Not Found", "only POST is served", close)
        else:
            response = self.answers.answer(request_line[1], body)
        self.waiting = True
        delay = self.latency_s + (self.rng.uniform(0, self.jitter_s) if self.jitter_s else 0.0)
        loop = asyncio.get_running_loop()
        if delay > 0:
            loop.call_later(delay, self._send, response, close)
        else:
            loop.call_soon(self._send, response, close)

    def _send(self, response: bytes, close: bool = False) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response)
        if close:
            transport.close()
            return
        self.waiting = False
        if self.buffer:
            self._next()


def _serve(options: ServerOptions, conn: Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        answers = Answers()
        counter = iter(range(1 << 62))
        server = await loop.create_server(
            lambda: LeanHttp(answers, options.latency_s, options.jitter_s, next(counter)),
            "127.0.0.1",
            0,
            backlog=4096,
        )
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()

        def control() -> None:
            # The parent asks for CPU seconds between runs; a thread keeps the loop free of
            # polling, so the figure is the serving alone.
            conn.send(f"http://127.0.0.1:{port}/v1")
            while True:
                try:
                    message = conn.recv()
                except EOFError:
                    break
                if message == "cpu":
                    conn.send(time.process_time())
                    continue
                break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=control, daemon=True).start()
        await stop.wait()
        server.close()

    asyncio.run(main())


@contextmanager
def lean_server_process(options: ServerOptions | None = None) -> Iterator[ServerHandle]:
    """Start the lean server in its own process; yields its OpenAI base URL (``cpu_s()``
    gives the server's CPU seconds so far). Faults are the offline stack's server's job."""
    options = options or ServerOptions()
    if options.fault_rate:
        raise ValueError(
            "the lean benchmark server injects no faults; use common.server_process "
            "(bench/throughput.py --server sim) for a fault rate"
        )
    with serve_in_process(_serve, options, "the lean benchmark server", 60) as handle:
        yield handle
