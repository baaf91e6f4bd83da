"""Export a run to JSONL: one typed record per line, readable back through the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from kernel.files import atomic_write
from safebench.audit.stored_config import StoredConfig
from transcripts.store import RunStore

EXPORT_VERSION = 1


def export_jsonl(store: RunStore, out: Path, *, include_calls: bool = False) -> int:
    """Write the run header (with ``seats``: each ``juror-N``'s model and persona), the
    queries, cases, answers, votes and verdicts (and calls) to ``out``."""
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as fh:
        record = store.run_record()
        # Who sat in each seat, for the auditor: votes name the seat only (``juror-N``), as
        # the jurors knew each other; ``seats`` maps it to the model and persona.
        seats = record.config_as(StoredConfig).seats
        header = {
            "type": "run",
            "export_version": EXPORT_VERSION,
            "name": record.name,
            "config": json.loads(record.config_json),  # as stored (secrets masked)
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
            "status": store.shown_status() or record.status,
            "seats": {k: s.model_dump() for k, s in seats.items()},
        }
        count += _line(fh, header)
        for query in store.iter_queries():
            count += _line(fh, query.model_dump(mode="json"))
        for case in store.iter_cases():
            count += _line(fh, {"type": "case", **case.model_dump()})
        for answer in store.iter_answers():
            count += _line(fh, answer.model_dump(mode="json"))
        for vote in store.iter_votes():
            count += _line(fh, vote.model_dump(mode="json"))
        for verdict in store.iter_verdicts():
            count += _line(fh, verdict.model_dump(mode="json"))
        if include_calls:
            for call in store.iter_calls():
                count += _line(fh, call.model_dump(mode="json"))
    return count


def _line(fh: TextIO, record: dict[str, object]) -> int:
    fh.write(json.dumps(record, ensure_ascii=False, default=str))
    fh.write("\n")
    return 1
