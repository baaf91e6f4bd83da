"""``safebench study`` prints its results on the terminal, not only in study.md (it printed
the cells table alone), and they fit 80 columns with every figure whole."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from safebench.cli.app import app
from tests.safebench.studies.test_study_run import TWO_CONDITIONS, write_spec


def test_study_prints_the_tables_of_study_md_at_80_columns(tmp_path: Path) -> None:
    path = write_spec(tmp_path, TWO_CONDITIONS)
    out = tmp_path / "o"
    result = CliRunner().invoke(
        app, ["study", str(path), "--out", str(out), "-q", "--limit", "1"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    study_md = (out / "study.md").read_text(encoding="utf-8")
    titles = re.findall(r"^#+ (.+)$", study_md, re.MULTILINE)
    said = " ".join(result.output.split())
    shown = [t for t in titles if " ".join(t.split()) in said]
    assert len(shown) >= 2, (titles, result.output)  # the results, beside the cells table
    # An ASR with its interval and n, as study.md has it, whole on the terminal.
    figures = set(re.findall(r"\d+\.\d \[\d+-\d+\] n=\d+", study_md))
    assert figures and all(f.split(" [")[0] in said for f in figures)
    for line in result.output.splitlines():
        assert len(line) <= 80 and not re.search(r"\d…|…\d", line), line
