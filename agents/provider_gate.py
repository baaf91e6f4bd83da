"""What a provider lets through: concurrency that adapts to 429s, request rates, a token rate.

Every attempt the gateway sends to a provider passes one :class:`ProviderGate`:

- **concurrency, AIMD**: at most ``window`` attempts in flight, starting at the configured
  ``max_concurrency``. A 429 halves the window (not below 1), once per burst: only an
  attempt sent after the last decrease can decrease it again, so the 429s of attempts that
  were already in flight say nothing new; each success widens it by
  ``1 / window``, back up to ``max_concurrency``. A jury of long briefs that trips a
  provider's limit slows down instead of retrying into it.
- **requests**: ``requests_per_second`` and ``requests_per_minute`` (asyncio-throttle).
- **tokens**: ``tokens_per_minute``, a token bucket filled at ``tpm / 60`` a second. Each
  attempt takes its estimated tokens (prompt characters / 4, plus its ``max_tokens`` or
  :data:`DEFAULT_COMPLETION_TOKENS`) before it is sent, first come first served (a long
  brief is never starved by a stream of short calls); the estimate is corrected with the
  usage the provider reports, so the bucket tracks what the provider counts.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asyncio_throttle import Throttler

from agents.settings import ProviderLimits

DEFAULT_COMPLETION_TOKENS = 512
"""Completion tokens assumed for a call that sets no ``max_tokens``."""


def estimate_tokens(messages: list[dict[str, Any]], params: dict[str, Any]) -> int:
    """Tokens a call is expected to use: about 4 characters a token of its text, plus the
    completion it may write (media parts count by their text only)."""
    chars = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            parts = [part for part in content if isinstance(part, dict)]
            chars += sum(len(str(part.get("text", ""))) for part in parts)
    completion = params.get("max_tokens") or params.get("max_completion_tokens")
    completion = completion if isinstance(completion, int) and completion > 0 else None
    return math.ceil(chars / 4) + (completion or DEFAULT_COMPLETION_TOKENS)


def _throttler(count: float | None, period: float) -> Throttler | None:
    """asyncio-throttle counts whole requests per period; a fractional rate becomes one
    request per ``period / count`` seconds."""
    if count is None:
        return None
    whole = max(1, int(count))
    return Throttler(rate_limit=whole, period=period * whole / count)


class ProviderGate:
    """The limits of one provider, for every attempt a gateway sends to it."""

    def __init__(
        self,
        limits: ProviderLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``clock`` and ``sleep`` are the token bucket's time (a benchmark or test may give
        its own)."""
        self._clock = clock
        self._sleep = sleep
        self.ceiling = limits.max_concurrency
        self.window = float(limits.max_concurrency)
        """Attempts allowed in flight now (AIMD between 1 and ``ceiling``)."""
        self.in_flight = 0
        self.decreases = 0
        """How many times a 429 narrowed the window (for benchmarks and logs)."""
        self.epoch = 0
        """Bumped by every decrease: an attempt sent before it cannot decrease again."""
        self._bucket_turn = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._per_second = _throttler(limits.requests_per_second, 1.0)
        self._per_minute = _throttler(limits.requests_per_minute, 60.0)
        self.tokens_per_minute = limits.tokens_per_minute
        self._bucket = float(limits.tokens_per_minute or 0)
        self._filled_at = clock()

    async def acquire(self, tokens: int) -> int:
        """Wait for a slot (and the rates); returns the epoch the attempt is sent in, which
        :meth:`release` takes back."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < max(1, int(self.window)))
            self.in_flight += 1
            epoch = self.epoch
        try:
            for throttler in (self._per_second, self._per_minute):
                if throttler is not None:
                    await throttler.acquire()
            if self.tokens_per_minute is not None:
                async with self._bucket_turn:  # first come, first served
                    await self._take_tokens(tokens)
        except BaseException:
            await self.release(rate_limited=False, succeeded=False, epoch=epoch)
            raise
        return epoch

    async def release(
        self, *, rate_limited: bool, succeeded: bool, epoch: int | None = None
    ) -> None:
        """An attempt sent in ``epoch`` (None: the current one) ended."""
        async with self._changed:
            self.in_flight -= 1
            sent_in = self.epoch if epoch is None else epoch
            if rate_limited:
                # One decrease per burst: the 429s of attempts sent before the last decrease
                # say nothing new.
                if sent_in == self.epoch:
                    self.window = max(1.0, self.window / 2)
                    self.decreases += 1
                    self.epoch += 1
            elif succeeded:
                self.window = min(float(self.ceiling), self.window + 1 / self.window)
            self._changed.notify_all()

    def correct_tokens(self, estimated: int, used: int) -> None:
        """The provider reported ``used`` tokens for an attempt that took ``estimated``."""
        if self.tokens_per_minute is not None and used > 0:
            self._bucket += estimated - used

    async def _take_tokens(self, tokens: int) -> None:
        assert self.tokens_per_minute is not None
        rate = self.tokens_per_minute / 60.0
        # A call larger than the whole bucket waits for a full bucket, never forever.
        need = min(tokens, self.tokens_per_minute)
        while True:
            now = self._clock()
            self._bucket = min(
                float(self.tokens_per_minute), self._bucket + (now - self._filled_at) * rate
            )
            self._filled_at = now
            if self._bucket >= need:
                self._bucket -= tokens
                return
            await self._sleep((need - self._bucket) / rate)
