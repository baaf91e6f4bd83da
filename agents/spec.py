"""How a config names a model: a litellm model string plus where and how to reach it."""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from agents.offline_catalog import OFFLINE_PREFIX, offline_model_problem
from kernel import secrets

CARRIER_FIELDS: frozenset[str] = frozenset(
    {"api_key", "api_key_env", "api_base", "transport", "max_concurrency", "price"}
)
"""A model spec's settings that move or carry the same call without changing its answer (a
model moved to another port, given its key another way, sent by another transport): left out
of every identity built from specs (a run's, an attack's)."""


class Price(BaseModel):
    """What a model's tokens cost, in dollars per million, for models litellm's price map
    does not know (a new or private model, a self-hosted one billed by the hour)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0, allow_inf_nan=False)
    """Dollars per million prompt tokens."""
    output_per_mtok: float = Field(ge=0, allow_inf_nan=False)
    """Dollars per million completion tokens."""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        dollars = prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok
        return dollars / 1e6


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
    price: Price | None = None
    """This model's price (``{input_per_mtok: 2.5, output_per_mtok: 10}``), used instead of
    litellm's price map: what makes an unpriced model count under a ``max_usd`` budget. The
    run's stored config records the prices it used."""
    transport: Literal["auto", "litellm", "native"] = "auto"
    """Which client carries the call. ``litellm`` reaches every provider; ``native`` is the
    lean aiohttp client of the model's wire format: OpenAI-compatible servers at an
    ``api_base`` (vLLM, the offline simulators), or Anthropic's Messages API (``anthropic/``),
    Gemini's ``generateContent`` (``gemini/``), Azure OpenAI deployments (``azure/``) and
    Ollama's chat API (``ollama_chat/``); a param it does not send is an error, never dropped.
    ``auto`` (the default) takes the native client where it sends what litellm would, and
    litellm everywhere else (``safebench check --ping`` says which, and why). Local ``hf/…``
    models always run in process."""

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
    def _params_secrets_remembered(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Credentials a provider needs in its own place (extra_body.api_key, azure_ad_token,
        # default_headers, extra_query …) are allowed, but held as secrets: masked in the
        # store and exports, scrubbed from logs and errors.
        secrets.remember_all(secrets.secret_values(value))
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_usable(cls, value: str | None) -> str | None:
        secrets.remember_all(secrets.url_secrets(value))
        problem = api_base_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("api_key")
    @classmethod
    def _api_key_remembered(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            secrets.remember(value.get_secret_value())
        return value

    def __setstate__(self, state: dict[Any, Any]) -> None:
        # A config pickled to a worker process or a Ray actor is rebuilt without running the
        # validators that remember its secrets: remembered here, so that the worker's logs
        # and errors are scrubbed as the parent's are.
        super().__setstate__(state)
        secrets.remember_all(secrets.secret_values(self.params))
        secrets.remember_all(secrets.url_secrets(self.api_base))
        if self.api_key is not None:
            secrets.remember(self.api_key.get_secret_value())

    @model_validator(mode="after")
    def _reachable(self) -> ModelSpec:
        # Checked when the config is read, because each of these otherwise loads fine and
        # then fails every call of the run (a run of failed cases that can still exit 0).
        if self.is_offline:
            # The offline stack registers its names in the catalogue (agents.offline_catalog);
            # the stack itself sits above agents and is never imported here.
            problem = offline_model_problem(self.model.removeprefix(OFFLINE_PREFIX))
            if problem:
                raise ValueError(problem)
        elif (
            self.transport == "native"
            and self.api_base is None
            and self.provider not in NATIVE_WITHOUT_API_BASE
        ):
            raise ValueError(
                f"transport 'native' has no default endpoint for {self.model!r}: it speaks the "
                "OpenAI chat API to an api_base (set one: vLLM, a proxy, ollama's /v1), or "
                "the APIs of anthropic/, gemini/, azure/ and ollama_chat/; or use transport: "
                "litellm"
            )
        return self

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def is_offline(self) -> bool:
        return self.model.startswith(OFFLINE_PREFIX)

    def resolve_api_key(self) -> SecretStr | None:
        """The key to send, read now from config or environment; never persisted.

        A ``SecretStr``, so that no repr, traceback frame or log line can show it; the
        transport unwraps it at the last moment."""
        if self.api_key is not None:
            return self.api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value:
                secrets.remember(value)
                return SecretStr(value)
        return None


def api_base_problem(url: str | None) -> str | None:
    """Why ``url`` cannot carry a call, or None. Said before any call, since each of these
    otherwise fails every call of a run with a misleading error (a 404, a malformed reply).
    The message never repeats a credential written into the URL."""
    if url is None:
        return None
    shown = secrets.public_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError as exc:
        return f"api_base {shown!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"api_base {shown!r} is not an http(s) URL with a host, e.g. http://localhost:8000/v1"
    if parts.username is not None or parts.password is not None:
        # Neither litellm nor the native client turns URL user-info into authentication:
        # the call would go out unauthenticated and fail as a malformed reply.
        return (
            f"api_base {shown!r} carries credentials in the URL (user:…@host), which no client "
            "sends; give the key as api_key_env (an environment variable) or api_key, and the "
            "host alone as api_base"
        )
    if parts.query or parts.fragment:
        # The clients append their own path (/chat/completions) to api_base, so the query
        # would land in the middle of the path and the server answer 404.
        return (
            f"api_base {shown!r} has a query string or fragment, which the client's path would "
            "be appended after (a 404); put a key in api_key_env and other query parameters in "
            "params.extra_query"
        )
    return None


NATIVE_WITHOUT_API_BASE = frozenset(
    {"hf", "hf-classifier", "anthropic", "gemini", "azure", "ollama_chat"}
)
"""Providers that accept ``transport: native`` with no ``api_base``: local models run in
process whatever the transport says; Anthropic, Gemini and Ollama's native clients have
their provider's endpoint (Ollama's is localhost), Azure's reads ``AZURE_API_BASE`` as
litellm does. Offline ``safebench/`` models bring their own server. Every other model needs
an explicit, OpenAI-compatible ``api_base`` for the native client (``openai/`` included:
it has no default endpoint)."""
