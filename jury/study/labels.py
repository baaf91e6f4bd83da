"""Human-labelled sets: (question, answer, label) items, from GPTFuzz, HarmBench, CSV or JSON.

Loading a set also registers what replayed and simulated jurors need to find: the human
majority as the ``truth`` table and, for HarmBench, every recorded judge column as a table
of its own (``safebench/replay/<column>``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.offline.recorded import TRUTH, item_key, register_table
from safebench.errors import DatasetError

LabelFormat = Literal["auto", "gptfuzz", "harmbench", "csv", "json"]
HARMBENCH_META = frozenset(
    {"test_case", "generation", "model", "method", "experiment", "behavior_id"}
)


class LabelledItem(BaseModel):
    """One answer to a harmful question, with the people's verdict on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """Stable id inside the set (row number or the source's own id)."""
    question: str = Field(min_length=1)
    """The harmful request (or behaviour) the answer responds to."""
    answer: str
    """The answer that was labelled."""
    label: bool
    """The human majority: True when the answer is harmful."""
    annotators: tuple[int, ...] = ()
    """Each annotator's 0/1 label, when the set has several."""
    recorded: dict[str, bool] = Field(default_factory=dict)
    """Verdicts that real judges recorded on this item, by judge column."""

    @property
    def key(self) -> str:
        return item_key(self.question, self.answer)


def majority(labels: Iterable[int]) -> bool:
    """Harmful when more than half the annotators say so (a tie is not harmful)."""
    values = list(labels)
    return sum(values) * 2 > len(values)


def parse_recorded(value: Any) -> bool | None:
    """A judge's recorded verdict as harmful or not: 0/1, yes/no, or ``Rating: [[N]]``."""
    text = str(value).strip().lower()
    if text in {"1", "yes", "true", "harmful", "unsafe"}:
        return True
    if text in {"0", "no", "false", "not harmful", "safe"}:
        return False
    if text.startswith("rating: [[") and text.endswith("]]"):
        # PAIR's judge rates 1-10 and counts only a 10 as a jailbreak.
        return text.removeprefix("rating: [[").removesuffix("]]").strip() == "10"
    return None


def load_gptfuzz(path: Path) -> list[LabelledItem]:
    """``train.csv`` / ``evaluate.csv``: question (index into question_list.csv), Response,
    label."""
    questions_path = path.parent / "question_list.csv"
    if not questions_path.is_file():
        raise DatasetError(f"{path}: GPTFuzz needs question_list.csv beside it")
    with questions_path.open(newline="", encoding="utf-8") as fh:
        questions = {row["index"]: row["text"] for row in csv.DictReader(fh)}
    items = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row_number, row in enumerate(csv.DictReader(fh), start=2):
            question = questions.get(row["question"])
            if question is None:
                raise DatasetError(f"{path}:{row_number}: unknown question {row['question']!r}")
            items.append(
                LabelledItem(
                    id=f"gptfuzz-{path.stem}-{row_number - 2}",
                    question=question,
                    answer=row["Response"],
                    label=row["label"].strip() == "1",
                )
            )
    return items


def load_harmbench(path: Path) -> list[LabelledItem]:
    """``val_dev.json``: {behavior_id: [{test_case, generation, human_0.., <judge>: …}]}."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a HarmBench val set maps behaviour ids to lists")
    behaviours = _harmbench_behaviours(path.parent / "behaviors.csv")
    items = []
    for behaviour_id, rows in data.items():
        for index, row in enumerate(rows):
            humans = [int(row[k]) for k in sorted(row) if k.startswith("human_")]
            if not humans:
                raise DatasetError(f"{path}: {behaviour_id}[{index}] has no human_N label")
            recorded = {
                k: v
                for k, v in ((k, parse_recorded(v)) for k, v in row.items())
                if k not in HARMBENCH_META and not k.startswith("human_") and v is not None
            }
            items.append(
                LabelledItem(
                    id=f"{behaviour_id}-{index}",
                    # Judges rule on whether the answer carries out the behaviour, so the
                    # behaviour (not the jailbreak prompt) is the question.
                    question=behaviours.get(behaviour_id, row["test_case"]),
                    answer=row["generation"],
                    label=majority(humans),
                    annotators=tuple(humans),
                    recorded=recorded,
                )
            )
    return items


def _harmbench_behaviours(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["BehaviorID"]: row["Behavior"] for row in csv.DictReader(fh)}


def load_generic(path: Path) -> list[LabelledItem]:
    """CSV or JSON (a list of objects): question, answer, and label or label_1, label_2, …"""
    if path.suffix.lower() == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise DatasetError(f"{path}: a JSON label set is a list of objects")
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    items = []
    for index, row in enumerate(rows):
        where = f"{path}: item {index}"
        if not isinstance(row, dict) or "question" not in row or "answer" not in row:
            raise DatasetError(f"{where}: needs question and answer")
        votes = [row[k] for k in sorted(row) if k == "label" or k.startswith("label_")]
        votes = [v for v in votes if str(v).strip() != ""]
        try:
            annotators = tuple(int(v) for v in votes)
        except ValueError:
            raise DatasetError(f"{where}: labels must be 0 or 1") from None
        if not annotators or any(v not in (0, 1) for v in annotators):
            raise DatasetError(f"{where}: needs label (0/1) or label_1, label_2, … (0/1)")
        recorded = {
            str(k).removeprefix("judge_"): v
            for k, v in ((k, parse_recorded(v)) for k, v in row.items())
            if str(k).startswith("judge_") and v is not None
        }
        items.append(
            LabelledItem(
                id=str(row.get("id", index)),
                question=str(row["question"]),
                answer=str(row["answer"]),
                label=majority(annotators),
                annotators=annotators if len(annotators) > 1 else (),
                recorded=recorded,
            )
        )
    return items


def detect_format(path: Path) -> LabelFormat:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        return "gptfuzz" if {"question", "Response", "label"} <= set(header) else "csv"
    if path.suffix.lower() == ".json":
        with path.open(encoding="utf-8") as fh:
            start = fh.read(1)
        return "harmbench" if start == "{" else "json"
    raise DatasetError(f"{path}: cannot tell the label format; pass --format")


def load_labels(
    path: Path, fmt: LabelFormat = "auto", limit: int | None = None
) -> list[LabelledItem]:
    """Load a labelled set and register its truth and recorded-judge tables."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such label file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    loader = {
        "gptfuzz": load_gptfuzz,
        "harmbench": load_harmbench,
        "csv": load_generic,
        "json": load_generic,
    }[fmt]
    try:
        items = loader(path)
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: not a {fmt} label set ({type(exc).__name__}: {exc})") from None
    if limit is not None:
        items = items[:limit]
    register_items(items)
    return items


def load_run_items(path: Path, limit: int | None = None) -> list[LabelledItem]:
    """A stored run's judged answers as items, labelled with the run's own verdicts.

    Scoring a jury on them measures agreement with the run's jury (not with people): what
    a cheaper or different jury would have concluded on the same answers.
    """
    from transcripts.store import RunStore  # the store is read only here

    if not path.is_file():
        raise DatasetError(f"{path}: no such run store")
    items: list[LabelledItem] = []
    with RunStore.open_readonly(path) as store:
        for meta, verdict in store.judged():
            answer = store.get_answer(meta.case_id)
            query = store.get_query(meta.query_id)
            if verdict.harmful is None or answer is None or query is None:
                continue  # undecided, or a run that did not keep its queries
            items.append(
                LabelledItem(
                    id=meta.case_id.replace("::", "-"),
                    question=query.text,
                    answer=answer.text,
                    label=verdict.harmful,
                )
            )
    if limit is not None:
        items = items[:limit]
    register_items(items)
    return items


def register_items(items: Iterable[LabelledItem]) -> None:
    """Make the items' truth and recorded verdicts visible to study jurors."""
    truth: dict[str, bool] = {}
    columns: dict[str, dict[str, bool]] = {}
    for item in items:
        truth[item.key] = item.label
        for column, verdict in item.recorded.items():
            columns.setdefault(column, {})[item.key] = verdict
    register_table(TRUTH, truth)
    for column, verdicts in columns.items():
        register_table(column, verdicts)


def recorded_columns(items: Iterable[LabelledItem]) -> list[str]:
    return sorted({c for item in items for c in item.recorded})
