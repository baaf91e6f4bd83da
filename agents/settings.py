"""The gateway's settings: retries, timeouts and per-provider limits, as configs write them.

Kept apart from the call path (``agents.gateway``) so that config models (a run config, a
judges config) validate without importing any transport or provider library.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ProviderLimits(BaseModel):
    """Throttle and concurrency bound for one provider."""

    model_config = ConfigDict(extra="forbid")

    requests_per_second: float | None = Field(None, gt=0)
    """Steady request rate allowed to this provider; ``None`` means unthrottled."""
    requests_per_minute: float | None = Field(None, gt=0)
    """Requests a minute allowed to this provider (a provider's RPM limit); ``None``: none."""
    tokens_per_minute: int | None = Field(None, gt=0)
    """Prompt plus completion tokens a minute (a provider's TPM limit): each call takes its
    estimate before it is sent, corrected by the usage the provider reports."""
    max_concurrency: int = Field(64, ge=1)
    """Calls in flight to this provider at once, at most: a 429 halves what is allowed and
    successes win it back (AIMD), so a provider's limit slows the run instead of failing it."""


class GatewaySettings(BaseModel):
    """Retries, timeouts and limits of the choke point, shared by every model call."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(120.0, gt=0)
    """Wall-clock limit of one attempt, streaming included."""
    max_retries: int = Field(4, ge=0, le=20)
    """Retries after the first attempt, for rate limits, 5xx, timeouts and broken replies."""
    backoff_base_s: float = Field(0.5, ge=0)
    """First backoff; doubles per retry, with full jitter."""
    backoff_max_s: float = Field(30.0, ge=0)
    """Ceiling of one backoff wait (a longer Retry-After is still honoured, up to the next)."""
    max_retry_after_s: float = Field(300.0, ge=0)
    """Longest Retry-After the gateway will wait; longer ones fail the call instead."""
    default_limits: ProviderLimits = ProviderLimits()
    """Limits for providers not named in ``providers``."""
    providers: dict[str, ProviderLimits] = Field(default_factory=dict)
    """Per-provider limits keyed by the model prefix (``openai``, ``anthropic``, …)."""
