"""The native aiohttp transport through the gateway, against a real local server."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from agents.gateway import Gateway, GatewaySettings
from agents.spec import ModelSpec
from agents.transports.native import NativeTransport, served_model_name
from kernel.errors import ProviderError
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from tests.support.sim_server import Fault, SimServer
from transcripts.store import RunStore

FAST = GatewaySettings(max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=60.0)
MESSAGES = [{"role": "user", "content": "hello there"}]


def native_spec(server: SimServer, name: str = "echo", **more: object) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "model": f"openai/{name}",
            "api_base": server.base_url,
            "api_key": "sk-native-test",
            "transport": "native",
            **more,
        }
    )


@pytest.fixture
def echo(openai_server: SimServer) -> SimServer:
    openai_server.add_model("echo", lambda request: f"echo: {request.last_user_text()}")
    return openai_server


@pytest.mark.parametrize("stream", [False, True])
async def test_plain_and_streamed_replies_carry_text_finish_and_usage(
    echo: SimServer, stream: bool
) -> None:
    gateway = Gateway(FAST)
    try:
        result = await gateway.complete(native_spec(echo), MESSAGES, scope="s", stream=stream)
    finally:
        await gateway.aclose()
    assert result.text == "echo: hello there"
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 2 and result.usage.completion_tokens == 3
    (entry,) = echo.requests
    assert entry.requested_model == "echo"  # the provider prefix is not sent
    assert entry.stream is stream
    assert entry.request is not None
    if stream:
        assert entry.request.include_usage()


async def test_params_are_passed_through_in_the_body(echo: SimServer) -> None:
    gateway = Gateway(FAST)
    spec = native_spec(echo, params={"temperature": 0.25, "max_tokens": 7, "seed": 3})
    try:
        await gateway.complete(spec, MESSAGES, scope="s")
    finally:
        await gateway.aclose()
    request = echo.requests[0].request
    assert request is not None
    assert (request.temperature, request.max_tokens, request.seed) == (0.25, 7, 3)


def test_served_model_name_drops_only_the_provider_prefix() -> None:
    assert served_model_name("hosted_vllm/meta-llama/Llama-3-8B") == "meta-llama/Llama-3-8B"
    assert served_model_name("openai/x") == "x"


async def test_rate_limit_honours_retry_after_then_succeeds(echo: SimServer) -> None:
    echo.script_faults("echo", [Fault(kind="rate_limit", retry_after=0.3)])
    gateway = Gateway(FAST)
    started = time.monotonic()
    try:
        result = await gateway.complete(native_spec(echo), MESSAGES, scope="s")
    finally:
        await gateway.aclose()
    assert result.text == "echo: hello there" and result.retries == 1
    # Our own backoff is at most 0.05 s here: a wait this long is the server's Retry-After.
    assert time.monotonic() - started >= 0.3
    assert echo.count() == 2


@pytest.mark.parametrize("kind", ["server_error", "garbage", "drop"])
@pytest.mark.parametrize("stream", [False, True])
async def test_server_errors_and_broken_replies_are_retried(
    echo: SimServer, kind: str, stream: bool
) -> None:
    echo.script_faults("echo", [Fault(kind=kind)])  # type: ignore[arg-type]
    gateway = Gateway(FAST)
    try:
        result = await gateway.complete(native_spec(echo), MESSAGES, scope="s", stream=stream)
    finally:
        await gateway.aclose()
    assert result.text == "echo: hello there" and result.retries == 1
    assert echo.count() == 2


@pytest.mark.parametrize("stream", [False, True])
async def test_truncated_reply_is_retried_never_returned_partial(
    openai_server: SimServer, stream: bool
) -> None:
    long_answer = " ".join(f"word{i}" for i in range(40))
    openai_server.add_model("long", lambda request: long_answer)
    openai_server.script_faults("long", [Fault(kind="truncate")])
    gateway = Gateway(FAST)
    try:
        result = await gateway.complete(
            native_spec(openai_server, "long"), MESSAGES, scope="s", stream=stream
        )
    finally:
        await gateway.aclose()
    assert result.text == long_answer and result.retries == 1


async def test_client_error_is_not_retried_and_is_recorded(
    echo: SimServer, tmp_path: Path
) -> None:
    echo.script_faults("echo", [Fault(kind="server_error", status=400)])
    with RunStore(tmp_path / "s.sqlite") as store:
        gateway = Gateway(FAST, cache=store)
        try:
            with pytest.raises(ProviderError) as caught:
                await gateway.complete(native_spec(echo), MESSAGES, scope="s")
        finally:
            await gateway.aclose()
        assert caught.value.kind == "client_error" and caught.value.status == 400
        assert echo.count() == 1
        (call,) = list(store.iter_calls())
        assert call.status == "error" and "sk-native-test" not in call.model_dump_json()


async def test_unknown_model_404_is_a_client_error(openai_server: SimServer) -> None:
    gateway = Gateway(FAST)
    try:
        with pytest.raises(ProviderError, match="does not exist"):
            await gateway.complete(native_spec(openai_server, "nope"), MESSAGES, scope="s")
    finally:
        await gateway.aclose()
    assert openai_server.count() == 1


async def test_missing_api_base_is_a_clear_config_error() -> None:
    # Refused when the config is read ...
    with pytest.raises(ValueError, match=r"transport .native. .* api_base"):
        ModelSpec(model="hosted_vllm/some-model", transport="native")
    # ... and still at call time for a spec built around validation.
    spec = ModelSpec.model_construct(model="hosted_vllm/some-model", transport="native")
    gateway = Gateway(FAST)
    try:
        with pytest.raises(ProviderError, match="needs an api_base"):
            await gateway.complete(spec, MESSAGES, scope="s")
    finally:
        await gateway.aclose()


async def test_one_keep_alive_session_serves_many_calls(echo: SimServer) -> None:
    transport = NativeTransport()
    gateway = Gateway(FAST)
    gateway._transports["native"] = transport  # the gateway's own registry slot, prefilled
    try:
        for i in range(5):
            await gateway.complete(native_spec(echo), MESSAGES, scope=f"s{i}")
        session = transport._session
        assert session is not None and not session.closed
    finally:
        await gateway.aclose()
    assert transport._session is None and session.closed


def offline_config(tmp_path: Path, transport: str) -> RunConfig:
    jurors = ["pattern-juror", "refusal-juror", "pattern-juror"]
    personas = ["Safety researcher", "Ethicist", "Legal expert"]
    return RunConfig.model_validate(
        {
            "name": "native-vs-litellm",
            "store": str(tmp_path / f"{transport}.sqlite"),
            "modalities": ["text", "image"],
            "limit": 6,
            "targets": [
                {"model": "safebench/sim-leaky", "transport": transport},
                {"model": "safebench/sim-guarded", "transport": transport, "stream": False},
            ],
            "jury": {
                "jurors": [
                    {"model": f"safebench/{kind}", "persona": persona}
                    for kind, persona in zip(jurors, personas, strict=True)
                ],
                "rounds": 1,
                "foreperson": {"model": "safebench/foreperson"},
            },
            "gateway": {"max_retries": 1, "backoff_base_s": 0.01, "timeout_s": 10},
            "concurrency": 4,
        }
    )


def share_salt(source: Path, target: Path, name: str) -> None:
    """Give a fresh store the salt of another: the offline jurors' ratings depend on the case
    nonce, which is drawn from the salt, so only equal salts make two runs comparable."""
    with sqlite3.connect(source) as db:
        (salt,) = db.execute("SELECT salt FROM run").fetchone()
    with RunStore(target) as store:
        store.open_run(name, "{}")
    with sqlite3.connect(target) as db:
        db.execute("UPDATE run SET salt=?", (salt,))


async def test_native_litellm_and_auto_give_identical_verdicts_offline(tmp_path: Path) -> None:
    verdicts: dict[str, dict[str, tuple[bool | None, int | None]]] = {}
    answers: dict[str, dict[str, str]] = {}
    carried: dict[str, set[tuple[str, str]]] = {}
    for transport in ("litellm", "native", "auto"):
        config = offline_config(tmp_path, transport)
        if transport != "litellm":
            share_salt(tmp_path / "litellm.sqlite", config.store_path(), config.name)
        summary = await run_evaluation(config)
        assert summary.status == "complete" and summary.counts.get("failed", 0) == 0
        with RunStore(config.store_path()) as store:
            verdicts[transport] = {
                m.case_id: (v.harmful, v.safety_rating) for m, v in store.judged()
            }
            answers[transport] = {a.case_id: a.text for a in store.iter_answers()}
            carried[transport] = {(c.model, c.transport) for c in store.iter_calls()}
    assert len(verdicts["native"]) >= 12
    assert verdicts["native"] == verdicts["litellm"] == verdicts["auto"]
    assert answers["native"] == answers["litellm"] == answers["auto"]
    # auto: the simulated targets (an OpenAI-compatible server) natively, the in-process
    # offline jurors (a litellm custom provider) through litellm.
    assert carried["auto"] == {
        ("safebench/sim-leaky", "native"),
        ("safebench/sim-guarded", "native"),
        ("safebench/pattern-juror", "litellm"),
        ("safebench/refusal-juror", "litellm"),
        ("safebench/foreperson", "litellm"),
    }
