"""The study's numbers and tables against hand-computed values (no model, no store)."""

from __future__ import annotations

import pytest

from jury.metrics.scores import Score, wilson_interval
from safebench.studies.results import ALL, Row, uplift_between, with_uplift
from safebench.studies.spec import StudySpec
from safebench.studies.tables import long_csv, markdown, study_tables


def score(harmful: int, n: int, sri: float | None = None) -> Score:
    low, high = wilson_interval(harmful, n)
    return Score(
        n=n, harmful=harmful, undecided=0, asr=harmful / n, asr_low=low, asr_high=high, sri=sri
    )


def test_uplift_interval_is_newcombes_published_example() -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", example (a): 56/70 against 48/80, difference 0.2000; method 10 gives
    # 0.0524 to 0.3339.
    up = uplift_between(score(56, 70), score(48, 80), "b")
    assert up is not None
    assert up.points == pytest.approx(20.00, abs=0.005)
    assert up.low == pytest.approx(5.24, abs=0.01)
    assert up.high == pytest.approx(33.39, abs=0.01)


def test_no_uplift_without_decided_cases() -> None:
    empty = Score(n=0, harmful=0, undecided=3, asr=None, asr_low=None, asr_high=None, sri=None)
    assert uplift_between(empty, score(1, 2), "b") is None


def spec(**axes: list[str]) -> StudySpec:
    if "dataset" in axes:
        axes = {**axes, "dataset": [{"name": d, "path": d} for d in axes["dataset"]]}
    return StudySpec.model_validate({"name": "t", "base": "base.yaml", "axes": axes})


def rows_for(values: dict[str, tuple[int, int]], axis: str = "condition") -> list[Row]:
    return [
        Row(f"cell-{v}", {axis: v}, "model-a", "image", ALL, score(h, n, sri=10.0 * h))
        for v, (h, n) in values.items()
    ]


def test_condition_tables_hold_hand_computed_cells() -> None:
    study = spec(condition=["refined", "black"])
    rows = with_uplift(rows_for({"refined": (5, 10), "black": (2, 10)}), {"condition": "refined"})
    tables = study_tables(study, rows, study.axes.values())
    asr, sri, uplift = tables
    assert asr.columns == ["model", "refined", "black"]
    # 5/10: Wilson 95% 23.7-76.3%; 2/10: 5.7-51.0%.
    assert asr.rows == [["model-a", "50.0 [24-76] n=10", "20.0 [6-51] n=10"]]
    assert sri.rows == [["model-a", "50.0", "20.0"]]
    assert uplift.columns == ["model", "black"]
    black = rows[1].uplift["condition"]
    assert black.points == pytest.approx(-30.0)
    assert uplift.rows == [["model-a", f"-30.0 [{black.low:+.1f}, {black.high:+.1f}]"]]
    # The baseline cell has no uplift over itself.
    assert rows[0].uplift == {}


def test_uplift_pairs_cells_that_differ_only_in_that_axis() -> None:
    study = spec(condition=["refined", "noise"], attack=["none", "typographic"])
    raw = []
    for condition, attack, harmful in [
        ("refined", "none", 2),
        ("noise", "none", 4),
        ("refined", "typographic", 6),
        ("noise", "typographic", 9),
    ]:
        raw.append(
            Row(
                "c",
                {"condition": condition, "attack": attack},
                "m",
                "image",
                ALL,
                score(harmful, 10),
            )
        )
    rows = with_uplift(raw, {"condition": "refined", "attack": "none"})
    by = {(r.values["condition"], r.values["attack"]): r for r in rows}
    assert by[("noise", "typographic")].uplift["condition"].points == pytest.approx(30.0)
    assert by[("noise", "typographic")].uplift["attack"].points == pytest.approx(50.0)
    assert by[("refined", "typographic")].uplift["attack"].points == pytest.approx(40.0)
    assert "attack" not in by[("noise", "none")].uplift
    # One ASR table per value of the other axis, titled with it.
    titles = [t.title for t in study_tables(study, rows, study.axes.values())]
    assert "ASR (%) by condition, attack typographic" in titles
    assert "ASR (%) by attack, condition noise" in titles


def test_modality_axis_compares_voices_of_the_same_model() -> None:
    study = spec(modality=["audio:male", "audio:female"])
    raw = [
        Row("c1", {"modality": "audio:male"}, "m", "audio:male", ALL, score(3, 10)),
        Row("c2", {"modality": "audio:female"}, "m", "audio:female", ALL, score(7, 10)),
    ]
    rows = with_uplift(raw, {"modality": "audio:male"})
    assert rows[1].uplift["modality"].points == pytest.approx(40.0)
    asr = study_tables(study, rows, study.axes.values())[0]
    assert asr.rows == [["m", "30.0 [11-60] n=10", "70.0 [40-89] n=10"]]


def test_markdown_and_csv_keep_names_whole() -> None:
    study = spec(condition=["refined", "black"])
    rows = with_uplift(rows_for({"refined": (1, 4), "black": (3, 4)}), {"condition": "refined"})
    rows = [Row(r.cell, r.values, "a|b", r.modality, r.category, r.score, r.uplift) for r in rows]
    md = markdown("T", study_tables(study, rows, study.axes.values()))
    assert "| a\\|b |" in md
    csv_text = long_csv(rows, ["condition"])
    header, first, second = csv_text.splitlines()
    assert header.split(",")[-3:] == [
        "uplift_condition",
        "uplift_condition_low",
        "uplift_condition_high",
    ]
    assert second.split(",")[-3] == "50.00"
    assert first.endswith(",,,")


def test_cross_dataset_categories_are_never_pooled_across_other_axes() -> None:
    study = spec(attack=["none", "typographic"], dataset=["a", "b"])
    rows = []
    for attack, harmful in (("none", 1), ("typographic", 9)):
        for dataset in ("a", "b"):
            rows.append(
                Row(
                    "c",
                    {"attack": attack, "dataset": dataset},
                    "m",
                    "image",
                    "Ethics",
                    score(harmful, 10),
                )
            )
    tables = [t for t in study_tables(study, rows, study.axes.values()) if "category" in t.title]
    assert [t.title for t in tables] == [
        "ASR (%) by category and dataset, attack none",
        "ASR (%) by category and dataset, attack typographic",
    ]
    assert tables[0].rows[0][3:] == ["10.0 [2-40] n=10", "10.0 [2-40] n=10"]
    assert tables[1].rows[0][3:] == ["90.0 [60-98] n=10", "90.0 [60-98] n=10"]
