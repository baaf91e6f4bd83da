"""The OpenAI wire format the simulated server speaks: request bodies and completion bodies.

Pydantic models and plain functions only (no HTTP library), so that the simulated targets and
everything that reads a request can import them without the server: :mod:`.server` serves
them over HTTP.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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


def sse_event(obj: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def split_content(content: str) -> list[str]:
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
