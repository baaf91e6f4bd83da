"""A run's budget: it stops before a call would pass ``max_calls`` or ``max_usd`` (status
``budget``), keeps what finished, and a resume with a higher budget finishes without asking
any answered call again, every call counted at a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agents.budget import BudgetExhausted, SpendLimit
from safebench.audit.render_html import render_report
from safebench.audit.report import build_report
from safebench.offline.sim_targets import SIM_PROFILES, sim_responder
from safebench.run.cases import RunOverBudget
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import SimServer
from transcripts.store import RunStore

PRICED = "gpt-4o-mini"
"""A model litellm's local price map prices, served here by a simulated target."""


@pytest.fixture
def server(openai_server: SimServer) -> SimServer:
    return serve_everything(openai_server)


def _config(server: SimServer, store: Path, **extra: Any) -> RunConfig:
    return RunConfig.model_validate(http_run_config(server.base_url, store, **extra))


def _keys(server: SimServer, start: int = 0) -> list[str]:
    return [e.body_key for e in server.requests[start:]]


async def _over_budget(config: RunConfig) -> RunOverBudget:
    with pytest.raises(RunOverBudget) as stopped:
        await run_evaluation(config)
    return stopped.value


async def test_max_calls_stops_the_run_and_a_higher_budget_resumes_it_with_no_repeat(
    server: SimServer, tmp_path: Path
) -> None:
    # Calls take a while at the server, so the stop comes with calls in flight there: were
    # they cancelled instead of awaited, the resume would ask them again.
    server.latency_s = 0.05
    # The same run without a budget, on a store of its own: what the whole run asks.
    whole = await run_evaluation(_config(server, tmp_path / "whole.sqlite", limit=3))
    assert whole.status == "complete"
    needed = server.count()
    assert needed > 40
    start = server.count()

    store = tmp_path / "run.sqlite"
    stopped = await _over_budget(_config(server, store, limit=3, budget={"max_calls": 25}))
    first = _keys(server, start)
    assert 0 < len(first) <= 25
    assert stopped.summary.status == "budget"
    assert "max_calls 25" in str(stopped) and "rerun" in str(stopped)
    with RunStore(store) as opened:
        assert opened.run_record().status == "budget"
        # Every call the server answered was recorded before the run stopped.
        assert opened.spending()[0] == len(first)
        assert not opened.status_counts().get("failed")  # cut cases are left, not failed

    resumed = await run_evaluation(_config(server, store, limit=3, budget={"max_calls": 1000}))
    after = _keys(server, start + len(first))
    assert resumed.status == "complete"
    assert set(after).isdisjoint(first), "a call answered before the stop was asked again"
    # Stopping and resuming cost not one call more than the run without a budget.
    assert len(first) + len(after) == needed
    assert resumed.counts == whole.counts
    assert resumed.spent_calls == needed


async def test_a_budget_admits_whole_cases_so_it_never_ends_with_nothing_judged(
    server: SimServer, tmp_path: Path
) -> None:
    # max_calls 100 with 16 cases in flight once spent all 100 calls on cases it could not
    # finish and judged none. A case here takes at most 17 calls (its target, five jurors
    # in three rounds, the foreperson): 100 admits five of them, each seen through.
    store = tmp_path / "run.sqlite"
    config = _config(server, store, limit=12, concurrency=16, budget={"max_calls": 100})
    stopped = await _over_budget(config)
    judged = stopped.summary.counts.get("judged", 0)
    assert judged >= 5
    assert "max_calls 100 reached" in str(stopped) and "a case takes up to 17" in str(stopped)
    with RunStore(store) as opened:
        assert opened.spending()[0] == server.count() <= 100
        # Every case that started finished: none was cut, none failed.
        assert sum(opened.status_counts().values()) == judged + stopped.summary.counts.get(
            "skipped", 0
        )


async def test_a_budget_smaller_than_one_case_asks_nothing_and_says_so(
    server: SimServer, tmp_path: Path
) -> None:
    store = tmp_path / "run.sqlite"
    stopped = await _over_budget(_config(server, store, limit=1, budget={"max_calls": 3}))
    assert server.count() == 0
    assert "3 calls left, and a case takes up to 17" in str(stopped)


async def test_a_budget_counts_the_calls_of_earlier_sessions(
    server: SimServer, tmp_path: Path
) -> None:
    store = tmp_path / "run.sqlite"
    await _over_budget(_config(server, store, limit=3, budget={"max_calls": 10}))
    first = server.count()
    assert first <= 10
    # Raised to 18: this session may make only what the first left of 18.
    await _over_budget(_config(server, store, limit=3, budget={"max_calls": 18}))
    assert first < server.count() <= 18
    with RunStore(store) as opened:
        assert opened.spending()[0] == server.count()
    # A budget already spent makes no call at all.
    before = server.count()
    stopped = await _over_budget(_config(server, store, limit=3, budget={"max_calls": 5}))
    assert server.count() == before
    assert stopped.summary.spent_calls == before


async def test_max_usd_stops_before_a_priced_call_would_pass_it(
    server: SimServer, tmp_path: Path
) -> None:
    server.add_model(PRICED, sim_responder(SIM_PROFILES["sim-leaky"]))
    target = {
        "model": f"openai/{PRICED}",
        "api_base": server.base_url,
        "api_key": "sk-test",
        "name": "priced",
    }
    common: dict[str, Any] = {"targets": [target], "modalities": ["text"], "concurrency": 1}
    # The price of one target call, from a run of one case on a store of its own.
    await run_evaluation(_config(server, tmp_path / "one.sqlite", limit=1, **common))
    with RunStore(tmp_path / "one.sqlite") as one:
        priced = [c.cost_usd for c in one.iter_calls() if c.model == target["model"]]
    assert len(priced) == 1 and priced[0] > 0, "litellm's price map should price gpt-4o-mini"
    price = priced[0]

    store = tmp_path / "run.sqlite"
    max_usd = 2.5 * price  # room for two target calls, not three
    start = server.count()
    stopped = await _over_budget(
        _config(server, store, limit=6, budget={"max_usd": max_usd}, **common)
    )
    asked = [e for e in server.requests[start:] if e.model == PRICED]
    assert 2 <= len(asked) <= 3
    with RunStore(store) as opened:
        _calls, usd, priced_calls = opened.spending()
        assert opened.run_record().status == "budget"
    assert usd <= max_usd
    assert priced_calls == len(asked)
    assert stopped.summary.spent_usd == pytest.approx(usd)
    assert "max_usd" in str(stopped)
    # The report says what was spent, against which budget.
    (run,) = build_report([store]).runs
    assert run.status == "budget" and run.budget == {"max_usd": max_usd}
    assert run.calls.priced_calls == len(asked) and run.calls.cost_usd == pytest.approx(usd)
    page = render_report(build_report([store]))
    assert f"budget max_usd {max_usd}" in page
    assert f"{len(asked)} of {run.calls.calls} calls priced" in page

    first = _keys(server, start)
    resumed = await run_evaluation(
        _config(server, store, limit=6, budget={"max_usd": 100.0}, **common)
    )
    assert resumed.status == "complete"
    assert set(_keys(server, start + len(first))).isdisjoint(first)
    assert resumed.counts == {"judged": 6}
    assert resumed.spent_usd > max_usd


async def test_with_workers_the_budget_is_shared_out_and_never_passed(
    server: SimServer, tmp_path: Path
) -> None:
    from tests.support.sim_server import ServerThread

    # Worker processes need a server outside this test's event loop.
    thread = ServerThread(serve_everything(SimServer())).start()
    try:
        config = RunConfig.model_validate(
            http_run_config(
                thread.base_url,
                tmp_path / "run.sqlite",
                limit=3,
                workers=2,
                budget={"max_calls": 21},
            )
        )
        stopped = await _over_budget(config)
        assert thread.server.count() <= 21
        assert stopped.summary.status == "budget"
        assert "shared out among 2 workers" in str(stopped)
        # Shared in whole cases (17 calls each here): one worker can judge one; halves of
        # 10 and 11 calls judged none.
        assert stopped.summary.counts.get("judged", 0) >= 1
        with RunStore(config.store_path()) as opened:
            assert opened.spending()[0] == thread.server.count()
            assert opened.run_record().status == "budget"
    finally:
        thread.stop()


async def test_the_refused_call_waits_for_the_calls_in_flight() -> None:
    limit = SpendLimit(max_calls=2)
    first = await limit.reserve("m", priced=False)
    await limit.reserve("m", priced=False)
    refused = asyncio.ensure_future(limit.reserve("m", priced=False))
    await asyncio.sleep(0)
    assert not refused.done(), "refused while two calls were still in flight"
    limit.settle("m", first, 0.0)
    await asyncio.sleep(0)
    assert not refused.done()
    limit.settle("m", 0.0, 0.0)
    with pytest.raises(BudgetExhausted, match="max_calls 2"):
        await refused
    assert limit.calls == 2


async def test_unpriced_models_are_never_stopped_by_max_usd() -> None:
    limit = SpendLimit(max_usd=1.0)
    expected = await limit.reserve("openai/gpt-4o-mini", priced=True)
    limit.settle("openai/gpt-4o-mini", expected, 0.6)
    for _ in range(3):
        free = await limit.reserve("openai/local", priced=False)
        limit.settle("openai/local", free, 0.0)
    # The next priced call is expected to cost 0.6 as its model's dearest: 1.2 > 1.0.
    with pytest.raises(BudgetExhausted, match="max_usd 1"):
        await limit.reserve("openai/gpt-4o-mini", priced=True)


def test_budget_may_change_on_resume(tmp_path: Path) -> None:
    from safebench.run.fingerprint import identity_changes, run_identity

    config = http_run_config("http://127.0.0.1:9", tmp_path / "s.sqlite", limit=2)
    before = run_identity(RunConfig.model_validate(config), None)
    config["budget"] = {"max_calls": 10, "max_usd": 2.5}
    after = run_identity(RunConfig.model_validate(config), None)
    assert identity_changes(before, after) == []


def test_cli_stops_at_the_budget_with_its_own_exit_code(
    openai_server_thread: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from safebench.cli.app import app

    serve_everything(openai_server_thread.server)
    store = tmp_path / "run.sqlite"
    config = write_config(
        tmp_path / "run.yaml",
        http_run_config(openai_server_thread.base_url, store, limit=2, budget={"max_calls": 12}),
    )
    result = CliRunner().invoke(app, ["run", str(config), "--quiet"])
    assert result.exit_code == 4, result.output
    assert "run stopped at its budget" in result.output
    assert "spent so far: " in result.output
    assert openai_server_thread.server.count() <= 12
    with RunStore(store) as opened:
        assert opened.run_record().config_as(RunConfig).budget.max_calls == 12


def test_a_budget_is_shared_among_workers_in_whole_cases() -> None:
    from safebench.run.workers import budget_shares

    # 100 calls, 8 a case, 16 workers: shares of 6 or 7 calls judged nothing at all.
    shares = budget_shares(SpendLimit(max_calls=100, calls=4), 16, case_calls=8)
    calls = [s.max_calls for s in shares if s is not None]
    assert sum(c for c in calls if c is not None) == 96
    assert sum(1 for c in calls if c is not None and c >= 8) == 12  # twelve whole cases
    assert all(c is not None and (c % 8 == 0 or c == calls[0]) for c in calls)
