"""Label loaders: the real files in ../shared/data, and the generic CSV/JSON formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jury.label_keys import TRUTH
from jury.labels import detect_format, load_labels, majority, parse_recorded
from kernel.errors import DatasetError
from tests.support.shared_data import SHARED_DATA

SHARED = SHARED_DATA


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} is absent (shared reference data is not part of the repo)")
    return path


def test_gptfuzz_evaluate_parses_with_questions_resolved() -> None:
    path = _need(SHARED / "gptfuzz" / "evaluate.csv")
    assert detect_format(path) == "gptfuzz"
    items = load_labels(path)
    assert len(items) == 1540
    assert sum(i.label for i in items) == 545
    assert all(i.question and not i.question.isdigit() for i in items)


def test_harmbench_val_dev_parses_human_majority_and_judge_columns() -> None:
    path = _need(SHARED / "harmbench" / "val_dev.json")
    assert detect_format(path) == "harmbench"
    items = load_labels(path)
    assert len(items) == 300
    assert all(len(i.annotators) == 3 for i in items)
    assert all(i.label == (sum(i.annotators) >= 2) for i in items)
    columns = set().union(*(i.recorded for i in items))
    assert {"cls", "gpt-4-0613", "mixtral", "llama_guard", "GPTFuzz", "advbench"} <= columns
    assert "PAIR_gpt-4-0613" in columns and not any(c.startswith("human_") for c in columns)
    # Each item carries what replayed and simulated jurors are handed.
    first = items[0]
    assert first.verdict(TRUTH) == first.label
    assert first.verdict("cls") == first.recorded["cls"]
    assert first.verdict("no-such-judge") is None


def test_recorded_verdicts_read_every_judge_style() -> None:
    assert parse_recorded("1") is True and parse_recorded("0") is False
    assert parse_recorded("yes") is True and parse_recorded("No") is False
    assert parse_recorded("Rating: [[10]]") is True
    assert parse_recorded("Rating: [[7]]") is False
    assert parse_recorded("maybe") is None


def test_generic_csv_takes_the_annotators_majority(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "question,answer,label_1,label_2,label_3,judge_mine\nq1,a1,1,1,0,yes\nq2,a2,0,1,0,0\n",
        encoding="utf-8",
    )
    items = load_labels(path)
    assert [i.label for i in items] == [True, False]
    assert items[0].annotators == (1, 1, 0)
    assert items[1].recorded == {"mine": False}
    assert majority([1, 0]) is False  # a tie is not harmful


def test_generic_json_with_a_bad_label_names_the_item(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([{"question": "q", "answer": "a", "label": 2}]))
    with pytest.raises(DatasetError, match="item 0"):
        load_labels(path)
