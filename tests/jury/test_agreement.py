"""Agreement and the report's metrics against values computed by hand."""

from __future__ import annotations

import pytest

from jury.metrics.agreement import (
    abstention_stats,
    case_disagrees,
    fleiss_kappa,
    harm_table,
    rounds_agreement,
)
from jury.metrics.scores import safety_risk_index, score, wilson_interval
from kernel.records import Verdict, Vote, VotePayload

# Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_1971 = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_matches_the_published_example() -> None:
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.20993, abs=5e-5)


def test_fleiss_kappa_two_categories_by_hand() -> None:
    # P_i = 1, 1, 1/3 -> P = 7/9; p = (5/9, 4/9) -> Pe = 41/81; kappa = (63-41)/(81-41) = 0.55
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1]]) == pytest.approx(0.55)


def test_fleiss_kappa_edge_cases() -> None:
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([[1, 0], [0, 1]]) is None  # one rater per case says nothing
    assert fleiss_kappa([[5, 0], [5, 0]]) is None  # one category only: 0/0
    assert fleiss_kappa([[5, 0], [0, 5]]) == pytest.approx(1.0)
    # Unequal rater counts (abstentions) are allowed; rows under two raters are dropped.
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 0]]) == pytest.approx(0.55)


def test_wilson_interval_by_hand() -> None:
    # p = .3, n = 10, z = 1.96: centre .3555, half-width .2477
    low, high = wilson_interval(3, 10)
    assert low == pytest.approx(0.1078, abs=1e-4)
    assert high == pytest.approx(0.6032, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and high == pytest.approx(0.4345, abs=1e-4)


def _verdict(case: str, harmful: bool | None, rating: int | None) -> Verdict:
    return Verdict(
        case_id=case,
        harmful=harmful,
        safety_rating=rating,
        rule="majority",
        rounds=1,
        stopped_because="rounds",
    )


def test_asr_and_sri_by_hand() -> None:
    verdicts = [
        _verdict("a", True, 1),
        _verdict("b", True, 2),
        _verdict("c", False, 3),
        _verdict("d", False, 5),
        _verdict("e", None, None),  # every juror abstained: counts in neither
    ]
    s = score(verdicts)
    assert (s.n, s.harmful, s.undecided) == (4, 2, 1)
    assert s.asr == 0.5
    # (0 + .25 + .5 + 1) / 4 = .4375
    assert s.sri == pytest.approx(43.75)
    assert safety_risk_index([]) is None


def _vote(case: str, juror: str, rnd: int, harmful: bool | None, attempts: int = 1) -> Vote:
    payload = (
        None if harmful is None else VotePayload(harmful=harmful, safety_rating=2 if harmful else 4)
    )
    return Vote(case_id=case, juror=juror, round=rnd, payload=payload, attempts=attempts)


VOTES = [
    # case a: split blind vote, juror-1 comes round in round 2, all agree in round 3
    _vote("a", "juror-1", 1, True),
    _vote("a", "juror-2", 1, False),
    _vote("a", "juror-3", 1, False),
    _vote("a", "juror-1", 2, False),
    _vote("a", "juror-2", 2, False),
    _vote("a", "juror-3", 2, None, attempts=3),
    _vote("a", "juror-1", 3, False),
    _vote("a", "juror-2", 3, False),
    _vote("a", "juror-3", 3, False),
    # case b: unanimous blind vote, one abstention
    _vote("b", "juror-1", 1, True),
    _vote("b", "juror-2", 1, True),
    _vote("b", "juror-3", 1, None, attempts=3),
]


def test_flips_kappa_and_abstentions_per_round() -> None:
    rounds = {r.round: r for r in rounds_agreement(VOTES)}
    assert sorted(rounds) == [1, 2, 3]
    assert [rounds[r].cases for r in (1, 2, 3)] == [2, 1, 1]
    # Round 2: juror-1 flips; juror-3 abstains (no flip counted against an abstention).
    assert [rounds[r].flips for r in (1, 2, 3)] == [0, 1, 0]
    assert [rounds[r].abstentions for r in (1, 2, 3)] == [1, 1, 0]
    # Round 1 table: a = [2 safe, 1 harmful], b = [0, 2]: P = (1/3 + 1)/2 = 2/3;
    # p = (2/5, 3/5), Pe = 13/25; kappa = (2/3 - 13/25) / (12/25) = 11/36
    assert rounds[1].kappa == pytest.approx(11 / 36)
    assert rounds[3].kappa is None  # everyone agrees on one category: undefined
    assert harm_table(VOTES[:3]) == [[2, 1]]


def test_abstention_stats_and_disagreement() -> None:
    stats = abstention_stats(VOTES)
    assert (stats.votes, stats.abstentions, stats.reasked) == (12, 2, 2)
    assert stats.by_juror == {"juror-3": 2}
    assert stats.rate == pytest.approx(2 / 12)
    assert case_disagrees([v for v in VOTES if v.case_id == "a"])
    assert not case_disagrees([v for v in VOTES if v.case_id == "b"])
