"""``transport: auto``: native for OpenAI-compatible servers, litellm for every other provider.

Which client sent a request is read where it arrived: litellm's requests carry a user agent
(the OpenAI SDK's ``AsyncOpenAI/Python …`` or its own ``litellm/…``); the native client's
carry none.
The store's record names the transport too, and the gateway holds only the ones it built.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from agents.gateway import Gateway, GatewaySettings
from agents.spec import ModelSpec
from agents.transports import auto_reason, auto_transport, settle_auto
from agents.transports.base import REFUSED, Route
from safebench.offline.server import Exchange, RequestBody
from tests.support.sim_server import SimServer
from tests.support.wire_server import Shape, WireServer
from transcripts.store import RunStore

FAST = GatewaySettings(max_retries=2, backoff_base_s=0.0, backoff_max_s=0.0, timeout_s=30.0)
MESSAGES = [{"role": "user", "content": "hello there"}]
BASE = "http://127.0.0.1:8000/v1"


class HeaderLoggingServer(SimServer):
    """The scripted server, also noting each request's User-Agent and whether it was
    authorised (test keys only; the product server never looks at headers)."""

    def __init__(self) -> None:
        super().__init__()
        self.agents: list[str | None] = []
        self.authorizations: list[str | None] = []

    async def before_answer(
        self, request: web.Request, exchange: Exchange, body: RequestBody
    ) -> web.StreamResponse | None:
        self.agents.append(request.headers.get("User-Agent"))
        self.authorizations.append(request.headers.get("Authorization"))
        return await super().before_answer(request, exchange, body)


@pytest.fixture
async def server() -> object:
    async with HeaderLoggingServer() as running:
        running.add_model("echo", lambda request: f"echo: {request.last_user_text()}")
        running.add_model("Qwen/Qwen2-7B", lambda request: "vllm says hi")
        yield running


def sent_by_litellm(agent: str | None) -> bool:
    # Through the OpenAI SDK (openai/) or litellm's own HTTP client (hosted_vllm/).
    return agent is not None and agent.startswith(("AsyncOpenAI/Python", "litellm/"))


@pytest.mark.parametrize(
    ("model", "api_base", "params", "expected"),
    [
        ("openai/Qwen/Qwen2-7B", BASE, {}, "native"),
        ("hosted_vllm/meta-llama/Llama-3-8B", BASE, {"temperature": 0}, "native"),
        ("custom_openai/my-model", BASE, {}, "native"),
        ("openai/gpt-4o", "https://my-proxy.example.org/v1", {"max_tokens": 8}, "native"),
        # The real OpenAI API: litellm maps params per model family there.
        ("openai/gpt-4o", None, {}, "litellm"),
        ("openai/o3-mini", "https://api.openai.com/v1", {}, "litellm"),
        ("hosted_vllm/meta-llama/Llama-3-8B", None, {}, "litellm"),
        # Providers with a native client of their own wire format.
        ("anthropic/claude-3-5-haiku-20241022", None, {}, "native-anthropic"),
        ("anthropic/claude-sonnet-4-5", BASE, {"max_tokens": 9}, "native-anthropic"),
        # ... unless the spec needs what only litellm does: a param it translates or drops.
        ("anthropic/claude-sonnet-4-5", None, {"presence_penalty": 0.1}, "litellm"),
        ("anthropic/claude-sonnet-4-5", None, {"extra_headers": {"x": "y"}}, "litellm"),
        ("anthropic/claude-opus-4-7", None, {"temperature": 0.3}, "litellm"),
        ("anthropic/claude-sonnet-4-5", None, {"stop": ["\n"]}, "litellm"),
        # Providers with their own wire formats, endpoints or deployments.
        ("gemini/gemini-2.5-flash", None, {"seed": 3, "stop": "x"}, "native-gemini"),
        ("gemini/gemini-2.5-flash", None, {"n": 2}, "litellm"),
        ("gemini/gemini-2.5-flash", None, {"presence_penalty": 0.5}, "litellm"),
        ("ollama/llama3.1", "http://127.0.0.1:11434", {}, "litellm"),
        ("ollama_chat/llama3.1", "http://127.0.0.1:11434", {}, "native-ollama"),
        # ollama/ is /api/generate with litellm's own prompt template: litellm's alone.
        ("ollama_chat/llama3.1", None, {"num_ctx": 4096}, "litellm"),
        ("ollama_chat/llama3.1", None, {"frequency_penalty": 0.5}, "litellm"),
        ("azure/my-deployment", "https://x.openai.azure.com", {}, "native-azure"),
        ("azure/dep", "https://x.openai.azure.com", {"api_version": "2024-10-21"}, "native-azure"),
        ("azure/o3-mini", "https://x.openai.azure.com", {}, "litellm"),
        ("azure/gpt-5-chat", "https://x.openai.azure.com", {"max_tokens": 5}, "litellm"),
        ("azure/dep", "https://x.openai.azure.com", {"azure_ad_token": "t"}, "litellm"),
        ("together_ai/meta-llama/Llama-3-8b", None, {}, "litellm"),
        # Params only litellm understands keep the call on litellm.
        ("openai/Qwen/Qwen2-7B", BASE, {"extra_body": {"top_k": 5}}, "litellm"),
        ("hosted_vllm/x", BASE, {"drop_params": False}, "litellm"),
        ("hosted_vllm/x", BASE, {"thinking": {"type": "enabled"}}, "litellm"),
        # Local weights run in process whatever the config says.
        ("hf/Qwen/Qwen2-0.5B", None, {}, "hf"),
    ],
)
def test_auto_picks_native_only_where_it_sends_what_litellm_would(
    model: str, api_base: str | None, params: dict[str, object], expected: str
) -> None:
    assert auto_transport(model, api_base, params) == expected


def test_auto_is_the_default_and_needs_no_api_base() -> None:
    assert ModelSpec(model="anthropic/claude-3-5-haiku-20241022").transport == "auto"
    assert ModelSpec(model="openai/gpt-4o").transport == "auto"


@pytest.mark.parametrize("model", ["openai/echo", "hosted_vllm/Qwen/Qwen2-7B"])
@pytest.mark.parametrize("stream", [False, True])
async def test_auto_sends_openai_compatible_servers_natively(
    server: HeaderLoggingServer, tmp_path: Path, model: str, stream: bool
) -> None:
    spec = ModelSpec.model_validate(
        {"model": model, "api_base": server.base_url, "api_key": "sk-auto-test"}
    )
    with RunStore(tmp_path / "calls.sqlite") as store:
        store.open_run("auto", "{}")
        gateway = Gateway(FAST, cache=store)
        try:
            result = await gateway.complete(spec, MESSAGES, scope="s", stream=stream)
            assert set(gateway._transports) == {"native"}
        finally:
            await gateway.aclose()
        (call,) = list(store.iter_calls())
    assert result.text in ("echo: hello there", "vllm says hi")
    (agent,) = server.agents
    assert agent is None and not sent_by_litellm(agent)
    assert server.authorizations == ["Bearer sk-auto-test"]
    assert call.transport == "native"


async def test_explicit_litellm_still_goes_through_litellm(
    server: HeaderLoggingServer, tmp_path: Path
) -> None:
    spec = ModelSpec.model_validate(
        {
            "model": "openai/echo",
            "api_base": server.base_url,
            "api_key": "k",
            "transport": "litellm",
        }
    )
    with RunStore(tmp_path / "calls.sqlite") as store:
        store.open_run("litellm", "{}")
        gateway = Gateway(FAST, cache=store)
        try:
            result = await gateway.complete(spec, MESSAGES, scope="s")
            assert set(gateway._transports) == {"litellm"}
        finally:
            await gateway.aclose()
        call = store.get_call(result.key)
    (agent,) = server.agents
    assert sent_by_litellm(agent)
    assert call is not None and call.transport == "litellm"


async def test_openai_without_api_base_is_the_real_api_and_goes_through_litellm(
    server: HeaderLoggingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # litellm's own default endpoint, pointed here through its environment variable.
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
    gateway = Gateway(FAST)
    try:
        result = await gateway.complete(
            ModelSpec(model="openai/echo", api_key="sk-real-api-test"),  # type: ignore[arg-type]
            MESSAGES,
            scope="s",
        )
        assert set(gateway._transports) == {"litellm"}
    finally:
        await gateway.aclose()
    assert result.text == "echo: hello there"
    (agent,) = server.agents
    assert sent_by_litellm(agent)


async def test_native_under_auto_takes_the_key_litellm_would_read_from_the_environment(
    server: HeaderLoggingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "sk-vllm-environment")
    gateway = Gateway(FAST)
    try:
        for model in ("openai/echo", "hosted_vllm/Qwen/Qwen2-7B"):
            await gateway.complete(
                ModelSpec(model=model, api_base=server.base_url), MESSAGES, scope=model
            )
    finally:
        await gateway.aclose()
    assert server.agents == [None, None]
    assert server.authorizations == [
        "Bearer sk-from-the-environment",
        "Bearer sk-vllm-environment",
    ]


def test_auto_keeps_litellm_where_a_native_client_lacks_what_it_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_API_BASE", raising=False)
    # Azure with no resource URL anywhere: litellm's own error names it.
    assert auto_transport("azure/dep", None, {}) == "litellm"
    assert "AZURE_API_BASE" in (auto_reason("azure/dep", None, {}) or "")
    monkeypatch.setenv("AZURE_API_BASE", "https://x.openai.azure.com")
    assert auto_transport("azure/dep", None, {}) == "native-azure"
    # A hosted provider with no key at hand: litellm may authenticate another way.
    assert auto_transport("anthropic/claude-sonnet-4-5", None, {}, keyed=False) == "litellm"
    assert "no key" in (auto_reason("anthropic/claude-sonnet-4-5", None, {}, keyed=False) or "")
    assert auto_reason("anthropic/claude-sonnet-4-5", None, {"n": 2}) == (
        "native-anthropic does not send the param 'n'"
    )
    assert auto_reason("anthropic/claude-sonnet-4-5", None, {}) is None


UNDER_AUTO: dict[str, str] = {
    "anthropic/claude-3-5-haiku-20241022": "native-anthropic",
    "gemini/gemini-1.5-flash": "native-gemini",
    "azure/juror-deployment": "native-azure",
    "ollama_chat/llama3.1": "native-ollama",
}


async def test_each_provider_goes_to_its_native_client_under_auto(tmp_path: Path) -> None:
    async with WireServer(default_text="A whole answer.") as wire:
        with RunStore(tmp_path / "calls.sqlite") as store:
            store.open_run("auto", "{}")
            gateway = Gateway(FAST, cache=store)
            try:
                for model in UNDER_AUTO:
                    spec = ModelSpec(model=model, api_base=wire.base_url, api_key="sk-wire")  # type: ignore[arg-type]
                    result = await gateway.complete(spec, MESSAGES, scope=model)
                    assert result.text == "A whole answer."
                assert set(gateway._transports) == set(UNDER_AUTO.values())
            finally:
                await gateway.aclose()
            recorded = {call.model: call.transport for call in store.iter_calls()}
    assert recorded == UNDER_AUTO
    assert [wire.count(p) for p in ("anthropic", "gemini", "azure", "ollama_chat")] == [1] * 4
    native = wire.log
    assert all("user-agent" not in {k.lower() for k in e.headers} for e in native)


# The broken OpenAI-shaped replies the litellm transport is tested on (test_wire_shapes, which
# pins litellm), now sent natively as ``auto`` does: retried, never returned as an answer.
BROKEN: list[tuple[Shape, bool]] = [
    ("empty_stream", True),
    ("html", True),
    ("html", False),
    ("garbage", False),
    ("cut", True),
    ("empty", False),
    ("empty", True),
]


@pytest.mark.parametrize(("shape", "stream"), BROKEN)
async def test_broken_openai_replies_sent_natively_are_retried(shape: Shape, stream: bool) -> None:
    async with WireServer(default_text="A whole answer.") as wire:
        wire.script("openai", [shape])
        gateway = Gateway(FAST)
        try:
            spec = ModelSpec(model="hosted_vllm/Qwen/Qwen2-7B", api_base=wire.base_url + "/v1")
            result = await gateway.complete(spec, MESSAGES, scope="s", stream=stream)
            assert set(gateway._transports) == {"native"}
        finally:
            await gateway.aclose()
    assert result.text == "A whole answer." and result.retries == 1
    assert wire.count("openai") == 2


async def test_a_refusal_sent_natively_is_a_refusal() -> None:
    async with WireServer(default_text="unused") as wire:
        wire.script("openai", ["refusal"])
        gateway = Gateway(FAST)
        try:
            spec = ModelSpec(model="openai/gpt-4o-mini", api_base=wire.base_url + "/v1")
            result = await gateway.complete(spec, MESSAGES, scope="s")
        finally:
            await gateway.aclose()
    assert result.finish_reason == REFUSED and result.text == ""


PARAMS: dict[str, object] = {
    "temperature": 0.2,
    "max_tokens": 64,
    "top_p": 0.9,
    "seed": 7,
    "stop": ["</vote>"],
    "top_k": 5,  # not an OpenAI param: vLLM reads it, and both clients must send it
}
MEDIA_MESSAGES = [
    {"role": "system", "content": "You are a juror."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Is this harmful?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    },
]


@pytest.mark.parametrize("model", ["openai/echo", "hosted_vllm/Qwen/Qwen2-7B"])
@pytest.mark.parametrize("stream", [False, True])
async def test_auto_sends_the_body_litellm_would_send(
    server: HeaderLoggingServer, model: str, stream: bool
) -> None:
    """What makes ``auto``'s native choice safe: the same spec, sent both ways, reaches an
    OpenAI-compatible server as the same request (model, messages, params, streaming)."""
    bodies = []
    for transport in ("litellm", "auto"):
        spec = ModelSpec.model_validate(
            {
                "model": model,
                "api_base": server.base_url,
                "api_key": "sk-same",
                "params": PARAMS,
                "transport": transport,
            }
        )
        gateway = Gateway(FAST)
        try:
            await gateway.complete(spec, MEDIA_MESSAGES, scope=transport, stream=stream)
        finally:
            await gateway.aclose()
        request = server.requests[-1].request
        assert request is not None
        bodies.append(request.model_dump(exclude_none=True))
    litellm_body, native_body = bodies
    assert sent_by_litellm(server.agents[0]) and server.agents[1] is None
    assert native_body == litellm_body
    assert native_body["top_k"] == 5 and native_body["seed"] == 7


def test_check_ping_names_the_native_transport_auto_chose(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safebench.cli.app import app
    from tests.safebench.helpers import http_run_config, write_config
    from tests.support.sim_server import ServerThread

    models = {
        "anthropic/claude-sonnet-4-5": "native-anthropic",
        "gemini/gemini-2.5-flash": "native-gemini",
        "azure/juror-deployment": "native-azure",
        "ollama_chat/llama3.1": "native-ollama",
        "gemini/gemini-2.5-pro": "litellm",  # n: litellm turns it into candidate_count
    }
    with ServerThread(WireServer(default_text="A whole answer.")) as served:  # type: ignore[arg-type]
        seat = [
            {"model": m, "api_base": served.base_url, "api_key": "sk-ping"}
            | ({"params": {"n": 1}} if chosen == "litellm" else {})
            for m, chosen in models.items()
        ]
        raw = http_run_config(served.base_url, tmp_path / "run.sqlite", limit=1)
        raw["targets"] = [{**seat[0], "name": "claude", "accepts": ["text", "image"]}]
        for juror, spec in zip(raw["jury"]["jurors"], seat, strict=True):
            juror.update(spec)
        raw["jury"]["foreperson"] = seat[0]
        config = write_config(tmp_path / "run.yaml", raw)
        result = CliRunner().invoke(app, ["check", str(config), "--ping"])
    assert result.exit_code == 0, result.output
    for model, chosen in models.items():
        assert f"ok    {model}  auto -> {chosen}" in result.output, result.output
    # Where auto kept litellm, the line says why (what to change for the lean client).
    said = " ".join(result.output.split())
    assert "auto -> litellm (native-gemini" in said and "'n'" in said, result.output
    assert not (tmp_path / "run.sqlite").exists()


async def test_native_clients_under_auto_take_the_keys_litellm_reads_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_OPENAI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-environment")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-environment")
    monkeypatch.setenv("AZURE_API_KEY", "azure-environment")
    expected = {
        "anthropic/claude-sonnet-4-5": ("x-api-key", "sk-ant-environment"),
        "gemini/gemini-2.5-flash": ("x-goog-api-key", "gemini-environment"),
        "azure/juror-deployment": ("api-key", "azure-environment"),
    }
    async with WireServer(default_text="A whole answer.") as wire:
        gateway = Gateway(FAST)
        try:
            for model in expected:
                spec = ModelSpec(model=model, api_base=wire.base_url)
                await gateway.complete(spec, MESSAGES, scope=model)
            assert set(gateway._transports) == {"native-anthropic", "native-gemini", "native-azure"}
        finally:
            await gateway.aclose()
    for entry, (header, key) in zip(wire.log, expected.values(), strict=True):
        assert {k.lower(): v for k, v in entry.headers.items()}[header] == key


async def test_a_hosted_provider_with_no_key_at_hand_stays_on_litellm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    route = Route("anthropic/claude-sonnet-4-5", None, None, "auto")
    settle_auto(route, {})
    assert route.transport == "litellm" and route.api_key is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-later")
    route = Route("anthropic/claude-sonnet-4-5", None, None, "auto")
    settle_auto(route, {})
    assert route.transport == "native-anthropic" and route.key() == "sk-ant-later"


def test_a_native_client_asked_for_a_param_it_does_not_send_is_named_before_any_call() -> None:
    from agents.transports import native_problem

    asked = ModelSpec.model_validate(
        {
            "model": "gemini/gemini-2.5-flash",
            "api_base": BASE,
            "transport": "native",
            "params": {"temperature": 0, "n": 2},
        }
    )
    assert native_problem(asked, "jury.jurors[2]") == (
        "jury.jurors[2]: gemini/gemini-2.5-flash: transport native-gemini does not send the "
        "param 'n'; use transport: auto or litellm"
    )
    fine = asked.model_copy(update={"params": {"temperature": 0}})
    assert native_problem(fine, "x") is None
    # auto never asks: it sends such a spec through litellm.
    assert native_problem(asked.model_copy(update={"transport": "auto"}), "x") is None


def test_a_stop_the_anthropic_client_would_drop_is_refused_and_auto_keeps_litellm() -> None:
    from agents.transports.anthropic import unsupported

    assert unsupported("anthropic/claude-sonnet-4-5", {"stop": ["END", 7]}) is not None
    assert unsupported("anthropic/claude-sonnet-4-5", {"stop": ["END"]}) is None
    assert auto_transport("anthropic/claude-sonnet-4-5", None, {"stop": 7}) == "litellm"
