"""Transports carry one model call; the gateway picks one per route.

``litellm`` reaches every provider. Others are imported on first use only (a local-model
transport pulls in torch), so naming them here keeps ``import agents.gateway`` light.

``auto`` (the default) is not a transport of its own but a choice made per route by
:func:`auto_transport`: a lean native client where it sends what litellm would send, litellm
everywhere else. The native clients, one per wire format:

- ``native``: OpenAI-compatible servers at an explicit ``api_base`` (vLLM, proxies, the
  offline simulators);
- ``native-anthropic``: Anthropic's Messages API (``anthropic/…``);
- ``native-gemini``: Gemini's ``generateContent`` (``gemini/…``, Google AI Studio);
- ``native-azure``: Azure OpenAI deployments (``azure/…``);
- ``native-ollama``: Ollama's chat API (``ollama_chat/…``).

A spec that says ``transport: native`` gets the one of its prefix (:func:`transport_for_spec`).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from agents.spec import ModelSpec
from agents.transports.base import Route, Transport
from kernel import secrets
from kernel.registry import lookup, names

AUTO = "auto"

TRANSPORT_MODULES: dict[str, str] = {
    "litellm": "agents.transports.litellm_transport",
    "native": "agents.transports.native",
    "hf": "agents.transports.hf",
    "native-anthropic": "agents.transports.anthropic",
    "native-gemini": "agents.transports.gemini",
    "native-azure": "agents.transports.azure",
    "native-ollama": "agents.transports.ollama",
}
"""Where each transport is registered; imported when a route first names it."""

NATIVE_BY_PROVIDER: dict[str, str] = {
    "anthropic": "native-anthropic",
    "gemini": "native-gemini",
    "azure": "native-azure",
    "ollama_chat": "native-ollama",
}
"""The native transport that speaks each provider's own wire format. ``ollama/`` is not
here: litellm sends it to ``/api/generate`` with its own prompt template, which no native
client copies (``ollama_chat/`` is Ollama's chat API)."""

KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "custom_openai": ("OPENAI_API_KEY",),
    "hosted_vllm": ("HOSTED_VLLM_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "azure": ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY"),
}
"""The environment variables litellm reads a key-less spec's key from, in its order; a
route sent natively takes the same key (:func:`fallback_key`)."""

KEYED_PROVIDERS = frozenset({"anthropic", "gemini", "azure"})
"""Hosted providers a native client reaches only with a key at hand: without one, litellm
may still authenticate another way (``ANTHROPIC_AUTH_TOKEN``, an Azure AD token), so
``auto`` leaves such a call to it."""

LOCAL_PROVIDERS: dict[str, str] = {"hf": "hf", "hf-classifier": "hf"}
"""Model prefixes that only one transport can serve (local weights, no server)."""

OPENAI_COMPATIBLE: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "custom_openai": "OPENAI_API_KEY",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
}
"""Prefixes that ``auto`` sends to ``native`` when they name an ``api_base``, with the
environment variable litellm falls back to for their key. For these litellm only forwards the
OpenAI chat body to that base. Prefixes with a wire format of their own go to their native
client (:data:`NATIVE_BY_PROVIDER`) where it sends what litellm would; every other prefix
(``together_ai/`` and the like with their built-in endpoints and param mappings, ``ollama/``,
``vertex_ai/``, ``bedrock/``) goes through litellm, which translates the request."""

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
    """The transport a model name needs: its local provider's; for ``native``, the native
    client of its prefix (``anthropic/`` -> ``native-anthropic``; OpenAI-compatible and
    other prefixes -> ``native``); else the configured one (``auto`` stays ``auto`` until the
    route is known: see :func:`auto_transport`)."""
    provider = model.split("/", 1)[0]
    if provider in LOCAL_PROVIDERS:
        return LOCAL_PROVIDERS[provider]
    if configured == "native":
        return NATIVE_BY_PROVIDER.get(provider, "native")
    return configured


def auto_transport(
    model: str, api_base: str | None, params: Mapping[str, Any], *, keyed: bool = True
) -> str:
    """A native client where it sends what litellm would send for this route, else litellm.

    :func:`auto_reason` says why litellm was kept.

    ``model`` is the name the route sends (the offline simulators resolve to ``openai/…``
    at their own local server, so they go native too); ``keyed`` says whether a key is at
    hand (the route's, or one litellm would read from the environment)."""
    provider = model.split("/", 1)[0]
    if provider in LOCAL_PROVIDERS:
        return LOCAL_PROVIDERS[provider]
    native = NATIVE_BY_PROVIDER.get(provider)
    if native is not None:
        declined = _native_declines(native, model, api_base, params, keyed)
        return "litellm" if declined else native
    if not _openai_compatible_server(provider, api_base):
        return "litellm"
    if params and not LITELLM_ONLY_PARAMS.isdisjoint(params):
        return "litellm"
    return "native"


def auto_reason(
    model: str, api_base: str | None, params: Mapping[str, Any], *, keyed: bool = True
) -> str | None:
    """Why ``auto`` keeps litellm for this route (one line), or None where it goes native."""
    provider = model.split("/", 1)[0]
    native = NATIVE_BY_PROVIDER.get(provider)
    if native is not None:
        return _native_declines(native, model, api_base, params, keyed)
    if auto_transport(model, api_base, params, keyed=keyed) != "litellm":
        return None
    if provider not in OPENAI_COMPATIBLE:
        return f"no native client speaks {provider}/'s wire format"
    if not _openai_compatible_server(provider, api_base):
        return "no api_base, or the official OpenAI API (litellm maps params per model there)"
    litellm_only = sorted(LITELLM_ONLY_PARAMS.intersection(params))
    return f"param {litellm_only[0]!r} is litellm's own"


def native_problem(spec: ModelSpec, where: str) -> str | None:
    """Why a spec that asks for a provider's native client (``transport: native`` on
    ``anthropic/…`` and the rest) cannot be sent by it, naming the param, or None: such a
    param is never dropped. For a check before any call (each call also refuses it)."""
    chosen = transport_for_spec(spec.model, spec.transport)
    if chosen not in NATIVE_BY_PROVIDER.values():
        return None
    problem = _native_module(chosen).unsupported(spec.model, spec.params)
    if problem is None:
        return None
    return f"{where}: {spec.model}: transport {chosen} {problem}; use transport: auto or litellm"


def _native_declines(
    native: str, model: str, api_base: str | None, params: Mapping[str, Any], keyed: bool
) -> str | None:
    module = _native_module(native)
    problem = module.unsupported(model, params) or module.auto_declines(model, params)
    if problem:
        return f"{native} {problem}"
    if model.split("/", 1)[0] in KEYED_PROVIDERS and not keyed:
        return f"no key for {native} (litellm may authenticate another way)"
    missing = module.route_problem(api_base)
    return f"{native}: {missing}" if missing else None


def _native_module(name: str) -> ModuleType:
    return importlib.import_module(TRANSPORT_MODULES[name])


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
    key = route.api_key if route.key() else fallback_key(route.litellm_model)
    route.transport = auto_transport(
        route.litellm_model, route.api_base, params, keyed=key is not None
    )
    if route.transport != "litellm" and route.key() is None:
        route.api_key = key


def fallback_key(model: str) -> SecretStr | None:
    """The key litellm would read from the environment for a key-less ``model``, if any;
    remembered as a secret like every key, so no log or error shows it."""
    for name in KEY_VARIABLES.get(model.split("/", 1)[0], ()):
        value = os.environ.get(name)
        if value:
            secrets.remember(value)
            return SecretStr(value)
    return None


def make_transport(name: str) -> Transport:
    """A fresh transport registered under ``name`` (importing its module on first use)."""
    if name not in names("transport") and name in TRANSPORT_MODULES:
        importlib.import_module(TRANSPORT_MODULES[name])
    factory = lookup("transport", name)
    transport: Transport = factory()
    return transport
