"""Gemini's ``generateContent`` (Google AI Studio), natively, plain or streamed over SSE.

``POST {base}/models/{model}:generateContent``, or ``:streamGenerateContent?alt=sse`` for a
stream, with the key in the ``x-goog-api-key`` header: litellm's wire, which keeps the key
out of URLs (and so out of errors and tracebacks). The base is the spec's ``api_base``, else
``GEMINI_API_BASE``, else Google's public endpoint (``v1beta``; ``v1alpha`` for Gemini 3 and
later, as litellm sends them).

The body is litellm's for the same call (held to it at the wire by
``tests/agents/test_native_equivalence.py``): ``contents`` with ``assistant`` as ``model``
and consecutive turns of one role merged; images and audio as ``inline_data`` parts (base64
with their MIME type); a user turn of media alone gets a blank text part, as litellm adds; the
system prompt as ``system_instruction`` for models litellm says take one, else as the first
user text (asked of litellm once per model: its answer rests on its price map and name
rules); ``max_tokens`` as ``generationConfig.max_output_tokens``, ``stop`` as
``stop_sequences``.

Finish reasons in the gateway's terms: ``STOP`` -> ``stop``, ``MAX_TOKENS`` -> ``length``,
the safety family (``SAFETY``, ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``,
``OTHER`` …) -> ``content_filter``; a prompt blocked before any answer
(``promptFeedback.blockReason``) is a refusal. Gemini sends ``usageMetadata`` with every chunk
and ``finishReason`` only with the last, so a stream that ends without one was cut and raises
:class:`MalformedReply` (litellm cannot tell, and sends Gemini unstreamed; this reads the
stream itself). An error object in the stream raises :class:`HTTPStatusError` with its code.
"""

from __future__ import annotations

import functools
import json
import re
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
    refusal,
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

NAME = "native-gemini"
PUBLIC_BASE = "https://generativelanguage.googleapis.com"
BASE_VARIABLES = ("GEMINI_API_BASE",)
KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
"""Where litellm reads a key-less spec's key from, in its order."""

PARAMS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "stop": "stop_sequences",
    "seed": "seed",
}
"""Spec params this transport sends, and the ``generationConfig`` field each becomes."""

SAMPLING = ("temperature", "top_p", "top_k")

FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "MAX_TOKENS": "length",
    "CONTINUATION": "length",
    **dict.fromkeys(
        (
            "SAFETY",
            "RECITATION",
            "LANGUAGE",
            "OTHER",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION",
            "IMAGE_OTHER",
            "NO_IMAGE",
        ),
        REFUSED,
    ),
}
"""Gemini's finish reasons in the gateway's terms, as litellm maps them; any other is kept as
Gemini sent it."""


def unsupported(model: str, params: Mapping[str, Any]) -> str | None:
    """Why this transport cannot send ``params`` as given, or None."""
    return unsent_param(params, PARAMS)


def auto_declines(model: str, params: Mapping[str, Any]) -> str | None:
    """Why ``auto`` should leave this call to litellm: it drops sampling params for models
    its price map says ignore them."""
    name = served_model_name(model)
    given = [p for p in SAMPLING if p in params]
    if given and _sampling_flag(name) is False:
        return f"{name} takes no sampling params (litellm drops {', '.join(given)})"
    return None


def route_problem(api_base: str | None) -> str | None:
    """What the route lacks for this transport: nothing (the public API is the default)."""
    return None


@functools.lru_cache(maxsize=256)
def _sampling_flag(name: str) -> bool | None:
    prices = price_map()
    for candidate in (name, f"vertex_ai/{name}", f"gemini/{name}"):
        flag = (prices.get(candidate) or {}).get("supports_sampling_params")
        if isinstance(flag, bool):
            return flag
    return None


@functools.lru_cache(maxsize=256)
def takes_system_instruction(name: str) -> bool:
    """Whether litellm sends this model's system prompt as ``system_instruction`` (else it
    folds it into the first user turn)."""
    from agents.llm import load_litellm  # loaded already wherever a gateway runs

    try:
        return bool(load_litellm().supports_system_messages(name, "gemini"))
    except Exception:  # litellm's own lookup failing means "no", as it treats it
        return False


def endpoint(route: Route, stream: bool) -> str:
    name = served_model_name(route.litellm_model)
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    base = route.api_base or env_value(*BASE_VARIABLES)
    if base:
        return f"{base.rstrip('/')}/models/{name}:{action}"
    version = "v1alpha" if _gemini_3_or_newer(name) else "v1beta"
    return f"{PUBLIC_BASE}/{version}/models/{name}:{action}"


def _gemini_3_or_newer(name: str) -> bool:
    found = re.match(r"gemini-(\d+)", name.lower())
    return found is not None and int(found.group(1)) >= 3


def request_body(model: str, params: Mapping[str, Any], messages: Messages) -> dict[str, Any]:
    """The ``generateContent`` body for one call."""
    name = served_model_name(model)
    system, contents = convert_messages(messages, takes_system_instruction(name))
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["system_instruction"] = {"parts": system}
    config: dict[str, Any] = {}
    for key, value in params.items():
        field = PARAMS[key]
        if field == "stop_sequences" and isinstance(value, str):
            value = [value]
        config[field] = value
    if config:
        body["generationConfig"] = config
    return body


def convert_messages(
    messages: Messages, system_instruction: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system_instruction parts, contents)`` in Gemini's shape."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role == "system" and system_instruction:
            system.append({"text": _joined_text(content)})
            continue
        if role not in ("system", "user", "assistant"):
            raise UnsupportedContent(f"message {index}: role {role!r} (native-gemini)")
        turn = "model" if role == "assistant" else "user"
        parts = _parts(content, index)
        if contents and contents[-1]["role"] == turn:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": turn, "parts": parts})
    for entry in contents:
        if entry["role"] == "user" and not any("text" in part for part in entry["parts"]):
            entry["parts"].append({"text": " "})  # litellm's: a turn of media alone
    return system, contents


def _joined_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _parts(content: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise UnsupportedContent(f"message {index}: content is neither text nor a list of parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": part.get("text") or ""})
        elif kind == "image_url":
            mime, data = data_url(part, index)
            parts.append({"inline_data": {"data": data, "mime_type": mime}})
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            data, form = audio.get("data"), audio.get("format")
            if not isinstance(data, str) or not isinstance(form, str):
                raise UnsupportedContent(f"message {index}: input_audio needs data and format")
            parts.append({"inline_data": {"data": data, "mime_type": f"audio/{form}"}})
        else:
            raise UnsupportedContent(f"message {index}: a {kind!r} part (native-gemini)")
    return parts


class GeminiTransport(PooledSession):
    """Gemini's ``generateContent`` over one pooled aiohttp session."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        refuse_unsent(unsupported(route.litellm_model, spec.params), spec.model, NAME)
        body = request_body(route.litellm_model, spec.params, messages)
        headers = {"Content-Type": "application/json"}
        key = route.key() or env_secret(*KEY_VARIABLES)
        if key:
            headers["x-goog-api-key"] = key
        url = endpoint(route, stream)
        return await self.post(url, body, headers, _read_stream if stream else _read)


class _Answer:
    """What the chunks (or the one body) said so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None
        self.blocked = False
        self.usage = Usage()

    def take(self, payload: Any, response: aiohttp.ClientResponse) -> None:
        if not isinstance(payload, dict):
            raise MalformedReply(f"not a Gemini response object: {str(payload)[:200]}")
        if "error" in payload:
            raise _error(payload["error"], response)
        if payload.get("usageMetadata"):
            self.usage = usage_of(payload["usageMetadata"])
        if (payload.get("promptFeedback") or {}).get("blockReason"):
            self.blocked = True
        candidates = payload.get("candidates") or []
        if not candidates:
            return
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise MalformedReply(f"a candidate is not an object: {str(candidate)[:200]}")
        for part in (candidate.get("content") or {}).get("parts") or ():
            text = part.get("text") if isinstance(part, dict) else None
            if isinstance(text, str) and not part.get("thought"):
                self.parts.append(text)
        reason = candidate.get("finishReason")
        # Only the last candidate chunk's reason counts: some proxies (and older models) put
        # STOP on early chunks too, and a stream cut after one of those is not whole.
        self.finish = FINISH_REASONS.get(reason, reason) if isinstance(reason, str) else None

    def reply(self, streamed: bool) -> Reply:
        if self.finish is None:
            if self.blocked:
                return refusal(self.usage)  # the prompt was blocked: no answer began
            # Gemini names a finish reason in its last chunk: without one the stream was
            # cut, and a partial answer must never be judged.
            what = "the stream ended" if streamed else "the response came"
            raise MalformedReply(f"{what} without a finish reason (cut)")
        return checked_reply("".join(self.parts), self.finish, self.usage)


async def _read(response: aiohttp.ClientResponse) -> Reply:
    raw = await response.read()
    try:
        payload = json.loads(raw)
    except ValueError:
        raise MalformedReply(f"not a Gemini response (not JSON): {raw[:200]!r}") from None
    answer = _Answer()
    answer.take(payload, response)
    return answer.reply(streamed=False)


async def _read_stream(response: aiohttp.ClientResponse) -> Reply:
    answer = _Answer()
    async for line in response.content:
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        try:
            chunk = json.loads(data)
        except ValueError:
            raise MalformedReply(f"a stream chunk is not JSON: {data[:200]!r}") from None
        answer.take(chunk, response)
    return answer.reply(streamed=True)


def _error(error: Any, response: aiohttp.ClientResponse) -> HTTPStatusError:
    error = error if isinstance(error, dict) else {"message": str(error)}
    code = error.get("code")
    status = code if isinstance(code, int) and code >= 400 else 500
    message = f"{error.get('status') or 'error'} in the reply: {error.get('message') or ''}"
    return HTTPStatusError(status, message.strip(), ResponseInfo(status, response.headers))


def usage_of(raw: Any) -> Usage:
    """Token counts from ``usageMetadata``: thinking tokens count as completion tokens where
    the candidate count leaves them out (the total says which), as litellm counts them."""
    if not isinstance(raw, dict):
        return Usage()
    prompt = int(raw.get("promptTokenCount") or 0) + int(raw.get("toolUsePromptTokenCount") or 0)
    candidates = int(raw.get("candidatesTokenCount") or 0)
    thoughts = int(raw.get("thoughtsTokenCount") or 0)
    inclusive = prompt + candidates == int(raw.get("totalTokenCount") or 0)
    return Usage(
        prompt_tokens=prompt, completion_tokens=candidates + (0 if inclusive else thoughts)
    )


@transport_kind(NAME)
def gemini_transport() -> GeminiTransport:
    """Gemini's ``generateContent`` (``gemini/…``) over one pooled aiohttp session."""
    return GeminiTransport()
