"""Recorded verdict tables that offline jurors look up: replayed judges and true labels.

A labelled-set loader registers, per judge column, the verdict that judge recorded for each
(question, answer) pair, and the human label as the ``truth`` table. Replayed and simulated
jurors then find the pair of the case they are shown in these tables. The key is built from
what a juror can read in its ballot (the delimited request and answer), so the lookup works
whatever case id or nonce the courtroom gives the item.
"""

from __future__ import annotations

import hashlib

TRUTH = "truth"
"""The table of true (human) labels, used by simulated jurors."""

_TABLES: dict[str, dict[str, bool]] = {}


def item_key(question: str, answer: str) -> str:
    # Whitespace at the ends is not kept by the ballot's delimiters, and very long requests and
    # answers are cut before jurors see them, so both are normalised the same way on both sides.
    body = f"{question.strip()[:4000]}\x1f{answer.strip()[:4000]}"
    return hashlib.sha256(body.encode()).hexdigest()


def register_table(name: str, verdicts: dict[str, bool]) -> None:
    """Add (or extend) the table ``name``: item key -> harmful."""
    _TABLES.setdefault(name, {}).update(verdicts)


def lookup(name: str, key: str) -> bool | None:
    """The recorded verdict, or None when the table or the item is unknown."""
    return _TABLES.get(name, {}).get(key)


def table_names() -> list[str]:
    return sorted(_TABLES)


def clear_tables() -> None:
    """Forget every table (tests)."""
    _TABLES.clear()
