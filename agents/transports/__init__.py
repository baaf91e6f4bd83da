"""Transports carry one model call; the gateway picks one per route.

``litellm`` reaches every provider. Others are imported on first use only (a local-model
transport pulls in torch), so naming them here keeps ``import agents.gateway`` light.

``auto`` (the default) is not a transport of its own but a choice made per route by
:func:`auto_transport`: the lean ``native`` client where it sends what litellm would send
(an OpenAI-compatible server at an explicit ``api_base``), litellm everywhere else.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from agents.transports.base import Route, Transport
from kernel import secrets
from kernel.registry import lookup, names

AUTO = "auto"

TRANSPORT_MODULES: dict[str, str] = {
    "litellm": "agents.transports.litellm_transport",
    "native": "agents.transports.native",
    "hf": "agents.transports.hf",
}
"""Where each transport is registered; imported when a route first names it."""

LOCAL_PROVIDERS: dict[str, str] = {"hf": "hf", "hf-classifier": "hf"}
"""Model prefixes that only one transport can serve (local weights, no server)."""

OPENAI_COMPATIBLE: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "custom_openai": "OPENAI_API_KEY",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
}
"""Prefixes that ``auto`` sends natively when they name an ``api_base``, with the environment
variable litellm falls back to for their key (so a key-less spec sends the same key either
way). For these litellm only forwards the OpenAI chat body to that base. Every other prefix
(``anthropic/``, ``gemini/``, ``ollama/`` with its own API, ``azure/`` with its deployments
and API versions, ``together_ai/`` and the like with their built-in endpoints and param
mappings) goes through litellm, which translates the request."""

OFFICIAL_OPENAI_HOSTS = frozenset({"api.openai.com"})
"""OpenAI's own API, even when named by ``api_base``: litellm maps params per model family
there (``max_tokens`` to ``max_completion_tokens`` and dropped sampling params for reasoning
models), which the native client does not, so ``auto`` keeps litellm for it."""

LITELLM_ONLY_PARAMS = frozenset(
    {
        "api_version",
        "base_url",
        "custom_llm_provider",
        "drop_params",
        "extra_body",
        "extra_headers",
        "metadata",
        "mock_response",
        "num_retries",
        "organization",
        "thinking",
        "timeout",
    }
)
"""Params litellm reads or translates itself rather than sending as body fields (``thinking``
becomes vLLM's ``reasoning_effort``): the native client would send them as they are, so a
spec that sets any of them stays on litellm under ``auto``."""


def transport_for_spec(model: str, configured: str) -> str:
    """The transport a model name needs: its local provider's, else the configured one
    (``auto`` stays ``auto`` until the route is known: see :func:`auto_transport`)."""
    provider = model.split("/", 1)[0]
    return LOCAL_PROVIDERS.get(provider, configured)


def auto_transport(model: str, api_base: str | None, params: Mapping[str, Any]) -> str:
    """``native`` where it is equivalent to litellm for this route, else ``litellm``.

    ``model`` is the name the route sends (the offline simulators resolve to ``openai/…``
    at their own local server, so they go native too)."""
    provider = model.split("/", 1)[0]
    if provider in LOCAL_PROVIDERS:
        return LOCAL_PROVIDERS[provider]
    if not _openai_compatible_server(provider, api_base):
        return "litellm"
    if params and not LITELLM_ONLY_PARAMS.isdisjoint(params):
        return "litellm"
    return "native"


@functools.lru_cache(maxsize=1024)
def _openai_compatible_server(provider: str, api_base: str | None) -> bool:
    # Cached: the route is resolved per call, and a URL parse is most of this function.
    if provider not in OPENAI_COMPATIBLE or not api_base:
        return False
    host = (urlsplit(api_base).hostname or "").lower()
    return host not in OFFICIAL_OPENAI_HOSTS


def settle_auto(route: Route, params: Mapping[str, Any]) -> None:
    """Turn a route's ``auto`` into the transport that carries it (in place); a key-less
    route sent natively takes the key litellm would have read from the environment."""
    route.transport = auto_transport(route.litellm_model, route.api_base, params)
    if route.transport == "native" and route.key() is None:
        route.api_key = fallback_key(route.litellm_model)


def fallback_key(model: str) -> SecretStr | None:
    """The key litellm would read from the environment for a key-less ``model``, if any;
    remembered as a secret like every key, so no log or error shows it."""
    env = OPENAI_COMPATIBLE.get(model.split("/", 1)[0])
    value = os.environ.get(env) if env else None
    if not value:
        return None
    secrets.remember(value)
    return SecretStr(value)


def make_transport(name: str) -> Transport:
    """A fresh transport registered under ``name`` (importing its module on first use)."""
    if name not in names("transport") and name in TRANSPORT_MODULES:
        importlib.import_module(TRANSPORT_MODULES[name])
    factory = lookup("transport", name)
    transport: Transport = factory()
    return transport
