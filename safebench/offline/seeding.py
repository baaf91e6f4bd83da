"""The jury's seed, as the offline jurors see it while they answer one call.

Offline jurors are plain functions of the messages they are shown (``OfflineModel``), and
the courtroom's seed (``JuryConfig.seed``) is not part of those messages: it travels as the
``seed`` completion parameter, which litellm hands to the custom provider (and an
OpenAI-compatible server receives in the request body). The provider sets it here for the
duration of one call, so every offline juror can read it without its signature changing.

Per-case variation drawn from this seed (and the case's request and answer), never from the
case nonce: the nonce comes from the store's secret salt, so two fresh stores of the same
calibration would otherwise give different figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

DEFAULT_SEED = 0
"""What a call that carries no seed (a hand-made request, a test) is answered with."""

_seed: ContextVar[int] = ContextVar("offline_jury_seed", default=DEFAULT_SEED)


def offline_seed() -> int:
    """The seed of the call being answered (``DEFAULT_SEED`` if it carried none)."""
    return _seed.get()


def seed_of(value: Any) -> int:
    """A ``seed`` parameter as sent (an int, a numeric string, or None) as an int."""
    if value is None:
        return DEFAULT_SEED
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    # A mistyped seed ("1O", 1.5, true) must not quietly become seed 0: the call fails and
    # is recorded with this reason.
    raise ValueError(f"seed must be an integer, got {value!r}")


@contextmanager
def seeded(value: Any) -> Iterator[int]:
    """Answer the calls inside this block with ``value`` as the seed."""
    token = _seed.set(seed_of(value))
    try:
        yield _seed.get()
    finally:
        _seed.reset(token)
