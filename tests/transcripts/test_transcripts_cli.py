"""`safebench transcripts list|show|search|export` over a real run with hostile answers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from safebench.cli.app import app
from tests.transcripts.conftest import SECRET, AuditRuns

runner = CliRunner()


def split_cases(store: Path) -> set[str]:
    """Cases whose jurors voted both ways in some round, read straight from the votes table
    (not through the code under test): the simulated targets' answers decide how many."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT case_id, round, record FROM votes").fetchall()
    sides: dict[tuple[str, int], set[bool]] = {}
    for case_id, round_, record in rows:
        harmful = (json.loads(record).get("payload") or {}).get("harmful")
        if harmful is not None:
            sides.setdefault((case_id, round_), set()).add(harmful)
    return {case_id for (case_id, _), found in sides.items() if len(found) > 1}


def _invoke(*args: str) -> str:
    result = runner.invoke(app, ["transcripts", *args], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    return result.output


def test_list_filters_by_target_verdict_and_disagreement(audit_runs: AuditRuns) -> None:
    run = str(audit_runs.main)
    everything = _invoke("list", run)
    assert "18 case(s)" in everything
    leaky = _invoke("list", run, "--target", "leaky", "--modality", "text")
    assert "3 case(s)" in leaky and "hostile::" not in leaky
    expected = split_cases(audit_runs.main)
    assert 0 < len(expected) < 18  # the fixture's answers make some juries split, not all
    split = _invoke("list", run, "--disagreement")
    assert f"{len(expected)} case(s)" in split
    assert all(case in split for case in expected)
    agreed = _invoke("list", run, "--agreement")
    assert f"{18 - len(expected)} case(s)" in agreed
    skipped = _invoke("list", run, "--verdict", "none")
    assert "3 case(s)" in skipped and "leaky::audit-lock::audio" in skipped


def test_search_finds_text_in_answers(audit_runs: AuditRuns) -> None:
    out = _invoke("search", str(audit_runs.main), "javascript:window", "--target", "hostile")
    assert "case(s) matching" in out and "hostile::" in out
    assert "0 case(s)" in _invoke("search", str(audit_runs.main), "no such words anywhere")


def test_show_prints_the_whole_deliberation_as_inert_text(audit_runs: AuditRuns) -> None:
    out = _invoke("show", str(audit_runs.main), "hostile::audit-lock::image")
    assert "round 1 (blind vote)" in out and "juror-5" in out
    assert "foreperson's summary" in out and "verdict:" in out and "rule majority" in out
    assert "audit-lock.png" in out  # the image's path
    assert "audit-lock.wav" not in out  # only the file the case sent
    assert "audit-lock.wav" in _invoke("show", str(audit_runs.main), "hostile::audit-lock::audio")
    assert "<script>window.__xss='query'</script>" in out
    # Rich markup in an answer is printed, not obeyed; escape sequences never reach the tty.
    outputs = [
        _invoke("show", str(audit_runs.main), f"hostile::{q}::{m}")
        for q in ("audit-lock", "audit-malware", "audit-pills")
        for m in ("text", "image", "audio")
    ]
    assert any("[red]rich markup[/red]" in o for o in outputs)
    assert not any("\x1b[2J" in o or "\x1b]0;" in o for o in outputs)
    assert not any(SECRET in o for o in outputs)


def test_show_unknown_case_fails_with_a_message(audit_runs: AuditRuns) -> None:
    result = runner.invoke(app, ["transcripts", "show", str(audit_runs.main), "nope"])
    assert result.exit_code == 1 and "no case 'nope'" in result.output


def test_export_writes_matching_deliberations(audit_runs: AuditRuns, tmp_path: Path) -> None:
    out = tmp_path / "split.jsonl"
    _invoke("export", str(audit_runs.main), "--out", str(out), "--disagreement")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["summary"]["case_id"] for r in records} == split_cases(audit_runs.main)
    for record in records:
        assert record["type"] == "case_detail" and record["summary"]["disagreement"]
        assert record["rounds"][0]["round"] == 1 and record["verdict"]["rule"]
    assert SECRET not in out.read_text(encoding="utf-8")


def test_a_filter_a_user_mistypes_is_one_line_or_understood(audit_runs: AuditRuns) -> None:
    run = str(audit_runs.main)
    # A capital letter is still the verdict meant (it was a raw pydantic error with a URL).
    assert _invoke("list", run, "--verdict", "None") == _invoke("list", run, "--verdict", "none")
    bad = runner.invoke(app, ["transcripts", "list", run, "--verdict", "harmfull"])
    assert bad.exit_code == 2
    assert "error: invalid filter: --verdict Input should be 'harmful'" in bad.output
    assert "pydantic" not in bad.output
    # A target the run has no case of is named with the run's targets, not an empty table.
    partial = runner.invoke(app, ["transcripts", "list", run, "--target", "leak"])
    assert partial.exit_code == 2
    assert "--target leak: no case of that target in this run" in partial.output
    assert "did you mean leaky?" in " ".join(partial.output.split())
