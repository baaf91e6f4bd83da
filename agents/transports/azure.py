"""Azure OpenAI, natively: the OpenAI chat body at a deployment's path.

``POST {api_base}/openai/deployments/{deployment}/chat/completions?api-version={version}``
with the key in the ``api-key`` header, as litellm (through the OpenAI SDK's Azure client)
sends it: ``azure/{deployment}`` names the deployment, ``api_base`` (else ``AZURE_API_BASE``)
the resource, and the API version is the spec's ``params.api_version``, else
``AZURE_API_VERSION``, else litellm's default (:data:`DEFAULT_API_VERSION`). The body and the
reply are OpenAI's, read by the ``native`` transport's parser: the same finish reasons,
usage, refusals (``content_filter``) and broken-reply rules.

Deployments whose name says a reasoning model (``o1``, ``o3``, ``gpt-5`` …) stay on litellm
under ``auto``: litellm renames ``max_tokens`` and drops sampling params for those, which a
plain pass-through would not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agents.spec import ModelSpec
from agents.transports.base import Messages, Reply, Route, transport_kind
from agents.transports.http_session import PooledSession, env_secret, env_value, refuse_unsent
from agents.transports.native import openai_reader, served_model_name
from kernel.errors import ConfigError

NAME = "native-azure"
DEFAULT_API_VERSION = "2025-02-01-preview"
"""litellm's ``AZURE_DEFAULT_API_VERSION`` (a test holds the two equal)."""
BASE_VARIABLES = ("AZURE_API_BASE",)
VERSION_VARIABLES = ("AZURE_API_VERSION",)
KEY_VARIABLES = ("AZURE_OPENAI_API_KEY", "AZURE_API_KEY")
"""Where litellm reads a key-less spec's key from, in its order."""

BODY_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "user",
    }
)
"""OpenAI params sent in the body as they are (litellm passes these through for Azure)."""

REASONING_DEPLOYMENT = re.compile(r"(^|[^a-z0-9])(o[1-9]|gpt-5)", re.IGNORECASE)


def unsupported(model: str, params: Mapping[str, Any]) -> str | None:
    """Why this transport cannot send ``params`` as given, or None."""
    for name in params:
        if name not in BODY_PARAMS and name != "api_version":
            return f"does not send the param {name!r}"
    version = params.get("api_version")
    if version is not None and not isinstance(version, str):
        return "takes api_version as a string, e.g. '2024-10-21'"
    return None


def auto_declines(model: str, params: Mapping[str, Any]) -> str | None:
    """Why ``auto`` should leave this call to litellm: a reasoning-model deployment, whose
    params litellm maps."""
    if REASONING_DEPLOYMENT.search(served_model_name(model)):
        return "a reasoning-model deployment (litellm maps its params)"
    return None


def route_problem(api_base: str | None) -> str | None:
    """What the route lacks for this transport: the resource's URL."""
    if api_base or env_value(*BASE_VARIABLES):
        return None
    return "no api_base and no AZURE_API_BASE"


def endpoint(route: Route, spec: ModelSpec) -> str:
    base = route.api_base or env_value(*BASE_VARIABLES)
    if not base:
        raise ConfigError(
            f"{spec.model}: transport {NAME} needs the resource's URL: set api_base "
            "(https://NAME.openai.azure.com) or AZURE_API_BASE"
        )
    version = spec.params.get("api_version") or env_value(*VERSION_VARIABLES)
    deployment = served_model_name(route.litellm_model)
    return (
        f"{base.rstrip('/')}/openai/deployments/{deployment}/chat/completions"
        f"?api-version={version or DEFAULT_API_VERSION}"
    )


class AzureTransport(PooledSession):
    """Azure OpenAI deployments over one pooled aiohttp session."""

    async def send(self, route: Route, spec: ModelSpec, messages: Messages, stream: bool) -> Reply:
        refuse_unsent(unsupported(route.litellm_model, spec.params), spec.model, NAME)
        body: dict[str, Any] = {k: v for k, v in spec.params.items() if k != "api_version"}
        body["model"] = served_model_name(route.litellm_model)
        body["messages"] = messages
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        headers = {"Content-Type": "application/json"}
        key = route.key() or env_secret(*KEY_VARIABLES)
        if key:
            headers["api-key"] = key
        return await self.post(endpoint(route, spec), body, headers, openai_reader(stream))


@transport_kind(NAME)
def azure_transport() -> AzureTransport:
    """Azure OpenAI deployments (``azure/…``) over one pooled aiohttp session."""
    return AzureTransport()
