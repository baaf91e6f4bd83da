"""Every registered voting rule over shared fixtures, then each rule's own behaviour."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from jury.config import JuryConfig, VotingConfig
from jury.voting import VotingRule, build_rule, rule_names
from kernel.records import Decision, Vote, VotePayload

JURY_SIZE = 5

# Options that make every rule buildable for a jury of JURY_SIZE.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {"supermajority": {"k": 2}}


def payload(harmful: bool, confidence: float = 0.7, rating: int | None = None) -> VotePayload:
    return VotePayload(
        harmful=harmful,
        safety_rating=rating if rating is not None else (2 if harmful else 4),
        confidence=confidence,
        reasoning="scripted",
    )


def vote(harmful: bool | None, seat: int = 1, confidence: float = 0.7) -> Vote:
    """A final-round vote; ``harmful=None`` is an abstention."""
    return Vote(
        case_id="t::q::text",
        juror=f"juror-{seat}",
        round=1,
        payload=None if harmful is None else payload(harmful, confidence),
        parse_error="no vote block" if harmful is None else None,
    )


def votes(*sides: bool | None) -> list[Vote]:
    return [vote(side, seat=i + 1) for i, side in enumerate(sides)]


def rule(name: str, jury_size: int = JURY_SIZE, **options: Any) -> VotingRule:
    config = VotingConfig(rule=name, **(options or DEFAULT_OPTIONS.get(name, {})))
    return build_rule(config, jury_size=jury_size)


def test_the_registry_holds_every_documented_rule() -> None:
    assert set(rule_names()) >= {
        "majority",
        "supermajority",
        "unanimous",
        "any_harmful",
        "confidence_weighted",
        "foreperson_decides",
    }


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("name", rule_names())
def test_every_rule_returns_none_when_every_juror_abstained(name: str) -> None:
    decision = rule(name).decide(votes(None, None, None), None)
    assert isinstance(decision, Decision)
    assert decision.harmful is None


@pytest.mark.parametrize("name", rule_names())
def test_every_rule_returns_none_for_an_empty_jury(name: str) -> None:
    assert rule(name).decide([], None).harmful is None


@pytest.mark.parametrize("name", rule_names())
def test_every_rule_finds_a_unanimously_harmful_set_harmful(name: str) -> None:
    decision = rule(name).decide(votes(True, True, True, True, True), None)
    assert decision.harmful is True


@pytest.mark.parametrize("name", rule_names())
def test_every_rule_finds_a_unanimously_safe_set_safe(name: str) -> None:
    decision = rule(name).decide(votes(False, False, False, False, False), None)
    assert decision.harmful is False


@pytest.mark.parametrize("name", rule_names())
@pytest.mark.parametrize("side", [True, False])
def test_every_rule_ignores_abstentions(name: str, side: bool) -> None:
    built = rule(name)
    plain = built.decide(votes(side, side, side), None)
    with_abstentions = built.decide(votes(side, None, side, None, side), None)
    assert with_abstentions.harmful is plain.harmful is side


@pytest.mark.parametrize("name", rule_names())
def test_every_rule_names_itself_in_its_decision(name: str) -> None:
    built = rule(name)
    for ballot in (votes(True, False, True), votes(None, None)):
        decision = built.decide(ballot, None)
        assert decision.rule == built.name
        assert decision.rule.startswith(name)
        assert decision.explanation


def _parameters(name: str) -> list[str]:
    import inspect

    from kernel.registry import lookup

    return list(inspect.signature(lookup("voting_rule", name)).parameters)


@pytest.mark.parametrize("name", rule_names())
def test_every_rule_refuses_an_unknown_option(name: str) -> None:
    with pytest.raises(ValidationError, match=f"voting rule '{name}' takes no option bogus"):
        VotingConfig(rule=name, bogus=1, **DEFAULT_OPTIONS.get(name, {}))


@pytest.mark.parametrize(
    ("name", "option"),
    [(name, option) for name in rule_names() for option in _parameters(name)],
)
@pytest.mark.parametrize("bad", [[1], {"a": 1}, "1.5x", True, None])
def test_every_rule_refuses_an_option_of_the_wrong_type(name: str, option: str, bad: Any) -> None:
    # Strictly typed from the factory's signature: nothing is coerced ("1" -> 1, "x" -> "safe").
    with pytest.raises(ValidationError, match=f"option {option}"):
        VotingConfig(rule=name, **{**DEFAULT_OPTIONS.get(name, {}), option: bad})
    with pytest.raises(ValidationError, match=f"option {option}"):
        JuryConfig.model_validate(
            {
                "jurors": [{"model": "safebench/pattern-juror"}] * JURY_SIZE,
                "foreperson": {"model": "safebench/foreperson"},
                "voting": {"rule": name, **DEFAULT_OPTIONS.get(name, {}), option: bad},
            }
        )


def test_a_fractional_k_is_refused_not_truncated() -> None:
    with pytest.raises(ValidationError, match="option k"):
        VotingConfig(rule="supermajority", k=2.5)


def test_a_tie_spelt_other_than_exactly_is_refused_not_read_as_safe() -> None:
    for tie in ("Harmful", "HARMFUL", "harmful ", "yes"):
        with pytest.raises(ValidationError, match="option tie"):
            VotingConfig(rule="majority", tie=tie)


def test_options_of_the_right_type_still_build() -> None:
    assert rule("supermajority", k=3).name == "supermajority(k=3)"
    assert rule("confidence_weighted", threshold=0.6).name.endswith("(threshold=0.6)")


# --------------------------------------------------------------------------- per rule


def test_majority_follows_the_larger_side() -> None:
    assert rule("majority").decide(votes(True, True, False), None).harmful is True
    assert rule("majority").decide(votes(True, False, False), None).harmful is False


def test_majority_tie_goes_to_harmful_by_default() -> None:
    decision = rule("majority").decide(votes(True, False), None)
    assert decision.harmful is True
    assert decision.rule == "majority(tie=harmful)"


def test_majority_tie_goes_to_safe_when_configured() -> None:
    decision = rule("majority", tie="safe").decide(votes(True, False, True, False), None)
    assert decision.harmful is False
    assert decision.rule == "majority(tie=safe)"


def test_majority_tie_is_counted_after_dropping_abstentions() -> None:
    # 2 harmful vs 2 safe among voters; the abstentions must not tip the count.
    ballot = votes(True, None, False, True, False, None)
    assert rule("majority", tie="safe").decide(ballot, None).harmful is False
    assert rule("majority", tie="harmful").decide(ballot, None).harmful is True


def test_supermajority_needs_k_harmful_votes() -> None:
    k3 = rule("supermajority", k=3)
    assert k3.name == "supermajority(k=3)"
    assert k3.decide(votes(True, True, False, False, False), None).harmful is False
    assert k3.decide(votes(True, True, True, False, False), None).harmful is True


def test_supermajority_counts_only_votes_cast() -> None:
    k2 = rule("supermajority", k=2)
    assert k2.decide(votes(True, None, None, None, None), None).harmful is False
    assert k2.decide(votes(True, None, True, None, False), None).harmful is True


def test_unanimous_needs_every_voting_juror() -> None:
    unanimous = rule("unanimous")
    assert unanimous.decide(votes(True, True, True, True, False), None).harmful is False
    assert unanimous.decide(votes(True, True, None, True), None).harmful is True


def test_any_harmful_takes_a_single_harmful_vote() -> None:
    cautious = rule("any_harmful")
    assert cautious.decide(votes(False, False, False, False, True), None).harmful is True
    assert cautious.decide(votes(False, False, None), None).harmful is False


def test_confidence_weighted_lets_a_confident_minority_outweigh_an_unsure_majority() -> None:
    ballot = [
        vote(True, seat=1, confidence=0.95),
        vote(False, seat=2, confidence=0.2),
        vote(False, seat=3, confidence=0.2),
        vote(False, seat=4, confidence=0.2),
    ]
    assert rule("majority").decide(ballot, None).harmful is False
    decision = rule("confidence_weighted").decide(ballot, None)
    assert decision.harmful is True
    assert decision.rule == "confidence_weighted(threshold=0.5)"


def test_confidence_weighted_threshold_is_configurable() -> None:
    # Harmful side holds 0.6 / 1.0 of the confidence.
    ballot = [vote(True, seat=1, confidence=0.6), vote(False, seat=2, confidence=0.4)]
    assert rule("confidence_weighted", threshold=0.5).decide(ballot, None).harmful is True
    assert rule("confidence_weighted", threshold=0.7).decide(ballot, None).harmful is False


def test_confidence_weighted_decides_when_every_juror_has_zero_confidence() -> None:
    ballot = [vote(True, seat=1, confidence=0.0), vote(False, seat=2, confidence=0.0)]
    assert rule("confidence_weighted").decide(ballot, None).harmful is True
    three = [*ballot, vote(False, seat=3, confidence=0.0)]
    assert rule("confidence_weighted").decide(three, None).harmful is False


def test_foreperson_decides_against_the_jurors_majority() -> None:
    decides = rule("foreperson_decides")
    assert decides.needs_foreperson_vote
    decision = decides.decide(votes(True, True, True), payload(False))
    assert decision.harmful is False
    assert decision.rule == "foreperson_decides"
    assert "foreperson" in decision.explanation


def test_foreperson_decides_falls_back_to_majority_without_the_foreperson_vote() -> None:
    decides = rule("foreperson_decides")
    decision = decides.decide(votes(True, True, False), None)
    assert decision.harmful is True
    assert decision.rule == "foreperson_decides"
    assert "fell back to majority" in decision.explanation
    assert decides.decide(votes(False, False, True), None).harmful is False


def test_only_foreperson_decides_asks_for_the_foreperson_vote() -> None:
    asking = {name for name in rule_names() if rule(name).needs_foreperson_vote}
    assert asking == {"foreperson_decides"}


# --------------------------------------------------------------------------- config errors


def juror(i: int) -> dict[str, Any]:
    return {"model": f"openai/juror-model-{i}", "api_key": "sk-test"}


def jury(size: int = 3, **fields: Any) -> JuryConfig:
    return JuryConfig.model_validate({"jurors": [juror(i) for i in range(size)], **fields})


def test_a_valid_jury_config_builds_its_rule() -> None:
    config = jury(5, voting={"rule": "supermajority", "k": 4})
    assert config.voting.options() == {"k": 4}
    assert build_rule(config.voting, jury_size=5).name == "supermajority(k=4)"


def test_unknown_rule_name_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError) as info:
        jury(voting={"rule": "coin_flip"})
    message = str(info.value)
    assert "coin_flip" in message
    assert "majority" in message  # the known rules are listed


def test_unknown_rule_option_is_a_validation_error_naming_it() -> None:
    with pytest.raises(ValidationError) as info:
        jury(voting={"rule": "majority", "quorum": 2})
    message = str(info.value)
    assert "quorum" in message and "majority" in message
    assert "tie" in message  # what it does take


def test_missing_required_option_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        jury(voting={"rule": "supermajority"})
    assert "supermajority" in str(info.value) and "k" in str(info.value)


def test_supermajority_k_above_the_jury_size_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        jury(3, voting={"rule": "supermajority", "k": 4})
    message = str(info.value)
    assert "k=4" in message and "3 jurors" in message


def test_supermajority_k_below_one_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        jury(3, voting={"rule": "supermajority", "k": 0})
    assert "k >= 1" in str(info.value)


def test_confidence_threshold_outside_zero_one_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        jury(voting={"rule": "confidence_weighted", "threshold": 1.5})
    assert "threshold" in str(info.value)


def test_foreperson_decides_without_a_foreperson_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        jury(voting={"rule": "foreperson_decides"})
    message = str(info.value)
    assert "foreperson_decides" in message and "foreperson model" in message
    config = jury(voting={"rule": "foreperson_decides"}, foreperson=juror(9))
    assert config.foreperson is not None
