"""What a run says at its end, on the terminal: a row per modality, why cases were skipped,
and "nothing to do" when a rerun found every case finished."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from safebench.cli.app import app


def _config(tmp_path: Path) -> Path:
    config = {
        "name": "terminal",
        "store": str(tmp_path / "run.sqlite"),
        "dataset": "builtin:seed",
        # The seed has images and no speech: the audio cases are skipped, with a reason.
        "modalities": ["text", "image", "audio:female"],
        "targets": [{"model": "safebench/sim-leaky"}],
        "jury": {"jurors": [{"model": "safebench/pattern-juror"}], "rounds": 0},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run(config: Path) -> str:
    result = CliRunner().invoke(
        app, ["run", str(config), "--limit", "2", "-q"], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_a_run_ends_with_modality_rows_skip_reasons_and_nothing_to_do_on_rerun(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    first = _run(config)
    lines = first.splitlines()
    # A row per modality the target was judged in, as the report has.
    assert any("modality text" in line and "│ 2 │" in line for line in lines), first
    assert any("modality image" in line and "│ 2 │" in line for line in lines), first
    # "skipped 2" said why.
    assert "skipped: 2 cases | safebench/sim-leaky | query has no audio in voice 'female'" in (
        " ".join(first.split())
    ), first
    assert "nothing to do" not in first
    again = _run(config)
    said = " ".join(again.split())
    assert "nothing to do: all 6 cases were already finished in the store" in said, again
    assert "model calls: 0 made" in said
