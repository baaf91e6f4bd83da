"""What every native transport shares: one pooled aiohttp session, and how HTTP fails.

Each native transport (``native`` for OpenAI-compatible servers, ``native-anthropic``,
``native-gemini``, ``native-azure``, ``native-ollama``) builds its provider's body and reads
its provider's reply; the socket pool, the error status and the dropped connection are the
same for all of them, and live here. What a transport raises is classified by
``agents.failures.classify``:

- an HTTP error status raises :class:`HTTPStatusError` (``status_code`` and a ``response``
  with ``headers``, so 429/529 + Retry-After and 5xx are retried and other 4xx are not);
- a dropped or refused connection raises :class:`NativeConnectionError` (an ``OSError``);
- an unusable body is the transport's own :class:`~agents.transports.base.MalformedReply`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

import aiohttp
from pydantic import SecretStr

from kernel import secrets
from kernel.errors import ConfigError

T = TypeVar("T")

DEFAULT_MAX_CONNECTIONS = 1024
"""Sockets the session may hold open; the gateway's per-provider concurrency is the real
bound, so this only has to be at least as large as any configured ``max_concurrency``."""

ERROR_BODY_LIMIT = 2000
"""How much of an error body goes into the exception message (the gateway shortens it too)."""


class HTTPStatusError(Exception):
    """The server answered with an error status; ``response.headers`` keeps Retry-After."""

    def __init__(self, status_code: int, message: str, response: ResponseInfo) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.response = response


class NativeConnectionError(ConnectionError):
    """The connection failed or dropped before a whole reply arrived (retryable)."""


class ResponseInfo:
    """What an error keeps of its response: the status and the headers (as a plain dict)."""

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        self.status_code = status
        self.headers = dict(headers)


class PooledSession:
    """One aiohttp session per transport (so per gateway), opened on the first call."""

    def __init__(self, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def client(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                keepalive_timeout=60,
                ttl_dns_cache=300,
            )
            # No session-level timeout: the gateway bounds each attempt with its own.
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                json_serialize=dumps,
                skip_auto_headers=("User-Agent",),
            )
            self._session = session
        return session

    async def post(
        self,
        url: str,
        body: dict[str, Any],
        headers: Mapping[str, str],
        read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> T:
        """POST ``body`` as JSON and ``read`` the reply; an error status, a dropped
        connection or a cut chunked body raise as the module docstring says."""
        data = dumps(body).encode()
        try:
            async with self.client().post(url, data=data, headers=headers) as response:
                if response.status >= 400:
                    raise await status_error(response)
                return await read(response)
        except aiohttp.ClientResponseError as exc:
            where = secrets.public_url(url)
            raise NativeConnectionError(f"{where}: {exc.message or type(exc).__name__}") from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            # Dropped connections, half-sent bodies and cut chunked streams all land here.
            where = secrets.public_url(url)
            raise NativeConnectionError(f"{where}: {type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def status_error(response: aiohttp.ClientResponse) -> HTTPStatusError:
    """The error status with the provider's own message: ``{"error": {"message": …}}``
    (OpenAI, Azure, Anthropic, Gemini) or ``{"error": "…"}`` (Ollama), else the raw text."""
    raw = await response.read()
    text = raw[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    try:
        error = json.loads(raw).get("error")
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        elif isinstance(error, str) and error:
            text = error
    except (ValueError, AttributeError):
        pass  # not a JSON error body: keep the raw text
    return HTTPStatusError(response.status, text, ResponseInfo(response.status, response.headers))


def env_key(*names: str) -> SecretStr | None:
    """The first of ``names`` set (and not empty) in the environment, remembered as a secret
    so that no log or error shows it; None when none is."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            secrets.remember(value)
            return SecretStr(value)
    return None


def env_secret(*names: str) -> str | None:
    """:func:`env_key`'s value, for the one header that puts it on the wire."""
    found = env_key(*names)
    return found.get_secret_value() if found else None


def unsent_param(params: Mapping[str, Any], sent: Collection[str]) -> str | None:
    """Why a client that sends only ``sent`` cannot carry ``params`` (the first other one,
    named), or None: a param is refused, never dropped."""
    for name in params:
        if name not in sent:
            return f"does not send the param {name!r}"
    return None


def refuse_unsent(problem: str | None, model: str, transport: str) -> None:
    """Raise ``problem`` (from a client's ``unsupported``) as the config error it is."""
    if problem:
        raise ConfigError(f"{model}: transport {transport} {problem}; use transport: litellm")


def env_value(*names: str) -> str | None:
    """The first of ``names`` set (and not empty) in the environment."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def data_url(part: Mapping[str, Any], index: int) -> tuple[str, str]:
    """``(mime type, base64 data)`` of an ``image_url`` part holding a data URI, the only
    way SafeBench sends images; a web URL is refused (the provider formats here take the
    bytes, and fetching them is litellm's business)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    if isinstance(url, str) and url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        mime, _, encoding = head.partition(";")
        if sep and encoding == "base64" and mime:
            return mime, data
    raise UnsupportedContent(f"message {index}: an image_url that is not a base64 data URI")


class UnsupportedContent(ConfigError):
    """A message part this provider's native transport cannot send (audio to a provider
    that takes none, a web image URL): a configuration problem, so never retried (the
    gateway records it as ``unexpected``, with this message)."""
