"""Secrets: which names carry credentials, and scrubbing known secret values from text.

Keys reach SafeBench from configs (``api_key``, ``api_key_env``), from credentials written into
an ``api_base`` (``https://user:pass@host``, ``?key=…``) and from provider parameters
(``extra_body.api_key``, ``azure_ad_token``, ``default_headers`` …). Every such place is
secret *by name*; every value found there is remembered for the life of the process so that
the log renderer, error messages and exports can replace it wherever it turns up (a provider
echoing a key in an error body, a URL in a traceback).

The remembered set is process-wide on purpose: log lines and uncaught tracebacks are rendered
far from the code that read the key, and they must be scrubbed all the same.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "**********"
"""What a secret value is replaced with (the same mask pydantic prints for SecretStr)."""

MIN_SECRET_LENGTH = 6
"""Shorter values are not scrubbed from free text: replacing every "abc" would garble logs and
a key that short protects nothing anyway."""

_CONTAINER_NAMES = frozenset(
    {"headers", "extra_headers", "default_headers", "extra_query", "default_query"}
)
"""Parameters whose whole value is credentials-bearing (HTTP headers, query strings)."""

_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "credential",
        "credentials",
        "authorization",
        "auth",
        "sig",
        "signature",
        "cookie",
    }
)
"""Words that make a name secret when they stand alone between separators: ``api_key``,
``api-key``, ``azure_ad_token``, ``client_secret``, ``x-goog-api-key`` (but not
``max_tokens`` or ``top_k``)."""

_OWN_NAMES = frozenset({"harmful_token"})
"""SafeBench's own parameters whose names hold a secret word but no secret: the local
classifier's ``harmful_token`` is a vocabulary token (``unsafe``). Held as a secret, that
word was scrubbed from every later log and error in the process."""

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None


def is_secret_name(name: str) -> bool:
    """True when a parameter, header or query name carries credentials."""
    normal = name.strip().lower().replace("-", "_")
    if normal.endswith("_env"):
        return False  # api_key_env names the variable that holds the key, not the key
    if normal in _CONTAINER_NAMES:
        return True
    if normal in _OWN_NAMES:
        return False
    words = [w for w in re.split(r"[_.\s]+", normal) if w]
    if "apikey" in normal.replace("_", ""):
        return True
    return any(word in _SECRET_WORDS for word in words)


def remember(value: str | None) -> None:
    """Scrub ``value`` from every later log line, error message and export."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        # Longest first, so that a key containing another key is masked whole.
        ordered = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def remember_all(values: Iterable[str]) -> None:
    for value in values:
        remember(value)


def scrub(text: str) -> str:
    """``text`` with every remembered secret value replaced by the mask."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def secret_values(value: Any, *, under_secret: bool = False) -> list[str]:
    """Every string held under a secret name anywhere inside ``value`` (dicts, lists)."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(secret_values(item, under_secret=under_secret or is_secret_name(str(key))))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(secret_values(item, under_secret=under_secret))
    elif isinstance(value, str) and under_secret:
        found.append(value)
        # "Bearer sk-…": the token alone must be scrubbed too, wherever it is echoed.
        found.extend(part for part in value.split() if len(part) >= MIN_SECRET_LENGTH)
    return found


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` with everything under a secret name masked, at any depth."""
    if isinstance(value, Mapping):
        return {key: _masked_item(str(key), item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if isinstance(value, tuple):
        return tuple(mask_secrets(item) for item in value)
    if isinstance(value, str):
        return scrub(value)
    return value


def _masked_item(key: str, item: Any) -> Any:
    if is_secret_name(key):
        return MASK if item is not None else None
    if key.lower() in _URL_NAMES and isinstance(item, str):
        return public_url(item)
    return mask_secrets(item)


_URL_NAMES = frozenset({"api_base", "base_url", "url", "endpoint"})


def url_secrets(url: str | None) -> list[str]:
    """Credentials written into a URL: the user-info password (and user) and the values of
    secret-named query parameters."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [v for v in (parts.password, parts.username) if v]
    found.extend(v for k, v in parse_qsl(parts.query, keep_blank_values=False) if is_secret_name(k))
    return found


def public_url(url: str | None) -> str | None:
    """``url`` safe to store or print: user-info and secret-named query values masked."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    masked = [(k, MASK if is_secret_name(k) else v) for k, v in query]
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, urlencode(masked), parts.fragment)))
