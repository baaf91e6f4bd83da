"""The command line's last handler: an expected failure as one line and its exit code.

Every command reports its own ``SafeBenchError`` (a config, a dataset, a store) as a line;
what reaches ``safebench.cli.app.main`` past them used to end in a traceback of 60 to 80
lines: a store another program holds locked, a full disk, a damaged store found mid-run.
:func:`explain` names the cause and what to do, with the exit code documented for it in
docs/run-config.md ("Exit codes"); anything it does not know stays a bug (exit 1, traceback).
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from kernel.errors import SafeBenchError

EXIT_BUG = 1
"""An unexpected error: a bug, reported with its traceback (secrets masked)."""
EXIT_INPUT = 2
"""A config, input file or store that cannot be used as it is (fix it, or give another)."""
EXIT_STORE_LOCKED = 6
"""The run store is locked by another program for longer than SafeBench waits (10 s)."""
EXIT_NO_SPACE = 7
"""The disk (or the SQLite database) is full."""

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_STORE_NOTE = "run store: "


class Failure(BaseModel):
    """What the user is told: one line, and the exit code of its cause."""

    model_config = ConfigDict(frozen=True)

    line: str
    exit_code: int


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _store_of(exc: BaseException) -> str | None:
    """The store a writer's SQLite error came from (transcripts.store_base.store_note)."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, str) and note.startswith(_STORE_NOTE):
            return note.removeprefix(_STORE_NOTE)
    return None


def _one(exc: BaseException) -> Failure | None:
    if isinstance(exc, SafeBenchError):
        return Failure(line=str(exc), exit_code=EXIT_INPUT)
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        where = f" writing {exc.filename}" if exc.filename else ""
        return Failure(
            line=f"no space left on the device{where}: free some space (or point --store "
            "elsewhere) and rerun the same command; finished cases resume",
            exit_code=EXIT_NO_SPACE,
        )
    if isinstance(exc, PermissionError) and exc.filename:
        return Failure(
            line=f"{exc.filename}: permission denied; give a path this user may write "
            "(--store, --out) or change the folder's permissions",
            exit_code=EXIT_INPUT,
        )
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    message = str(exc)
    store = _store_of(exc) or "the run store"
    if isinstance(exc, sqlite3.OperationalError) and (
        "database is locked" in message or "database is busy" in message
    ):
        return Failure(
            line=f"{store} is locked by another program (waited 10 s): close what holds it "
            "(an sqlite3 shell, a database browser, a backup) and rerun the same command; "
            "finished cases resume",
            exit_code=EXIT_STORE_LOCKED,
        )
    if "disk is full" in message:
        return Failure(
            line=f"{store}: no space left ({message}): free some space and rerun the same "
            "command; finished cases resume",
            exit_code=EXIT_NO_SPACE,
        )
    if "unable to open database file" in message:
        return Failure(
            line=f"{store}: cannot open the run store ({message}): give --store the path of "
            "a file in a folder this user may write",
            exit_code=EXIT_INPUT,
        )
    if "malformed" in message or "not a database" in message:
        return Failure(
            line=f"{store} is damaged ({message}): give --store a new path, or restore the "
            "file from a copy",
            exit_code=EXIT_INPUT,
        )
    return None


def explain(exc: BaseException) -> Failure | None:
    """The one line and exit code for an expected failure anywhere in ``exc``'s chain (a
    full disk often surfaces as another error raised while handling it); None for a bug."""
    for link in _chain(exc):
        found = _one(link)
        if found is not None:
            return found
    return None
