"""A folder of stores for ``safebench serve DIR``'s tests: the audit runs copied under it
(one with a verdict turned, as a rejudge under another rule would), a damaged store, another
program's database, and files that are not stores."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.transcripts.conftest import AuditRuns

FLIPPED_CASE = "hostile::audit-lock::image"
"""The case whose verdict the ``turned`` copy holds the other way."""
HOSTILE_FILE = "<img src=x onerror=\"window.__xss='file'\">"
"""A store's file name (``.sqlite`` added) that would run script if a page let it."""
HOSTILE_RUN = "<script>window.__xss='run';document.title='pwned'</script>"
HOSTILE_TARGET = "<svg onload=\"window.__xss='target'\"></svg>"


@dataclass(frozen=True)
class RunsFolder:
    root: Path
    main: str
    """Paths under the folder, as the viewer names the stores."""
    second: str
    turned: str
    damaged: str
    foreign: str
    hostile: str
    """A run whose file, run and target names are payloads."""
    hostile_foreign: str
    """Another program's database under a hostile name (its error quotes the name)."""


def copy_store(src: Path, dst: Path) -> Path:
    # Through SQLite's backup API, so nothing still in the source's WAL is lost.
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    return dst


def turn_verdict(store: Path, case_id: str, name: str) -> None:
    """The case's verdict the other way (column and record), the run renamed."""
    with sqlite3.connect(store) as db:
        db.execute(
            "UPDATE verdicts SET harmful = 1 - harmful, record = json_set(record, '$.harmful', "
            "json(CASE WHEN harmful = 1 THEN 'false' ELSE 'true' END)) WHERE case_id = ?",
            (case_id,),
        )
        db.execute("UPDATE run SET name = ?", (name,))
    db.close()


def build_folder(runs: AuditRuns, root: Path) -> RunsFolder:
    copy_store(runs.main, root / "runs" / "main.sqlite")
    copy_store(runs.second, root / "runs" / "second.sqlite")
    turned = copy_store(runs.main, root / "study" / "cells" / "turned.sqlite")
    turn_verdict(turned, FLIPPED_CASE, "http-run-turned")
    damaged = root / "runs" / "damaged.sqlite"
    damaged.write_bytes(runs.main.read_bytes()[:4096])  # cut short: the header, no tables
    with sqlite3.connect(root / "other.sqlite") as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.close()
    hostile = copy_store(runs.second, root / "hostile" / f"{HOSTILE_FILE}.sqlite")
    with sqlite3.connect(hostile) as db:
        db.execute("UPDATE run SET name = ?", (HOSTILE_RUN,))
        db.execute("UPDATE cases SET target = ? WHERE target = 'leaky'", (HOSTILE_TARGET,))
    db.close()
    with sqlite3.connect(root / "hostile" / f"{HOSTILE_FILE}-other.sqlite") as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.close()
    (root / "runs" / "notes.txt").write_text("not a store", encoding="utf-8")
    hidden = root / ".cache"
    hidden.mkdir()
    copy_store(runs.main, hidden / "hidden.sqlite")
    return RunsFolder(
        root=root,
        main="runs/main.sqlite",
        second="runs/second.sqlite",
        turned="study/cells/turned.sqlite",
        damaged="runs/damaged.sqlite",
        foreign="other.sqlite",
        hostile=f"hostile/{HOSTILE_FILE}.sqlite",
        hostile_foreign=f"hostile/{HOSTILE_FILE}-other.sqlite",
    )
