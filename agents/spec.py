"""How a config names a model: a litellm model string plus where and how to reach it."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

OFFLINE_PREFIX = "safebench/"
"""Models under this prefix are the built-in offline stack (no key, no network)."""


class ModelSpec(BaseModel):
    """A model as a config names it. Works for targets, jurors and the foreperson alike."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=3)
    """A litellm model string, ``provider/model``: ``openai/gpt-4o``, ``anthropic/claude-…``,
    ``gemini/…``, ``hosted_vllm/…`` (with ``api_base``), ``ollama/…``, or an offline
    ``safebench/…`` model."""
    api_base: str | None = None
    """Endpoint for self-hosted or OpenAI-compatible servers (vLLM, ollama, a proxy)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key. The key itself is read at call
    time and never stored, logged or exported."""
    api_key: SecretStr | None = None
    """An API key given inline (prefer ``api_key_env``). Kept as a secret: never stored."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra completion parameters passed through to the provider (``temperature``,
    ``max_tokens``, ``top_p``, …)."""
    transport: Literal["litellm", "native"] = "litellm"
    """Which client carries the call. ``litellm`` reaches every provider; ``native`` is a
    lean aiohttp client for OpenAI-compatible servers (vLLM, the offline simulators), for
    when litellm's per-call CPU cost binds. Local ``hf/…`` models always run in process."""

    @field_validator("model")
    @classmethod
    def _has_provider(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError(
                f"model {value!r} has no provider prefix; write it as provider/model, "
                "e.g. openai/gpt-4o or safebench/pattern-juror"
            )
        return value

    @field_validator("params")
    @classmethod
    def _no_secrets_in_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        banned = {k for k in value if k.lower() in SECRET_PARAM_NAMES}
        if banned:
            raise ValueError(
                f"params must not carry credentials ({', '.join(sorted(banned))}); "
                "use api_key_env instead"
            )
        return value

    @model_validator(mode="after")
    def _reachable(self) -> ModelSpec:
        # Checked when the config is read, because each of these otherwise loads fine and
        # then fails every call of the run (a run of failed cases that can still exit 0).
        if self.is_offline:
            from agents.offline.names import offline_model_problem  # light; no litellm

            problem = offline_model_problem(self.model.removeprefix(OFFLINE_PREFIX))
            if problem:
                raise ValueError(problem)
        elif (
            self.transport == "native"
            and self.api_base is None
            and self.provider not in NATIVE_WITHOUT_API_BASE
        ):
            raise ValueError(
                f"transport 'native' speaks only the OpenAI chat API to an api_base, and "
                f"{self.model!r} names none; set api_base to an OpenAI-compatible server "
                "(vLLM, a proxy, ollama's /v1) or use transport: litellm"
            )
        return self

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def is_offline(self) -> bool:
        return self.model.startswith(OFFLINE_PREFIX)

    def resolve_api_key(self) -> str | None:
        """The key to send, read now from config or environment; never persisted."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env)
        return None


NATIVE_WITHOUT_API_BASE = frozenset({"hf", "hf-classifier"})
"""Providers that accept ``transport: native`` with no ``api_base``: local models run in
process whatever the transport says. Offline ``safebench/`` models bring their own server.
Every other model needs an explicit, OpenAI-compatible ``api_base`` for the native client,
whatever its prefix (``openai/`` included: the native client has no default endpoint)."""

SECRET_PARAM_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "authorization",
        "headers",
        "extra_headers",
        "aws_secret_access_key",
        "aws_access_key_id",
        "aws_session_token",
        "vertex_credentials",
    }
)
