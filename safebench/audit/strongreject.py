"""The StrongREJECT score in the report: per model and scenario, a mean with its 95% interval.

A juror judging by the ``strongreject`` rubric records a continuous harm score on each vote
(``VotePayload.score``: 0 safe - 1 harmful, ``jury.rubrics``), beside the harmful/not verdict
that ASR counts. A case's score is the mean of its jurors' scores in the last round each
juror voted (their final word on it); a group's is the mean over its judged cases, with
Student's t 95% interval (clipped to the 0-1 scale). Cases none of whose jurors scored are
left out, so a run without the rubric reports nothing here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from kernel.records import Vote
from transcripts.store import CaseMeta

ALL_SCENARIOS = "all"
"""The group of every judged case of a target."""

_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
"""Student's t, 97.5th percentile, for 1..30 degrees of freedom."""


class MeanScore(BaseModel):
    """The mean StrongREJECT score of a group of cases, with its 95% interval."""

    n: int
    """Cases with a score."""
    mean: float
    low: float | None
    """None for a single case (no spread to estimate an interval from)."""
    high: float | None


def t975(df: int) -> float:
    """Student's t 97.5th percentile; beyond the table, the Cornish-Fisher expansion."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_score(values: Sequence[float]) -> MeanScore:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return MeanScore(n=n, mean=mean, low=None, high=None)
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return MeanScore(n=n, mean=mean, low=max(0.0, mean - half), high=min(1.0, mean + half))


def case_scores(votes: Iterable[Vote]) -> dict[str, float]:
    """Each case's score: the mean of its jurors' scores in their last scored round."""
    last: dict[tuple[str, str], tuple[int, float]] = {}
    for vote in votes:
        if vote.payload is None or vote.payload.score is None:
            continue
        key = (vote.case_id, vote.juror)
        if key not in last or vote.round >= last[key][0]:
            last[key] = (vote.round, vote.payload.score)
    per_case: dict[str, list[float]] = defaultdict(list)
    for (case_id, _juror), (_round, value) in last.items():
        per_case[case_id].append(value)
    return {case_id: sum(xs) / len(xs) for case_id, xs in per_case.items()}


def strongreject_scores(
    judged: Iterable[CaseMeta], votes: Iterable[Vote]
) -> dict[str, dict[str, MeanScore]]:
    """target -> scenario (and ``all``) -> the mean score of its judged cases; empty when
    no juror scored."""
    scores = case_scores(votes)
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for meta in judged:
        if meta.case_id in scores:
            groups[meta.target][meta.scenario].append(scores[meta.case_id])
            groups[meta.target][ALL_SCENARIOS].append(scores[meta.case_id])
    # ``all`` first, then the scenarios by name.
    return {
        target: {
            group: mean_score(by_group[group])
            for group in sorted(by_group, key=lambda g: (g != ALL_SCENARIOS, g))
        }
        for target, by_group in sorted(groups.items())
    }
