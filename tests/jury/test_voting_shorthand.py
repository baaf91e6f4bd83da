"""``voting: unanimous`` (a bare rule name) is ``{rule: unanimous}``; a rule that needs options
given bare is refused naming them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jury.config import JuryConfig, VotingConfig
from jury.voting import options_model, rule_names

JURORS = [{"model": "openai/a"}, {"model": "openai/b"}, {"model": "openai/c"}]


def bare_rules() -> list[str]:
    # Every registered rule whose options all have defaults: the shorthand must take each.
    return [
        name
        for name in rule_names()
        if not any(f.is_required() for f in options_model(name).model_fields.values())
    ]


@pytest.mark.parametrize("rule", bare_rules())
def test_a_bare_rule_name_is_the_rule_with_its_defaults(rule: str) -> None:
    foreperson = {"foreperson": {"model": "openai/f"}}  # foreperson_decides needs one
    bare = JuryConfig.model_validate({"jurors": JURORS, "voting": rule, **foreperson})
    spelt = JuryConfig.model_validate({"jurors": JURORS, "voting": {"rule": rule}, **foreperson})
    assert bare.voting == spelt.voting == VotingConfig(rule=rule)
    assert bare.model_dump() == spelt.model_dump()  # so the run identity is the same too


def test_the_readme_bare_names_are_accepted() -> None:
    assert {"unanimous", "any_harmful", "foreperson_decides", "majority"} <= set(bare_rules())


def test_a_rule_that_needs_options_given_bare_names_them() -> None:
    with pytest.raises(ValidationError) as caught:
        JuryConfig.model_validate({"jurors": JURORS, "voting": "supermajority"})
    message = str(caught.value)
    assert "voting" in message
    assert "needs option(s) k" in message
    assert "{rule: supermajority, k: <k>}" in message


def test_an_unknown_bare_rule_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        JuryConfig.model_validate({"jurors": JURORS, "voting": "unanimus"})
    assert "unknown voting_rule 'unanimus'" in str(caught.value)
    assert "unanimous" in str(caught.value)
