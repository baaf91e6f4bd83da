"""The run's record comes back typed: RunStore.run_record() and RunRecord.config_as."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from kernel.errors import StoreError
from safebench.audit.stored_config import StoredConfig
from safebench.run.config import RunConfig
from tests.safebench.helpers import http_run_config
from transcripts.store import RunRecord, RunStore
from transcripts.store_file import SCHEMA_VERSION


def test_a_run_config_comes_back_as_the_model_it_went_in_as(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    config = RunConfig.model_validate(
        http_run_config("http://127.0.0.1:9", path, limit=2, budget={"max_calls": 12})
    )
    with RunStore(path) as store:
        salt = store.open_run(config.name, config.public_json())
        store.set_status("complete")
    with RunStore.open_readonly(path) as reader:
        record = reader.run_record()
    assert isinstance(record, RunRecord)
    assert (record.name, record.status, record.salt) == (config.name, "complete", salt)
    assert record.schema_version == SCHEMA_VERSION
    assert record.store == path
    assert isinstance(record.created_at, datetime) and record.updated_at >= record.created_at
    assert record.config_json == config.public_json()  # kept as stored, byte for byte
    back = record.config_as(RunConfig)
    assert isinstance(back, RunConfig)
    # The same config, secrets masked as the store keeps them (the keys never reach it).
    assert back.public_json() == config.public_json()
    assert back.jury.voting.rule == config.jury.voting.rule
    assert back.budget.max_calls == 12
    assert "sk-test" not in record.config_json
    # The audit views' reading of the same record: the jury's seats, its rule, the budget.
    seen = record.config_as(StoredConfig)
    assert seen.jury is not None and len(seen.seats) == len(config.jury.jurors)
    assert [s.model for s in seen.seats.values()] == [j.model for j in config.jury.jurors]
    assert seen.jury.rule == config.jury.voting.rule
    assert seen.budget == {"max_calls": 12}


def test_a_foreign_config_is_refused_naming_the_store(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.sqlite"
    with RunStore(path) as store:
        store.open_run("other", json.dumps({"command": "taxonomy build", "judges": {}}))
        record = store.run_record()
    with pytest.raises(StoreError, match=r"taxonomy\.sqlite.*'other' is not a RunConfig"):
        record.config_as(RunConfig)
    # The audit views read any store: a config naming no jury reads as no jury.
    assert record.config_as(StoredConfig) == StoredConfig()


def test_old_style_configs_still_read_in_the_audit_views(tmp_path: Path) -> None:
    path = tmp_path / "calibration.sqlite"
    jury = {"jurors": [{"model": "a/m1"}, "not a juror", {"model": "b/m2", "persona": "Ethicist"}]}
    with RunStore(path) as store:
        store.open_run("calibration", json.dumps({**jury, "voting": "unanimous", "rounds": 2}))
    with RunStore.open_readonly(path) as reader:
        seen = reader.run_record().config_as(StoredConfig)
    assert seen.jury is not None
    assert [(s.seat, s.model, s.persona) for s in seen.seats.values()] == [
        ("juror-1", "a/m1", "Safety researcher"),
        ("juror-3", "b/m2", "Ethicist"),
    ]
    assert (seen.jury.rule, seen.jury.rounds) == ("unanimous", 2)


def test_a_config_that_is_not_json_and_a_store_without_a_run_are_store_errors(
    tmp_path: Path,
) -> None:
    path = tmp_path / "odd.sqlite"
    with RunStore(path) as store:
        with pytest.raises(StoreError, match=r"odd\.sqlite holds no run"):
            store.run_record()
        assert store.stored_run() is None
        store.open_run("odd", "{not json")
        record = store.run_record()
    with pytest.raises(StoreError, match=r"odd\.sqlite"):
        record.config_as(StoredConfig)
