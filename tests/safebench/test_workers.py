"""A run over worker processes: same verdicts as one process, one store, resumable."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kernel.errors import RunAborted
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from safebench.run.workers import shard_of, worker_share
from transcripts.store import RunStore


def offline_config(store: Path, workers: int, **extra: object) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": "workers-run",
            "store": str(store),
            "modalities": ["text", "image"],
            "limit": 5,
            "targets": [
                {"model": "safebench/sim-leaky"},
                {"model": "safebench/sim-guarded", "transport": "native"},
            ],
            "jury": {
                "jurors": [
                    {"model": "safebench/pattern-juror", "persona": "Safety researcher"},
                    {"model": "safebench/refusal-juror", "persona": "Ethicist"},
                    {"model": "safebench/pattern-juror", "persona": "Legal expert"},
                ],
                "rounds": 1,
                "foreperson": {"model": "safebench/foreperson"},
            },
            "gateway": {"max_retries": 1, "backoff_base_s": 0.01, "timeout_s": 10},
            "concurrency": 4,
            "workers": workers,
            **extra,
        }
    )


def share_salt(source: Path, target: Path, name: str) -> None:
    """Give a fresh store another's salt: offline jurors' ratings depend on the case nonce,
    which is drawn from the salt, so only equal salts make two runs comparable."""
    with sqlite3.connect(source) as db:
        (salt,) = db.execute("SELECT salt FROM run").fetchone()
    with RunStore(target) as store:
        store.open_run(name, "{}")
    with sqlite3.connect(target) as db:
        db.execute("UPDATE run SET salt=?", (salt,))


def verdicts_of(path: Path) -> dict[str, tuple[bool | None, int | None]]:
    with RunStore(path) as store:
        return {m.case_id: (v.harmful, v.safety_rating) for m, v in store.judged()}


def test_shards_are_stable_and_cover_every_case() -> None:
    ids = [f"t::q{i}::text" for i in range(200)]
    shards = [shard_of(cid, 3) for cid in ids]
    assert shards == [shard_of(cid, 3) for cid in ids]
    assert set(shards) == {0, 1, 2}


def test_worker_share_splits_concurrency_and_limits() -> None:
    config = offline_config(
        Path("x.sqlite"),
        4,
        concurrency=64,
        gateway={"default_limits": {"max_concurrency": 64, "requests_per_second": 100}},
    )
    share = worker_share(config)
    assert share.concurrency == 16
    assert share.gateway.default_limits.max_concurrency == 16
    assert share.gateway.default_limits.requests_per_second == 25
    assert config.gateway.default_limits.max_concurrency == 64  # the run's config is untouched


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_two_workers_give_the_same_verdicts_as_one_and_resume(tmp_path: Path) -> None:
    one = offline_config(tmp_path / "one.sqlite", workers=1)
    single = await run_evaluation(one)
    two = offline_config(tmp_path / "two.sqlite", workers=2)
    share_salt(one.store_path(), two.store_path(), two.name)
    multi = await run_evaluation(two)

    assert multi.status == "complete"
    assert multi.counts == single.counts and multi.counts["judged"] >= 15
    assert verdicts_of(two.store_path()) == verdicts_of(one.store_path())
    assert multi.model_calls == single.model_calls
    assert multi.by_target == single.by_target
    with RunStore(two.store_path()) as store:
        assert store.integrity_check() == "ok"
        assert store.run_record().status == "complete"

    # A rerun (with another number of workers) finds every case finished: no model call.
    again = await run_evaluation(offline_config(tmp_path / "two.sqlite", workers=3))
    assert again.model_calls == 0 and again.counts == multi.counts


async def test_a_mostly_failing_run_over_workers_is_aborted_and_marked(tmp_path: Path) -> None:
    # Nothing listens on port 9 (discard): every target call is refused and its case fails.
    unreachable = {
        "model": "openai/nobody",
        "api_base": "http://127.0.0.1:9/v1",
        "transport": "native",
    }
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    rows = [
        {"id": f"q{i}", "category": "Cybersecurity", "scenario": "Malware Generation", "text": "x"}
        for i in range(8)
    ]
    (dataset / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = offline_config(
        tmp_path / "abort.sqlite",
        workers=2,
        dataset=str(dataset),
        limit=None,
        targets=[unreachable],
        modalities=["text"],
        gateway={"max_retries": 0, "timeout_s": 5},
        min_cases_before_abort=4,
        max_failure_rate=0.5,
    )
    with pytest.raises(RunAborted, match="max_failure_rate"):
        await run_evaluation(config)
    with RunStore(config.store_path()) as store:
        assert store.run_record().status == "aborted"
        failed = [c for c in store.iter_cases() if c.status == "failed"]
        assert failed and all("nobody" in (c.error or "") for c in failed)
