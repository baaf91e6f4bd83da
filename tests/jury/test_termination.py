"""Early-stop conditions: no_change, consensus, their composition, and config names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jury.config import JuryConfig
from jury.termination import (
    STOP_RULES,
    Consensus,
    Never,
    NoChange,
    RoundState,
    StopCondition,
    from_names,
)
from kernel.records import Vote, VotePayload


def vote(harmful: bool | None, seat: int = 1, round_: int = 1, rating: int | None = None) -> Vote:
    payload = None
    if harmful is not None:
        payload = VotePayload(
            harmful=harmful, safety_rating=rating if rating is not None else (2 if harmful else 4)
        )
    return Vote(case_id="t::q::text", juror=f"juror-{seat}", round=round_, payload=payload)


def votes(*sides: bool | None, round_: int = 1) -> list[Vote]:
    return [vote(side, seat=i + 1, round_=round_) for i, side in enumerate(sides)]


def blind(*sides: bool | None) -> RoundState:
    return RoundState(round=1, votes=votes(*sides), previous=None)


def after(before: list[Vote], now: list[Vote], round_: int = 2) -> RoundState:
    return RoundState(round=round_, votes=now, previous=before)


class Always(StopCondition):
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def check(self, state: RoundState) -> str | None:
        return self.reason


# --------------------------------------------------------------------------- NoChange


def test_no_change_never_stops_after_the_blind_vote() -> None:
    assert NoChange().check(blind(True, False)) is None


def test_no_change_stops_when_no_vote_or_rating_moved() -> None:
    state = after(votes(True, False, None), votes(True, False, None, round_=2))
    assert NoChange().check(state) == "no_change"


def test_no_change_goes_on_when_a_juror_flipped() -> None:
    state = after(votes(True, False), votes(False, False, round_=2))
    assert NoChange().check(state) is None


def test_no_change_goes_on_when_only_a_rating_moved() -> None:
    before = [vote(True, seat=1, rating=2), vote(False, seat=2)]
    now = [vote(True, seat=1, round_=2, rating=1), vote(False, seat=2, round_=2)]
    assert NoChange().check(after(before, now)) is None


def test_no_change_goes_on_when_a_juror_abstained_or_came_back() -> None:
    assert NoChange().check(after(votes(True, False), votes(True, None, round_=2))) is None
    assert NoChange().check(after(votes(True, None), votes(True, False, round_=2))) is None


# --------------------------------------------------------------------------- Consensus


def test_consensus_stops_when_every_voting_juror_agrees() -> None:
    assert Consensus().check(blind(True, True, True)) == "consensus"
    assert Consensus().check(blind(False, False)) == "consensus"


def test_consensus_ignores_abstentions() -> None:
    assert Consensus().check(blind(True, None, True)) == "consensus"


def test_consensus_goes_on_when_jurors_disagree() -> None:
    assert Consensus().check(blind(True, False, True)) is None


def test_consensus_goes_on_when_everyone_abstained() -> None:
    assert Consensus().check(blind(None, None)) is None


def test_consensus_checks_the_latest_votes_not_the_previous_ones() -> None:
    state = after(votes(True, False), votes(False, False, round_=2))
    assert Consensus().check(state) == "consensus"


# --------------------------------------------------------------------------- composition


def test_or_stops_when_either_part_stops_and_gives_its_reason() -> None:
    either = NoChange() | Consensus()
    assert either.check(blind(True, True)) == "consensus"
    unchanged_split = after(votes(True, False), votes(True, False, round_=2))
    assert either.check(unchanged_split) == "no_change"
    assert either.check(blind(True, False)) is None


def test_or_reports_the_first_part_that_stops() -> None:
    state = after(votes(True, True), votes(True, True, round_=2))
    assert (NoChange() | Consensus()).check(state) == "no_change"
    assert (Consensus() | NoChange()).check(state) == "consensus"


def test_and_stops_only_when_both_parts_stop_and_joins_their_reasons() -> None:
    both = NoChange() & Consensus()
    agreed_unchanged = after(votes(True, True), votes(True, True, round_=2))
    assert both.check(agreed_unchanged) == "no_change+consensus"
    # Consensus alone (after a flip) is not enough; neither is no change alone.
    assert both.check(after(votes(True, False), votes(True, True, round_=2))) is None
    assert both.check(after(votes(True, False), votes(True, False, round_=2))) is None
    assert both.check(blind(True, True)) is None


def test_composition_nests() -> None:
    nested = (NoChange() & Consensus()) | Always("budget")
    assert nested.check(blind(True, False)) == "budget"
    deep = Always("a") & (Never() | Always("b"))
    assert deep.check(blind(True)) == "a+b"
    assert (Always("a") & Never()).check(blind(True)) is None


def test_never_never_stops() -> None:
    assert Never().check(blind(True, True)) is None
    assert Never().check(after(votes(True), votes(True, round_=2))) is None


# --------------------------------------------------------------------------- from_names


def test_from_names_with_no_rules_never_stops() -> None:
    condition = from_names([])
    assert condition.check(blind(True, True)) is None
    assert condition.check(after(votes(True, True), votes(True, True, round_=2))) is None


def test_from_names_builds_each_named_condition() -> None:
    assert from_names(["consensus"]).check(blind(False, False)) == "consensus"
    assert from_names(["no_change"]).check(blind(False, False)) is None
    unchanged = after(votes(True, False), votes(True, False, round_=2))
    assert from_names(["no_change"]).check(unchanged) == "no_change"
    assert from_names(["consensus"]).check(unchanged) is None


def test_from_names_combines_with_or_in_the_given_order() -> None:
    agreed_unchanged = after(votes(True, True), votes(True, True, round_=2))
    assert from_names(["no_change", "consensus"]).check(agreed_unchanged) == "no_change"
    assert from_names(["consensus", "no_change"]).check(agreed_unchanged) == "consensus"
    assert from_names(["consensus", "no_change"]).check(blind(True, False)) is None


def test_jury_config_rejects_an_unknown_stop_rule_name() -> None:
    jurors = [{"model": "openai/juror-model", "api_key": "sk-test"}]
    with pytest.raises(ValidationError) as info:
        JuryConfig.model_validate({"jurors": jurors, "early_stop": ["budget"]})
    assert "early_stop" in str(info.value) and "budget" in str(info.value)
    config = JuryConfig.model_validate({"jurors": jurors, "early_stop": ["consensus"]})
    assert from_names(config.early_stop).check(blind(True, True)) == "consensus"


def test_a_registered_stop_rule_is_accepted_by_the_config_without_editing_it() -> None:
    # The config's accepted names are the registry's: registering a rule is all it takes.
    class EveryVoteIn(StopCondition):
        def check(self, state: RoundState) -> str | None:
            return "every_vote_in" if all(v.payload for v in state.votes) else None

    jurors = [{"model": "openai/juror-model", "api_key": "sk-test"}]
    with pytest.raises(ValidationError, match="known: consensus, no_change"):
        JuryConfig.model_validate({"jurors": jurors, "early_stop": ["every_vote_in"]})
    STOP_RULES.add("every_vote_in", EveryVoteIn())
    try:
        config = JuryConfig.model_validate({"jurors": jurors, "early_stop": ["every_vote_in"]})
        assert from_names(config.early_stop).check(blind(True, False)) == "every_vote_in"
    finally:
        STOP_RULES.remove("every_vote_in")


@pytest.mark.parametrize("name", STOP_RULES.names())
def test_every_registered_stop_rule_is_accepted_and_builds_a_condition(name: str) -> None:
    jurors = [{"model": "openai/juror-model", "api_key": "sk-test"}]
    config = JuryConfig.model_validate({"jurors": jurors, "early_stop": [name]})
    condition = from_names(config.early_stop)
    assert condition.check(blind(True, True)) in {None, name}
