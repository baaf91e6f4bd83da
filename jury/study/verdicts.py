"""Recorded verdicts of a study: what real judges said, and what people said, per item.

A labelled-set loader (:mod:`jury.study.labels`) adds, per judge column, the verdict that judge
recorded for each (question, answer) pair, and the human label as the :data:`TRUTH` table.
Replayed and simulated jurors (the offline stack's study jurors) then look up the pair of the
case they are shown. The key is built from what a juror can read in its ballot (the delimited
request and answer), so the lookup works whatever case id or nonce the courtroom gives the item.
"""

from __future__ import annotations

import hashlib

TRUTH = "truth"
"""The table of true (human) labels, used by simulated jurors."""


def item_key(question: str, answer: str) -> str:
    """The key of a (question, answer) pair in every table."""
    # Whitespace at the ends is not kept by the ballot's delimiters, and very long requests and
    # answers are cut before jurors see them, so both are normalised the same way on both sides.
    body = f"{question.strip()[:4000]}\x1f{answer.strip()[:4000]}"
    return hashlib.sha256(body.encode()).hexdigest()


class RecordedVerdicts:
    """Verdict tables by name (a judge column, or :data:`TRUTH`): item key -> harmful."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, bool]] = {}

    def add(self, name: str, verdicts: dict[str, bool]) -> None:
        """Add (or extend) the table ``name``."""
        self._tables.setdefault(name, {}).update(verdicts)

    def lookup(self, name: str, key: str) -> bool | None:
        """The recorded verdict, or None when the table or the item is unknown."""
        return self._tables.get(name, {}).get(key)


RECORDED = RecordedVerdicts()
"""The process's recorded verdicts: loaders add to it, study jurors read it."""
