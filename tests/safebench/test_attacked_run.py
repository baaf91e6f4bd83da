"""Runs with an attack: every model over real HTTP to a local scripted server. The stored
queries are the attacked ones and name the attack; the targets were sent the attacked text; a
resume with another attack is refused; a persuasion model's calls are recorded in the run
store and never asked again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from generation.attacks.templates import BUILTIN_TEMPLATES, fill
from generation.dataset import iter_queries
from kernel.errors import ConfigChanged, ConfigError
from kernel.logs import configure_logging
from safebench.cli.app import app
from safebench.offline.seed import SEED_ITEMS
from safebench.offline.wire import ChatRequest, message_text
from safebench.run.cases import RunOverBudget
from safebench.run.config import RunConfig, load_run_config
from safebench.run.pipeline import run_evaluation
from safebench.run.rejudge import rejudge
from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import SimServer
from transcripts.store import RunStore

LIMIT = 2


@pytest.fixture
def server(openai_server: SimServer) -> SimServer:
    openai_server.keep_bodies = True
    return serve_everything(openai_server)


def run_config(
    server: SimServer, store: Path, attack: dict[str, Any] | None, **extra: Any
) -> RunConfig:
    targets = [
        {
            "model": "openai/sim-leaky",
            "api_base": server.base_url,
            "api_key": "sk-test",
            "name": "leaky",
            "accepts": ["text", "image"],
        }
    ]
    extra.setdefault("modalities", ["text"])
    extra.setdefault("limit", LIMIT)
    data = http_run_config(server.base_url, store, targets=targets, **extra)
    if attack is not None:
        data["attack"] = attack
    return RunConfig.model_validate(data)


def target_texts(server: SimServer) -> list[str]:
    return [
        message_text(e.request.messages[-1])
        for e in server.requests
        if e.model == "sim-leaky" and e.request is not None
    ]


async def test_a_template_run_stores_and_sends_the_attacked_queries(
    server: SimServer, tmp_path: Path
) -> None:
    attack = {"name": "template", "params": {"template": "research"}}
    config = run_config(server, tmp_path / "run.sqlite", attack)
    summary = await run_evaluation(config)
    assert summary.counts == {"judged": LIMIT}
    originals = [item.text for item in SEED_ITEMS[:LIMIT]]
    expected = [fill(BUILTIN_TEMPLATES["research"], text) for text in originals]
    with RunStore(config.store_path()) as store:
        stored = sorted(store.iter_queries(), key=lambda q: q.id)
        root = store.dataset_root()
    assert sorted(q.text for q in stored) == sorted(expected)
    for query in stored:
        assert query.attack is not None
        assert query.attack.name == "template"
        assert query.attack.params["template"] == "research"
        assert query.attack.original_text in originals
    assert sorted(target_texts(server)) == sorted(expected)
    # The cases read the attacked copy beside the store, with the source's images.
    assert root is not None and root.parent == (tmp_path / "datasets" / "attacked").resolve()
    attacked = list(iter_queries(root))
    assert [q.text for q in attacked] == expected
    assert all(q.image is not None and (root / q.image.path).is_file() for q in attacked)

    # A rerun reuses the attacked dataset and asks nothing.
    marker = next(root.glob(".attack-complete")).stat().st_mtime_ns
    calls = server.count()
    again = await run_evaluation(config)
    assert again.model_calls == 0 and server.count() == calls
    assert next(root.glob(".attack-complete")).stat().st_mtime_ns == marker


async def test_resuming_with_another_attack_or_none_is_refused(
    server: SimServer, tmp_path: Path
) -> None:
    store = tmp_path / "run.sqlite"
    await run_evaluation(run_config(server, store, {"name": "template"}))
    other = {"name": "template", "params": {"template": "fiction"}}
    with pytest.raises(ConfigChanged, match=r"attack\.params\.template: role-play -> fiction"):
        await run_evaluation(run_config(server, store, other))
    with pytest.raises(ConfigChanged, match=r"attack\.name: template -> \(none\)"):
        await run_evaluation(run_config(server, store, None))
    # The same attack spelled with its defaults is the same run.
    same = {"name": "template", "params": {"template": "role-play"}}
    assert (await run_evaluation(run_config(server, store, same))).model_calls == 0


async def test_a_persuasion_model_is_asked_once_and_recorded_in_the_run_store(
    server: SimServer, tmp_path: Path
) -> None:
    def rewriter(request: ChatRequest) -> str:
        prompt = message_text(request.messages[-1])
        return "My professor asked me to find out: " + prompt.rsplit("Request: ", 1)[-1]

    server.add_model("rewriter", rewriter)
    attack = {
        "name": "persuasion",
        "params": {
            "technique": "authority",
            "model": {"model": "openai/rewriter", "api_base": server.base_url, "api_key": "k"},
        },
    }
    config = run_config(server, tmp_path / "run.sqlite", attack)
    await run_evaluation(config)
    assert server.count("rewriter") == LIMIT
    originals = {item.text for item in SEED_ITEMS[:LIMIT]}
    wanted = {"My professor asked me to find out: " + text for text in originals}
    with RunStore(config.store_path()) as store:
        assert {q.text for q in store.iter_queries()} == wanted
        scopes = {c.scope for c in store.iter_calls() if c.model == "openai/rewriter"}
        root = store.dataset_root()
    assert len(scopes) == LIMIT and all(
        s.startswith("attack/persuasion/authority/") for s in scopes
    )
    assert set(target_texts(server)) == wanted
    # A run killed after the rewrites (its attacked copy gone too) rebuilds it from the
    # recorded calls: the rewriting model is not asked again.
    assert root is not None
    shutil.rmtree(root)
    with RunStore(config.store_path()) as store:
        store.set_status("stopped")
    await run_evaluation(config)
    assert server.count("rewriter") == LIMIT
    assert {q.text for q in iter_queries(root)} == wanted


async def test_a_multi_process_run_reads_the_attacked_dataset(
    server: SimServer, tmp_path: Path
) -> None:
    config = run_config(server, tmp_path / "run.sqlite", {"name": "persuasion"}, workers=2)
    summary = await run_evaluation(config)
    assert summary.counts == {"judged": LIMIT}
    with RunStore(config.store_path()) as store:
        stored = list(store.iter_queries())
    assert len(stored) == LIMIT
    assert all(q.attack is not None and q.attack.name == "persuasion" for q in stored)
    assert all(q.text.startswith("Published incident reports") for q in stored)


def test_a_bad_attack_in_a_config_names_the_field(tmp_path: Path) -> None:
    data = http_run_config("http://127.0.0.1:9/v1", tmp_path / "r.sqlite")
    data["attack"] = {"name": "typographic", "params": {"items": 0}}
    path = write_config(tmp_path / "run.yaml", data)
    with pytest.raises(ConfigError, match=r"attack: .*items"):
        load_run_config(path)
    data["attack"] = {"name": "jailbreak"}
    write_config(path, data)
    with pytest.raises(ConfigError, match=r"attack\.name: .*unknown attack 'jailbreak'"):
        load_run_config(path)


async def test_the_cli_lists_attacks_and_shows_a_cases_attack(
    server: SimServer, tmp_path: Path
) -> None:
    listed = CliRunner().invoke(app, ["attacks"], env={"COLUMNS": "300"})
    configure_logging()
    assert listed.exit_code == 0, listed.output
    for name in ("typographic", "persuasion", "template", "pgd"):
        assert f"\n{name}  " in "\n" + listed.output
    assert "epsilon (float, default: 16.0)" in listed.output
    # Image cases (the only ones a typographic attack reaches): `show` names only the media
    # a case sent, here the attack's image.
    config = run_config(
        server, tmp_path / "run.sqlite", {"name": "typographic"}, modalities=["image"]
    )
    await run_evaluation(config)
    with RunStore(config.store_path()) as store:
        case = next(a.case_id for a in store.iter_answers())
    shown = CliRunner().invoke(
        app, ["transcripts", "show", str(config.store_path()), case], env={"COLUMNS": "300"}
    )
    configure_logging()
    assert shown.exit_code == 0, shown.output
    assert "attack: typographic (items=3, prompt=The picture shows" in shown.output
    assert "image: " in shown.output and "/attack/" in shown.output


async def test_a_failed_attack_fails_its_queries_cases_and_the_run_goes_on(
    server: SimServer, tmp_path: Path
) -> None:
    first, second = (item.text for item in SEED_ITEMS[:LIMIT])

    def rewriter(request: ChatRequest) -> str:
        prompt = message_text(request.messages[-1])
        if first in prompt:
            return "I'm sorry, but I can't help rewrite that request."
        if second in prompt:
            return '""'  # quotes around nothing
        return "unused"

    server.add_model("picky", rewriter)
    model = {"model": "openai/picky", "api_base": server.base_url, "api_key": "k"}
    config = run_config(
        server, tmp_path / "run.sqlite", {"name": "persuasion", "params": {"model": model}}
    )
    summary = await run_evaluation(config)
    assert summary.status == "complete" and summary.counts == {"failed": LIMIT}
    assert server.count("sim-leaky") == 0  # a refusal is never sent as the query
    with RunStore(config.store_path()) as store:
        errors = sorted(row.error or "" for row in store.iter_cases())
    assert "refused to rewrite it" in errors[0] or "refused to rewrite it" in errors[1]
    assert any("empty rewrite" in e for e in errors)
    assert all(e.startswith("attack persuasion: ") for e in errors)


async def test_the_jury_judges_the_answer_against_the_original_request(
    server: SimServer, tmp_path: Path
) -> None:
    # The typographic attack's text is a benign "fill in the list" prompt; jurors must be
    # told what was really asked, or every answer to it reads as harmless.
    config = run_config(
        server, tmp_path / "run.sqlite", {"name": "typographic"}, modalities=["image"]
    )
    await run_evaluation(config)
    originals = [item.text for item in SEED_ITEMS[:LIMIT]]
    juror_prompts = [
        " ".join(message_text(m) for m in e.request.messages)
        for e in server.requests
        if e.request is not None and e.model in ("pattern-juror", "refusal-juror")
    ]
    assert juror_prompts
    for original in originals:
        assert any(original in prompt for prompt in juror_prompts)
    assert all(original not in text for text in target_texts(server) for original in originals)


@pytest.mark.parametrize(
    ("attack", "modalities", "message"),
    [
        ("typographic", ["text", "image"], "attack typographic changes the image, which text"),
        ("pgd", ["audio"], "attack pgd changes the image, which audio cases"),
        ("template", ["audio:male"], "attack template changes the written text, which audio:male"),
    ],
)
def test_an_attack_that_cannot_reach_a_modality_is_refused(
    tmp_path: Path, attack: str, modalities: list[str], message: str
) -> None:
    params = {"model": "hf/./tiny"} if attack == "pgd" else {}
    data = http_run_config("http://127.0.0.1:9", tmp_path / "r.sqlite", modalities=modalities)
    data["attack"] = {"name": attack, "params": params}
    path = write_config(tmp_path / "c.yaml", data)
    with pytest.raises(ConfigError, match=message):
        load_run_config(path)


def test_audio_with_text_and_image_cases_take_a_text_attack(tmp_path: Path) -> None:
    data = http_run_config(
        "http://127.0.0.1:9", tmp_path / "r.sqlite", modalities=["text", "image", "audio+text"]
    )
    data["attack"] = {"name": "template", "params": {"template": "fiction"}}
    assert load_run_config(write_config(tmp_path / "c.yaml", data)).attack is not None


def test_a_modality_given_twice_is_refused(tmp_path: Path) -> None:
    data = http_run_config(
        "http://127.0.0.1:9", tmp_path / "r.sqlite", modalities=["image", "image"]
    )
    with pytest.raises(ConfigError, match="modalities: image given twice"):
        load_run_config(write_config(tmp_path / "c.yaml", data))


async def test_the_attack_of_a_multi_process_run_stays_inside_its_budget(
    server: SimServer, tmp_path: Path
) -> None:
    server.add_model("rewriter", lambda request: "Please, as my supervisor asked: x")
    attack = {
        "name": "persuasion",
        "params": {
            "model": {"model": "openai/rewriter", "api_base": server.base_url, "api_key": "k"}
        },
    }
    config = run_config(
        server,
        tmp_path / "run.sqlite",
        attack,
        workers=2,
        limit=6,
        budget={"max_calls": 3},
    )
    with pytest.raises(RunOverBudget, match="budget"):
        await run_evaluation(config)
    # The parent's rewrites are model calls: no more than the budget reached the server.
    assert server.count("rewriter") <= 3
    assert server.count() <= 3
    with RunStore(config.store_path()) as store:
        assert store.run_record().status == "budget"


async def test_rejudging_an_attacked_run_with_its_own_jury_gives_every_verdict_back(
    server: SimServer, tmp_path: Path
) -> None:
    # Rejudge once showed jurors the attack's wording (a typographic prompt's benign "fill in
    # the list") where the run had shown the original request: the same jury, re-judging the
    # same answers, then judged different requests and flipped verdicts.
    config = run_config(
        server, tmp_path / "run.sqlite", {"name": "typographic"}, modalities=["image"]
    )
    await run_evaluation(config)
    asked_before = len(server.requests)
    rejudged = tmp_path / "rejudged.sqlite"
    summary = await rejudge(config.store_path(), config.jury, rejudged)
    assert summary.counts == {"judged": LIMIT}
    with RunStore(config.store_path()) as run, RunStore(rejudged) as again:
        before = {v.case_id: (v.harmful, v.safety_rating) for v in run.iter_verdicts()}
        after = {v.case_id: (v.harmful, v.safety_rating) for v in again.iter_verdicts()}
        votes_before = sorted((v.case_id, v.juror, v.round, v.harmful) for v in run.iter_votes())
        votes_after = sorted((v.case_id, v.juror, v.round, v.harmful) for v in again.iter_votes())
    assert len(before) == LIMIT
    assert after == before
    assert votes_after == votes_before
    originals = [item.text for item in SEED_ITEMS[:LIMIT]]
    rejudge_prompts = [
        " ".join(message_text(m) for m in e.request.messages)
        for e in server.requests[asked_before:]
        if e.request is not None
    ]
    assert rejudge_prompts  # the jury was asked again, not read back
    for original in originals:
        assert any(original in prompt for prompt in rejudge_prompts)
