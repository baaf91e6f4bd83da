"""The terminal views at 80 columns: the run summary and `transcripts list` never cut a
target name or a case id (they wrap other cells on word boundaries), and `transcripts show`
names only the media file the case sent."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from generation.dataset import media_ref_for, write_dataset
from jury.metrics.scores import Score
from kernel.records import MODALITY_GRAMMAR, Query, case_id
from safebench.audit.search import CaseSummary
from safebench.cli.app import app
from safebench.cli.run_cmd import print_summary
from safebench.cli.transcripts_cmd import _print_cases
from safebench.run.cases import RunSummary
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from tests.support.media import wav_bytes

LONG = "hosted_vllm/Qwen/Qwen2-VL-7B-Instruct-AWQ-a-checkpoint-name-longer-than-the-terminal-x"
TARGETS = ["safebench/sim-guarded", "safebench/sim-guarded-v2", "openai/gpt-4o", LONG]
CATEGORIES = ["Illegal & Criminal Behavior", "Inappropriate Opinions", "Privacy"]


def narrow(width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, color_system=None, legacy_windows=False), out


def score(n: int, harmful: int) -> Score:
    return Score(
        n=n, harmful=harmful, undecided=0, asr=harmful / n, asr_low=0.05, asr_high=0.7, sri=56.25
    )


def summary() -> RunSummary:
    return RunSummary(
        store=Path("runs/a-run-with-a-long-name.sqlite"),
        status="complete",
        counts={"judged": 36},
        model_calls=100,
        cached_calls=0,
        retries=0,
        wall_s=1.0,
        by_target_category={(t, c): score(3, 1) for t in TARGETS for c in CATEGORIES},
        by_target={t: score(9, 3) for t in TARGETS},
    )


def test_the_run_summary_keeps_every_target_and_category_whole_at_80_columns() -> None:
    console, out = narrow()
    print_summary(summary(), console)
    text = out.getvalue()
    lines = text.splitlines()
    for target in TARGETS:
        # On a line of its own, whole (the terminal wraps the longest; a copy of it is whole).
        assert f"target {target}" in lines, target
    for category in CATEGORIES:
        assert sum(category in line for line in lines) == len(TARGETS), category
    assert text.count("all cases pooled") == len(TARGETS)
    assert text.count("33.3%") == len(CATEGORIES) * len(TARGETS) + len(TARGETS)
    # Every table fits the terminal: only the target lines may be longer.
    assert all(len(line) <= 80 for line in lines if not line.startswith("target "))


def case(target: str, query: str, scenario: str) -> CaseSummary:
    return CaseSummary(
        case_id=case_id(target, query, "audio+text:female"),
        target=target,
        query_id=query,
        modality="audio+text:female",
        category="Cybersecurity",
        scenario=scenario,
        status="judged",
        verdict="harmful",
        safety_rating=2,
        rounds=2,
        flips=1,
        disagreement=True,
    )


def test_transcripts_list_never_cuts_a_case_id_at_80_columns() -> None:
    cases = [
        case(target, f"seed-malware-generation-{i}", "Malware Generation")
        for i, target in enumerate(TARGETS)
    ]
    console, out = narrow()
    _print_cases(cases, "4 case(s)", console)
    lines = out.getvalue().splitlines()
    for c in cases:
        assert c.case_id in lines, c.case_id  # whole, on a line of its own
    # Scenarios wrap on word boundaries; only an id may pass the terminal's width.
    assert " ".join(out.getvalue().split()).count("scenario Malware Generation") == 4
    assert all(len(line) <= 80 for line in lines if "::" not in line)


def test_transcripts_list_is_a_table_where_the_ids_fit() -> None:
    cases = [case("a", "q1", "Malware Generation"), case("b", "q2", "Fraud")]
    console, out = narrow(120)
    _print_cases(cases, "2 case(s)", console)
    rows = [line for line in out.getvalue().splitlines() if "::" in line]
    assert len(rows) == 2
    for c, row in zip(cases, rows, strict=True):
        assert c.case_id in row and "harmful" in row and c.scenario in row  # one row each


def test_transcripts_show_names_only_the_voice_the_target_heard(tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    (root / "media").mkdir(parents=True)
    audio = []
    for voice, samples in (("male", 800), ("female", 900)):
        path = root / "media" / f"q1-{voice}.wav"
        path.write_bytes(wav_bytes(samples=samples))
        audio.append(media_ref_for(root, path, "audio/wav", voice=voice))
    query = Query(
        id="q1", category="Cybersecurity", scenario="Malware", text="t", audio=tuple(audio)
    )
    write_dataset(root, [query])
    store = tmp_path / "run.sqlite"
    config = RunConfig.model_validate(
        {
            "name": "voices",
            "store": str(store),
            "dataset": str(root),
            "modalities": ["audio:female", "text"],
            "targets": [{"model": "safebench/sim-omni"}],
            "jury": {"jurors": [{"model": "safebench/pattern-juror"}], "rounds": 0},
        }
    )
    asyncio.run(run_evaluation(config))
    runner = CliRunner()
    shown = runner.invoke(
        app,
        ["transcripts", "show", str(store), case_id("safebench/sim-omni", "q1", "audio:female")],
    )
    assert shown.exit_code == 0, shown.output
    assert "q1-female.wav" in shown.output
    assert "q1-male.wav" not in shown.output
    as_text = runner.invoke(
        app, ["transcripts", "show", str(store), case_id("safebench/sim-omni", "q1", "text")]
    )
    assert as_text.exit_code == 0, as_text.output
    assert ".wav" not in as_text.output  # a text case sent no media


def test_the_modality_option_documents_the_grammar() -> None:
    result = CliRunner().invoke(app, ["transcripts", "list", "--help"], env={"COLUMNS": "300"})
    assert " ".join(MODALITY_GRAMMAR.split()) in " ".join(result.output.split())


def test_transcripts_list_shows_each_cases_status_and_why_it_has_no_verdict() -> None:
    failed = case("a", "q1", "Fraud").model_copy(
        update={"status": "failed", "verdict": "none", "rounds": 0, "flips": 0}
    )
    judged = case("b", "q2", "Fraud")
    errors = {failed.case_id: "target: openai/gone: server_error after 0 retries"}
    for width in (200, 80):  # a table, and each case as its id and a line of figures
        console, out = narrow(width)
        _print_cases([failed, judged], "2 case(s)", console, errors=errors)
        said = " ".join(out.getvalue().split())
        assert "status" in said and "error" in said
        assert "failed" in said and "judged" in said
        assert "target: openai/gone: server_error after 0 retries" in said, out.getvalue()
