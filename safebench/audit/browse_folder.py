"""The stores under a folder, for ``safebench serve DIR``: found, summarised, listed.

A store is a file named ``*.sqlite`` (every command writes its store under that name: runs,
study cells, rejudges, calibrations, experiments) that begins with SQLite's header; nothing
else under the folder is opened. Hidden folders are skipped and links to folders are not
followed (a link loop cannot hang the page). A store that cannot be read (damaged, another
program's database, another schema version) is listed with its error, never a crash.

A store's summary (cases by status, ASR per target) is counted by SQLite in one pass and kept
until the file or its WAL changes (size or modification time), so the run list of a folder
of large runs costs one pass per run that changed; the status is read again at every visit
(a killed run turns ``interrupted`` without touching its file).
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import closing
from datetime import datetime
from pathlib import Path

import structlog
from pydantic import BaseModel

from kernel.errors import StoreError
from safebench.audit.stored_config import StoredConfig
from transcripts.store import RunStore
from transcripts.store_file import connect_readonly

log = structlog.get_logger(__name__)

STORE_SUFFIX = ".sqlite"
"""The name every SafeBench store has (``runs/<name>.sqlite`` and the like)."""
SQLITE_HEADER = b"SQLite format 3\x00"


class TargetAsr(BaseModel):
    """One target's share of decided verdicts judged harmful."""

    target: str
    decided: int
    harmful: int

    @property
    def asr(self) -> float | None:
        return self.harmful / self.decided if self.decided else None


class Counts(BaseModel):
    """What a store's summary counts (kept until the store's files change)."""

    cases: int
    by_status: dict[str, int]
    asr: list[TargetAsr]


class RunEntry(BaseModel):
    """One store under the folder, as the run list shows it."""

    rel: str
    """Its path under the folder (``/``-separated): its name in the viewer's addresses."""
    name: str | None = None
    kind: str = "run"
    """run, rejudge, study cell, calibration or experiment."""
    status: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    jury: str | None = None
    """Size, voting rule and rounds of the run's jury, when its config names one."""
    dataset: str | None = None
    """The digest of the dataset's queries.jsonl when the run started (same dataset: same)."""
    counts: Counts | None = None
    error: str | None = None
    """Why the store cannot be shown (the entry holds nothing else then)."""


def find_stores(root: Path) -> list[Path]:
    """Every ``*.sqlite`` file under ``root``, sorted; hidden folders skipped, folder links
    not followed."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in sorted(files) if f.endswith(STORE_SUFFIX)]
    return found


def signature(path: Path) -> tuple[int, ...]:
    """The sizes and times of the store's file and WAL: they change whenever a writer
    commits, so an equal signature is an unchanged store."""
    out: list[int] = []
    for suffix in ("", "-wal"):
        try:
            stat = os.stat(f"{path}{suffix}")
        except OSError:
            out += [0, 0]
            continue
        out += [stat.st_mtime_ns, stat.st_size]
    return tuple(out)


def looks_like_sqlite(path: Path) -> str | None:
    """None when ``path`` begins with SQLite's header; otherwise why it is no store."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if head != SQLITE_HEADER:
        return f"{path}: not a SafeBench store (not an SQLite database)"
    return None


def _count(path: Path) -> Counts:
    # One connection of our own, read-only: SQLite aggregates in place (no record decoded).
    with closing(connect_readonly(path)) as db:
        by_status = dict(
            db.execute("SELECT status, COUNT(*) FROM cases GROUP BY status").fetchall()
        )
        rows = db.execute(
            "SELECT c.target, SUM(v.harmful IS NOT NULL), SUM(v.harmful = 1) FROM cases c "
            "LEFT JOIN verdicts v ON v.case_id = c.case_id AND c.status = 'judged' "
            "GROUP BY c.target ORDER BY c.target"
        ).fetchall()
    return Counts(
        cases=sum(by_status.values()),
        by_status={str(k): int(v) for k, v in sorted(by_status.items())},
        asr=[
            TargetAsr(target=str(t), decided=int(d or 0), harmful=int(h or 0)) for t, d, h in rows
        ],
    )


def _kind(rel: str, name: str, config_json: str) -> str:
    try:
        loaded = json.loads(config_json)
    except ValueError:
        loaded = None
    config = loaded if isinstance(loaded, dict) else {}
    if "rejudged_from" in config:
        return "rejudge"
    if "pool" in config or name.startswith("experiment-"):
        return "experiment"
    if "cells" in Path(rel).parts[:-1]:
        return "study cell"
    if name.startswith("calibrate-") or Path(rel).name.startswith("calibrate-"):
        return "calibration"
    return "run"


def _jury(config: StoredConfig) -> str | None:
    jury = config.jury
    if jury is None:
        return None
    rounds = "" if jury.rounds is None else f", {jury.rounds} round(s)"
    options = "".join(f" {k}={v}" for k, v in jury.voting_options.items())
    return f"{len(jury.seats)} jurors, {jury.rule}{options}{rounds}"


class FolderRuns:
    """The stores under ``root`` and their summaries (thread-safe; counts cached)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._counts: dict[Path, tuple[tuple[int, ...], Counts]] = {}

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def scan(self) -> dict[str, Path]:
        """rel -> path of every store under the folder now."""
        return {self.rel(p): p for p in find_stores(self.root)}

    def entries(self) -> list[RunEntry]:
        """Every store, newest first (by its last update); unreadable ones last."""
        entries = [self.entry(rel, path) for rel, path in self.scan().items()]
        readable = sorted(
            (e for e in entries if e.error is None),
            key=lambda e: (e.updated.timestamp() if e.updated else 0.0, e.rel),
            reverse=True,
        )
        return readable + [e for e in entries if e.error is not None]

    def entry(self, rel: str, path: Path) -> RunEntry:
        why = looks_like_sqlite(path)
        if why is not None:
            return RunEntry(rel=rel, error=why)
        try:
            with RunStore.open_readonly(path) as store:
                record = store.stored_run()
                status = store.shown_status()
                dataset = store.dataset_queries_sha256()
            counts = self._cached_counts(path)
        except StoreError as exc:
            log.warning("viewer_store_unreadable", store=str(path), error=str(exc))
            return RunEntry(rel=rel, error=str(exc))
        if record is None:
            return RunEntry(rel=rel, counts=counts, dataset=dataset, error=f"{path} holds no run")
        try:
            config = record.config_as(StoredConfig)
        except StoreError as exc:
            return RunEntry(rel=rel, name=record.name, error=str(exc))
        return RunEntry(
            rel=rel,
            name=record.name,
            kind=_kind(rel, record.name, record.config_json),
            status=status,
            created=record.created_at,
            updated=record.updated_at,
            jury=_jury(config),
            dataset=dataset,
            counts=counts,
        )

    def _cached_counts(self, path: Path) -> Counts:
        sig = signature(path)
        with self._lock:
            kept = self._counts.get(path)
        if kept is not None and kept[0] == sig:
            return kept[1]
        counts = _count(path)
        with self._lock:
            self._counts[path] = (sig, counts)
        return counts
