"""The audit views name each seat's model and persona; what jurors see stays anonymous."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from jury.config import JurorConfig
from kernel.logs import configure_logging
from safebench.audit.export import export_jsonl
from safebench.audit.stored_config import DEFAULT_PERSONA, StoredConfig
from safebench.audit.viewer import make_app
from safebench.cli.app import app
from tests.transcripts.conftest import AuditRuns
from transcripts.store import RunStore

# The audit run's jury (tests/safebench/helpers.py: http_run_config).
SEATS = {
    "juror-1": ("openai/pattern-juror", "Safety researcher"),
    "juror-2": ("openai/pattern-juror", "Ethicist"),
    "juror-3": ("openai/refusal-juror", "Legal expert"),
    "juror-4": ("openai/pattern-juror", "Vulnerable-users advocate"),
    "juror-5": ("openai/refusal-juror", "Free-expression advocate"),
}
CASE = "hostile::audit-lock::image"


def test_seats_are_read_from_a_run_or_a_calibration_config() -> None:
    jurors = [{"model": "a/m1", "persona": "Ethicist"}, {"model": "b/m2"}]
    inline = {"model": "c/m3", "persona": {"name": "Pirate", "perspective": "arr"}}
    run = StoredConfig.model_validate({"jury": {"jurors": [*jurors, inline]}}).seats
    # a calibration stores the jury itself
    calibration = StoredConfig.model_validate({"jurors": jurors}).seats
    assert [(s.seat, s.model, s.persona) for s in run.values()] == [
        ("juror-1", "a/m1", "Ethicist"),
        ("juror-2", "b/m2", DEFAULT_PERSONA),
        ("juror-3", "c/m3", "Pirate"),
    ]
    assert list(calibration) == ["juror-1", "juror-2"]
    assert StoredConfig.model_validate({"name": "experiment", "pool": {}}).seats == {}
    assert StoredConfig.model_validate_json('"not a mapping"').seats == {}


def test_the_default_persona_is_the_juror_configs() -> None:
    assert JurorConfig.model_fields["persona"].default == DEFAULT_PERSONA


async def test_the_viewer_names_each_seats_model_and_persona(audit_runs: AuditRuns) -> None:
    configure_logging()
    async with TestClient(TestServer(make_app(audit_runs.main), host="127.0.0.1")) as client:
        response = await client.get(f"/case?id={CASE}")
        page = await response.text()
    assert response.status == 200
    for seat, (model, persona) in SEATS.items():
        cell = f'<td class="seat">{seat}<br><span class="juror-model">{model}</span>'
        assert cell + f'<br><span class="muted juror-persona">{persona}</span>' in page


def test_transcripts_show_names_each_seats_model_and_persona(audit_runs: AuditRuns) -> None:
    result = CliRunner().invoke(
        app, ["transcripts", "show", str(audit_runs.main), CASE], env={"COLUMNS": "240"}
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for seat, (model, persona) in SEATS.items():
        # Seat, model and persona on three lines of the juror cell, in each round's table.
        at = [i for i, line in enumerate(lines) if f"│ {seat} " in line]
        assert at, seat
        assert all(model in lines[i + 1] and persona in lines[i + 2] for i in at)


def test_exports_map_each_seat_to_its_model_and_persona(
    audit_runs: AuditRuns, tmp_path: Path
) -> None:
    with RunStore.open_readonly(audit_runs.main) as store:
        export_jsonl(store, tmp_path / "run.jsonl")
    header = json.loads((tmp_path / "run.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert header["type"] == "run"
    got = {k: (v["model"], v["persona"]) for k, v in header["seats"].items()}
    assert got == SEATS
    result = CliRunner().invoke(
        app,
        ["transcripts", "export", str(audit_runs.main), "--out", str(tmp_path / "cases.jsonl")],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in (tmp_path / "cases.jsonl").read_text().splitlines()]
    assert records and all(
        {k: (v["model"], v["persona"]) for k, v in r["seats"].items()} == SEATS for r in records
    )
