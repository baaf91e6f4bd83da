"""`safebench report` over real runs: numbers, tables, and a page with no live content."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from typer.testing import CliRunner

from jury.metrics.scores import score
from safebench.audit.render_html import render_report
from safebench.audit.report import build_report
from safebench.audit.tables import csv_table, markdown_tables
from safebench.cli.app import app
from tests.transcripts.conftest import SECRET, AuditRuns
from transcripts.store import RunStore


def test_report_scores_match_the_stored_verdicts(audit_runs: AuditRuns) -> None:
    report = build_report([audit_runs.main])
    (run,) = report.runs
    with RunStore(audit_runs.main) as store:
        judged = list(store.judged())
        votes = list(store.iter_votes())
        calls = list(store.iter_calls())
    for target in ("hostile", "leaky"):
        expected = score(v for m, v in judged if m.target == target)
        assert run.overall[target].n == expected.n
        assert run.overall[target].asr == expected.asr
    hostile_modalities = run.breakdown["modality"]["hostile"]
    assert set(hostile_modalities) == {"text", "image", "audio"}
    assert set(run.breakdown["modality"]["leaky"]) == {"text", "image"}
    assert run.cases == {"judged": 15, "skipped": 3}
    assert run.rounds[0].round == 1 and run.rounds[0].votes == 15 * 5
    assert sum(r.votes for r in run.rounds) == len(votes)
    assert run.calls.calls == len(calls)
    # Replay answers make no call; each leaky case one target call; every verdict a foreperson.
    assert run.calls.by_role["target"] == 6
    assert run.calls.by_role["foreperson"] == 15
    assert run.calls.verdicts == 15
    assert run.calls.calls_per_verdict == len(calls) / 15


def test_two_runs_side_by_side(audit_runs: AuditRuns, tmp_path: Path) -> None:
    report = build_report([audit_runs.main, audit_runs.second])
    assert [r.label for r in report.runs] == ["http-run", "http-run-b"]
    assert max(r.round for r in report.runs[1].rounds) == 1  # rounds: 0 -> blind vote only
    md = markdown_tables(report)
    assert "| http-run / hostile |" in md and "| http-run-b / leaky |" in md
    header = next(line for line in md.splitlines() if line.startswith("| model | Consultation"))
    assert header.endswith("| Avg (mean of categories) | All cases pooled |")
    rows = list(csv.DictReader(io.StringIO(csv_table(report))))
    runs = {r["run"] for r in rows}
    assert runs == {"http-run", "http-run-b"}
    overall = [r for r in rows if r["dimension"] == "all" and r["run"] == "http-run"]
    assert {r["target"] for r in overall} == {"hostile", "leaky"}
    for row in rows:
        if row["asr"]:
            assert float(row["asr_low"]) <= float(row["asr"]) <= float(row["asr_high"])


def test_report_html_is_self_contained_and_inert(audit_runs: AuditRuns) -> None:
    html = render_report(build_report([audit_runs.main, audit_runs.second]))
    # The only script-like text is the escaped payload; nothing loads from the network.
    assert "<script" not in html.lower()
    assert "&lt;script&gt;parent.__xss=&#39;iframe&#39;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|javascript:)""", html, re.I)
    assert re.search(r"""(src|href)\s*=\s*["']?data:image/svg\+xml;base64,""", html)
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert SECRET not in html and "sk-test" not in html
    assert "Content-Security-Policy" in html
    # The hostile scenario's name is escaped wherever it appears.
    assert "Lockpicking &lt;img" in html


def test_report_command_writes_html_markdown_csv(audit_runs: AuditRuns, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["report", str(audit_runs.main), str(audit_runs.second), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"report.html", "tables.md", "scores.csv"}
    assert "ASR" in result.output and "hostile" in result.output
    for path in out.iterdir():
        assert SECRET not in path.read_text(encoding="utf-8")
    # A Markdown cell cannot be broken by a pipe or newline, nor carry raw HTML; CSV holds
    # no formula.
    assert "Lockpicking &lt;img" in (out / "tables.md").read_text(encoding="utf-8")


def test_report_on_a_missing_store_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2
    assert "no such run store" in result.output
    assert not (tmp_path / "nope.sqlite").exists()


def test_the_same_run_twice_gets_two_labels(audit_runs: AuditRuns) -> None:
    report = build_report([audit_runs.main, audit_runs.second, audit_runs.main])
    labels = [r.label for r in report.runs]
    assert labels == ["http-run (main.sqlite) #1", "http-run-b", "http-run (main.sqlite) #3"]
