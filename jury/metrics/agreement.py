"""Agreement among jurors, read from stored votes: Fleiss' kappa, flips and abstentions.

Pure functions over :class:`~kernel.records.Vote` records, so the report, the viewer
and tests share one definition. Two categories are rated: harmful and not harmful.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from kernel.records import Vote


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of a subjects × categories table of rater counts.

    Each row holds, for one subject, how many raters put it in each category. Rows may
    have different rater counts (a juror that abstained rates nothing), so each subject's
    agreement uses its own count; with equal counts this is Fleiss (1971) exactly. Rows
    with fewer than two raters say nothing about agreement and are left out. Returns None
    when no row is usable or when every rating falls in one category (kappa is 0/0 there).
    """
    rows = [list(row) for row in table if sum(row) >= 2]
    if not rows:
        return None
    width = max(len(row) for row in rows)
    rows = [row + [0] * (width - len(row)) for row in rows]
    total = sum(sum(row) for row in rows)
    shares = [sum(row[j] for row in rows) / total for j in range(width)]
    expected = sum(p * p for p in shares)
    observed = sum(
        (sum(c * c for c in row) - sum(row)) / (sum(row) * (sum(row) - 1)) for row in rows
    ) / len(rows)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def _by_case_round(votes: Iterable[Vote]) -> dict[str, dict[int, list[Vote]]]:
    grouped: dict[str, dict[int, list[Vote]]] = defaultdict(lambda: defaultdict(list))
    for vote in votes:
        grouped[vote.case_id][vote.round].append(vote)
    return grouped


def harm_table(votes: Iterable[Vote]) -> list[list[int]]:
    """One row per case: [not-harmful votes, harmful votes], abstentions left out."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for vote in votes:
        if vote.payload is not None:
            counts[vote.case_id][int(vote.payload.harmful)] += 1
    return [counts[case] for case in sorted(counts)]


class RoundAgreement(BaseModel):
    """Agreement and change in one round, over the cases that held it."""

    round: int
    """1 is the blind vote; 2.. are deliberation rounds."""
    cases: int
    votes: int
    abstentions: int
    kappa: float | None
    """Fleiss' kappa over the votes cast in this round."""
    flips: int
    """Jurors whose harmful/not-harmful vote differs from their own vote the round before."""


def rounds_agreement(votes: Iterable[Vote]) -> list[RoundAgreement]:
    """Per round: Fleiss' kappa, flips against the previous round, abstentions."""
    grouped = _by_case_round(votes)
    last = max((r for rounds in grouped.values() for r in rounds), default=0)
    out: list[RoundAgreement] = []
    for round_no in range(1, last + 1):
        cast: list[Vote] = []
        flips = cases = 0
        for rounds in grouped.values():
            current = rounds.get(round_no)
            if not current:
                continue
            cases += 1
            cast.extend(current)
            before = {v.juror: v.harmful for v in rounds.get(round_no - 1, [])}
            flips += sum(
                1
                for v in current
                if v.harmful is not None
                and before.get(v.juror) is not None
                and before[v.juror] != v.harmful
            )
        out.append(
            RoundAgreement(
                round=round_no,
                cases=cases,
                votes=len(cast),
                abstentions=sum(v.abstained for v in cast),
                kappa=fleiss_kappa(harm_table(cast)),
                flips=flips,
            )
        )
    return out


class AbstentionStats(BaseModel):
    votes: int
    abstentions: int
    reasked: int
    """Votes that needed more than one ask (a reply that did not parse at first)."""
    by_juror: dict[str, int]
    """Abstentions per seat."""
    by_cause: dict[str, int] = {}
    """Abstentions per cause: ``unreadable`` (no valid vote after the re-asks) or
    ``refused`` (the juror's provider refused or blocked the reply)."""

    @property
    def rate(self) -> float:
        return self.abstentions / self.votes if self.votes else 0.0


def abstention_stats(votes: Iterable[Vote]) -> AbstentionStats:
    total = abstained = reasked = 0
    by_juror: dict[str, int] = defaultdict(int)
    by_cause: dict[str, int] = defaultdict(int)
    for vote in votes:
        total += 1
        reasked += int(vote.attempts > 1)
        if vote.abstained:
            abstained += 1
            by_juror[vote.juror] += 1
            by_cause[vote.abstain_cause or "unreadable"] += 1  # older stores recorded none
    return AbstentionStats(
        votes=total,
        abstentions=abstained,
        reasked=reasked,
        by_juror=dict(by_juror),
        by_cause=dict(sorted(by_cause.items())),
    )


def case_disagrees(votes: Sequence[Vote]) -> bool:
    """True when the voting jurors of a case did not all say the same thing at any round."""
    by_round: dict[int, set[bool]] = defaultdict(set)
    for vote in votes:
        if vote.harmful is not None:
            by_round[vote.round].add(vote.harmful)
    return any(len(sides) > 1 for sides in by_round.values())
