"""The sweep's plots: mean curves per voting rule with 95% intervals, single judges named,
and accuracy against cost only where cost is not the jury size again."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jury.config import VotingConfig
from jury.metrics.confusion import Confusion
from safebench.studies.experiment import Configuration, ExperimentResult, ExperimentSpec, ResultRow
from safebench.studies.experiment_figures import cost_is_size, size_curves, t975, write_plots

MAJORITY = VotingConfig()
ANY = VotingConfig(rule="any_harmful")


def _row(panel: str, rule: VotingConfig, correct: int, calls: float | None = None) -> ResultRow:
    # 10 items, 5 harmful: ``correct`` of them right (split evenly as far as it goes).
    tp = correct // 2
    tn = correct - tp
    confusion = Confusion(tp=tp, fp=5 - tn, fn=5 - tp, tn=tn)
    members = tuple(panel)
    config = Configuration(members, rule, 0, "simultaneous")
    return ResultRow(config, confusion, float(len(members)) if calls is None else calls)


def _result(rows: list[ResultRow]) -> ExperimentResult:
    spec = ExperimentSpec.model_validate(
        {"name": "fig", "labels": {"path": "x.json"}, "pool": {n: "m" for n in "abc"}, "sizes": [1]}
    )
    return ExperimentResult(spec, rows, rows[0], 10, 0, 0, Confusion(tp=5, fp=5))


ROWS = [
    _row("a", MAJORITY, 6),
    _row("b", MAJORITY, 8),
    _row("c", MAJORITY, 7),
    _row("a", ANY, 6),
    _row("b", ANY, 8),
    _row("c", ANY, 7),
    _row("ab", MAJORITY, 7),
    _row("ac", MAJORITY, 9),
    _row("ab", ANY, 5),
    _row("ac", ANY, 6),
    _row("abc", MAJORITY, 9),
    _row("abc", ANY, 6),
]


def test_curves_are_means_with_t_intervals_per_rule() -> None:
    curves = size_curves(ROWS, "accuracy")
    assert list(curves) == ["any_harmful", "majority"]
    one, two, three = curves["majority"]
    # Size 1: 0.6, 0.8, 0.7 -> mean 0.7, sd 0.1, half-width t(2) * 0.1 / sqrt(3).
    assert (one.size, one.n, one.mean) == (1, 3, pytest.approx(0.7))
    half = 4.303 * 0.1 / math.sqrt(3)
    assert (one.low, one.high) == (pytest.approx(0.7 - half), pytest.approx(0.7 + half))
    # Size 2: 0.7, 0.9 -> mean 0.8, sd sqrt(0.02), t(1) = 12.706.
    half = 12.706 * math.sqrt(0.02) / math.sqrt(2)
    assert (two.n, two.mean, two.low) == (2, pytest.approx(0.8), pytest.approx(0.8 - half))
    # Size 3: one configuration, no interval.
    assert (three.n, three.mean, three.low, three.high) == (1, pytest.approx(0.9), None, None)
    assert [p.mean for p in curves["any_harmful"]] == [
        pytest.approx(0.7),
        pytest.approx(0.55),
        pytest.approx(0.6),
    ]


def test_t_quantiles_beyond_the_table_stay_close_to_the_exact_values() -> None:
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert t975(40) == pytest.approx(2.021, abs=0.001)
    assert t975(120) == pytest.approx(1.980, abs=0.001)
    with pytest.raises(ValueError):
        t975(0)


def test_cost_by_size_is_dropped_when_it_repeats_size_and_drawn_when_it_does_not(
    tmp_path: Path,
) -> None:
    assert cost_is_size(ROWS)  # replayed jurors: one call per juror
    out = tmp_path / "plots"
    out.mkdir()
    (out / "accuracy-by-cost.png").write_bytes(b"an earlier sweep's plot")
    written = write_plots(_result(ROWS), out)
    assert [p.name for p in written] == ["accuracy-by-size.png", "kappa-by-size.png"]
    assert not (out / "accuracy-by-cost.png").exists()
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    deliberating = [*ROWS, _row("ab", MAJORITY, 8, calls=5.5)]  # two sizes-2 costs
    assert not cost_is_size(deliberating)
    written = write_plots(_result(deliberating), out)
    assert [p.name for p in written][-1] == "accuracy-by-cost.png"
