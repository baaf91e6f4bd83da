"""A run is one config: a resume whose result-bearing config changed is refused before any call.

Every model is served over real HTTP by the offline server, so "no model call" is counted at
the server. Each result-bearing field is changed in turn; settings that change no result
(concurrency, gateway, workers, a larger limit, keys, transport) may change on resume; an
``api_base`` may not.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import ConfigChanged
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from tests.safebench.helpers import http_run_config, serve_everything
from tests.support.sim_server import SimServer
from transcripts.store import RunStore

Change = Callable[[dict[str, Any]], None]


@pytest.fixture
def server(openai_server: SimServer) -> SimServer:
    return serve_everything(openai_server)


def base_config(base_url: str, store: Path, **extra: Any) -> dict[str, Any]:
    config = http_run_config(base_url, store, **{"limit": 1, **extra})
    config["jury"]["voting"] = {"rule": "supermajority", "k": 3}
    return config


def write_dataset(root: Path, texts: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": f"q{i}", "category": "Cybersecurity", "scenario": "Malware Generation", "text": t}
        for i, t in enumerate(texts)
    ]
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def target(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda c: next(t for t in c["targets"] if t["name"] == name)


leaky = target("leaky")


def juror(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda c: c["jury"]["jurors"][index]


def setter(where: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        where(config)[key] = value

    return change


def jury(key: str, value: Any) -> Change:
    return setter(lambda c: c["jury"], key, value)


def add_juror(config: dict[str, Any]) -> None:
    config["jury"]["jurors"].append(copy.deepcopy(config["jury"]["jurors"][0]))


def drop_foreperson(config: dict[str, Any]) -> None:
    del config["jury"]["foreperson"]


def rename_target(config: dict[str, Any]) -> None:
    leaky(config)["name"] = "leaky-2"


# (the change, a line the refusal must hold)
RESULT_BEARING: dict[str, tuple[Change, str]] = {
    "modalities": (lambda c: c.update(modalities=["text"]), 'modalities: ["image","text"] ->'),
    "target-model": (
        setter(leaky, "model", "openai/sim-guarded"),
        "targets.leaky.model: openai/sim-leaky -> openai/sim-guarded",
    ),
    "target-params": (
        setter(leaky, "params", {"temperature": 0.3}),
        "targets.leaky.params.temperature: (none) -> 0.3",
    ),
    "target-system-prompt": (
        setter(leaky, "system_prompt", "Be safe."),
        "targets.leaky.system_prompt: (none) -> Be safe.",
    ),
    "target-stream": (setter(leaky, "stream", False), "targets.leaky.stream: true -> false"),
    "target-accepts": (setter(leaky, "accepts", ["text"]), "targets.leaky.accepts:"),
    "target-name": (rename_target, "targets.leaky-2.model: (none) -> openai/sim-leaky"),
    "voting-rule": (
        jury("voting", {"rule": "majority"}),
        "jury.voting.rule: supermajority -> majority",
    ),
    "voting-option": (jury("voting", {"rule": "supermajority", "k": 4}), "jury.voting.k: 3 -> 4"),
    "rounds": (jury("rounds", 1), "jury.rounds: 2 -> 1"),
    "protocol": (jury("protocol", "round_robin"), "jury.protocol: simultaneous -> round_robin"),
    "early-stop": (jury("early_stop", []), 'jury.early_stop: ["no_change","consensus"] -> []'),
    "foreperson": (drop_foreperson, "jury.foreperson.model: openai/foreperson -> (none)"),
    "max-reasks": (jury("max_reasks", 0), "jury.max_reasks: 2 -> 0"),
    "max-answer-chars": (jury("max_answer_chars", 500), "jury.max_answer_chars: 20000 -> 500"),
    "juror-persona": (
        setter(juror(1), "persona", "Safety researcher"),
        "jury.jurors.1.persona: Ethicist -> Safety researcher",
    ),
    "juror-model": (
        setter(juror(0), "model", "openai/refusal-juror"),
        "jury.jurors.0.model: openai/pattern-juror -> openai/refusal-juror",
    ),
    "juror-params": (
        setter(juror(0), "params", {"temperature": 0}),
        "jury.jurors.0.params.temperature: (none) -> 0",
    ),
    "juror-added": (add_juror, "jury.jurors.5.model: (none) -> openai/pattern-juror"),
    # The same model name on another server may be another model: another run.
    "target-api-base": (
        setter(leaky, "api_base", "http://127.0.0.1:9/v1"),
        "targets.leaky.api_base: http://127.0.0.1:",
    ),
    "juror-api-base": (
        setter(juror(2), "api_base", "http://127.0.0.1:9/v1"),
        "jury.jurors.2.api_base: http://127.0.0.1:",
    ),
    "foreperson-api-base": (
        setter(lambda c: c["jury"]["foreperson"], "api_base", "http://127.0.0.1:9/v1"),
        "jury.foreperson.api_base: http://127.0.0.1:",
    ),
}


def stored(store: Path) -> tuple[str, str, str | None]:
    with sqlite3.connect(store) as db:
        config_json, status = db.execute("SELECT config_json, status FROM run").fetchone()
        row = db.execute("SELECT value FROM meta WHERE key='run_identity'").fetchone()
    return config_json, status, None if row is None else row[0]


@pytest.mark.parametrize("field", sorted(RESULT_BEARING))
async def test_a_changed_result_bearing_field_is_refused_before_any_call(
    server: SimServer, tmp_path: Path, field: str
) -> None:
    store = tmp_path / "run.sqlite"
    config = base_config(server.base_url, store)
    first = await run_evaluation(RunConfig.model_validate(config))
    assert first.status == "complete"
    before = stored(store)
    calls = server.count()

    change, expected = RESULT_BEARING[field]
    changed = copy.deepcopy(config)
    change(changed)
    with pytest.raises(ConfigChanged) as info:
        await run_evaluation(RunConfig.model_validate(changed))
    message = str(info.value)
    assert expected in message, message
    assert "new `name:`" in message and "safebench rejudge" in message
    assert server.count() == calls, "a refused resume called a model"
    assert stored(store) == before, "a refused resume changed the store's config or status"


async def test_a_smaller_limit_and_changed_dataset_content_are_refused(
    server: SimServer, tmp_path: Path
) -> None:
    dataset = write_dataset(tmp_path / "data", ["first request", "second request"])
    store = tmp_path / "run.sqlite"
    config = base_config(server.base_url, store, dataset=str(dataset), limit=2)
    await run_evaluation(RunConfig.model_validate(config))
    calls = server.count()

    with pytest.raises(ConfigChanged, match="limit: 2 -> 1"):
        await run_evaluation(RunConfig.model_validate({**config, "limit": 1}))
    write_dataset(dataset, ["first request", "another second request"])
    with pytest.raises(ConfigChanged, match=r"dataset\.queries_sha256: \w+ -> \w+"):
        await run_evaluation(RunConfig.model_validate(config))
    other = write_dataset(tmp_path / "other", ["something else entirely", "and more"])
    with pytest.raises(ConfigChanged, match=r"dataset\.queries_sha256"):
        await run_evaluation(RunConfig.model_validate({**config, "dataset": str(other)}))
    assert server.count() == calls


async def test_settings_that_change_no_result_may_change_on_resume(
    server: SimServer, tmp_path: Path
) -> None:
    store = tmp_path / "run.sqlite"
    config = base_config(server.base_url, store)
    first = await run_evaluation(RunConfig.model_validate(config))
    assert first.status == "complete"

    resumed = copy.deepcopy(config)
    for spec in [*resumed["targets"], *resumed["jury"]["jurors"], resumed["jury"]["foreperson"]]:
        # Another key and transport for the same model at the same server: the same answers.
        # (Another api_base is another run: see RESULT_BEARING.)
        spec.update(api_key="sk-other", transport="native")
    leaky(resumed)["max_concurrency"] = 2
    resumed.update(
        concurrency=3,
        workers=2,
        limit=2,
        gateway={"max_retries": 1, "timeout_s": 77, "backoff_base_s": 0.02},
        max_failure_rate=0.9,
        min_cases_before_abort=5,
    )
    summary = await run_evaluation(RunConfig.model_validate(resumed))
    assert summary.status == "complete"
    assert summary.counts == {"judged": 6, "skipped": 2}
    _config_json, status, identity = stored(store)
    assert status == "complete" and identity is not None
    assert json.loads(identity)["limit"] == 2


async def test_a_store_without_a_recorded_identity_is_checked_against_its_config(
    server: SimServer, tmp_path: Path
) -> None:
    # A store written before identities were recorded: only its config_json says what ran.
    store = tmp_path / "run.sqlite"
    config = base_config(server.base_url, store)
    await run_evaluation(RunConfig.model_validate(config))
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM meta WHERE key='run_identity'")
    calls = server.count()

    changed = copy.deepcopy(config)
    changed["jury"]["voting"] = {"rule": "unanimous"}
    with pytest.raises(ConfigChanged, match=r"jury\.voting\.rule: supermajority -> unanimous"):
        await run_evaluation(RunConfig.model_validate(changed))
    assert server.count() == calls
    assert stored(store)[2] is None

    again = await run_evaluation(RunConfig.model_validate(config))
    assert again.status == "complete" and server.count() == calls
    assert stored(store)[2] is not None  # bound from now on
    with RunStore(store) as run_store:
        assert run_store.run_record().config_as(RunConfig).jury.voting.rule == "supermajority"
