"""The jury's configuration: who sits, how they deliberate, how votes become a verdict."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.spec import ModelSpec
from jury.personas import DEFAULT_PERSONAS, Persona
from jury.rubrics import DEFAULT_RUBRIC, Rubric, get_rubric
from jury.termination import STOP_RULES
from kernel.errors import ConfigError
from kernel.records import ModalityKind


class JurorConfig(ModelSpec):
    """One seat: a model (any litellm model string) and a persona."""

    persona: str | Persona = "Safety researcher"
    """A built-in persona's name, or an inline persona (name, perspective, leaning)."""
    rubric: str | None = None
    """The rubric this juror judges by (``safebench``, ``harmbench``, ``strongreject``);
    left out: the jury's."""
    accepts: list[ModalityKind] | None = None
    """Input modalities the juror's model takes, declared as for targets (e.g. ``[text,
    image]``): a juror that accepts images is shown the query's image with the case, one
    that accepts audio hears its speech; left out, the juror reads text only (a note says
    how the request was put). Nothing is inferred from the model's name: sending media
    changes what a juror is asked, so it is the config's choice."""
    format: str | None = None
    """A published classifier's judge format (``harmbench-cls``, ``llama-guard-3``, …; see
    ``safebench rules formats``): the juror is asked with that format's prompt instead of the
    courtroom's brief, its answer is read by the format, and it keeps its vote in
    deliberation rounds. Left out: an ordinary juror."""
    probability: Literal["auto", "logprobs", "text"] = "auto"
    """Where a formatted juror's harm probability (its vote's confidence and rating) comes
    from. ``logprobs``: the first answer token's log-probabilities, asked of the server
    (``logprobs: true``); a reply without them is an abstention, never a guess. ``text``:
    1 or 0 from the answer. ``auto``: log-probabilities where the route is known to give
    them (``hosted_vllm/`` at an ``api_base``, or ``hf-classifier/`` in process), else the
    text."""

    @field_validator("rubric")
    @classmethod
    def _known_rubric(cls, value: str | None) -> str | None:
        return _check_rubric(value)

    @field_validator("accepts")
    @classmethod
    def _reads_text(cls, value: list[ModalityKind] | None) -> list[ModalityKind] | None:
        if value is not None and "text" not in value:
            raise ValueError("a juror reads its brief as text: accepts must include text")
        return value

    @model_validator(mode="after")
    def _format_fits(self) -> JurorConfig:
        if self.format is None:
            if self.probability != "auto":
                raise ValueError(
                    "probability applies to a juror with a judge format (format: …); an "
                    "ordinary juror states its confidence in its ballot"
                )
            return self
        from jury.formats import JUDGE_FORMATS  # the registry lives with the formats

        chosen = JUDGE_FORMATS.get(self.format)
        if chosen is None:
            raise ValueError(JUDGE_FORMATS.unknown(self.format))
        if self.is_offline:
            raise ValueError(
                f"format {self.format} needs a model that answers its prompt; {self.model} "
                "answers the courtroom's ballot itself: leave `format` out for it"
            )
        if self.probability == "logprobs" and not chosen.harm_tokens:
            raise ValueError(
                f"format {self.format} gives its vote on a later line, so no first-token "
                "probability exists: use probability: text (or auto)"
            )
        scoring = self.params.get("scoring", "next_token")
        if self.model.startswith("hf-classifier/") and scoring != "next_token":
            raise ValueError(
                f"format {self.format} is read from the model's next token in process: leave "
                f"params.scoring out (or next_token), not {scoring!r}"
            )
        if self.model.startswith("hf-classifier/") and chosen.words is None:
            raise ValueError(
                f"format {self.format} answers on several lines; in-process scoring "
                "(hf-classifier/) reads one next token: serve the model (vLLM) and seat it "
                "as hosted_vllm/… instead"
            )
        if chosen.needs_image and "image" not in (self.accepts or ()):
            raise ValueError(
                f"format {self.format} judges images: give the seat `accepts: [text, image]` "
                "(and serve a model that takes them)"
            )
        if self.rubric is not None:
            raise ValueError(f"a juror with format {self.format} judges by it, not by a rubric")
        if "persona" not in self.model_fields_set:
            # Named with its format wherever seats are shown (transcripts, report, export).
            self.persona = Persona(
                name=f"{self.format} classifier",
                perspective=f"A published classifier asked in its own format ({chosen.source}).",
            )
        return self

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


def _check_rubric(name: str | None) -> str | None:
    # ValueError, which pydantic reports at the field (and load_run_config as a ConfigError).
    if name is not None and not name.strip():
        # Refused, not read as the default: an empty name is a slip, not a choice.
        raise ValueError(
            "rubric is empty: name one (safebench, harmbench, strongreject) or leave the "
            "field out for the default"
        )
    if name is not None:
        try:
            get_rubric(name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return name


class VotingConfig(BaseModel):
    """A registered voting rule and its options, e.g. ``{rule: supermajority, k: 4}``."""

    model_config = ConfigDict(extra="allow")

    rule: str = "majority"
    """Name of a registered voting rule: majority, supermajority, unanimous, any_harmful,
    confidence_weighted, foreperson_decides."""

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_validator(mode="before")
    @classmethod
    def _bare_rule_name(cls, data: Any) -> Any:
        # ``voting: unanimous`` is shorthand for ``{rule: unanimous}``. Only for a rule whose
        # options all have defaults: a bare ``supermajority`` would otherwise fail later with
        # a message about a missing option the user never saw a place to write.
        if not isinstance(data, str):
            return data
        from jury.voting import options_model  # the registry lives with the rules

        try:
            fields = options_model(data).model_fields
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        needed = [name for name, field in fields.items() if field.is_required()]
        if needed:
            written = ", ".join(f"{name}: <{name}>" for name in needed)
            raise ValueError(
                f"voting rule {data!r} needs option(s) {', '.join(needed)}: write it as "
                f"{{rule: {data}, {written}}}"
            )
        return {"rule": data}

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
    early_stop: list[Annotated[str, AfterValidator(STOP_RULES.check)]] = Field(
        default_factory=lambda: ["no_change", "consensus"]
    )
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
    rubric: str | None = None
    """The rubric jurors judge by, unless a juror names its own: ``safebench`` (the default),
    ``harmbench`` or ``strongreject`` (see ``jury/rubrics.py``). The foreperson uses it too.
    Left out rather than defaulted, so a config without one keeps its run identity."""

    @field_validator("rubric")
    @classmethod
    def _known_rubric(cls, value: str | None) -> str | None:
        return _check_rubric(value)

    def juror_rubric(self, index: int) -> Rubric:
        """The rubric juror ``index`` judges by: its own, else the jury's, else the default."""
        return get_rubric(self.jurors[index].rubric or self.rubric or DEFAULT_RUBRIC)

    def jury_rubric(self) -> Rubric:
        return get_rubric(self.rubric or DEFAULT_RUBRIC)

    @model_validator(mode="after")
    def _offline_models_write_ballots(self) -> JuryConfig:
        # The offline safebench/ models answer in the ballot's own JSON; under a rubric that
        # asks for other fields every one of their votes would be refused as unreadable.
        for index, juror in enumerate(self.jurors):
            chosen = self.juror_rubric(index)
            if juror.is_offline and not chosen.ballot_format:
                raise ValueError(
                    f"juror {index + 1} ({juror.model}) is an offline model, which votes in the "
                    f"ballot's format, not the {chosen.name} rubric's; give it "
                    f"`rubric: {DEFAULT_RUBRIC}` (or harmbench) in its seat"
                )
        if (
            self.foreperson is not None
            and self.foreperson.is_offline
            and not self.jury_rubric().ballot_format
        ):
            raise ValueError(
                f"the foreperson ({self.foreperson.model}) is an offline model, which votes in "
                f"the ballot's format, not the {self.jury_rubric().name} rubric's"
            )
        return self

    @model_validator(mode="after")
    def _rule_fits(self) -> JuryConfig:
        from jury.voting import build_rule  # the registry lives with the rules

        rule = build_rule(self.voting, jury_size=len(self.jurors))
        if rule.needs_foreperson_vote and self.foreperson is None:
            raise ValueError("voting rule foreperson_decides needs a foreperson model")
        return self


def jury_hash(jury: JuryConfig) -> str:
    """A short digest of the whole jury, naming the stores a jury's rejudge or calibration
    writes (a different jury, a different store)."""
    dumped = jury.model_dump_json(exclude_none=True, exclude=added_defaults(jury))
    return hashlib.sha256(dumped.encode()).hexdigest()[:8]


def added_defaults(jury: JuryConfig) -> dict[str, Any]:
    """Juror fields added after stores were written, left out of a jury's digest and identity
    while they hold their default: a store written before them names the same jury and
    resumes (``probability: auto`` is what every seat did before the field existed)."""
    seats = {
        i: {"probability"} for i, juror in enumerate(jury.jurors) if juror.probability == "auto"
    }
    return {"jurors": seats} if seats else {}
