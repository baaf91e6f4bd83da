"""Dollar costs of model calls from litellm's local price map (read offline, once per model)."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from agents.llm import load_litellm
from agents.spec import ModelSpec
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


def spec_cost(spec: ModelSpec, litellm_model: str, usage: Usage) -> float:
    """A call's dollar cost: the spec's own ``price`` when it gives one, else litellm's map."""
    if spec.price is not None:
        return spec.price.cost(usage.prompt_tokens, usage.completion_tokens)
    return estimate_cost(litellm_model, usage)


def spec_priced(spec: ModelSpec) -> bool:
    """Whether calls to ``spec`` have a price (its own, or litellm's map's)."""
    return spec.price is not None or is_priced(spec.model)


@functools.cache
def price_map() -> dict[str, Any]:
    """litellm's local price map (the JSON it ships), read without importing litellm, which
    takes seconds: ``safebench check`` names an unpriced model at once. Empty when the file
    is not where this litellm keeps it."""
    found = importlib.util.find_spec("litellm")
    if found is None or not found.submodule_search_locations:
        return {}
    path = Path(next(iter(found.submodule_search_locations)))
    path = path / "model_prices_and_context_window_backup.json"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def listed_price(model: str) -> bool:
    """Whether litellm's price map lists ``provider/name`` (under either spelling it uses)."""
    prices = price_map()
    entry = prices.get(model)
    if entry is None and "/" in model:
        provider, name = model.split("/", 1)
        entry = prices.get(name)
        if entry is not None and not str(entry.get("litellm_provider", "")).startswith(
            provider.split("_")[0]
        ):
            entry = None
    # Per token for chat models; per character, image or second for speech and image models.
    return isinstance(entry, dict) and any(
        "cost_per" in key and isinstance(value, int | float) for key, value in entry.items()
    )
