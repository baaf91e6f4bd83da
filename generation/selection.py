"""Choosing the queries to keep: best weighted score first, near-duplicates removed.

Pure functions over scores and unit-vector embeddings (all-MiniLM-L6-v2 in production), so
the choice is reproducible and testable without a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["kept", "duplicate", "below_min", "unscored", "surplus"]

Embed = Callable[[Sequence[str]], Any]
"""Texts to an (n, d) array of unit vectors (the MiniLM encoder in production)."""


@dataclass(frozen=True)
class Choice:
    """What became of one candidate."""

    status: Status
    duplicate_of: int | None = None
    """Index of the better-scored candidate this one near-duplicates."""
    similarity: float | None = None


def select(
    scores: Sequence[float | None],
    vectors: Any,
    *,
    keep: int,
    dedup_similarity: float,
    min_score: float = 0.0,
) -> list[Choice]:
    """Walk the candidates from the best score down (ties: the earlier one first), keeping
    each that is not a near-duplicate (cosine >= ``dedup_similarity``) of one already
    seen, until ``keep`` are kept. A duplicate is judged against every better candidate,
    kept or not, so which one survives does not depend on ``keep``."""
    choices: list[Choice | None] = [None] * len(scores)
    order = sorted(
        (i for i, s in enumerate(scores) if s is not None),
        key=lambda i: (-float(scores[i] or 0.0), i),
    )
    seen: list[int] = []
    kept = 0
    for i in order:
        best, best_sim = -1, -2.0
        for j in seen:
            sim = float(vectors[i] @ vectors[j])
            if sim > best_sim:
                best, best_sim = j, sim
        seen.append(i)
        if best >= 0 and best_sim >= dedup_similarity:
            choices[i] = Choice("duplicate", best, round(best_sim, 4))
        elif float(scores[i] or 0.0) < min_score:
            choices[i] = Choice("below_min")
        elif kept < keep:
            choices[i] = Choice("kept")
            kept += 1
        else:
            choices[i] = Choice("surplus")
    return [c if c is not None else Choice("unscored") for c in choices]


def diversity(vectors: Any) -> float | None:
    """Mean pairwise cosine distance (1 - cosine) of unit vectors; None for fewer than two."""
    n = len(vectors)
    if n < 2:
        return None
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            total += 1.0 - float(vectors[i] @ vectors[j])
    return total / (n * (n - 1) / 2)
