"""A spending limit the gateway checks before every model call it really makes.

A run's ``budget: {max_calls, max_usd}`` becomes one :class:`SpendLimit` per gateway (per
worker process, with its share of what is left). Calls read back from the store cost nothing
and are not counted. A call is *reserved* before it is sent and *settled* when it returns, so
the calls in flight count against the limit too. A "call" is one model call as the store
records it (one row per call key): the retries the gateway makes for it after a 429, a 5xx or
a dropped connection are not counted again, and earlier sessions are counted from the store's
rows, so a call that failed in one session and was sent again on resume counts once there.
``max_calls: N`` therefore bounds recorded calls, not HTTP requests.

When the next call would pass the limit the gateway refuses it, but only once every call
already in flight has returned and been recorded: the refusal then cancels nothing that a
server has answered, so a resume with a higher budget asks no call twice.

Dollars are known only when a reply returns (litellm prices its usage), so the check prices
the next call, and each one in flight, as the dearest call its model made so far (a model
litellm does not price costs nothing and is never stopped by ``max_usd``). A run can
therefore pass ``max_usd`` by what a call dearer than its model's earlier ones costs more
than they did, or, before the first priced reply, by the priced calls then in flight.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kernel.errors import SafeBenchError


class BudgetExhausted(SafeBenchError):
    """The next model call would pass the run's budget; no call was sent."""


@dataclass
class SpendLimit:
    """Calls and dollars spent against a budget; ``None`` limits are unbounded."""

    max_calls: int | None = None
    max_usd: float | None = None
    calls: int = 0
    """Calls spent: those of earlier sessions of the run plus those made here."""
    usd: float = 0.0
    """Dollars spent, priced calls only (litellm's price map)."""
    in_flight: int = 0
    in_flight_usd: float = 0.0
    """What the calls in flight are expected to cost."""
    exhausted: str | None = None
    """Why calls are refused, once one was; from then on every call is."""
    dearest: dict[str, float] = field(default_factory=dict)
    """Per model, its dearest call so far: the price the check assumes for its next one."""
    admitted: int = 0
    """Calls the cases admitted and not yet finished may still make (their estimates): what
    :meth:`admit` keeps free, so a budget ends with whole cases judged, not calls spent on
    cases it cannot finish."""
    admitted_usd: float = 0.0
    """What the admitted cases are expected to cost, as :attr:`admitted` in dollars."""
    _drained: asyncio.Event | None = field(default=None, repr=False)

    def expected_usd(self, model: str, priced: bool) -> float:
        """What the next call to ``model`` is assumed to cost: nothing for a model litellm
        does not price, else its dearest call so far (a model not seen yet: the dearest of
        any model)."""
        if not priced:
            return 0.0
        if model in self.dearest:
            return self.dearest[model]
        return max(self.dearest.values(), default=0.0)

    async def reserve(self, model: str, *, priced: bool) -> float:
        """Count one call about to be sent and return what it is expected to cost; or raise
        ``BudgetExhausted``, once nothing is in flight (so the stop cancels no answered call)."""
        expected = self.expected_usd(model, priced)
        if self.exhausted is None:
            reason = self._would_pass(expected, priced)
            if reason is None:
                self.in_flight += 1
                self.in_flight_usd += expected
                return expected
            self.exhausted = reason
        while self.in_flight > 0:
            if self._drained is None or self._drained.is_set():
                self._drained = asyncio.Event()
            await self._drained.wait()
        raise BudgetExhausted(self.exhausted)

    def admit(self, calls: int, usd: float = 0.0) -> str | None:
        """Admit a case expected to make at most ``calls`` calls costing ``usd`` (None), or
        say why not: what is spent, in flight and owed to the cases already admitted leaves
        no room for it. A refusal stops no call of a case already admitted."""
        if self.exhausted is not None:
            return self.exhausted
        if self.max_calls is not None:
            owed = self.calls + self.in_flight + self.admitted
            if owed + calls > self.max_calls:
                return (
                    f"budget max_calls {self.max_calls} reached: {self.max_calls - self.calls} "
                    f"calls left, and a case takes up to {calls}"
                )
        owed_usd = self.usd + self.in_flight_usd + self.admitted_usd
        if self.max_usd is not None and usd > 0 and owed_usd + usd > self.max_usd:
            return (
                f"budget max_usd {self.max_usd:g}: ${self.usd:.4f} spent, and another case "
                f"may cost ${usd:.4f}"
            )
        self.admitted += calls
        self.admitted_usd += usd
        return None

    def release(self, calls: int, usd: float = 0.0) -> None:
        """An admitted case finished (whatever it spent is counted in ``calls`` now)."""
        self.admitted = max(0, self.admitted - calls)
        self.admitted_usd = max(0.0, self.admitted_usd - usd)

    def settle(self, model: str, expected_usd: float, cost_usd: float | None) -> None:
        """A reserved call returned with its cost, or failed (``None``: it was still sent,
        so it still counts, but it says nothing of its model's price)."""
        self.in_flight -= 1
        self.in_flight_usd -= expected_usd
        self.calls += 1
        if cost_usd is not None:
            self.usd += cost_usd
            self.dearest[model] = max(self.dearest.get(model, 0.0), cost_usd)
        if self.in_flight == 0 and self._drained is not None:
            self._drained.set()

    def _would_pass(self, expected: float, priced: bool) -> str | None:
        if self.max_calls is not None and self.calls + self.in_flight + 1 > self.max_calls:
            return f"budget max_calls {self.max_calls} reached"
        if self.max_usd is not None and priced:
            # The calls in flight and this one priced as their model's dearest call so far.
            at_most = self.usd + self.in_flight_usd + expected
            if self.usd >= self.max_usd or at_most > self.max_usd:
                return (
                    f"budget max_usd {self.max_usd:g} would be passed by the next call "
                    f"(${self.usd:.4f} spent, ${expected:.4f} expected for the call)"
                )
        return None
