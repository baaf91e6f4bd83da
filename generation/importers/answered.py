"""Rows of a harness log that carry a model's answer, grouped into queries with answers.

A log of inspect-ai or promptfoo holds one row per (prompt, model): the same prompt put to
three models is three rows. Grouped by query id, they become one query with three recorded
answers. A row whose prompt differs from the one already seen under its id, a second answer
of the same model, and a row the harness recorded no answer for are each reported as a bad
row naming their file and row; the rest imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generation.importers.base import Candidate, RecordedOutput, RowKind
from generation.importers.chat_media import stage_image
from generation.importers.media import MediaStager, RowError
from kernel.records import MediaRef, Query


def safe_id(text: str) -> str:
    """``text`` kept to the characters a query id (and a file name) takes."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "x"


@dataclass(frozen=True)
class AnsweredRow:
    """One row of a log: a prompt, what a model answered to it, where it was found."""

    file: Path
    row: int
    row_kind: RowKind
    query_id: str
    text: str
    images: tuple[str, ...]
    """The images the model was shown: data URIs, or paths relative to ``root``."""
    root: Path
    category: str
    scenario: str
    target: str
    """The model that answered."""
    answer: str | None
    """Its answer; None when the harness recorded none (``error`` says why)."""
    error: str | None = None
    finish_reason: str | None = None
    """Why the answer ended (``RecordedOutput.finish_reason``)."""

    @property
    def where(self) -> str:
        return f"{self.file}: {self.row_kind} {self.row}"


@dataclass
class _Group:
    first: AnsweredRow
    answers: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Model -> its answer and why it ended."""
    seen_at: dict[str, str] = field(default_factory=dict)
    """Model -> where its answer was read."""

    def build(self, stager: MediaStager, source: str) -> Query:
        row = self.first
        if not row.text.strip():
            raise RowError("the prompt has no text")
        if len(row.images) > 1:
            raise RowError(f"the prompt holds {len(row.images)} images; a query holds one")
        image: MediaRef | None = None
        if row.images:
            image = stage_image(stager, row.images[0], row.root, row.query_id)
        return Query(
            id=row.query_id,
            category=row.category,
            scenario=row.scenario,
            text=row.text,
            image=image,
            source=source,
        )


def _failed(row: AnsweredRow, why: str) -> Candidate:
    # Its own id, so that the report names this row and never a query of the same id.
    tag = f"{row.query_id}@{row.target}@{row.file.name}:{row.row}"
    return Candidate.failed(row.file, row.row, row.row_kind, tag, why)


def grouped_candidates(
    rows: Iterable[AnsweredRow | Candidate], stager: MediaStager, source: str
) -> Iterator[Candidate]:
    """Bad rows (and any ready-made failed candidates) as they come, then one candidate per
    query with every model's answer."""
    groups: dict[str, _Group] = {}
    for row in rows:
        if isinstance(row, Candidate):
            yield row
            continue
        group = groups.get(row.query_id)
        if group is None:
            group = groups[row.query_id] = _Group(first=row)
        elif (row.text, row.images) != (group.first.text, group.first.images):
            yield _failed(
                row,
                f"query {row.query_id!r}: its prompt differs from the one at {group.first.where}; "
                "not imported",
            )
            continue
        if row.answer is None:
            yield _failed(row, f"{row.target} gave no answer: {row.error or 'none recorded'}")
            continue
        if row.target in group.answers:
            yield _failed(
                row,
                f"query {row.query_id!r}: {row.target} already answered it at "
                f"{group.seen_at[row.target]}; this answer was not imported",
            )
            continue
        group.answers[row.target] = (row.answer, row.finish_reason)
        group.seen_at[row.target] = row.where
    for query_id, group in groups.items():
        first = group.first

        def build(group: _Group = group) -> Query:
            return group.build(stager, source)

        yield Candidate(
            file=first.file,
            row=first.row,
            row_kind=first.row_kind,
            query_id=query_id,
            build=build,
            answers=tuple(
                RecordedOutput(target=t, answer=a, finish_reason=f)
                for t, (a, f) in group.answers.items()
            ),
        )
