"""The run pipeline end to end, every model over real HTTP to a local scripted server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kernel.errors import RunAborted
from safebench.audit.export import export_jsonl
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from tests.safebench.helpers import http_run_config, serve_everything
from tests.support.sim_server import SimServer
from transcripts.store import RunStore


@pytest.fixture
def server(openai_server: SimServer) -> SimServer:
    openai_server.keep_bodies = True
    return serve_everything(openai_server)


async def test_text_only_target_is_never_sent_an_image(
    server: SimServer, tmp_path: Path
) -> None:
    config = RunConfig.model_validate(
        http_run_config(server.base_url, tmp_path / "run.sqlite", limit=3)
    )
    summary = await run_evaluation(config)
    # 3 queries x 2 modalities x 2 targets; the text-only target's image cases are skipped.
    assert summary.counts == {"judged": 9, "skipped": 3}
    textonly = [e for e in server.requests if e.model == "sim-textonly"]
    assert len(textonly) == 3
    assert not any(e.request and e.request.has_part("image_url") for e in textonly)
    leaky_images = [
        e
        for e in server.requests
        if e.model == "sim-leaky" and e.request and e.request.has_part("image_url")
    ]
    assert len(leaky_images) == 3
    with RunStore(config.store_path()) as store:
        skipped = [a for a in store.iter_answers() if a.status == "skipped"]
        assert {a.reason for a in skipped} == {"target does not accept image input"}


async def test_rerun_of_a_finished_run_makes_no_model_call(
    server: SimServer, tmp_path: Path
) -> None:
    config = RunConfig.model_validate(
        http_run_config(server.base_url, tmp_path / "run.sqlite", limit=2)
    )
    first = await run_evaluation(config)
    calls = server.count()
    second = await run_evaluation(config)
    assert server.count() == calls
    assert second.model_calls == 0
    assert second.by_target == first.by_target


async def test_failed_target_calls_are_recorded_and_retried_on_resume(
    server: SimServer, tmp_path: Path
) -> None:
    from tests.support.sim_server import Fault

    config = RunConfig.model_validate(
        http_run_config(
            server.base_url,
            tmp_path / "run.sqlite",
            limit=2,
            gateway={"max_retries": 0, "backoff_base_s": 0.01},
        )
    )
    server.script_faults("sim-leaky", [Fault(kind="server_error")] * 4)
    first = await run_evaluation(config)
    assert first.counts.get("failed") == 4
    with RunStore(config.store_path()) as store:
        failed = [c for c in store.iter_cases() if c.status == "failed"]
        assert all("server_error" in (c.error or "") for c in failed)
    second = await run_evaluation(config)
    assert second.counts == {"judged": 6, "skipped": 2}


async def test_run_stops_when_most_cases_fail(server: SimServer, tmp_path: Path) -> None:
    from tests.support.sim_server import Fault

    config = RunConfig.model_validate(
        http_run_config(
            server.base_url,
            tmp_path / "run.sqlite",
            limit=20,
            gateway={"max_retries": 0},
            min_cases_before_abort=5,
            max_failure_rate=0.5,
            concurrency=2,
        )
    )
    server.script_faults(None, [Fault(kind="server_error")] * 1000)
    with pytest.raises(RunAborted, match="max_failure_rate"):
        await run_evaluation(config)
    with RunStore(config.store_path()) as store:
        assert store.run_record().status == "aborted"


async def test_no_api_key_in_store_or_export(
    server: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_secret = "sk-env-abcdef0123456789ENVSECRET"
    inline_secret = "sk-inline-abcdef0123456789INLINE"
    monkeypatch.setenv("JUROR_KEY", env_secret)
    raw = http_run_config(server.base_url, tmp_path / "run.sqlite", limit=2)
    raw["targets"][0]["api_key"] = inline_secret
    for juror in raw["jury"]["jurors"]:
        juror.pop("api_key")
        juror["api_key_env"] = "JUROR_KEY"
    config = RunConfig.model_validate(raw)
    await run_evaluation(config)
    with RunStore(config.store_path()) as store:
        export_jsonl(store, tmp_path / "export.jsonl", include_calls=True)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert env_secret.encode() not in data and inline_secret.encode() not in data, path


async def test_store_holds_every_round_and_verdict(
    server: SimServer, tmp_path: Path
) -> None:
    config = RunConfig.model_validate(
        http_run_config(
            server.base_url,
            tmp_path / "run.sqlite",
            limit=4,
            jury=None
            or http_run_config(server.base_url, tmp_path)["jury"] | {"early_stop": [], "rounds": 2},
        )
    )
    await run_evaluation(config)
    db = sqlite3.connect(config.store_path())
    rounds = {r for (r,) in db.execute("SELECT DISTINCT round FROM votes")}
    assert rounds == {1, 2, 3}
    verdicts = [json.loads(r) for (r,) in db.execute("SELECT record FROM verdicts")]
    assert verdicts and all(v["type"] == "verdict" and v["rounds"] == 3 for v in verdicts)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert version == "1"


async def test_store_keeps_the_queries_and_dataset_root_for_audit(
    server: SimServer, tmp_path: Path
) -> None:
    config = RunConfig.model_validate(
        http_run_config(server.base_url, tmp_path / "run.sqlite", limit=2)
    )
    await run_evaluation(config)
    with RunStore(config.store_path()) as store:
        queries = list(store.iter_queries())
        assert len(queries) == 2 and all(q.image is not None for q in queries)
        root = store.dataset_root()
        assert root is not None and (root / "queries.jsonl").is_file()
        case = next(c for c in store.iter_cases() if c.status == "judged")
        assert store.get_answer(case.case_id) is not None
        assert store.get_verdict(case.case_id) is not None
        export_jsonl(store, tmp_path / "out.jsonl")
    types = {json.loads(line)["type"] for line in (tmp_path / "out.jsonl").open()}
    assert types == {"run", "query", "case", "target_answer", "vote", "verdict"}
