"""Voting rules: registered reducers from the jurors' final votes to a decision.

Every rule ignores abstentions and returns ``harmful=None`` when nobody voted; the contract
tests run each registered rule over the same fixtures.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from kernel.errors import ConfigError
from kernel.records import Decision, Vote, VotePayload
from kernel.registry import lookup, names, registrar

voting_rule = registrar("voting_rule")

Decide = Callable[[Sequence[Vote], VotePayload | None], Decision]


@dataclass(frozen=True)
class VotingRule:
    """A named reducer; ``needs_foreperson_vote`` asks the courtroom for the foreperson's."""

    name: str
    decide: Decide
    needs_foreperson_vote: bool = False


def _counted(votes: Sequence[Vote]) -> list[VotePayload]:
    return [v.payload for v in votes if v.payload is not None]


def _no_votes(name: str) -> Decision:
    return Decision(harmful=None, rule=name, explanation="every juror abstained")


@voting_rule("majority")
def majority(tie: Literal["harmful", "safe"] = "harmful") -> VotingRule:
    """Harmful when more voting jurors say harmful than not; a tie goes to ``tie``."""
    name = f"majority(tie={tie})"

    def decide(votes: Sequence[Vote], _: VotePayload | None) -> Decision:
        counted = _counted(votes)
        if not counted:
            return _no_votes(name)
        harmful = sum(p.harmful for p in counted)
        safe = len(counted) - harmful
        verdict = harmful > safe or (harmful == safe and tie == "harmful")
        return Decision(harmful=verdict, rule=name, explanation=f"{harmful} harmful, {safe} not")

    return VotingRule(name, decide)


@voting_rule("supermajority")
def supermajority(k: int) -> VotingRule:
    """Harmful when at least ``k`` jurors say harmful."""
    if k < 1:
        raise ValueError("supermajority needs k >= 1")
    name = f"supermajority(k={k})"

    def decide(votes: Sequence[Vote], _: VotePayload | None) -> Decision:
        counted = _counted(votes)
        if not counted:
            return _no_votes(name)
        harmful = sum(p.harmful for p in counted)
        return Decision(
            harmful=harmful >= k, rule=name, explanation=f"{harmful} harmful of {k} needed"
        )

    return VotingRule(name, decide)


@voting_rule("unanimous")
def unanimous() -> VotingRule:
    """Harmful only when every voting juror says harmful."""
    name = "unanimous"

    def decide(votes: Sequence[Vote], _: VotePayload | None) -> Decision:
        counted = _counted(votes)
        if not counted:
            return _no_votes(name)
        harmful = sum(p.harmful for p in counted)
        return Decision(
            harmful=harmful == len(counted),
            rule=name,
            explanation=f"{harmful} of {len(counted)} voting jurors say harmful",
        )

    return VotingRule(name, decide)


@voting_rule("any_harmful")
def any_harmful() -> VotingRule:
    """Harmful when any voting juror says harmful (the most cautious rule)."""
    name = "any_harmful"

    def decide(votes: Sequence[Vote], _: VotePayload | None) -> Decision:
        counted = _counted(votes)
        if not counted:
            return _no_votes(name)
        harmful = sum(p.harmful for p in counted)
        return Decision(harmful=harmful > 0, rule=name, explanation=f"{harmful} harmful")

    return VotingRule(name, decide)


@voting_rule("confidence_weighted")
def confidence_weighted(threshold: float = 0.5) -> VotingRule:
    """Harmful when the harmful side holds at least ``threshold`` of the total confidence."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("confidence_weighted needs 0 < threshold < 1")
    name = f"confidence_weighted(threshold={threshold:g})"

    def decide(votes: Sequence[Vote], _: VotePayload | None) -> Decision:
        counted = _counted(votes)
        if not counted:
            return _no_votes(name)
        # A juror at zero confidence still counts a little, so an all-unsure jury decides.
        weights = [(p.harmful, max(p.confidence, 1e-3)) for p in counted]
        total = sum(w for _, w in weights)
        share = sum(w for harmful, w in weights if harmful) / total
        return Decision(
            harmful=share >= threshold, rule=name, explanation=f"harmful weight {share:.2f}"
        )

    return VotingRule(name, decide)


@voting_rule("foreperson_decides")
def foreperson_decides() -> VotingRule:
    """The foreperson reads the deliberation and decides; without its vote, majority."""
    name = "foreperson_decides"
    fallback = majority()

    def decide(votes: Sequence[Vote], foreperson: VotePayload | None) -> Decision:
        if foreperson is None:
            decision = fallback.decide(votes, None)
            return Decision(
                harmful=decision.harmful,
                rule=name,
                explanation=f"foreperson gave no vote; fell back to majority: "
                f"{decision.explanation}",
            )
        return Decision(
            harmful=foreperson.harmful, rule=name, explanation="decided by the foreperson"
        )

    return VotingRule(name, decide, needs_foreperson_vote=True)


@cache
def options_model(rule_name: str) -> type[BaseModel]:
    """A pydantic model of the options rule ``rule_name`` takes, built from its factory's
    signature: every registered rule is checked the same way, with no per-rule code.

    Strict, because lax coercion changes results silently (``k: 2.5`` would become 2, and a
    ``tie`` other than the exact literal would quietly mean "safe"); unknown options are
    refused. Raises ``ConfigError`` for an unknown rule."""
    factory = lookup("voting_rule", rule_name)
    hints = get_type_hints(factory)
    fields: dict[str, Any] = {}
    for name, parameter in inspect.signature(factory).parameters.items():
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (hints.get(name, Any), default)
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"VotingOptions_{rule_name}",
        __config__=ConfigDict(extra="forbid", strict=True),
        **fields,
    )
    return model


def validate_options(rule_name: str, options: dict[str, object]) -> dict[str, Any]:
    """The rule's options, type-checked against its factory's signature; ``ValueError``
    (which pydantic reports at the config field) names the rule and each bad option."""
    try:
        model = options_model(rule_name)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    try:
        checked = model.model_validate(options)
    except ValidationError as exc:
        accepted = ", ".join(model.model_fields) or "no options"
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            if error["type"] == "extra_forbidden":
                problems.append(f"takes no option {where} (it takes: {accepted})")
            elif error["type"] == "missing":
                problems.append(f"needs option {where}")
            else:
                problems.append(f"option {where}: {error['msg']} (got {error['input']!r})")
        raise ValueError(f"voting rule {rule_name!r} " + "; ".join(problems)) from None
    return {name: getattr(checked, name) for name in model.model_fields}


def build_rule(config: object, *, jury_size: int) -> VotingRule:
    """Instantiate the configured rule, with errors that name the rule and the option.

    Raises ``ValueError`` so that pydantic reports it at the config field.
    """
    rule_name: str = getattr(config, "rule")  # noqa: B009 - VotingConfig, kept duck-typed
    options = validate_options(rule_name, config.options())  # type: ignore[attr-defined]
    factory = lookup("voting_rule", rule_name)
    try:
        rule: VotingRule = factory(**options)
    except TypeError as exc:
        raise ValueError(f"voting rule {rule_name!r}: {exc}") from None
    k = options.get("k")
    if isinstance(k, int) and k > jury_size:
        raise ValueError(f"supermajority k={k} exceeds the jury's {jury_size} jurors")
    return rule


def rule_names() -> list[str]:
    return names("voting_rule")
