"""The jury's configuration: who sits, how they deliberate, how votes become a verdict."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.spec import ModelSpec
from jury.personas import DEFAULT_PERSONAS, Persona

StopRule = Literal["no_change", "consensus"]


class JurorConfig(ModelSpec):
    """One seat: a model (any litellm model string) and a persona."""

    persona: str | Persona = "Safety researcher"
    """A built-in persona's name, or an inline persona (name, perspective, leaning)."""

    def resolved_persona(self) -> Persona:
        if isinstance(self.persona, Persona):
            return self.persona
        return DEFAULT_PERSONAS[self.persona]

    @model_validator(mode="after")
    def _known_persona(self) -> JurorConfig:
        if isinstance(self.persona, str) and self.persona not in DEFAULT_PERSONAS:
            known = ", ".join(DEFAULT_PERSONAS)
            raise ValueError(f"unknown persona {self.persona!r}; built-in personas: {known}")
        return self


class VotingConfig(BaseModel):
    """A registered voting rule and its options, e.g. ``{rule: supermajority, k: 4}``."""

    model_config = ConfigDict(extra="allow")

    rule: str = "majority"
    """Name of a registered voting rule: majority, supermajority, unanimous, any_harmful,
    confidence_weighted, foreperson_decides."""

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _options_fit_the_rule(self) -> VotingConfig:
        # Checked here (not only when the jury builds the rule) so the error lands at
        # ``jury.voting``: a misspelt or mistyped option must never fall back to a default.
        from jury.voting import validate_options  # the registry lives with the rules

        validate_options(self.rule, self.options())
        return self


class JuryConfig(BaseModel):
    """How the courtroom runs for every case."""

    model_config = ConfigDict(extra="forbid")

    jurors: list[JurorConfig] = Field(min_length=1, max_length=25)
    """Who sits on the jury; each juror names a model and a persona."""
    rounds: int = Field(2, ge=0, le=10)
    """Deliberation rounds after the blind first vote; 0 means vote once."""
    protocol: Literal["simultaneous", "round_robin"] = "simultaneous"
    """``simultaneous``: every juror revises at once, seeing the previous round's votes;
    ``round_robin``: jurors revise one after another, each seeing the latest votes."""
    voting: VotingConfig = VotingConfig()
    """The rule that turns the final votes into a verdict."""
    early_stop: list[StopRule] = Field(default_factory=lambda: ["no_change", "consensus"])
    """End deliberation early when a round changes no vote (``no_change``) or every voting
    juror agrees (``consensus``). Empty: always hold every round."""
    foreperson: ModelSpec | None = None
    """The model that summarises the deliberation (and decides, under
    ``foreperson_decides``). None: the summary is assembled from the jurors' reasons."""
    max_reasks: int = Field(2, ge=0, le=5)
    """Times a juror whose reply holds no valid vote is asked again (with the parse error)
    before its vote is recorded as an abstention."""
    max_answer_chars: int = Field(20_000, ge=200)
    """Longer answers are cut (and the cut is marked) before jurors see them."""
    max_request_chars: int = Field(8_000, ge=200)
    """Longer requests (the dataset's query text) are cut, and the cut is marked in the
    prompt, before jurors and the foreperson see them; the target still gets the whole
    query. Bounds what one huge query costs: it is otherwise sent to every juror in every
    round and to the foreperson."""
    seed: int = 0
    """Where offline jurors (``safebench/…``) draw their per-case variation from: the same
    seed gives the same votes in any store (the case nonce stays secret and random). Sent to
    offline jurors only, as the call's ``seed`` parameter; an offline juror whose ``params``
    set a ``seed`` keeps its own. Real LLM jurors are not sent it."""

    @model_validator(mode="after")
    def _rule_fits(self) -> JuryConfig:
        from jury.voting import build_rule  # the registry lives with the rules

        rule = build_rule(self.voting, jury_size=len(self.jurors))
        if rule.needs_foreperson_vote and self.foreperson is None:
            raise ValueError("voting rule foreperson_decides needs a foreperson model")
        return self
