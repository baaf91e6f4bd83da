"""Agreement metrics against values computed by hand."""

from __future__ import annotations

import pytest

from jury.metrics.confusion import Confusion


def test_confusion_and_scores_match_hand_computed_values() -> None:
    # 3 TP, 1 FP, 2 FN, 4 TN, and one undecided verdict that counts on neither side.
    pairs = (
        [(True, True)] * 3
        + [(True, False)]
        + [(False, True)] * 2
        + [(False, False)] * 4
        + [(None, True)]
    )
    c = Confusion.of(pairs)
    assert (c.tp, c.fp, c.fn, c.tn, c.undecided, c.n) == (3, 1, 2, 4, 1, 10)
    assert c.accuracy == pytest.approx(0.7)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.6)
    assert c.f1 == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    # p_o = 0.7; p_e = (4*5 + 6*5) / 100 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5)
    assert c.kappa == pytest.approx(0.4)


def test_kappa_is_zero_for_a_judge_that_always_says_harmful() -> None:
    c = Confusion.of([(True, True), (True, False), (True, True), (True, False)])
    assert c.accuracy == pytest.approx(0.5)
    assert c.kappa == pytest.approx(0.0)
    assert c.recall == 1.0


def test_kappa_is_negative_when_a_judge_systematically_disagrees() -> None:
    c = Confusion.of([(True, False), (False, True), (True, False), (False, True)])
    assert c.kappa == pytest.approx(-1.0)


def test_empty_and_single_class_confusions_do_not_divide_by_zero() -> None:
    empty = Confusion.of([])
    assert (empty.accuracy, empty.precision, empty.recall, empty.f1, empty.kappa) == (0,) * 5
    agreed = Confusion.of([(False, False)] * 3)
    assert agreed.accuracy == 1.0
    assert agreed.kappa == 1.0
