"""Readers open stores read-only: a foreign SQLite file is refused untouched, a damaged store
is refused with its name (never a traceback), and a store is readable while a run writes it."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernel.errors import StoreError
from kernel.logs import configure_logging
from safebench.audit.viewer import make_app
from safebench.cli.app import app
from tests.transcripts.conftest import AuditRuns
from transcripts.store import CaseMeta, RunStore


def _cli(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    configure_logging()  # CliRunner leaves structlog writing to its closed stderr
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result.exit_code, " ".join(output.split()), result.exception


def _reader_commands(store: Path, tmp_path: Path) -> list[tuple[str, ...]]:
    return [
        ("report", str(store), "--out", str(tmp_path / "report")),
        ("transcripts", "list", str(store)),
        ("transcripts", "search", str(store), "pick"),
        ("transcripts", "show", str(store), "some::case::text"),
        ("transcripts", "export", str(store), "--out", str(tmp_path / "cases.jsonl")),
        ("export", str(store), "--out", str(tmp_path / "export.jsonl")),
    ]


def _snapshot(path: Path) -> tuple[str, list[str], str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master"))
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    return hashlib.sha256(path.read_bytes()).hexdigest(), tables, mode


def test_a_foreign_sqlite_file_is_refused_and_left_byte_identical(tmp_path: Path) -> None:
    foreign = tmp_path / "x.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes(body) VALUES ('mine')")
    db.close()
    before = _snapshot(foreign)
    assert before[1] == ["notes"] and before[2] == "delete"
    for command in _reader_commands(foreign, tmp_path):
        code, output, exception = _cli(*command)
        assert code == 2, (command, output)
        assert isinstance(exception, SystemExit), (command, exception)  # no traceback
        assert "x.sqlite: not a SafeBench store (no run table)" in output, (command, output)
        assert _snapshot(foreign) == before, command
    with pytest.raises(StoreError, match=r"x\.sqlite: not a SafeBench store"):
        make_app(foreign)
    assert _snapshot(foreign) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("x.")) == ["x.sqlite"]


def _copy(src: Path, dst: Path) -> Path:
    # Through SQLite's backup API, so nothing still in the source's WAL is lost.
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    return dst


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_a_truncated_store_gets_a_message_not_a_traceback(
    audit_runs: AuditRuns, tmp_path: Path, keep: float
) -> None:
    store = _copy(audit_runs.main, tmp_path / "cut.sqlite")
    data = store.read_bytes()
    store.write_bytes(data[: int(len(data) * keep)])
    for command in _reader_commands(store, tmp_path):
        code, output, exception = _cli(*command)
        assert code == 2, (command, output)
        assert isinstance(exception, SystemExit), (command, exception)
        assert "cut.sqlite: not a SafeBench store (" in output, (command, output)


def test_a_text_file_is_not_a_store(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all\n" * 200, encoding="utf-8")
    code, output, _ = _cli("report", str(text), "--out", str(tmp_path / "r"))
    assert code == 2 and "notes.sqlite: not a SafeBench store (" in output


def _meta(i: int) -> CaseMeta:
    return CaseMeta(
        case_id=f"t::q{i:05d}::text",
        target="t",
        query_id=f"q{i:05d}",
        modality="text",
        category="C",
        scenario="S",
    )


def test_a_store_is_read_while_a_run_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    writer = RunStore(path)
    writer.open_run("live", "{}")
    writer.save_failed(_meta(0), "first", None)
    total = 400
    done = threading.Event()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(1, total):
                writer.save_failed(_meta(i), "boom", None)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    seen: list[int] = []
    with RunStore.open_readonly(path) as reader:
        thread.start()
        while not done.is_set():
            seen.append(sum(1 for _ in reader.iter_cases()))
            assert reader.run_record().name == "live"
        thread.join()
        seen.append(sum(1 for _ in reader.iter_cases()))  # after the last commit
    writer.close()
    assert not failure, failure
    assert seen == sorted(seen) and seen[-1] == total  # each read a consistent, growing state
