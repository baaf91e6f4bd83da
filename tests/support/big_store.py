"""A generated run store of any size, for the viewer at scale (its test and its benchmark).

Written in one transaction straight into the store's tables (a store made by ``RunStore``,
so the schema and version are the real ones), with records in the models' JSON: creating
100k cases through ``save_judged`` would take minutes of transactions. Every column follows
from the case's number, so a test can say what any page must hold:

- case ``i`` is ``t{i % 3}::q{i:06d}::{text|image}``, category ``c{i % 4}``, scenario
  ``s{i % 8}``;
- every 50th case (``i % 50 == 49``) was skipped: no votes, no verdict;
- every 7th (``i % 7 == 0``) split at the blind vote (3 harmful, 2 not) and all five said
  harmful in round 2 (2 flips); the others agreed at once, harmful when ``i % 5 == 0``;
- the answer of every 1000th case holds the word ``Zanzibar``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from transcripts.store import RunStore

JURORS = 5
CREATED = "2026-01-01T00:00:00+00:00"


def case_id(i: int) -> str:
    return f"t{i % 3}::q{i:06d}::{'text' if i % 2 == 0 else 'image'}"


def skipped(i: int) -> bool:
    return i % 50 == 49


def split(i: int) -> bool:
    return not skipped(i) and i % 7 == 0


def harmful(i: int) -> bool:
    return split(i) or i % 5 == 0


def _vote(cid: str, seat: int, round_no: int, says: bool) -> str:
    payload = {
        "harmful": says,
        "safety_rating": 2 if says else 4,
        "categories": [],
        "reasoning": f"juror-{seat} in round {round_no} reads the answer",
        "confidence": 0.7,
        "score": None,
        "score_items": None,
    }
    return json.dumps(
        {
            "type": "vote",
            "case_id": cid,
            "juror": f"juror-{seat}",
            "round": round_no,
            "payload": payload,
            "parse_error": None,
            "abstain_cause": None,
            "attempts": 1,
            "rubric": "safebench@1",
        }
    )


def generate_store(path: Path, cases: int) -> Path:
    """Write a store of ``cases`` cases at ``path`` (which must not exist yet)."""
    jury = {"jurors": [{"model": "openai/judge", "persona": "Ethicist"}] * JURORS, "rounds": 1}
    with RunStore(path) as store:
        store.open_run("big", json.dumps({"name": "big", "jury": jury}))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        for i in range(cases):
            _write_case(db, i)
        db.execute("COMMIT")
    finally:
        db.close()
    return path


def _write_case(db: sqlite3.Connection, i: int) -> None:
    cid = case_id(i)
    target, query_id, modality = cid.split("::")
    category, scenario = f"c{i % 4}", f"s{i % 8}"
    status = "skipped" if skipped(i) else "judged"
    db.execute(
        "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (cid, target, query_id, modality, category, scenario, status, None, CREATED),
    )
    db.execute(
        "INSERT OR IGNORE INTO queries VALUES (?, ?)",
        (
            query_id,
            json.dumps(
                {
                    "type": "query",
                    "id": query_id,
                    "category": category,
                    "scenario": scenario,
                    "text": f"question {i}",
                }
            ),
        ),
    )
    text = f"answer {i}" + (" about Zanzibar" if i % 1000 == 0 else "")
    answer = {
        "type": "target_answer",
        "case_id": cid,
        "target": target,
        "query_id": query_id,
        "modality": modality,
        "status": "skipped" if skipped(i) else "ok",
        "text": "" if skipped(i) else text,
        "reason": "modality not accepted" if skipped(i) else None,
        "created_at": CREATED,
    }
    db.execute("INSERT INTO answers VALUES (?, ?, ?)", (cid, answer["status"], json.dumps(answer)))
    if skipped(i):
        return
    says = harmful(i)
    rounds = [[True, True, True, False, False], [True] * JURORS] if split(i) else [[says] * 5]
    db.executemany(
        "INSERT INTO votes VALUES (?, ?, ?, ?)",
        [
            (cid, f"juror-{seat}", r, _vote(cid, seat, r, vote))
            for r, ballots in enumerate(rounds, start=1)
            for seat, vote in enumerate(ballots, start=1)
        ],
    )
    verdict = {
        "type": "verdict",
        "case_id": cid,
        "harmful": says,
        "safety_rating": 2 if says else 4,
        "reasons": [f"reason for {i}"],
        "summary": f"summary of case {i}",
        "rule": "majority",
        "rounds": len(rounds),
        "stopped_because": "consensus",
        "flips": 2 if split(i) else 0,
        "abstentions": 0,
        "created_at": CREATED,
    }
    db.execute(
        "INSERT INTO verdicts VALUES (?, ?, ?, ?)",
        (cid, int(says), verdict["safety_rating"], json.dumps(verdict)),
    )
