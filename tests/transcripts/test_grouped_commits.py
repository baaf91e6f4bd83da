"""Grouped call commits: several calls share a transaction, none is used before it is durable.

``RunStore.put_call_grouped`` commits the calls recorded in one turn of the event loop
together. What must not change is the no-repeated-call guarantee: a caller gets its result
only once the call is committed (another connection can read it), so a run killed at any
moment never asks a recorded call again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.gateway import Gateway, GatewaySettings, ProviderLimits
from agents.spec import ModelSpec
from kernel.records import ModelCall
from tests.support.sim_server import SimServer
from transcripts.store import RunStore


def call(i: int, status: str = "ok") -> ModelCall:
    return ModelCall(
        key=f"key-{i}",
        scope=f"case-{i}",
        model="openai/echo",
        request={"messages": [{"role": "user", "content": str(i)}]},
        status=status,  # type: ignore[arg-type]
        text=f"answer {i}" if status == "ok" else None,
    )


def committed(path: Path) -> set[str]:
    """The call keys another connection sees: what a killed run would read back."""
    with RunStore.open_readonly(path) as reader:
        return {c.key for c in reader.iter_calls()}


async def test_calls_of_one_loop_turn_share_one_commit_awaited_by_each(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        commits: list[str] = []
        store._db.set_trace_callback(  # observes the statements; changes nothing
            lambda sql: commits.append(sql) if sql == "COMMIT" else None
        )
        tasks = [asyncio.create_task(store.put_call_grouped(call(i))) for i in range(5)]
        await asyncio.sleep(0)  # every task has recorded its call and waits for the commit
        assert not any(t.done() for t in tasks)
        assert committed(path) == set()  # nothing is durable yet, so nothing was returned
        await asyncio.gather(*tasks)
        assert committed(path) == {f"key-{i}" for i in range(5)}
        assert commits == ["COMMIT"]


async def test_a_success_still_replaces_a_failure_recorded_in_the_same_group(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        await asyncio.gather(
            store.put_call_grouped(call(1, "error")), store.put_call_grouped(call(1))
        )
        await store.put_call_grouped(call(1, "error"))  # nothing replaces a success
        recorded = store.get_call("key-1")
    assert recorded is not None and recorded.status == "ok"


async def test_closing_the_store_commits_a_waiting_group(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    store = RunStore(path)
    task = asyncio.create_task(store.put_call_grouped(call(7)))
    await asyncio.sleep(0)
    store.close()  # before the loop's next turn would have committed it
    await task
    assert committed(path) == {"key-7"}


async def test_the_gateway_returns_a_call_only_once_another_connection_can_read_it(
    openai_server: SimServer, tmp_path: Path
) -> None:
    openai_server.add_model("echo", lambda request: f"echo: {request.last_user_text()}")
    spec = ModelSpec.model_validate(
        {
            "model": "openai/echo",
            "api_base": openai_server.base_url,
            "api_key": "sk-test",
            "transport": "native",
        }
    )
    path = tmp_path / "run.sqlite"
    settings = GatewaySettings(default_limits=ProviderLimits(max_concurrency=64))
    seen_at_return: list[bool] = []
    with RunStore(path) as store:
        gateway = Gateway(settings, cache=store)

        async def one(i: int) -> None:
            messages = [{"role": "user", "content": f"question {i}"}]
            done = await gateway.complete(spec, messages, scope=f"case-{i}")
            # The moment the result is usable, the call must already be durable.
            seen_at_return.append(done.key in committed(path))

        try:
            await asyncio.gather(*(one(i) for i in range(24)))
        finally:
            await gateway.aclose()
    assert seen_at_return == [True] * 24
    assert openai_server.count() == 24
