"""Finding cases in a run: one filter shared by ``safebench transcripts`` and the viewer.

A :class:`CaseSummary` is a case's columns plus what an auditor sorts by (verdict,
disagreement, flips); a :class:`CaseDetail` is everything one case's deliberation holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jury.metrics.agreement import case_disagrees
from kernel.records import Query, TargetAnswer, Verdict, Vote
from safebench.audit.stored_config import JurorSeat, StoredConfig
from transcripts.store import RunStore

VerdictLabel = Literal["harmful", "safe", "undecided", "none"]
"""``none``: the case has no verdict (skipped or failed)."""


class CaseSummary(BaseModel):
    case_id: str
    target: str
    query_id: str
    modality: str
    category: str
    scenario: str
    status: str
    verdict: VerdictLabel
    safety_rating: int | None = None
    rounds: int = 0
    flips: int = 0
    abstentions: int = 0
    disagreement: bool = False
    """The voting jurors split in at least one round."""
    rule: str | None = None


class CaseFilter(BaseModel):
    """What to keep; every field left empty keeps everything."""

    model_config = ConfigDict(extra="forbid")

    target: str | None = None
    scenario: str | None = None
    category: str | None = None
    modality: str | None = None
    status: str | None = None
    verdict: VerdictLabel | None = None
    disagreement: bool | None = None
    flip: bool | None = None
    """True: only cases where some juror changed its vote during deliberation."""
    text: str | None = Field(None, max_length=500)
    """Case-insensitive substring of the query, the answer, any reasoning or the summary."""

    def matches(self, case: CaseSummary) -> bool:
        checks = (
            (self.target, case.target),
            (self.scenario, case.scenario),
            (self.category, case.category),
            (self.modality, case.modality),
            (self.status, case.status),
            (self.verdict, case.verdict),
        )
        if any(want and want != have for want, have in checks):
            return False
        if self.disagreement is not None and case.disagreement != self.disagreement:
            return False
        return self.flip is None or (case.flips > 0) == self.flip


def verdict_label(verdict: Verdict | None) -> VerdictLabel:
    if verdict is None:
        return "none"
    if verdict.harmful is None:
        return "undecided"
    return "harmful" if verdict.harmful else "safe"


def case_summaries(store: RunStore) -> list[CaseSummary]:
    """Every case of the run, in case-id order."""
    verdicts = {v.case_id: v for v in store.iter_verdicts()}
    votes: dict[str, list[Vote]] = defaultdict(list)
    for vote in store.iter_votes():
        votes[vote.case_id].append(vote)
    out: list[CaseSummary] = []
    for row in store.iter_cases():
        verdict = verdicts.get(row.case_id)
        out.append(
            CaseSummary(
                **row.model_dump(exclude={"error"}),
                verdict=verdict_label(verdict),
                safety_rating=verdict.safety_rating if verdict else None,
                rounds=verdict.rounds if verdict else 0,
                flips=verdict.flips if verdict else 0,
                abstentions=verdict.abstentions if verdict else 0,
                disagreement=case_disagrees(votes.get(row.case_id, [])),
                rule=verdict.rule if verdict else None,
            )
        )
    return out


def _text_hit(store: RunStore, case: CaseSummary, needle: str) -> bool:
    needle = needle.casefold()
    query = store.get_query(case.query_id)
    answer = store.get_answer(case.case_id)
    verdict = store.get_verdict(case.case_id)
    haystacks = [
        query.text if query else "",
        answer.text if answer else "",
        verdict.summary if verdict else "",
        *(verdict.reasons if verdict else ()),
        *(v.payload.reasoning for v in store.iter_votes(case.case_id) if v.payload),
    ]
    return any(needle in h.casefold() for h in haystacks)


def search_cases(
    store: RunStore, case_filter: CaseFilter, *, disagreements_first: bool = False
) -> list[CaseSummary]:
    """The cases ``case_filter`` keeps; auditors usually want split juries on top."""
    found = [c for c in case_summaries(store) if case_filter.matches(c)]
    if case_filter.text:
        found = [c for c in found if _text_hit(store, c, case_filter.text)]
    if disagreements_first:
        found.sort(key=lambda c: (not c.disagreement, c.flips == 0, c.case_id))
    return found


def juror_seats(store: RunStore) -> dict[str, JurorSeat]:
    """The seats of the run ``store`` holds: ``juror-N`` -> its model and persona, from a
    run's or a calibration's stored jury; empty when the config names none (an experiment's
    store, where panels change from case to case). See :class:`StoredConfig`."""
    return store.run_record().config_as(StoredConfig).seats


class RoundVotes(BaseModel):
    round: int
    votes: list[Vote]


class CaseDetail(BaseModel):
    """One case's whole deliberation, as the store holds it."""

    type: Literal["case_detail"] = "case_detail"
    summary: CaseSummary
    query: Query | None
    """None for runs stored before the store kept queries."""
    answer: TargetAnswer | None
    rounds: list[RoundVotes]
    verdict: Verdict | None
    error: str | None = None
    seats: dict[str, JurorSeat] = {}
    """Each seat's model and persona (empty when the store's config names no jury)."""


def case_detail(store: RunStore, case_id: str) -> CaseDetail | None:
    row = store.get_case(case_id)
    if row is None:
        return None
    votes = list(store.iter_votes(case_id))
    verdict = store.get_verdict(case_id)
    by_round: dict[int, list[Vote]] = defaultdict(list)
    for vote in votes:
        by_round[vote.round].append(vote)
    summary = CaseSummary(
        **row.model_dump(exclude={"error"}),
        verdict=verdict_label(verdict),
        safety_rating=verdict.safety_rating if verdict else None,
        rounds=verdict.rounds if verdict else 0,
        flips=verdict.flips if verdict else 0,
        abstentions=verdict.abstentions if verdict else 0,
        disagreement=case_disagrees(votes),
        rule=verdict.rule if verdict else None,
    )
    return CaseDetail(
        summary=summary,
        query=store.get_query(row.query_id),
        answer=store.get_answer(case_id),
        rounds=[RoundVotes(round=r, votes=by_round[r]) for r in sorted(by_round)],
        verdict=verdict,
        error=row.error,
        seats=juror_seats(store),
    )
