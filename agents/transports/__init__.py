"""Transports carry one model call; the gateway picks one per route.

``litellm`` reaches every provider. Others are imported on first use only (a local-model
transport pulls in torch), so naming them here keeps ``import agents.gateway`` light.
"""

from __future__ import annotations

import importlib

from agents.transports.base import Transport
from safebench.core.registry import lookup, names

TRANSPORT_MODULES: dict[str, str] = {
    "litellm": "agents.transports.litellm_transport",
    "native": "agents.transports.native",
    "hf": "agents.transports.hf",
}
"""Where each transport is registered; imported when a route first names it."""

LOCAL_PROVIDERS: dict[str, str] = {"hf": "hf", "hf-classifier": "hf"}
"""Model prefixes that only one transport can serve (local weights, no server)."""


def transport_for_spec(model: str, configured: str) -> str:
    """The transport a model name needs: its local provider's, else the configured one."""
    provider = model.split("/", 1)[0]
    return LOCAL_PROVIDERS.get(provider, configured)


def make_transport(name: str) -> Transport:
    """A fresh transport registered under ``name`` (importing its module on first use)."""
    if name not in names("transport") and name in TRANSPORT_MODULES:
        importlib.import_module(TRANSPORT_MODULES[name])
    factory = lookup("transport", name)
    transport: Transport = factory()
    return transport
