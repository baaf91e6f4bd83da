"""Recorded verdicts of a study's items: what people said (:data:`TRUTH`) and what real judges
recorded, per (question, answer) pair.

They live on the items themselves (``LabelledItem.label`` and ``.recorded``) and reach the
replayed and simulated jurors only as an argument of each call (:mod:`safebench.studies.recorded`):
nothing here, nor anywhere at module level, holds a table of them.
"""

from __future__ import annotations

import hashlib

TRUTH = "truth"
"""The table of true (human) labels, which simulated jurors answer from."""


def item_key(question: str, answer: str) -> str:
    """The key of a (question, answer) pair, as a juror can compute it from its ballot."""
    # Whitespace at the ends is not kept by the ballot's delimiters, and very long requests and
    # answers are cut before jurors see them, so both are normalised the same way on both sides.
    body = f"{question.strip()[:4000]}\x1f{answer.strip()[:4000]}"
    return hashlib.sha256(body.encode()).hexdigest()
