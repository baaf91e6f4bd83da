"""What a model call's audit record keeps of the request: a key, media by digest, no secret.

The key names a call by who asked (scope) and what was asked, so a rerun finds the recorded
answer; the record replaces inline media by its digest and drops anything that looks like a
credential, so the store stays small, exact and free of keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from agents.transports.base import Messages
from kernel import secrets

DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.DOTALL)


def call_key(scope: str, request: dict[str, Any]) -> str:
    # The endpoint is left out: the same model moved to another port (a restarted vLLM
    # server, a test server) is still the same model, and its recorded answers still count.
    keyed = {k: v for k, v in request.items() if k != "api_base"}
    body = json.dumps({"scope": scope, **keyed}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def redact_media(messages: Messages) -> Messages:
    """Replace inline base64 media by its digest: the record stays small and still exact."""

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            match = DATA_URI.match(value)
            if match:
                digest = hashlib.sha256(match.group(2).encode()).hexdigest()
                return f"data:{match.group(1)};sha256={digest}"
            if len(value) > 4096 and _looks_base64(value):
                return f"base64;sha256={hashlib.sha256(value.encode()).hexdigest()}"
            return value
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if not _is_secret_name(k)}
        return value

    return [scrub(m) for m in messages]


_is_secret_name = functools.lru_cache(maxsize=4096)(secrets.is_secret_name)
"""``secrets.is_secret_name`` (a pure function of the name) memoised: every message of every
call asks it about the same few keys (``role``, ``content``, ``type`` …), and answering
afresh was a fifth of the gateway's own CPU per call."""


def _looks_base64(value: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9+/=\s]+", value[:4096]) is not None


def redact_secrets(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
