"""The native transports against litellm, at the wire: same requests, same outcomes.

For each provider with a native client (Anthropic Messages, Gemini generateContent, Azure
OpenAI deployments, Ollama's chat API) the same calls go through litellm (``transport:
litellm``) and through the native client (``transport: native``, which a provider prefix
turns into ``native-anthropic`` and the rest) to one local server that speaks that
provider's format and records every request. Compared: the request bodies (messages, media,
params) and the headers that carry the key and the API version; the replies' text, usage
and finish reasons; and the failure each injected fault becomes, as the gateway classifies
it (kind, retryable, Retry-After, status). Where litellm is wrong the native transport is
held to what is right, and the test says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from agents.failures import Failure, classify
from agents.gateway import Gateway, GatewaySettings
from agents.spec import ModelSpec
from agents.transports import make_transport, transport_for_spec
from agents.transports.base import REFUSED, Route
from kernel.errors import ProviderError
from kernel.records import Usage
from tests.support.wire_server import RETRY_AFTER_S, Provider, Shape, WireServer

ANSWER = "A complete answer, ended by the provider."
NO_RETRY = GatewaySettings(max_retries=0, timeout_s=30.0)
KEY = "sk-equivalence-test"
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRgAAAABXQVZF", "format": "wav"}}
JUROR = [
    {"role": "system", "content": "You are a juror."},
    {"role": "user", "content": [{"type": "text", "text": "Is this harmful?"}, IMAGE]},
]
DELIBERATION = [
    {"role": "system", "content": "You are a juror."},
    {"role": "user", "content": "Case 1: the answer."},
    {"role": "assistant", "content": "Not harmful."},
    {"role": "user", "content": "Another juror disagrees."},
    {"role": "user", "content": [{"type": "text", "text": "Vote again."}, IMAGE]},
]

# One event loop for the module, as in a real run: litellm keeps its HTTP clients per process.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Wire:
    """One provider: the model named, where its requests land, what a spec needs."""

    model: str
    provider: Provider
    native: str
    headers: tuple[str, ...]
    """Request headers that must be the same both ways (key, API version)."""
    params: dict[str, Any]
    """Params every call sends (each provider's supported set)."""
    base_suffix: str = ""


WIRES: dict[str, Wire] = {
    "anthropic": Wire(
        "anthropic/claude-sonnet-4-5",
        "anthropic",
        "native-anthropic",
        ("x-api-key", "anthropic-version", "content-type"),
        {"temperature": 0.2, "top_p": 0.9, "top_k": 5, "max_tokens": 64, "stop": ["</vote>"]},
    ),
    "gemini": Wire(
        "gemini/gemini-2.5-flash",
        "gemini",
        "native-gemini",
        ("x-goog-api-key", "content-type"),
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "max_tokens": 64,
            "stop": "</vote>",
            "seed": 7,
        },
    ),
    "azure": Wire(
        "azure/safety-juror-4o",
        "azure",
        "native-azure",
        ("api-key", "content-type"),
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 64,
            "stop": ["</vote>"],
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "api_version": "2024-10-21",
        },
    ),
    "ollama": Wire(
        "ollama_chat/llama3.1",
        "ollama_chat",
        "native-ollama",
        ("authorization",),
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "max_tokens": 64,
            "stop": ["</vote>"],
            "seed": 7,
        },
    ),
}

LITELLM_UNSTREAMED = frozenset({"gemini", "ollama"})
"""Providers whose streams are compared with litellm's plain call. litellm never streams
Gemini (it cannot tell a cut stream from a whole one); its Ollama stream reader, in a process
that has made an Ollama call before, waits past any timeout on this server (see
test_wire_shapes), so the native Ollama stream is held to litellm's plain call."""


@pytest_asyncio.fixture(loop_scope="module")
async def wire() -> AsyncIterator[WireServer]:
    async with WireServer(default_text=ANSWER) as server:
        yield server


def spec(server: WireServer, name: str, transport: str, **more: Any) -> ModelSpec:
    wire = WIRES[name]
    fields: dict[str, Any] = {
        "model": wire.model,
        "api_base": server.base_url + wire.base_suffix,
        "api_key": KEY,
        "transport": transport,
        "params": wire.params,
    }
    return ModelSpec.model_validate(fields | more)


@dataclass
class Outcome:
    text: str | None
    finish: str | None
    usage: Usage | None
    failure: tuple[str, int | None] | None
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


async def through(
    server: WireServer,
    name: str,
    transport: str,
    *,
    stream: bool,
    shape: Shape | None = None,
    messages: list[dict[str, Any]] | None = None,
    **more: Any,
) -> Outcome:
    """One call through the gateway (no retries), and the request the server saw."""
    wire = WIRES[name]
    if shape is not None:
        server.script(wire.provider, [shape])
    before = len(server.log)
    gateway = Gateway(NO_RETRY)
    text = finish = usage = failure = None
    try:
        done = await gateway.complete(
            spec(server, name, transport, **more), messages or JUROR, scope="s", stream=stream
        )
        text, finish, usage = done.text, done.finish_reason, done.usage
        assert set(gateway._transports) == {transport_for_spec(wire.model, transport)}
    except ProviderError as exc:
        failure = (exc.kind, exc.status)
    finally:
        await gateway.aclose()
    (request,) = server.log[before:]
    headers = {k.lower(): v for k, v in request.headers.items()}
    return Outcome(text, finish, usage, failure, request.path, request.body, headers)


async def both(
    server: WireServer, name: str, *, stream: bool, **call: Any
) -> tuple[Outcome, Outcome]:
    litellm_stream = stream and name not in LITELLM_UNSTREAMED
    return (
        await through(server, name, "litellm", stream=litellm_stream, **call),
        await through(server, name, "native", stream=stream, **call),
    )


def same_request(name: str, litellm: Outcome, native: Outcome) -> None:
    for header in WIRES[name].headers:
        assert native.headers.get(header) == litellm.headers.get(header), header
    if name == "ollama":  # "stream" is in the body, and litellm's is always plain here
        assert native.body | {"stream": False} == litellm.body
    else:
        assert native.body == litellm.body
    if "stream" in native.body or name != "gemini":  # litellm never streams Gemini
        assert native.path == litellm.path


async def failure_of(
    server: WireServer, name: str, transport: str, shape: Shape, stream: bool
) -> Failure | None:
    """What the gateway's classifier makes of one attempt (Retry-After included)."""
    wire = WIRES[name]
    server.script(wire.provider, [shape])
    the_spec = spec(server, name, transport)
    chosen = transport_for_spec(wire.model, transport)
    carrier = make_transport(chosen)
    route = Route(wire.model, the_spec.api_base, the_spec.api_key, chosen)
    try:
        await carrier.send(route, the_spec, JUROR, stream)
    except Exception as exc:
        return classify(exc, 30.0)
    finally:
        await carrier.aclose()
    return None


# -- the same request, the same answer ---------------------------------------------------------
@pytest.mark.parametrize("name", list(WIRES))
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("messages", [JUROR, DELIBERATION], ids=["juror", "deliberation"])
async def test_same_request_and_same_answer(
    wire: WireServer, name: str, stream: bool, messages: list[dict[str, Any]]
) -> None:
    litellm, native = await both(wire, name, stream=stream, messages=messages)
    same_request(name, litellm, native)
    assert native.text == litellm.text == ANSWER
    assert native.finish == litellm.finish == "stop"
    assert native.usage == litellm.usage == Usage(prompt_tokens=5, completion_tokens=3)


@pytest.mark.parametrize("name", list(WIRES))
@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_cut_by_the_token_limit_is_the_same_both_ways(
    wire: WireServer, name: str, stream: bool
) -> None:
    litellm, native = await both(wire, name, stream=stream, shape="length")
    assert native.finish == litellm.finish == "length"
    assert native.text == litellm.text and native.text and ANSWER.startswith(native.text)


REFUSALS: list[tuple[str, Shape]] = [
    ("anthropic", "refusal"),  # stop_reason: refusal, no content
    ("gemini", "refusal"),  # finishReason: SAFETY, no content
    ("gemini", "blocked_prompt"),  # promptFeedback.blockReason, no candidates
    ("azure", "refusal"),  # finish_reason: content_filter, no content
]


@pytest.mark.parametrize(("name", "shape"), REFUSALS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_refusal_is_a_refusal_both_ways(
    wire: WireServer, name: str, shape: Shape, stream: bool
) -> None:
    litellm, native = await both(wire, name, stream=stream, shape=shape)
    assert (native.text, native.finish) == (litellm.text, litellm.finish) == ("", REFUSED)


# -- the same failure for every fault --------------------------------------------------------
BROKEN: list[tuple[Shape, bool]] = [
    ("garbage", False),
    ("html", False),
    ("html", True),
    ("empty", False),
    ("empty", True),
    ("empty_stream", True),
    ("cut", True),
]


@pytest.mark.parametrize("name", list(WIRES))
@pytest.mark.parametrize(("shape", "stream"), BROKEN)
async def test_a_broken_reply_is_a_malformed_reply_both_ways(
    wire: WireServer, name: str, shape: Shape, stream: bool
) -> None:
    if name == "ollama" and stream:
        # Held to what is right alone: litellm's plain call is not broken the same way.
        native = await through(wire, name, "native", stream=True, shape=shape)
        assert native.failure is not None and native.failure[0] == "malformed_reply", native
        return
    litellm, native = await both(wire, name, stream=stream, shape=shape)
    assert native.failure is not None and native.failure[0] == "malformed_reply", native
    assert litellm.failure is not None, "litellm returned a broken reply as an answer"
    # litellm names some of these otherwise (both retried, neither judged); the native
    # transport calls every broken reply what it is.
    expected = LITELLM_CALLS_IT.get((name, shape, stream), "malformed_reply")
    assert litellm.failure[0] == expected, litellm.failure


LITELLM_CALLS_IT: dict[tuple[str, Shape, bool], str] = {
    # A cut Anthropic stream: litellm raises its MidStreamFallbackError as a 500.
    ("anthropic", "cut", True): "server_error",
    # Azure through the OpenAI SDK: an HTML body is an APIError (500), a cut stream its
    # MidStreamFallbackError (500).
    ("azure", "html", False): "server_error",
    ("azure", "cut", True): "server_error",
}
"""Broken replies litellm fails under another kind than ``malformed_reply``. (litellm sends
Gemini unstreamed, so its "stream" rows are its plain call's: the server breaks that too.)"""


STATUS: list[Shape] = ["rate_limit", "overloaded", "server_error"]


def _comparable(failure: Failure | None) -> tuple[str, bool, float | None]:
    assert failure is not None
    return failure.kind, failure.retryable, failure.retry_after


@pytest.mark.parametrize("name", list(WIRES))
@pytest.mark.parametrize("shape", STATUS)
@pytest.mark.parametrize("stream", [False, True])
async def test_an_error_status_is_the_same_failure_both_ways(
    wire: WireServer, name: str, shape: Shape, stream: bool
) -> None:
    litellm = await failure_of(wire, name, "litellm", shape, stream)
    native = await failure_of(wire, name, "native", shape, stream)
    assert _comparable(native) == _comparable(litellm)
    assert native is not None and litellm is not None
    assert native.retryable and native.kind == (
        "rate_limit" if shape == "rate_limit" else "server_error"
    )
    if shape != "server_error":
        assert native.retry_after == RETRY_AFTER_S
    if name == "anthropic" and shape == "overloaded":
        # litellm reports Anthropic's 529 as a 500; the native transport keeps the status sent.
        assert (native.status, litellm.status) == (529, 500)
    else:
        assert native.status == litellm.status


@pytest.mark.parametrize(("name", "kind"), [("azure", "malformed_reply")])
async def test_an_openai_error_mid_stream_is_retried_never_judged(
    wire: WireServer, name: str, kind: str
) -> None:
    # An OpenAI-format stream that carries {"error": …}: litellm calls it a 500, the native
    # OpenAI parser (shared with the native transport) a malformed reply; both are retried.
    litellm = await failure_of(wire, name, "litellm", "overloaded_stream", True)
    native = await failure_of(wire, name, "native", "overloaded_stream", True)
    assert native is not None and litellm is not None
    assert native.retryable and litellm.retryable
    assert native.kind == kind


async def test_anthropic_overloaded_mid_stream_is_a_retried_server_error(wire: WireServer) -> None:
    litellm = await failure_of(wire, "anthropic", "litellm", "overloaded_stream", True)
    native = await failure_of(wire, "anthropic", "native", "overloaded_stream", True)
    assert native is not None and litellm is not None
    assert (native.kind, native.retryable) == (litellm.kind, litellm.retryable)
    assert native.kind == "server_error" and native.retryable
    # Anthropic's overloaded_error is its 529, which the native transport keeps (litellm: 500).
    assert native.status == 529


# -- what the native transport refuses rather than drops -------------------------------------
async def test_anthropic_audio_is_refused_where_litellm_drops_it(wire: WireServer) -> None:
    heard = [{"role": "user", "content": [{"type": "text", "text": "Listen."}, AUDIO]}]
    litellm = await through(wire, "anthropic", "litellm", stream=False, messages=heard)
    # litellm sends the text alone: the model is judged on a recording it never heard.
    assert "Listen." in str(litellm.body) and "UklGR" not in str(litellm.body)
    gateway = Gateway(NO_RETRY)
    before = len(wire.log)
    try:
        with pytest.raises(ProviderError, match="takes no audio") as info:
            await gateway.complete(spec(wire, "anthropic", "native"), heard, scope="s")
    finally:
        await gateway.aclose()
    assert info.value.kind == "unexpected" and len(wire.log) == before  # never sent


async def test_anthropic_without_max_tokens_sends_litellms_default(wire: WireServer) -> None:
    for model, expected in [("anthropic/claude-sonnet-4-5", 64000), ("anthropic/claude-x", 128000)]:
        litellm, native = await both(wire, "anthropic", stream=False, model=model, params={})
        assert native.body["max_tokens"] == litellm.body["max_tokens"] == expected
        same_request("anthropic", litellm, native)


async def test_an_unsupported_param_asked_of_a_native_transport_is_a_config_error(
    wire: WireServer,
) -> None:
    gateway = Gateway(NO_RETRY)
    before = len(wire.log)
    try:
        with pytest.raises(ProviderError, match="presence_penalty") as info:
            await gateway.complete(
                spec(wire, "anthropic", "native", params={"presence_penalty": 0.5}),
                JUROR,
                scope="s",
            )
    finally:
        await gateway.aclose()
    assert "native-anthropic" in str(info.value) and "ConfigError" in str(info.value)
    assert len(wire.log) == before  # never sent, never silently dropped


# -- Gemini: the stream litellm cannot read, and the system prompt it folds ------------------
async def test_a_cut_gemini_stream_is_never_judged(wire: WireServer) -> None:
    # Gemini sends usageMetadata with every chunk and finishReason only with the last; litellm
    # cannot tell a cut stream from a whole one, so it is never streamed there. The native
    # transport streams, and a stream with no finishReason is a malformed reply.
    native = await through(wire, "gemini", "native", stream=True, shape="cut")
    assert native.failure == ("malformed_reply", None)
    assert ":streamGenerateContent" in native.path and native.path.endswith("alt=sse")
    whole = await through(wire, "gemini", "native", stream=True)
    assert whole.text == ANSWER  # the good stream arrives in two chunks


async def test_gemini_overloaded_mid_stream_is_a_retried_server_error(wire: WireServer) -> None:
    # litellm never streams Gemini, so it never sees this; the native transport reads the
    # error object in the stream as the status it names.
    native = await failure_of(wire, "gemini", "native", "overloaded_stream", True)
    assert native is not None and (native.kind, native.status, native.retryable) == (
        "server_error",
        503,
        True,
    )


@pytest.mark.parametrize(
    ("model", "instruction"),
    [("gemini/gemini-2.5-flash", True), ("gemini/gemini-1.5-flash", False)],
)
async def test_gemini_system_prompt_goes_where_litellm_puts_it(
    wire: WireServer, model: str, instruction: bool
) -> None:
    # litellm sends a system prompt as system_instruction only to models it knows take one,
    # and folds it into the first user turn elsewhere.
    litellm, native = await both(wire, "gemini", stream=False, model=model, messages=DELIBERATION)
    same_request("gemini", litellm, native)
    assert ("system_instruction" in native.body) is instruction


@pytest.mark.parametrize("name", ["gemini"])
async def test_audio_and_media_alone_are_sent_as_litellm_sends_them(
    wire: WireServer, name: str
) -> None:
    heard = [
        {"role": "user", "content": [{"type": "text", "text": "Listen."}, AUDIO]},
        {"role": "assistant", "content": "Heard."},
        {"role": "user", "content": [IMAGE]},
    ]
    litellm, native = await both(wire, name, stream=False, messages=heard)
    same_request(name, litellm, native)
    assert "UklGR" in str(native.body)


# -- Azure: the deployment path and the API version -------------------------------------------
async def test_azure_sends_litellms_default_api_version(
    wire: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents.llm import load_litellm
    from agents.transports.azure import DEFAULT_API_VERSION

    assert DEFAULT_API_VERSION == load_litellm().AZURE_DEFAULT_API_VERSION
    monkeypatch.delenv("AZURE_API_VERSION", raising=False)
    params = {"temperature": 0.0}
    litellm, native = await both(wire, "azure", stream=False, params=params)
    same_request("azure", litellm, native)
    assert native.path == (
        f"/openai/deployments/safety-juror-4o/chat/completions?api-version={DEFAULT_API_VERSION}"
    )
    monkeypatch.setenv("AZURE_API_VERSION", "2024-06-01")
    litellm, native = await both(wire, "azure", stream=True, params=params)
    same_request("azure", litellm, native)
    assert native.path.endswith("api-version=2024-06-01")


# -- Ollama: messages as litellm flattens them, and what it cannot carry ----------------------
async def test_ollama_error_mid_stream_is_retried_never_judged(wire: WireServer) -> None:
    # litellm fails this as a client error (a KeyError on 'message', status 400: never
    # retried); an error line in the middle of a stream is a broken reply, retried.
    native = await failure_of(wire, "ollama", "native", "overloaded_stream", True)
    assert native is not None and (native.kind, native.retryable) == ("malformed_reply", True)


async def test_ollama_audio_is_refused(wire: WireServer) -> None:
    heard = [{"role": "user", "content": [{"type": "text", "text": "Listen."}, AUDIO]}]
    gateway = Gateway(NO_RETRY)
    before = len(wire.log)
    try:
        with pytest.raises(ProviderError, match="takes no audio"):
            await gateway.complete(spec(wire, "ollama", "native"), heard, scope="s")
    finally:
        await gateway.aclose()
    assert len(wire.log) == before


async def test_ollama_string_stop_and_max_completion_tokens_map_as_litellm_maps_them(
    wire: WireServer,
) -> None:
    params = {"stop": "</vote>", "max_completion_tokens": 9}
    litellm, native = await both(wire, "ollama", stream=False, params=params)
    same_request("ollama", litellm, native)
    assert native.body["options"] == {"stop": "</vote>", "num_predict": 9}


async def test_a_gemini_stream_cut_after_an_early_finish_reason_is_not_judged() -> None:
    # Some Gemini-compatible proxies (and older models) put finishReason STOP on early
    # chunks too: a stream cut after one of those once passed as a whole answer.
    import json as _json

    from aiohttp import web

    from agents.transports.base import MalformedReply

    def chunk(text: str, finish: str | None) -> str:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        return "data: " + _json.dumps({"candidates": [candidate]}) + "\n\n"

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk("Step 1: mix", "STOP").encode())
        await response.write(chunk(" the first two", None).encode())  # then the cut
        return response

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    spec = ModelSpec(model="gemini/gemini-2.5-flash", api_base=f"http://127.0.0.1:{port}")
    transport = make_transport("native-gemini")
    route = Route(spec.model, spec.api_base, None, "native-gemini")
    try:
        with pytest.raises(MalformedReply, match="without a finish reason"):
            await transport.send(route, spec, [{"role": "user", "content": "hi"}], True)
    finally:
        await transport.aclose()
        await runner.cleanup()
