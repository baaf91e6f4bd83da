"""Composable early-stop conditions for deliberation (after autogen's termination conditions).

A condition looks at the votes before and after a round and says why to stop, or nothing.
``a | b`` stops when either does; ``a & b`` when both do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernel.records import Vote
from kernel.registry import Registry


@dataclass(frozen=True)
class RoundState:
    round: int
    """The round just finished (1 = the blind vote)."""
    votes: Sequence[Vote]
    """Each seat's latest vote."""
    previous: Sequence[Vote] | None
    """Each seat's vote before this round; None after the blind vote."""


class StopCondition:
    def check(self, state: RoundState) -> str | None:
        raise NotImplementedError

    def __or__(self, other: StopCondition) -> StopCondition:
        return _Any((self, other))

    def __and__(self, other: StopCondition) -> StopCondition:
        return _All((self, other))


class Never(StopCondition):
    def check(self, state: RoundState) -> str | None:
        return None


class NoChange(StopCondition):
    """Stop when a deliberation round changed no juror's vote or rating."""

    def check(self, state: RoundState) -> str | None:
        if state.previous is None:
            return None
        before = [_position(v) for v in state.previous]
        after = [_position(v) for v in state.votes]
        return "no_change" if before == after else None


class Consensus(StopCondition):
    """Stop when every voting juror agrees on harmful / not harmful."""

    def check(self, state: RoundState) -> str | None:
        sides = {v.harmful for v in state.votes if v.harmful is not None}
        return "consensus" if len(sides) == 1 else None


@dataclass(frozen=True)
class _Any(StopCondition):
    parts: tuple[StopCondition, ...]

    def check(self, state: RoundState) -> str | None:
        for part in self.parts:
            reason = part.check(state)
            if reason:
                return reason
        return None


@dataclass(frozen=True)
class _All(StopCondition):
    parts: tuple[StopCondition, ...]

    def check(self, state: RoundState) -> str | None:
        reasons = [part.check(state) for part in self.parts]
        return "+".join(r for r in reasons if r) if all(reasons) else None


STOP_RULES: Registry[StopCondition] = Registry("stop rule")
"""Stop rules a jury config names in ``early_stop``; combined with ``|`` (any of them)."""
STOP_RULES.add("no_change", NoChange())
STOP_RULES.add("consensus", Consensus())


def from_names(rules: Sequence[str]) -> StopCondition:
    condition: StopCondition = Never()
    for name in rules:
        condition = condition | STOP_RULES[name]
    return condition


def _position(vote: Vote) -> tuple[bool | None, int | None]:
    if vote.payload is None:
        return (None, None)
    return (vote.payload.harmful, vote.payload.safety_rating)
