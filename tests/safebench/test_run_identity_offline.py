"""The offline models' weights and precision are part of a run's identity (issue 27).

A retrain writes over ``harm_judge.safetensors`` (or the embedding juror's head), and the harm
judge's arithmetic follows the CPU (bfloat16 or float32): a resume after either would mix the
verdicts of two judges. The run here seats the cheap in-process pattern juror, registered as
loading a weights file of the test's own, so the check runs without torch.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import ConfigChanged, ConfigError
from kernel.files import file_sha256
from safebench.offline.embedding_juror import HEAD_PATH
from safebench.offline.harm_judge import DELTA_PATH
from safebench.run import fingerprint
from safebench.run.config import RunConfig
from safebench.run.fingerprint import OfflineLoad, run_identity, weights_digest
from safebench.run.pipeline import run_evaluation


def config(store: Path, juror: str = "safebench/pattern-juror") -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": "weights",
            "store": str(store),
            "modalities": ["text"],
            "targets": [{"model": "safebench/sim-leaky", "name": "leaky"}],
            "jury": {"jurors": [{"model": juror}], "rounds": 0},
            "limit": 1,
        }
    )


def snapshot(store: Path) -> tuple[Any, ...]:
    with sqlite3.connect(store) as db:
        run = db.execute("SELECT config_json, status FROM run").fetchone()
        identity = db.execute("SELECT value FROM meta WHERE key='run_identity'").fetchone()
        calls = db.execute("SELECT COUNT(*) FROM calls").fetchone()
    return run, identity, calls


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "juror.safetensors"
    path.write_bytes(b"trained once")
    loads = {**fingerprint.OFFLINE_LOADS, "pattern-juror": OfflineLoad((path,), precision=True)}
    monkeypatch.setattr(fingerprint, "OFFLINE_LOADS", loads)
    monkeypatch.setenv("SAFEBENCH_BF16", "0")
    return path


def test_retrained_weights_refuse_the_resume_before_any_call(
    tmp_path: Path, weights: Path
) -> None:
    store = tmp_path / "run.sqlite"
    assert asyncio.run(run_evaluation(config(store))).status == "complete"
    before = snapshot(store)
    weights.write_bytes(b"trained twice")  # a retrain writing over the shipped file
    with pytest.raises(ConfigChanged) as info:
        asyncio.run(run_evaluation(config(store)))
    assert "offline_models.pattern-juror.weights_sha256.juror.safetensors:" in str(info.value)
    assert snapshot(store) == before, "a refused resume called a model or changed the store"


def test_another_precision_refuses_the_resume_before_any_call(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "run.sqlite"
    assert asyncio.run(run_evaluation(config(store))).status == "complete"
    before = snapshot(store)
    monkeypatch.setenv("SAFEBENCH_BF16", "1")  # as on a machine with AMX
    changed = r"offline_models\.pattern-juror\.precision: fp32 -> bf16"
    with pytest.raises(ConfigChanged, match=changed):
        asyncio.run(run_evaluation(config(store)))
    assert snapshot(store) == before


def test_a_store_of_identity_version_1_resumes_and_is_bound_from_then_on(
    tmp_path: Path, weights: Path
) -> None:
    store = tmp_path / "run.sqlite"
    asyncio.run(run_evaluation(config(store)))
    with sqlite3.connect(store) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key='run_identity'").fetchone()
        old = json.loads(value)
        del old["offline_models"]
        old["identity_version"] = 1
        db.execute("UPDATE meta SET value=? WHERE key='run_identity'", (json.dumps(old),))
    weights.write_bytes(b"unknown to the old store")
    assert asyncio.run(run_evaluation(config(store))).status == "complete"
    assert json.loads(snapshot(store)[1][0])["identity_version"] == fingerprint.IDENTITY_VERSION
    weights.write_bytes(b"and changed again")
    with pytest.raises(ConfigChanged, match="weights_sha256"):
        asyncio.run(run_evaluation(config(store)))


def test_the_shipped_files_of_the_seated_offline_models_are_digested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEBENCH_BF16", "1")
    judge = run_identity(config(tmp_path / "a.sqlite", "safebench/harm-judge"), None)
    assert judge["offline_models"] == {
        "harm-judge": {
            "weights_sha256": {DELTA_PATH.name: file_sha256(DELTA_PATH)},
            "precision": "bf16",
        }
    }
    embedding = run_identity(config(tmp_path / "b.sqlite", "safebench/embedding-juror"), None)
    # Its encoder runs in float32 whatever the CPU: no precision.
    assert embedding["offline_models"] == {
        "embedding-juror": {"weights_sha256": {HEAD_PATH.name: file_sha256(HEAD_PATH)}}
    }
    # Seats that load no weights file: nothing digested (their identity is as it was).
    assert "offline_models" not in run_identity(config(tmp_path / "c.sqlite"), None)


def test_a_bad_precision_override_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEBENCH_BF16", "true")
    with pytest.raises(ConfigError, match="SAFEBENCH_BF16"):
        run_identity(config(tmp_path / "a.sqlite", "safebench/harm-judge"), None)


def test_the_digest_is_cached_by_path_mtime_and_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    first = weights_digest(path)
    read: list[Path] = []
    monkeypatch.setattr(fingerprint, "file_sha256", lambda p: read.append(p) or "x")
    assert weights_digest(path) == first and read == []
    path.write_bytes(b"two!")
    assert weights_digest(path) == "x" and read == [path]
