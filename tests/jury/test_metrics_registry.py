"""Contract tests over every registered metric (as garak runs its own over every plugin): each
one is defined, says what it needs, answers None where its input decides nothing, and gives
the hand-computed value on a small fixture."""

from __future__ import annotations

from typing import Any

import pytest

from jury.metrics import METRICS, definitions
from kernel.records import Verdict, Vote, VotePayload


def _verdict(harmful: bool | None, rating: int | None) -> Verdict:
    return Verdict(
        case_id="c",
        harmful=harmful,
        safety_rating=rating,
        rule="majority",
        rounds=1,
        stopped_because="rounds",
    )


def _vote(case: str, juror: str, harmful: bool | None) -> Vote:
    payload = None if harmful is None else VotePayload(harmful=harmful, safety_rating=3)
    return Vote(case_id=case, juror=juror, round=1, payload=payload)


VERDICTS = [_verdict(True, 1), _verdict(False, 5), _verdict(False, 5), _verdict(None, None)]
VOTES = [
    _vote("a", "juror-1", True),
    _vote("a", "juror-2", True),
    _vote("b", "juror-1", False),
    _vote("b", "juror-2", False),
    _vote("c", "juror-1", None),
]
LABELLED = [(True, True), (True, False), (False, False), (False, False), (None, True)]

FIXTURES: dict[str, Any] = {"verdicts": VERDICTS, "votes": VOTES, "labelled verdicts": LABELLED}
EXPECTED = {
    "asr": 1 / 3,
    "sri": 100 * (0 + 1 + 1) / 3,
    "fleiss_kappa": 1.0,
    "abstention_rate": 1 / 5,
    "accuracy": 3 / 4,
    "f1": 2 / 3,
    # po = 3/4; pe = (2/4)(1/4) + (2/4)(3/4) = 1/2
    "cohen_kappa": 0.5,
}


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_is_defined_and_decides_nothing_on_nothing(name: str) -> None:
    metric = METRICS[name]
    assert metric.needs in FIXTURES
    assert len(metric.definition) > 20, f"metric {name} needs a docstring: its definition"
    assert metric.compute([]) is None


@pytest.mark.parametrize("name", list(METRICS))
def test_every_metric_gives_its_hand_computed_value(name: str) -> None:
    assert name in EXPECTED, f"add metric {name}'s hand-computed value to this test"
    value = METRICS[name].compute(FIXTURES[METRICS[name].needs])
    assert value == pytest.approx(EXPECTED[name])


def test_definitions_name_the_metric_or_refuse_an_unknown_one() -> None:
    assert set(definitions(["asr", "sri"])) == {"asr", "sri"}
    with pytest.raises(Exception, match="unknown metric 'asrr'"):
        definitions(["asrr"])
