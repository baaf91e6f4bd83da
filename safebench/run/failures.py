"""A run's failed cases grouped by cause, as ``inspect eval`` ends with its errors: what
failed (target, a juror, the attack, the dataset), why (the gateway's failure kind), which
model, how many cases, and the first message (secrets scrubbed).

"The causes are in the store" left a user to read SQLite to learn that every call had failed
for want of a key; these lines say it where the run ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel

from kernel import secrets
from transcripts.store import CaseRow

_CAUSE = re.compile(
    r"^(?P<stage>target|jury|attack [^:]+|dataset|rejudge)"
    r"(?:: (?P<seat>juror-\d+|foreperson))?"
    r"(?:: (?P<model>[\w.-]+/[^\s:]+))?"
    r"(?:: (?P<kind>[a-z_]+) after \d+ retries)?"
)


class FailureGroup(BaseModel):
    """Failed cases that share one cause."""

    stage: str
    """Where the case failed: ``target``, ``jury``, ``attack NAME``, ``dataset``."""
    kind: str
    """The gateway's failure kind (``server_error``, ``rate_limit``, ``malformed_reply`` …),
    or ``other``."""
    model: str | None
    """The model whose calls failed, when the message names one."""
    count: int
    first: str
    """The first failed case's message, scrubbed of secrets and cut to one line."""


def failure_groups(rows: Iterable[CaseRow], *, width: int = 200) -> list[FailureGroup]:
    """The failed cases of ``rows`` by (stage, kind, model), largest group first."""
    groups: dict[tuple[str, str, str | None], FailureGroup] = {}
    for row in rows:
        if row.status != "failed":
            continue
        message = secrets.scrub(" ".join((row.error or "failed").split()))
        found = _CAUSE.match(message)
        stage = found["stage"] if found else "other"
        kind = (found["kind"] if found else None) or "other"
        model = found["model"] if found else None
        key = (stage, kind, model)
        if key in groups:
            groups[key] = groups[key].model_copy(update={"count": groups[key].count + 1})
        else:
            cut = message if len(message) <= width else message[: width - 1] + "…"
            groups[key] = FailureGroup(stage=stage, kind=kind, model=model, count=1, first=cut)
    return sorted(groups.values(), key=lambda g: (-g.count, g.stage, g.kind, g.model or ""))
