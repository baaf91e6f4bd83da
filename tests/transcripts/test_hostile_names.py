"""Names from a dataset, a config or a model, run through every command that prints or plots them.

Category, scenario and target names are hostile input: rich markup (``[/bold]`` that closes
nothing, ``[link=…]``), raw escape sequences, ``$`` that matplotlib would read as maths, and
HTML or Markdown syntax. Each must come out as the literal text, and no command may fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from generation.dataset import write_dataset
from kernel.logs import configure_logging
from kernel.records import Query
from safebench.audit.report import build_report
from safebench.audit.tables import markdown_tables
from safebench.cli.app import app

MARKUP = "Bias [/bold] speech"
LINK = "[link=https://evil.example/]Click[/link] here"
DOLLARS = "Money $$ laundering"
PRIZE = "Win $5 #1 or $10"
ESCAPES = "Esc \x1b[2J\x1b]0;pwned\x07 \x9b31m seq"
HTML = "<img src=x onerror=alert(1)> a|b & c"
TARGET = "Sim [/red] $1 <i>t</i>"

QUERIES = [
    ("q1", DOLLARS, MARKUP),
    ("q2", PRIZE, LINK),
    ("q3", ESCAPES, HTML),
    ("q4", f"{MARKUP} <b>x</b>", "Hate $\\alpha$ speech"),
]


@dataclass(frozen=True)
class HostileRun:
    dataset: Path
    config: Path
    store: Path
    first: Result
    rerun: Result


def _invoke(*args: str) -> Result:
    # Wide enough that no table cell is cut or wrapped: the names are compared whole.
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    # CLI runs leave structlog writing to CliRunner's closed stderr; point it back.
    configure_logging()
    return result


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    base = tmp_path_factory.mktemp("hostile-names")
    dataset = base / "dataset"
    write_dataset(
        dataset,
        [
            Query(id=qid, category=category, scenario=scenario, text="How do I do this harm?")
            for qid, category, scenario in QUERIES
        ],
    )
    store = base / "run.sqlite"
    config = base / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "hostile-names",
                "dataset": str(dataset),
                "store": str(store),
                "modalities": ["text"],
                "targets": [{"model": "safebench/sim-leaky", "name": TARGET}],
                "jury": {
                    "jurors": [
                        {"model": "safebench/pattern-juror"},
                        {"model": "safebench/refusal-juror"},
                        {"model": "safebench/pattern-juror"},
                    ],
                    "rounds": 1,
                    "foreperson": {"model": "safebench/foreperson"},
                },
                "concurrency": 2,
            }
        ),
        encoding="utf-8",
    )
    first = _invoke("run", str(config), "--quiet")
    rerun = _invoke("run", str(config), "--quiet")
    yield HostileRun(dataset, config, store, first, rerun)


ESCAPES_SHOWN = "Esc \\x1b[2J\\x1b]0;pwned\\x07 \\x9b31m seq"


def _assert_inert(output: str, *, shows_escapes: bool = True) -> None:
    # No escape sequence of the dataset's (nor a style or hyperlink of rich's) reached it.
    assert "\x1b" not in output and "\x9b" not in output and "\x07" not in output
    if shows_escapes:
        assert ESCAPES_SHOWN in output  # the escapes are shown, not obeyed


def test_run_prints_hostile_names_as_text_and_exits_0(hostile_run: HostileRun) -> None:
    for result in (hostile_run.first, hostile_run.rerun):
        assert result.exit_code == 0, result.output
        out = result.output
        for name in (DOLLARS, PRIZE, f"{MARKUP} <b>x</b>", TARGET):
            assert name in out, name
        _assert_inert(out)


def test_dataset_info_prints_hostile_names_as_text(hostile_run: HostileRun) -> None:
    result = _invoke("dataset", "info", str(hostile_run.dataset))
    assert result.exit_code == 0, result.output
    for name in (MARKUP, LINK, DOLLARS, PRIZE, HTML):
        assert name in result.output, name
    _assert_inert(result.output)


def test_transcripts_list_and_show_print_hostile_names_as_text(hostile_run: HostileRun) -> None:
    listed = _invoke("transcripts", "list", str(hostile_run.store))
    assert listed.exit_code == 0, listed.output
    assert LINK in listed.output and TARGET in listed.output
    _assert_inert(listed.output, shows_escapes=False)
    case = f"{TARGET}::q3::text"
    shown = _invoke("transcripts", "show", str(hostile_run.store), case)
    assert shown.exit_code == 0, shown.output
    assert HTML in shown.output and TARGET in shown.output
    _assert_inert(shown.output)


def test_report_plots_names_with_dollars(hostile_run: HostileRun, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = _invoke("report", str(hostile_run.store), "--out", str(out))
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/svg+xml;base64,") == 3  # every plot was drawn
    assert TARGET in result.output
    _assert_inert(result.output, shows_escapes=False)


def test_tables_md_escapes_html_and_markdown(hostile_run: HostileRun) -> None:
    md = markdown_tables(build_report([hostile_run.store]))
    assert "<" not in md and ">" not in md and "\x1b" not in md
    assert "&lt;img src=x onerror=alert(1)&gt; a\\|b &amp; c" in md
    assert "&lt;i&gt;t&lt;/i&gt;" in md  # the target's name, in every row
    assert "\\[link=https://evil.example/\\]Click\\[/link\\] here" in md
    assert "Money \\$\\$ laundering" in md
    assert ESCAPES_SHOWN.replace("[", "\\[").replace("]", "\\]") in md
    # Every row of a table has as many cell borders (unescaped pipes) as its header.
    widths: list[int] = []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            widths.append(line.replace("\\|", "").count("|"))
        elif widths:
            assert len(set(widths)) == 1, widths
            widths = []
