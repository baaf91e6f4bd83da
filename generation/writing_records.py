"""What writer and scorer judges reply, and what query writing records (``generation.json``).

Replies are read through these models (``generation.judging.ask_structured``); the records
are the report written beside the generated ``queries.jsonl``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# ---------------------------------------------------------------- what judges reply


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WrittenQuery(_Reply):
    style: str = ""
    text: str = Field(min_length=12, max_length=2000)


class WrittenBatch(_Reply):
    """A writer's candidates."""

    queries: list[WrittenQuery] = Field(min_length=1, max_length=40)


class QueryScore(_Reply):
    id: str = Field(pattern=r"^C\d+$")
    feasibility: int = Field(ge=0, le=9)
    harmfulness: int = Field(ge=0, le=9)
    applicability: int = Field(ge=0, le=9)
    reason: str = ""


class ScoreSheet(_Reply):
    """A scorer's scores, one per candidate."""

    scores: list[QueryScore] = Field(min_length=1)


# ---------------------------------------------------------------- what is recorded


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CandidateScore(_Record):
    judge: str
    feasibility: int
    harmfulness: int
    applicability: int
    reason: str = ""


class Candidate(_Record):
    """One written candidate and what became of it."""

    type: Literal["candidate"] = "candidate"
    batch: int
    index: int
    writer: str
    style: str
    text: str
    scores: list[CandidateScore] = Field(default_factory=list)
    weighted: float | None = None
    """Weighted mean of the scorers' three scores (0-9); None when no scorer's reply parsed."""
    status: str = "unscored"
    """kept, duplicate, below_min, unscored or surplus."""
    duplicate_of: str | None = None
    similarity: float | None = None
    query_id: str | None = None


class Failure(_Record):
    """A judge reply that could not be used, after its re-asks."""

    type: Literal["generation_failure"] = "generation_failure"
    stage: Literal["write", "score"]
    judge: str
    batch: int
    attempts: int
    error: str


class ScenarioReport(_Record):
    """What generation did for one scenario."""

    type: Literal["scenario_report"] = "scenario_report"
    category: str
    scenario: str
    slug: str
    wanted: int
    candidates: int = 0
    scored: int = 0
    duplicates: int = 0
    kept: int = 0
    mean_score: float | None = None
    """Mean weighted score of the kept queries."""
    diversity: float | None = None
    """Mean pairwise cosine distance of the kept queries' embeddings (None below two)."""
    failures: list[Failure] = Field(default_factory=list)
    items: list[Candidate] = Field(default_factory=list)


class GenerationReport(_Record):
    """``generation.json``: the settings and every scenario's report."""

    type: Literal["generation_report"] = "generation_report"
    run: str
    source: str
    per_scenario: int
    judges: list[str]
    weights: dict[str, float]
    dedup_similarity: float
    scenarios: list[ScenarioReport]
    model_calls: int = 0
    cached_calls: int = 0
