"""Dollar costs of model calls from litellm's local price map (read offline, once per model)."""

from __future__ import annotations

import functools

from agents.llm import load_litellm
from kernel.records import Usage


def estimate_cost(model: str, usage: Usage) -> float:
    """Dollar cost from litellm's local price map; unknown models (local, offline) cost 0."""
    if usage.prompt_tokens == 0 and usage.completion_tokens == 0:
        return 0.0
    if model in _UNPRICED_MODELS:
        return 0.0
    return _cost(model, usage.prompt_tokens, usage.completion_tokens)


def is_priced(model: str) -> bool:
    """Whether litellm's price map prices ``model`` (asked once per model and process)."""
    if model in _UNPRICED_MODELS:
        return False
    _cost(model, 1, 1)  # a miss lands in _UNPRICED_MODELS
    return model not in _UNPRICED_MODELS


_UNPRICED_MODELS: set[str] = set()
"""Models litellm's price map lacks. Looking one up costs about 1 ms of CPU (litellm tries
every spelling of the name), measured as the gateway's largest cost per call; a miss stays a
miss for the life of the process, so it is asked once."""


@functools.lru_cache(maxsize=8192)
def _cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    try:
        prompt, completion = load_litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # litellm raises for models missing from its price map
        _UNPRICED_MODELS.add(model)
        return 0.0
    return float(prompt + completion)
