"""Human-labelled sets: (question, answer, label) items, from GPTFuzz, HarmBench, XSTest, CSV
or JSON.

Each item carries what replayed and simulated jurors answer from: the human majority (the
``truth`` table) and, for HarmBench, every recorded judge column (``safebench/replay/<column>``).
Loading registers nothing anywhere: a study hands each juror the verdict on the item it judges
(:mod:`safebench.studies.recorded`).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from jury.label_keys import TRUTH, item_key
from kernel.errors import DatasetError
from kernel.files import MAX_DATA_FILE_BYTES, bounded_lines, read_text_bounded
from kernel.registry import Registry

log = structlog.get_logger(__name__)



def check_label_format(name: str) -> str:
    """``name`` if it is ``auto`` or a registered label loader's, else a ``ValueError``."""
    return name if name == "auto" else LABEL_LOADERS.check(name)


LabelFormat = Annotated[str, AfterValidator(check_label_format)]
"""``auto`` (told from the file) or a registered loader's name (:data:`LABEL_LOADERS`)."""
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

    def verdict(self, table: str) -> bool | None:
        """The verdict table ``table`` holds on this item: the human label for ``truth``, a
        judge column's recorded verdict, or None when that judge recorded none."""
        return self.label if table == TRUTH else self.recorded.get(table)


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
        rows = csv.DictReader(_lines(fh, questions_path))
        questions = {row["index"]: row["text"] for row in rows}
    items = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(_lines(fh, path))
        for row_number, row in enumerate(reader, start=1):
            where = f"{path}: row {row_number} (line {reader.line_num})"
            question = questions.get(row["question"])
            if question is None:
                raise DatasetError(f"{where}: unknown question {row['question']!r}")
            if row.get("Response") is None:
                raise DatasetError(f"{where}: no Response (a file cut mid-row?)")
            items.append(
                LabelledItem(
                    id=f"gptfuzz-{path.stem}-{row_number - 1}",
                    question=question,
                    answer=row["Response"],
                    label=_zero_or_one(row.get("label"), where, "label") == 1,
                )
            )
    return items


XSTEST_COLUMNS = frozenset({"id", "type", "prompt", "completion", "final_label"})
XSTEST_LABELS = frozenset({"1_full_compliance", "2_full_refusal", "3_partial_refusal"})


def load_xstest(path: Path) -> list[LabelledItem]:
    """XSTest v2 completions (``model_completions/*.csv``: id, type, prompt, completion,
    final_label). Harmful: a full compliance to one of the 200 unsafe contrast prompts
    (``type`` starting ``contrast_``); any answer to the 250 safe prompts is not harmful, which
    is what the set tests: answers that look harmful by their words (homonyms, safe contexts,
    fiction) but are not. A partial refusal is not counted harmful."""
    items = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(_lines(fh, path))
        missing = XSTEST_COLUMNS - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{path}: not an XSTest completions file (no {sorted(missing)})")
        for row_number, row in enumerate(reader, start=1):
            where = f"{path}: row {row_number} (line {reader.line_num})"
            final = (row.get("final_label") or "").strip()
            if final not in XSTEST_LABELS:
                raise DatasetError(f"{where}: final_label {final!r} is not one of XSTest's")
            if not (row.get("prompt") or "").strip() or row.get("completion") is None:
                raise DatasetError(f"{where}: no prompt or completion (a file cut mid-row?)")
            kind = (row.get("type") or "").strip()
            items.append(
                LabelledItem(
                    id=f"xstest-{path.stem}-{row['id']}-{kind}",
                    question=row["prompt"],
                    answer=row["completion"],
                    label=kind.startswith("contrast_") and final == "1_full_compliance",
                )
            )
    return items


def load_harmbench(path: Path, strict: bool = False) -> list[LabelledItem]:
    """``val_dev.json``: {behavior_id: [{test_case, generation, human_0.., <judge>: …}]}.

    The question is the behaviour's text from ``behaviors.csv`` beside the file. A behaviour
    missing there falls back to the item's test case (the jailbreak prompt), which judges
    read differently: that is warned about, or, with ``strict``, a ``DatasetError``.
    """
    data = json.loads(_read_json_text(path))
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: a HarmBench val set maps behaviour ids to lists")
    behaviours_path = path.parent / "behaviors.csv"
    behaviours = _harmbench_behaviours(behaviours_path)
    _check_behaviours(path, behaviours_path, [b for b in data if b not in behaviours], strict)
    items = []
    for behaviour_id, rows in data.items():
        for index, row in enumerate(rows):
            where = f"{path}: {behaviour_id}[{index}]"
            humans = [_zero_or_one(row[k], where, k) for k in sorted(row) if k.startswith("human_")]
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


def _check_behaviours(path: Path, behaviours: Path, missing: list[str], strict: bool) -> None:
    if not missing:
        return
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    where = f"{behaviours} is absent" if not behaviours.is_file() else f"not in {behaviours}"
    if strict:
        raise DatasetError(
            f"{path}: the text of {len(missing)} behaviour(s) is missing ({where}): {shown}; "
            "without --strict-labels their test cases stand in for them"
        )
    log.warning(
        "harmbench_behaviour_text_missing",
        file=str(path),
        behaviours=len(missing),
        examples=shown,
        reason=where,
        fallback="the item's test case (the jailbreak prompt) is the question",
    )


def _zero_or_one(value: object, where: str, column: str) -> int:
    """A 0/1 label cell; a missing or empty one (a file cut mid-row) names its row."""
    text = "" if value is None else str(value).strip()
    if text == "":
        raise DatasetError(f"{where}: {column} is missing or empty (a file cut mid-row?)")
    if text not in {"0", "1"}:
        raise DatasetError(f"{where}: {column} must be 0 or 1, not {text[:20]!r}")
    return int(text)


def _harmbench_behaviours(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["BehaviorID"]: row["Behavior"] for row in csv.DictReader(_lines(fh, path))}


def load_generic(path: Path) -> list[LabelledItem]:
    """CSV or JSON (a list of objects): question, answer, and label or label_1, label_2, …"""
    if path.suffix.lower() == ".json":
        rows = json.loads(_read_json_text(path))
        if not isinstance(rows, list):
            raise DatasetError(f"{path}: a JSON label set is a list of objects")
    else:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(_lines(fh, path)))
    items = []
    is_json = path.suffix.lower() == ".json"
    for index, row in enumerate(rows):
        # A CSV's rows are counted from 1 after the header; a JSON list's items from 0.
        where = f"{path}: item {index}" if is_json else f"{path}: row {index + 1}"
        if not isinstance(row, dict) or "question" not in row or "answer" not in row:
            raise DatasetError(f"{where}: needs question and answer")
        if row["question"] is None or row["answer"] is None:
            # csv.DictReader fills the cells of a row cut short with None.
            raise DatasetError(f"{where}: question or answer is missing (a file cut mid-row?)")
        columns = [k for k in sorted(row) if k == "label" or k.startswith("label_")]
        # An annotator may have left one item unlabelled; an item no one labelled is an error.
        votes = [row[k] for k in columns if row[k] is not None and str(row[k]).strip() != ""]
        if columns and not votes:
            raise DatasetError(f"{where}: label is missing or empty (a file cut mid-row?)")
        try:
            annotators = tuple(int(v) for v in votes)
        except (TypeError, ValueError):
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


def _lines(handle: Any, path: Path) -> Any:
    """A label file's lines, each bounded (kernel.files.MAX_LINE_BYTES): a file without line
    ends (``/dev/zero``) is a DatasetError naming it, not read whole."""
    return bounded_lines(handle, path, error=DatasetError)


def _read_json_text(path: Path) -> str:
    """A JSON label file's text, read at most up to kernel.files.MAX_DATA_FILE_BYTES."""
    return read_text_bounded(path, MAX_DATA_FILE_BYTES, what="label file", error=DatasetError)


LabelLoader = Callable[[Path, bool], list[LabelledItem]]
"""Reads one labelled-set file; the flag is ``strict`` (refuse, not warn, on missing text)."""

LABEL_LOADERS: Registry[LabelLoader] = Registry("label format")
"""The label loaders by format name (a ``LabelFormat`` is ``auto`` or one of these)."""
LABEL_LOADERS.add("gptfuzz", lambda path, strict: load_gptfuzz(path))
LABEL_LOADERS.add("harmbench", load_harmbench)
LABEL_LOADERS.add("xstest", lambda path, strict: load_xstest(path))
# The generic loader tells CSV from JSON by the file's suffix.
LABEL_LOADERS.add("csv", lambda path, strict: load_generic(path))
LABEL_LOADERS.add("json", lambda path, strict: load_generic(path))


def detect_format(path: Path) -> LabelFormat:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(_lines(fh, path)), [])
        if set(header) >= XSTEST_COLUMNS:
            return "xstest"
        return "gptfuzz" if {"question", "Response", "label"} <= set(header) else "csv"
    if path.suffix.lower() == ".json":
        with path.open(encoding="utf-8") as fh:
            start = fh.read(1)
        return "harmbench" if start == "{" else "json"
    raise DatasetError(f"{path}: cannot tell the label format; pass --format")


def load_labels(
    path: Path,
    fmt: LabelFormat = "auto",
    limit: int | None = None,
    *,
    sample: int | None = None,
    seed: int = 0,
    strict: bool = False,
) -> list[LabelledItem]:
    """Load a labelled set: its items, each with its truth and recorded-judge verdicts.

    ``limit`` keeps the first items; ``sample`` then draws that many, stratified by label
    (:func:`stratified_sample`, with ``seed``). ``strict``: a HarmBench behaviour with no
    text is an error, not a warning."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such label file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    try:
        items = LABEL_LOADERS.require(fmt)(path, strict)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # A shape the loaders do not check for: still a clean error naming the file.
        raise DatasetError(f"{path}: not a {fmt} label set ({type(exc).__name__}: {exc})") from None
    if limit is not None:
        items = items[:limit]
    if sample is not None:
        items = stratified_sample(items, sample, seed)
    return items


def stratified_sample(items: Sequence[LabelledItem], n: int, seed: int = 0) -> list[LabelledItem]:
    """``n`` items drawn with ``seed``, each label in proportion to its share of ``items``.

    A plain random draw of a small sample can tilt the base rate, and with it every figure
    and the majority-class baseline. Shares are rounded by largest remainder (ties to the
    rarer label), so the counts add up to ``n``; the items keep their order in the set.
    """
    if n < 1:
        raise DatasetError(f"a sample needs at least one item, not {n}")
    if n >= len(items):
        return list(items)
    rng = random.Random(seed)
    groups: dict[bool, list[int]] = {False: [], True: []}
    for index, item in enumerate(items):
        groups[item.label].append(index)
    exact = {label: n * len(members) / len(items) for label, members in groups.items()}
    quota = {label: int(share) for label, share in exact.items()}
    by_remainder = sorted(groups, key=lambda lb: (-(exact[lb] - quota[lb]), len(groups[lb])))
    for label in by_remainder[: n - sum(quota.values())]:
        quota[label] += 1
    chosen = sorted(i for lb, members in groups.items() for i in rng.sample(members, quota[lb]))
    return [items[i] for i in chosen]


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
    return items


def recorded_columns(items: Iterable[LabelledItem]) -> list[str]:
    return sorted({c for item in items for c in item.recorded})
