"""What judges reply in the taxonomy debate, and the typed events of its transcript.

Replies are read through these models (``generation.judging.ask_structured``); every reply,
parsed or not, becomes one event of the debate's ``Transcript``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from generation.taxonomy import ScenarioVotes

# ---------------------------------------------------------------- what judges reply


class _Reply(BaseModel):
    # Judges may add fields of their own (a rationale, a confidence); they are ignored.
    model_config = ConfigDict(extra="ignore")


class ProposedScenario(_Reply):
    name: str = Field(min_length=2, max_length=80)
    description: str = Field(min_length=5, max_length=500)


class ProposedCategory(_Reply):
    name: str = Field(min_length=2, max_length=80)
    description: str = Field(min_length=5, max_length=500)
    scenarios: list[ProposedScenario] = Field(min_length=1, max_length=20)


class Proposal(_Reply):
    """A judge's proposed taxonomy."""

    categories: list[ProposedCategory] = Field(min_length=1, max_length=20)


class MergeSuggestion(_Reply):
    keep: str = Field(pattern=r"^S\d+$")
    """The id of the scenario that stays."""
    absorb: list[str] = Field(min_length=1)
    """Ids of scenarios that say the same thing and fold into ``keep``."""
    reason: str = ""


class Critique(_Reply):
    """A judge's review of the merged list."""

    merges: list[MergeSuggestion] = Field(default_factory=list)
    comments: str = ""


class BallotItem(_Reply):
    id: str = Field(pattern=r"^S\d+$")
    keep: bool
    reason: str = ""


class Ballot(_Reply):
    """A judge's keep/drop votes on the merged scenarios."""

    votes: list[BallotItem] = Field(default_factory=list)


# ---------------------------------------------------------------- the transcript


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProposalEvent(_Event):
    type: Literal["taxonomy_proposal"] = "taxonomy_proposal"
    judge: str
    attempts: int
    proposal: Proposal | None = None
    error: str | None = None
    """Why no proposal was recorded (parse error after re-asks, or provider error)."""


class MergeEvent(_Event):
    type: Literal["taxonomy_merge"] = "taxonomy_merge"
    stage: str
    """``proposals`` for the deterministic merge, ``critique-<round>`` for a judges' merge."""
    into: str
    """The scenario (id and name) that stays."""
    merged: list[str]
    """The names folded into it."""
    reason: str


class CritiqueEvent(_Event):
    type: Literal["taxonomy_critique"] = "taxonomy_critique"
    round: int
    judge: str
    attempts: int
    critique: Critique | None = None
    error: str | None = None


class BallotEvent(_Event):
    type: Literal["taxonomy_ballot"] = "taxonomy_ballot"
    judge: str
    attempts: int
    ballot: Ballot | None = None
    error: str | None = None


class OutcomeEvent(_Event):
    type: Literal["taxonomy_outcome"] = "taxonomy_outcome"
    scenario: str
    category: str
    kept: bool
    votes: ScenarioVotes
    supporters: list[str]


DebateEvent = Annotated[
    ProposalEvent | MergeEvent | CritiqueEvent | BallotEvent | OutcomeEvent,
    Field(discriminator="type"),
]


class Transcript(BaseModel):
    """Every event of a debate, in order."""

    events: list[DebateEvent] = Field(default_factory=list)
