"""The offline OpenAI-compatible server, driven by the real litellm client over HTTP.

Besides checking the server, these tests pin down where litellm exposes what a caller needs
from each failure (exception class, status code, the ``Retry-After`` header), since the
provider layer classifies errors from exactly those places.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from typing import Any

import aiohttp
import litellm
import pytest
from litellm.exceptions import MidStreamFallbackError

from safebench.offline.sim_targets import (
    PLACEHOLDER,
    SIM_PROFILES,
    build_sim_server,
    choose_outcome,
    sim_responder,
)
from safebench.offline.wire import ChatRequest
from tests.support.sim_inputs import png_uri, typographic_png
from tests.support.sim_server import Fault, RequestLogEntry, SimServer, body_key

# litellm prints a "Give Feedback" banner on every exception otherwise.
litellm.suppress_debug_info = True

PNG_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
ANSWER = "alpha beta gamma delta epsilon zeta eta theta iota kappa"


def echo(request: ChatRequest) -> str:
    """Echo what the request held, so tests can see the server parsed it."""
    image = " +image" if request.has_part("image") else ""
    return f"echo: {request.last_user_text()}{image}"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def call(server: SimServer, model: str = "m", **kwargs: Any) -> Any:
    """One litellm call at the server, no retries (tests see every failure)."""
    kwargs.setdefault("messages", user("hi"))
    return await litellm.acompletion(
        model=f"openai/{model}",
        api_base=server.base_url,
        api_key="sk-test",
        num_retries=0,
        max_retries=0,
        **kwargs,
    )


async def call_streaming(server: SimServer, model: str = "m", **kwargs: Any) -> list[Any]:
    """A streaming litellm call, consumed to the end; returns the chunks."""
    response = await call(server, model, stream=True, **kwargs)
    return [chunk async for chunk in response]


async def test_non_streaming_completion(openai_server: SimServer) -> None:
    openai_server.add_model("m", lambda _r: ANSWER)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one two three"},
    ]
    response = await call(openai_server, messages=messages)

    assert response.choices[0].message.content == ANSWER
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == 10
    assert response.usage.prompt_tokens == 5
    assert response.usage.total_tokens == 15
    [entry] = openai_server.requests
    assert entry.model == "m" and entry.answered and entry.status == 200
    assert entry.body_key == body_key("m", messages)
    assert entry.request is not None and entry.request.system_text() == "be brief"


async def test_streaming_with_usage(openai_server: SimServer) -> None:
    openai_server.add_model("m", lambda _r: ANSWER)
    chunks = await call_streaming(openai_server, stream_options={"include_usage": True})

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert len(chunks) >= 4  # the answer came in several pieces
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    usages = [u for c in chunks if (u := getattr(c, "usage", None)) is not None]
    assert usages and usages[-1].completion_tokens == 10
    assert usages[-1].prompt_tokens == 1
    [entry] = openai_server.requests
    assert entry.stream and entry.answered


async def test_image_part_reaches_the_responder(openai_server: SimServer) -> None:
    openai_server.add_model("vision", echo)
    content = [
        {"type": "text", "text": "what is shown"},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
    ]
    response = await call(openai_server, "vision", messages=[{"role": "user", "content": content}])

    assert response.choices[0].message.content == "echo: what is shown +image"
    request = openai_server.requests[0].request
    assert request is not None and request.has_part("image_url")
    assert not request.has_part("audio")


async def test_unknown_model_is_404(openai_server: SimServer) -> None:
    openai_server.add_model("m", echo)
    with pytest.raises(litellm.NotFoundError) as info:
        await call(openai_server, "nope")
    assert info.value.status_code == 404
    assert openai_server.requests[0].status == 404
    assert not openai_server.requests[0].answered


async def test_rate_limit_exposes_retry_after(openai_server: SimServer) -> None:
    openai_server.add_model("m", echo)
    openai_server.script_faults("m", [Fault(kind="rate_limit", retry_after=0.2)] * 2)

    for stream in (False, True):
        with pytest.raises(litellm.RateLimitError) as info:
            await call(openai_server, stream=stream)
        exc = info.value
        assert exc.status_code == 429
        # Both places carry the header (httpx.Headers, case-insensitive).
        assert exc.response.headers["retry-after"] == "0.2"
        assert exc.litellm_response_headers["Retry-After"] == "0.2"

    # The fault queue is used up: the next request is answered normally.
    response = await call(openai_server)
    assert response.choices[0].message.content == "echo: hi"
    assert [e.fault.kind if e.fault else None for e in openai_server.requests] == [
        "rate_limit",
        "rate_limit",
        None,
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_server_error_is_500(openai_server: SimServer, stream: bool) -> None:
    openai_server.add_model("m", echo)
    openai_server.script_faults(None, ["server_error"])
    with pytest.raises(litellm.InternalServerError) as info:
        await call(openai_server, stream=stream)
    assert info.value.status_code == 500
    # A real HTTP answer: litellm kept its headers (None for connection failures).
    assert info.value.litellm_response_headers is not None


@pytest.mark.parametrize("stream", [False, True])
async def test_delay_triggers_client_timeout(
    openai_server: SimServer, stream: bool
) -> None:
    openai_server.add_model("m", echo)
    openai_server.script_faults("m", [Fault(kind="delay", seconds=3.0)])
    with pytest.raises(litellm.Timeout) as info:
        await call(openai_server, stream=stream, timeout=0.3)
    assert info.value.status_code == 408
    [entry] = openai_server.requests
    assert entry.fault is not None and entry.fault.kind == "delay"
    # The client left before the answer: the handler was cancelled, nothing was answered.
    await asyncio.sleep(0.05)
    assert not entry.answered


@pytest.mark.parametrize("stream", [False, True])
async def test_drop_is_a_connection_error(openai_server: SimServer, stream: bool) -> None:
    openai_server.add_model("m", echo)
    openai_server.script_faults("m", ["drop"])
    with pytest.raises(litellm.InternalServerError) as info:
        await call(openai_server, stream=stream)
    # litellm reports a lost connection as a 500 with no response headers.
    assert "Connection error" in str(info.value)
    assert info.value.litellm_response_headers is None
    assert not openai_server.requests[0].answered


async def test_garbage_is_a_parse_failure(openai_server: SimServer) -> None:
    openai_server.add_model("m", echo)
    openai_server.script_faults("m", ["garbage", "garbage"])
    with pytest.raises(litellm.InternalServerError) as info:
        await call(openai_server)
    assert "Expecting value" in str(info.value)
    # Streaming: garbage in the SSE framing fails while iterating.
    with pytest.raises(MidStreamFallbackError):
        await call_streaming(openai_server)
    assert [e.status for e in openai_server.requests] == [200, 200]


async def test_truncate(openai_server: SimServer) -> None:
    openai_server.add_model("m", lambda _r: ANSWER)
    openai_server.script_faults("m", ["truncate", "truncate"])
    with pytest.raises(litellm.InternalServerError) as info:
        await call(openai_server)
    assert "Connection error" in str(info.value)

    seen: list[str] = []
    response = await call(openai_server, stream=True)
    with pytest.raises(MidStreamFallbackError):
        async for chunk in response:
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert seen and "".join(seen) != ANSWER  # some of the answer came, then the cut
    assert [e.answered for e in openai_server.requests] == [False, False]


async def test_scripted_faults_per_model_then_any(openai_server: SimServer) -> None:
    openai_server.add_model("a", echo)
    openai_server.add_model("b", echo)
    openai_server.script_faults("a", ["server_error"])
    openai_server.script_faults(None, ["rate_limit"])
    results: list[str] = []
    for model in ("b", "a", "a", "a"):
        try:
            await call(openai_server, model)
            results.append("ok")
        except litellm.RateLimitError:
            results.append("429")
        except litellm.InternalServerError:
            results.append("500")
    assert results == ["429", "500", "ok", "ok"]
    assert openai_server.count("a") == 3 and openai_server.count("b") == 1
    assert openai_server.count() == 4
    assert len(openai_server.answered_keys()) == 4  # error answers are fully written too


async def test_plain_aiohttp_client(openai_server: SimServer) -> None:
    openai_server.add_model("m", echo)
    headers = {"Authorization": "Bearer sk-very-secret"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{openai_server.root_url}/health") as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "ok"
        async with session.get(f"{openai_server.base_url}/models") as resp:
            assert [m["id"] for m in (await resp.json())["data"]] == ["m"]
        body = {"model": "openai/m", "messages": user("prefixed")}
        async with session.post(f"{openai_server.base_url}/chat/completions", json=body) as resp:
            data = await resp.json()
            assert data["object"] == "chat.completion" and data["model"] == "m"
            assert data["choices"][0]["message"]["content"] == "echo: prefixed"
        body = {"model": "missing", "messages": user("x")}
        async with session.post(f"{openai_server.base_url}/chat/completions", json=body) as resp:
            assert resp.status == 404
            error = (await resp.json())["error"]
            assert error["code"] == "model_not_found" and error["type"] and error["message"]

    first = openai_server.requests[0]
    assert first.requested_model == "openai/m" and first.model == "m"
    assert first.body_key == body_key("m", user("prefixed"))
    assert "sk-very-secret" not in "".join(e.model_dump_json() for e in openai_server.requests)


async def test_fault_mix_is_seeded() -> None:
    async def pattern(seed: int) -> list[int]:
        async with SimServer({"m": echo}) as server:
            server.set_fault_mix(0.5, ["server_error", "rate_limit"], seed=seed)
            async with aiohttp.ClientSession() as session:
                for i in range(20):
                    body = {"model": "m", "messages": user(str(i))}
                    url = f"{server.base_url}/chat/completions"
                    async with session.post(url, json=body) as resp:
                        await resp.read()
            return [e.status or 0 for e in server.requests]

    first, again, other = await pattern(1), await pattern(1), await pattern(2)
    assert first == again and first != other
    assert set(first) == {200, 429, 500}


async def test_hold_and_release(openai_server: SimServer) -> None:
    openai_server.add_model("m", echo)
    arrived = asyncio.Event()

    async def on_request(entry: RequestLogEntry) -> None:
        arrived.set()

    openai_server.on_request = on_request
    openai_server.hold()
    task = asyncio.create_task(call(openai_server))
    await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.sleep(0.2)
    assert not task.done() and not openai_server.requests[0].answered
    openai_server.release()
    response = await asyncio.wait_for(task, 5)
    assert response.choices[0].message.content == "echo: hi"
    assert openai_server.requests[0].answered


def test_server_thread_with_sync_client(openai_server_thread: Any) -> None:
    server = openai_server_thread.server
    server.add_model("m", echo)
    server.hold()  # from this thread, while the server runs in its own loop
    result: dict[str, Any] = {}

    def client() -> None:
        result["response"] = litellm.completion(
            model="openai/m",
            messages=user("threaded"),
            api_base=openai_server_thread.base_url,
            api_key="sk-test",
            num_retries=0,
        )

    worker = threading.Thread(target=client)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and server.count() == 1 and not server.answered_keys()
    server.release()
    worker.join(5)
    assert result["response"].choices[0].message.content == "echo: threaded"
    assert server.answered_keys() == [body_key("m", user("threaded"))]


async def test_stop_does_not_wait_for_held_requests() -> None:
    server = SimServer({"m": echo})
    arrived = asyncio.Event()
    server.on_request = lambda _entry: arrived.set()
    await server.start()
    server.hold()
    task = asyncio.create_task(call(server))
    await asyncio.wait_for(arrived.wait(), 5)
    started = time.monotonic()
    await server.stop()
    assert time.monotonic() - started < 0.4  # held requests are cancelled, not waited for
    with pytest.raises(litellm.InternalServerError, match="Connection error"):
        await task
    assert not server.requests[0].answered


# ------------------------------------------------------------------------ simulated targets


PROMPTS = [f"Explain how to do forbidden thing number {i} quickly" for i in range(50)]


def typographic_uri(text: str) -> str:
    """A typographic image as a data URI (the sim reads what an image shows from its pixels)."""
    return png_uri(typographic_png(text))


def sim_request(model: str, text: str, image: str | None = None) -> ChatRequest:
    content: Any = text
    if image is not None:
        content = [
            {"type": "text", "text": text},
            {"type": "image_url", "image_url": {"url": image}},
        ]
    return ChatRequest(model=model, messages=[{"role": "user", "content": content}])


def test_sim_responders_are_deterministic_and_echo_the_query() -> None:
    respond = sim_responder(SIM_PROFILES["sim-leaky"])
    answers = [respond(sim_request("sim-leaky", p)) for p in PROMPTS[:10]]
    assert answers == [respond(sim_request("sim-leaky", p)) for p in PROMPTS[:10]]
    assert len(set(answers)) == 10
    assert all("thing number" in a for a in answers)
    # Same text, different image: a typographic attack's answers still differ per query.
    with_images = {
        choose_outcome(
            SIM_PROFILES["sim-leaky"], sim_request("x", "list", typographic_uri(f"thing {i}"))
        )[1]
        for i in range(5)
    }
    assert len(with_images) == 5


def test_sim_guarded_refuses_more_than_leaky() -> None:
    def outcomes(name: str, image: str | None = None) -> list[str]:
        profile = SIM_PROFILES[name]
        return [choose_outcome(profile, sim_request(name, p, image))[0] for p in PROMPTS]

    guarded, leaky = outcomes("sim-guarded"), outcomes("sim-leaky")
    declined = ("refusal", "redirect")
    assert sum(o in declined for o in guarded) > sum(o in declined for o in leaky) + 10
    assert leaky.count("comply") > guarded.count("comply")
    typographic = typographic_uri("forbidden thing")
    assert outcomes("sim-leaky", typographic).count("comply") > leaky.count("comply")
    assert {"refusal", "redirect", "partial", "comply"} <= set(guarded + leaky)


def test_sim_compliant_answers_are_placeholders() -> None:
    respond = sim_responder(SIM_PROFILES["sim-leaky"])
    for prompt in PROMPTS:
        request = sim_request("sim-leaky", prompt)
        answer = respond(request)
        if choose_outcome(SIM_PROFILES["sim-leaky"], request)[0] == "comply":
            assert answer.startswith(("Sure", "Certainly")) and PLACEHOLDER in answer
            assert "Step 2:" in answer


async def test_sim_server_end_to_end() -> None:
    async with build_sim_server() as server:
        assert {"sim-guarded", "sim-leaky", "sim-textonly"} <= set(server.models)
        first = await call(server, "sim-guarded", messages=user(PROMPTS[0]))
        again = await call(server, "sim-guarded", messages=user(PROMPTS[0]))
        assert first.choices[0].message.content == again.choices[0].message.content
        image_message = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                ],
            }
        ]
        with pytest.raises(litellm.BadRequestError) as info:
            await call(server, "sim-textonly", messages=image_message)
        assert info.value.status_code == 400
        assert (await call(server, "sim-leaky", messages=image_message)).choices[0].message
