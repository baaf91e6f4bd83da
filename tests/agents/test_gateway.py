"""The choke point against a real local server: retries, Retry-After, timeouts, cache, secrets."""

from __future__ import annotations

import asyncio
import time

import pytest

from agents.gateway import Gateway, GatewaySettings, ProviderLimits
from agents.spec import ModelSpec
from kernel.errors import ProviderError
from tests.support.sim_server import Fault, SimServer
from transcripts.store import RunStore

FAST = GatewaySettings(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=60.0)
MESSAGES = [{"role": "user", "content": "hello"}]


def spec_for(server: SimServer, name: str = "echo", key: str = "sk-test") -> ModelSpec:
    return ModelSpec.model_validate(
        {"model": f"openai/{name}", "api_base": server.base_url, "api_key": key}
    )


@pytest.fixture
def echo(openai_server: SimServer) -> SimServer:
    openai_server.add_model("echo", lambda request: f"echo: {request.last_user_text()}")
    return openai_server


@pytest.mark.parametrize("stream", [False, True])
async def test_completes_over_http_with_usage(echo: SimServer, stream: bool) -> None:
    gateway = Gateway(FAST)
    result = await gateway.complete(spec_for(echo), MESSAGES, scope="s", stream=stream)
    assert result.text == "echo: hello"
    assert result.usage.completion_tokens > 0
    assert gateway.stats.calls == 1 and echo.count() == 1


async def test_rate_limit_waits_out_retry_after_then_succeeds(echo: SimServer) -> None:
    echo.script_faults("echo", [Fault(kind="rate_limit", retry_after=0.4)])
    gateway = Gateway(FAST)
    started = time.monotonic()
    result = await gateway.complete(spec_for(echo), MESSAGES, scope="s")
    elapsed = time.monotonic() - started
    assert result.text == "echo: hello"
    assert result.retries == 1
    # Our own backoff is at most 0.05 s here, so a wait this long is the server's Retry-After.
    assert elapsed >= 0.4
    assert echo.count() == 2


async def test_server_error_is_retried_with_backoff(echo: SimServer) -> None:
    echo.script_faults("echo", [Fault(kind="server_error"), Fault(kind="server_error")])
    result = await Gateway(FAST).complete(spec_for(echo), MESSAGES, scope="s")
    assert result.text == "echo: hello" and result.retries == 2


async def test_timeout_is_retried(echo: SimServer) -> None:
    # The held attempt outlives the timeout by far; the retry has all of it to answer, so
    # a loaded machine cannot turn the retry into a second timeout.
    echo.script_faults("echo", [Fault(kind="delay", seconds=30.0)])
    settings = FAST.model_copy(update={"timeout_s": 5.0})
    result = await Gateway(settings).complete(spec_for(echo), MESSAGES, scope="s")
    assert result.retries == 1 and result.text == "echo: hello"


@pytest.mark.parametrize("kind", ["garbage", "truncate", "drop"])
async def test_broken_replies_are_retried(echo: SimServer, kind: str) -> None:
    echo.script_faults("echo", [Fault(kind=kind)])
    result = await Gateway(FAST).complete(spec_for(echo), MESSAGES, scope="s", stream=True)
    assert result.text == "echo: hello" and result.retries == 1


async def test_persistent_failure_is_recorded_then_raised(echo: SimServer, tmp_path) -> None:
    echo.script_faults("echo", [Fault(kind="server_error")] * 10)
    store = RunStore(tmp_path / "run.sqlite")
    gateway = Gateway(FAST, cache=store)
    with pytest.raises(ProviderError) as info:
        await gateway.complete(spec_for(echo), MESSAGES, scope="s")
    assert info.value.kind == "server_error"
    assert echo.count() == FAST.max_retries + 1
    [call] = list(store.iter_calls())
    assert call.status == "error" and call.retries == FAST.max_retries


async def test_client_errors_are_not_retried(echo: SimServer) -> None:
    with pytest.raises(ProviderError) as info:
        await Gateway(FAST).complete(spec_for(echo, "no-such-model"), MESSAGES, scope="s")
    assert info.value.kind == "client_error"
    assert echo.count() == 1


async def test_recorded_call_is_read_back_not_repeated(echo: SimServer, tmp_path) -> None:
    store = RunStore(tmp_path / "run.sqlite")
    first = await Gateway(FAST, cache=store).complete(spec_for(echo), MESSAGES, scope="s")
    again = await Gateway(FAST, cache=store).complete(spec_for(echo), MESSAGES, scope="s")
    other_scope = await Gateway(FAST, cache=store).complete(spec_for(echo), MESSAGES, scope="t")
    assert again.cached and again.text == first.text and not other_scope.cached
    assert echo.count() == 2


async def test_api_key_never_reaches_the_store(echo: SimServer, tmp_path) -> None:
    secret = "sk-live-0123456789abcdefSECRET"
    store = RunStore(tmp_path / "run.sqlite")
    gateway = Gateway(FAST, cache=store)
    await gateway.complete(spec_for(echo, key=secret), MESSAGES, scope="s")
    with pytest.raises(ProviderError):
        await gateway.complete(spec_for(echo, "missing", key=secret), MESSAGES, scope="s")
    store.close()
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path


async def test_provider_throttle_spaces_requests(echo: SimServer) -> None:
    settings = FAST.model_copy(
        update={"providers": {"openai": ProviderLimits(requests_per_second=10)}}
    )
    gateway = Gateway(settings)
    started = time.monotonic()
    for i in range(12):
        await gateway.complete(spec_for(echo), [{"role": "user", "content": str(i)}], scope="s")
    # 10 per second: the 11th and 12th requests must wait for the next period.
    assert time.monotonic() - started >= 0.9


async def test_a_429_narrows_the_providers_concurrency_and_every_call_still_succeeds(
    echo: SimServer,
) -> None:
    settings = FAST.model_copy(
        update={"providers": {"openai": ProviderLimits(max_concurrency=8)}, "max_retries": 5}
    )
    gateway = Gateway(settings)
    echo.script_faults("echo", [Fault(kind="rate_limit", retry_after=0.01)] * 4)
    results = await asyncio.gather(
        *(
            gateway.complete(spec_for(echo), [{"role": "user", "content": f"q{i}"}], scope=f"s{i}")
            for i in range(12)
        )
    )
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(12)]
    gate = gateway._gates["openai"]
    assert gate.decreases >= 1 and gate.window < 8  # backed off, and recovering
    assert gate.in_flight == 0
