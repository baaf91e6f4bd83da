"""A provider's gate: concurrency that halves on a 429 and wins back one slot per window of
successes (AIMD), and a token bucket for a provider's tokens-per-minute limit. Driven with a
clock of the test's own, so no outcome depends on how fast the machine is."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from agents.provider_gate import DEFAULT_COMPLETION_TOKENS, ProviderGate, estimate_tokens
from agents.settings import GatewaySettings, ProviderLimits


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_429_halves_the_window_and_successes_win_it_back() -> None:
    gate = ProviderGate(ProviderLimits(max_concurrency=8))
    sent = [await gate.acquire(0) for _ in range(8)]
    assert gate.in_flight == 8
    await gate.release(rate_limited=True, succeeded=False, epoch=sent.pop())
    assert gate.window == 4 and gate.decreases == 1
    # The other 429s of the same burst (attempts already in flight) decrease nothing more.
    await gate.release(rate_limited=True, succeeded=False, epoch=sent.pop())
    assert gate.window == 4 and gate.decreases == 1
    # Six in flight, four allowed: a new attempt waits until fewer than four are out.
    waiting = asyncio.create_task(gate.acquire(0))
    await _settle()
    assert not waiting.done()
    for _ in range(2):
        await gate.release(rate_limited=False, succeeded=False, epoch=sent.pop())
    await _settle()
    assert not waiting.done()  # four still in flight
    await gate.release(rate_limited=False, succeeded=True, epoch=sent.pop())
    await _settle()
    assert waiting.done() and gate.in_flight == 4
    # An attempt sent after the decrease may decrease again: a new burst.
    fresh = waiting.result()
    await gate.release(rate_limited=True, succeeded=False, epoch=fresh)
    assert gate.window < 2.5 and gate.decreases == 2
    # Each success widens the window by 1/window, never past max_concurrency.
    for epoch in sent:
        await gate.release(rate_limited=False, succeeded=True, epoch=epoch)
    for _ in range(200):
        epoch = await gate.acquire(0)
        await gate.release(rate_limited=False, succeeded=True, epoch=epoch)
    assert gate.window == 8


async def test_one_burst_of_429s_is_one_decrease() -> None:
    # Sixteen attempts in flight all answered 429 once halved the window twelve times
    # (16 -> 1): each 429 was measured against the window the burst had already halved.
    gate = ProviderGate(ProviderLimits(max_concurrency=16))
    sent = [await gate.acquire(0) for _ in range(16)]
    for epoch in sent:
        await gate.release(rate_limited=True, succeeded=False, epoch=epoch)
    assert gate.window == 8 and gate.decreases == 1


async def test_a_large_call_is_not_starved_by_small_ones() -> None:
    # First come, first served: a brief that needs a full bucket waits for it once, and the
    # short calls after it wait their turn behind it.
    clock = FakeClock()
    gate = ProviderGate(ProviderLimits(tokens_per_minute=600), clock=clock, sleep=clock.sleep)
    await gate.acquire(600)  # the bucket emptied
    big = asyncio.create_task(gate.acquire(600))
    await _settle()
    smalls = [asyncio.create_task(gate.acquire(10)) for _ in range(5)]
    await asyncio.gather(big, *smalls)
    # The big call was served first: 60 s for its 600 tokens, then 1 s per small call.
    assert clock.slept[0] == pytest.approx(60.0)


async def test_the_window_never_closes_below_one() -> None:
    gate = ProviderGate(ProviderLimits(max_concurrency=2))
    for _ in range(10):
        epoch = await gate.acquire(0)
        await gate.release(rate_limited=True, succeeded=False, epoch=epoch)
    assert gate.window == 1
    await asyncio.wait_for(gate.acquire(0), timeout=60)  # one attempt always goes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_tokens_per_minute_holds_a_call_until_the_bucket_has_room() -> None:
    clock = FakeClock()
    gate = ProviderGate(ProviderLimits(tokens_per_minute=600), clock=clock, sleep=clock.sleep)
    await gate.acquire(600)  # the full bucket, at once
    await gate.release(rate_limited=False, succeeded=True)
    assert clock.slept == []
    await gate.acquire(100)  # 10 tokens a second: 10 s until there is room
    assert sum(clock.slept) == pytest.approx(10.0)
    await gate.release(rate_limited=False, succeeded=True)
    # The provider reported 40 tokens where 100 were taken: 60 come back to the bucket.
    gate.correct_tokens(100, 40)
    before = sum(clock.slept)
    await gate.acquire(60)
    assert sum(clock.slept) == pytest.approx(before)


def test_a_call_is_estimated_from_its_text_and_its_completion_limit() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "x" * 400}]}]
    assert estimate_tokens(messages, {"max_tokens": 50}) == 150
    assert estimate_tokens(messages, {}) == 100 + DEFAULT_COMPLETION_TOKENS


@pytest.mark.parametrize("field", ["tokens_per_minute", "requests_per_minute"])
def test_a_zero_rate_is_a_config_error_naming_the_field(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        GatewaySettings.model_validate({"providers": {"openai": {field: 0}}})
