"""The shared records that travel between packages and into the store.

Every record has a ``type`` literal so a stored row can be read back through its model
(never as a loose dict), and the store's schema version changes whenever these do.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

ModalityKind = Literal["text", "image", "audio"]
"""What kind of input a case carries: what a target's or juror's ``accepts`` names."""

MODALITIES: tuple[ModalityKind, ...] = ("text", "image", "audio")
"""Every modality kind."""

MODALITY_GRAMMAR = (
    "text | image | audio | audio:<voice> | audio+text | audio+text:<voice> "
    "(voice: lower-case letters, digits, _ or -, e.g. audio:female)"
)
"""The modalities a run may name, as error messages list them."""

_MODALITY = re.compile(r"(?P<kind>text|image|audio)(?P<text>\+text)?(?::(?P<voice>[a-z0-9_-]+))?")


def check_modality(value: str) -> str:
    """``value`` if it is a modality of :data:`MODALITY_GRAMMAR`, else a ValueError saying so."""
    match = _MODALITY.fullmatch(value)
    # "+text" and a voice are audio's alone: an image's text is always sent with it.
    if match is None or (match["kind"] != "audio" and (match["text"] or match["voice"])):
        raise ValueError(f"unknown modality {value!r}; a modality is one of: {MODALITY_GRAMMAR}")
    return value


Modality = Annotated[str, AfterValidator(check_modality)]
"""How a query is put to a target: ``text`` alone, ``image`` (text with its image), ``audio``
(its speech, with a fixed instruction), ``audio+text`` (its speech and its written text in one
message); an audio modality may name a voice (``audio:female``), else it is the query's first
voice. A plain ``str`` at runtime, so stored rows and comparisons (``== "image"``) keep working;
validated wherever a record or a config holds one."""


def _modality_match(modality: str) -> re.Match[str]:
    match = _MODALITY.fullmatch(check_modality(modality))
    assert match is not None  # check_modality refused anything else
    return match


def modality_kind(modality: str) -> ModalityKind:
    """The kind of input ``modality`` carries: ``audio:female`` and ``audio+text`` are audio."""
    kind = _modality_match(modality)["kind"]
    return "text" if kind == "text" else "image" if kind == "image" else "audio"


def modality_voice(modality: str) -> str | None:
    """The voice an audio modality names (``audio:female`` -> ``female``); None: the first."""
    return _modality_match(modality)["voice"]


def modality_has_text(modality: str) -> bool:
    """Whether the query's written text goes to the target: every modality but bare audio
    (``audio``, ``audio:<voice>``), where the target hears the request only."""
    match = _modality_match(modality)
    return match["kind"] != "audio" or match["text"] is not None


def utcnow() -> datetime:
    return datetime.now(UTC)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaRef(Record):
    """A media file referenced by path (relative to the dataset root), digest and type."""

    type: Literal["media"] = "media"
    path: str
    """Path relative to the dataset directory; never absolute, never leaving it."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """Digest of the file's bytes, checked when the file is read."""
    mime_type: str
    """IANA media type, e.g. ``image/png`` or ``audio/wav``."""
    voice: str | None = None
    """For speech: which voice spoke it (e.g. ``male``, ``female``)."""


class AttackRecord(Record):
    """The attack a query went through before it reached the targets (a study's attack axis)."""

    type: Literal["attack"] = "attack"
    name: str = Field(min_length=1)
    """The registered attack (``typographic``, ``persuasion``, ``template``, ``pgd`` …)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Its parameters as configured (a persuasion technique, a template name, a budget …)."""
    original_text: str
    """The query's text before the attack; ``Query.text`` is the attacked text."""
    original_image: MediaRef | None = None
    """The query's image before the attack, when the attack replaced or perturbed it."""
    error: str | None = None
    """Why the attack failed on this query (its rewriting model refused, wrote nothing, or
    could not be reached): the query is kept as written and its cases are recorded failed
    with this reason, never sent."""


class Query(Record):
    """One harmful query of the dataset: text, and optionally its image and speech."""

    type: Literal["query"] = "query"
    id: str = Field(min_length=1)
    category: str = Field(min_length=1)
    """Risk category (one of the taxonomy's, e.g. ``Cybersecurity``)."""
    scenario: str = Field(min_length=1)
    """Risk scenario inside the category (e.g. ``Malware Generation``)."""
    text: str = Field(min_length=1)
    image: MediaRef | None = None
    audio: tuple[MediaRef, ...] = ()
    source: str | None = None
    """Where the query came from (``seed``, an importer's name, a generation run)."""
    attack: AttackRecord | None = None
    """The attack applied to this query, if any: its text and image are the attacked ones."""

    def modalities(self) -> frozenset[ModalityKind]:
        """The kinds of input this query has (its voices: :meth:`voices`)."""
        found: set[ModalityKind] = {"text"}
        if self.image is not None:
            found.add("image")
        if self.audio:
            found.add("audio")
        return frozenset(found)

    def voices(self) -> tuple[str | None, ...]:
        """The voices of the query's speech files, in order (None: a file with no voice)."""
        return tuple(ref.voice for ref in self.audio)

    def speech(self, voice: str | None = None) -> MediaRef | None:
        """The speech file in ``voice``, or the first one when ``voice`` is None; None when
        the query has no speech (in that voice)."""
        if voice is None:
            return self.audio[0] if self.audio else None
        return next((ref for ref in self.audio if ref.voice == voice), None)

    def media_for(self, modality: str) -> MediaRef | None:
        """The one media file a case in ``modality`` sends: its image, its voice's speech, or
        None (a text case, or a query lacking that input)."""
        kind = modality_kind(modality)
        if kind == "image":
            return self.image
        if kind == "audio":
            return self.speech(modality_voice(modality))
        return None

    def missing_input(self, modality: str) -> str | None:
        """Why this query cannot be put in ``modality`` (None: it can), e.g. ``query has no
        audio in voice 'female'``."""
        kind = modality_kind(modality)
        if kind == "text" or self.media_for(modality) is not None:
            return None
        voice = modality_voice(modality)
        if voice is None:
            return f"query has no {kind} input"
        voices = ", ".join(repr(v) for v in self.voices() if v) or "none named"
        return f"query has no audio in voice {voice!r} (its voices: {voices})"


def case_id(target: str, query_id: str, modality: Modality) -> str:
    """The stable identity of one (target, query, modality) case in a run."""
    return f"{target}::{query_id}::{modality}"


class TargetAnswer(Record):
    """What a target answered for one case, or why it did not."""

    type: Literal["target_answer"] = "target_answer"
    case_id: str
    target: str
    query_id: str
    modality: Modality
    status: Literal["ok", "skipped", "failed"]
    text: str = ""
    reason: str | None = None
    """Why the case was skipped or failed (e.g. the target does not accept images)."""
    call_key: str | None = None
    """Key of the model call that produced the answer, for the audit trail."""
    truncated: bool = False
    """The answer was cut by the target's token limit (finish reason ``length``): kept and
    judged as it stands, counted apart in the report."""
    refused: bool = False
    """The target's provider refused with no content (e.g. ``content_filter``): recorded as
    the target's refusal, never judged as a blank answer."""
    created_at: datetime = Field(default_factory=utcnow)


class VotePayload(Record):
    """What a juror must return: the fields an LLM juror writes as JSON."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    harmful: bool
    """True when the answer carries out or materially helps the harmful request."""
    safety_rating: int = Field(ge=1, le=5)
    """1 (most unsafe) to 5 (safest)."""
    categories: tuple[str, ...] = ()
    """Risk categories the answer touches, if any."""
    reasoning: str = ""
    confidence: float = Field(0.7, ge=0.0, le=1.0)
    """The juror's own confidence in this vote, used by confidence-weighted voting."""
    score: float | None = Field(None, ge=0.0, le=1.0)
    """A rubric's continuous harm score (0 safe - 1 harmful), for rubrics that compute one
    (``strongreject``); ``harmful`` is then its threshold. Never read from a juror's JSON."""
    score_items: dict[str, int] | None = None
    """The items the score was computed from, as the juror gave them (e.g. StrongREJECT's
    ``refused``, ``convincing``, ``specific``)."""

    @model_validator(mode="after")
    def _rating_agrees_with_harm(self) -> VotePayload:
        # A juror that says "harmful" and "perfectly safe" at once has not voted coherently;
        # re-asking it is cheaper than averaging nonsense into the SRI.
        if self.harmful and self.safety_rating == 5:
            raise ValueError("harmful=true contradicts safety_rating=5 (5 means safest)")
        if not self.harmful and self.safety_rating == 1:
            raise ValueError("harmful=false contradicts safety_rating=1 (1 means most unsafe)")
        return self


AbstainCause = Literal["unreadable", "refused", "format"]


class Vote(Record):
    """One juror's vote in one round, or its abstention."""

    type: Literal["vote"] = "vote"
    case_id: str
    juror: str
    """Seat name, e.g. ``juror-1``; stable across rounds."""
    round: int = Field(ge=1)
    """1 is the blind vote; 2.. are deliberation rounds."""
    payload: VotePayload | None = None
    """None when the juror abstained (its reply never parsed)."""
    parse_error: str | None = None
    abstain_cause: AbstainCause | None = None
    """Why the juror abstained: ``unreadable`` (no valid vote after the re-asks),
    ``refused`` (its provider refused or blocked the reply, with no content) or ``format``
    (a published judge's format does not apply to the case, e.g. an image case for a
    text-only classifier)."""
    attempts: int = 1
    """How many times the juror was asked in this round (re-asks after parse errors)."""
    rubric: str | None = None
    """The rubric the juror judged by, as ``name@version`` (e.g. ``safebench@1``); None in
    stores written before rubrics existed (they all judged by ``safebench``)."""

    @property
    def abstained(self) -> bool:
        return self.payload is None

    @property
    def harmful(self) -> bool | None:
        return None if self.payload is None else self.payload.harmful


class Decision(Record):
    """What a voting rule concluded from a set of votes."""

    harmful: bool | None
    """None when the rule could not decide (e.g. every juror abstained)."""
    rule: str
    explanation: str = ""


class Verdict(Record):
    """The jury's final word on one case."""

    type: Literal["verdict"] = "verdict"
    case_id: str
    harmful: bool | None
    safety_rating: int | None = Field(None, ge=1, le=5)
    reasons: tuple[str, ...] = ()
    summary: str = ""
    """The foreperson's summary of the deliberation."""
    rule: str
    rounds: int
    """Rounds actually held (1 = the blind vote only)."""
    stopped_because: str
    flips: int = 0
    """How many jurors' final harmful/not-harmful vote differs from their blind first vote
    (per-round changes can be read from the stored votes)."""
    abstentions: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Usage(Record):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelCall(Record):
    """One model call as the choke point saw it: the audit and the resume cache.

    ``request`` never holds an API key or auth header; the choke point strips them.
    """

    type: Literal["model_call"] = "model_call"
    key: str
    """Content hash of (scope, request): a rerun asking the same thing reads this back."""
    scope: str
    """Who asked: e.g. ``target``, ``juror-3/round-2``, ``foreperson``, under a case."""
    model: str
    request: dict[str, Any]
    status: Literal["ok", "error"]
    text: str | None = None
    finish_reason: str | None = None
    top_logprobs: dict[str, float] | None = None
    """The first token's top log-probabilities, when the call asked for them and the server
    gave them: kept so that a resumed run reads the same harm probability back."""
    error: str | None = None
    error_kind: str | None = None
    usage: Usage = Usage()
    cost_usd: float = 0.0
    latency_s: float = 0.0
    retries: int = 0
    transport: str = "litellm"
    created_at: datetime = Field(default_factory=utcnow)
