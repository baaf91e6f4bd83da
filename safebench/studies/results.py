"""A study's numbers: each cell's scores per target, modality and category, and the uplift of
every cell over its baseline cell with a 95% interval for the difference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from jury.metrics.scores import Score, group_scores
from safebench.studies.cells import Cell
from transcripts.store import RunStore

ALL = "all"
"""The category of a row over every category."""


@dataclass(frozen=True)
class Uplift:
    """A cell's ASR minus its baseline cell's, in points, with Newcombe's 95% interval."""

    points: float
    low: float
    high: float
    baseline: str


@dataclass(frozen=True)
class Row:
    """One (cell, target, modality, category) score."""

    cell: str
    values: dict[str, str]
    target: str
    modality: str
    category: str
    score: Score
    uplift: dict[str, Uplift] = field(default_factory=dict)
    """Per axis: the change against the cell whose value of that axis is its baseline."""


def cell_rows(cell: Cell) -> list[Row]:
    """The cell's scores, read from its store (an unstarted cell has none)."""
    if not cell.store.is_file():
        return []
    store = RunStore.open_readonly(cell.store)
    try:
        by_category = group_scores(
            ((m.target, m.modality, m.category), v) for m, v in store.judged()
        )
        overall = group_scores(((m.target, m.modality, ALL), v) for m, v in store.judged())
    finally:
        store.close()
    scores = {**overall, **by_category}
    return [
        Row(cell.name, dict(cell.values), target, modality, category, score)
        for (target, modality, category), score in sorted(scores.items())
    ]


def with_uplift(rows: Sequence[Row], baselines: dict[str, str]) -> list[Row]:
    """``rows`` with, per varied axis, the uplift over the matching baseline row."""

    def key(row: Row, axis: str) -> tuple[object, ...]:
        others = tuple(sorted((a, v) for a, v in row.values.items() if a != axis))
        # Along the modality axis the modality is what differs between the two cells.
        modality = None if axis == "modality" else row.modality
        return (axis, others, row.target, modality, row.category)

    index = {
        key(row, axis): row
        for row in rows
        for axis, base in baselines.items()
        if row.values.get(axis) == base
    }
    out = []
    for row in rows:
        uplift = {}
        for axis, base in baselines.items():
            reference = index.get(key(row, axis))
            if reference is None or row.values.get(axis) == base:
                continue
            found = uplift_between(row.score, reference.score, base)
            if found is not None:
                uplift[axis] = found
        out.append(
            Row(row.cell, row.values, row.target, row.modality, row.category, row.score, uplift)
        )
    return out


def uplift_between(score: Score, baseline: Score, label: str) -> Uplift | None:
    """ASR(score) - ASR(baseline) in points, with Newcombe's hybrid score interval (method
    10 of Newcombe 1998), built from the two Wilson intervals; None when either has no
    decided case. The two cells are judged on the same queries, but the interval treats them
    as independent samples: it is conservative for paired cases, never too narrow."""
    if score.asr is None or baseline.asr is None:
        return None
    assert score.asr_low is not None and score.asr_high is not None
    assert baseline.asr_low is not None and baseline.asr_high is not None
    p1, l1, u1 = score.asr, score.asr_low, score.asr_high
    p2, l2, u2 = baseline.asr, baseline.asr_low, baseline.asr_high
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Uplift(100 * d, 100 * low, 100 * high, label)
