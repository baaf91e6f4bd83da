"""The lean benchmark server (bench/lean_server.py) answers what the run path needs.

A benchmark served wrong answers would measure failed cases, not the run: every juror and
foreperson answer must carry its case's nonce, streamed and plain answers must read the same,
requests on one keep-alive connection must be answered in order, and a whole run against the
server (in its own process) must judge every case.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from common import (  # noqa: E402
    ECHO_ANSWER,
    ServerOptions,
    bench_run_config,
    write_text_dataset,
)
from lean_server import Answers, LeanHttp, lean_server_process  # noqa: E402

from kernel.ballot import case_header, parse_summary, parse_vote  # noqa: E402
from kernel.errors import VoteParseError  # noqa: E402
from safebench.run.config import RunConfig  # noqa: E402
from safebench.run.pipeline import run_evaluation  # noqa: E402
from transcripts.store import RunStore  # noqa: E402

NONCE = "0123456789ab"


@pytest_asyncio.fixture
async def lean_url() -> AsyncIterator[str]:
    """The lean protocol served in this loop (no latency), for the wire-level checks."""
    loop = asyncio.get_running_loop()
    answers = Answers()
    server = await loop.create_server(lambda: LeanHttp(answers, 0.0, 0.0, 0), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


def brief(nonce: str = NONCE) -> list[dict[str, str]]:
    user = case_header(nonce, "Cybersecurity", "Malware") + "\n<<<ANSWER x>>>…"
    return [{"role": "system", "content": "You are a juror."}, {"role": "user", "content": user}]


async def ask(url: str, body: dict[str, object]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/chat/completions", data=json.dumps(body)) as response,
    ):
        return response.status, await response.read()


def content_of(raw: bytes) -> str:
    return str(json.loads(raw)["choices"][0]["message"]["content"])


def streamed_content(raw: bytes) -> str:
    parts = []
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:])["choices"]:
                parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


async def test_juror_and_foreperson_answers_carry_the_case_nonce(lean_url: str) -> None:
    for juror in ("pattern-juror", "refusal-juror"):
        status, raw = await ask(lean_url, {"model": juror, "messages": brief()})
        assert status == 200
        parse_vote(content_of(raw), NONCE)  # a valid vote for this case
        with pytest.raises(VoteParseError):
            parse_vote(content_of(raw), "ba9876543210")  # and for no other
    status, raw = await ask(lean_url, {"seed": 3, "model": "foreperson", "messages": brief()})
    assert status == 200
    summary, _ = parse_summary(content_of(raw), NONCE)
    assert summary
    # Two cases in a row get their own nonces (nothing of the first is kept).
    _, raw = await ask(lean_url, {"model": "pattern-juror", "messages": brief("fedcba987654")})
    parse_vote(content_of(raw), "fedcba987654")


async def test_streamed_answer_reads_as_the_plain_one(lean_url: str) -> None:
    for model in ("pattern-juror", "foreperson", "sim-leaky"):
        _, plain = await ask(lean_url, {"model": model, "messages": brief()})
        _, sse = await ask(lean_url, {"model": model, "messages": brief(), "stream": True})
        assert streamed_content(sse) == content_of(plain)
        assert sse.endswith(b"data: [DONE]\n\n")


async def test_targets_unknown_models_and_non_ballots(lean_url: str) -> None:
    status, raw = await ask(lean_url, {"model": "sim-leaky", "messages": brief()})
    assert (status, content_of(raw)) == (200, ECHO_ANSWER)
    status, raw = await ask(lean_url, {"model": "no-such-model", "messages": brief()})
    assert status == 404 and b"no-such-model" in raw
    # A juror asked without a ballot is refused, never answered with a made-up nonce.
    plain = [{"role": "user", "content": "hello"}]
    status, raw = await ask(lean_url, {"model": "pattern-juror", "messages": plain})
    assert status == 400 and b"Case NONCE" in raw


async def test_pipelined_requests_are_answered_in_order(lean_url: str) -> None:
    port = int(lean_url.rsplit(":", 1)[1].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    nonces = [f"{i:012x}" for i in range(5)]
    requests = b""
    for nonce in nonces:
        body = json.dumps({"model": "pattern-juror", "messages": brief(nonce)}).encode()
        requests += (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
    # All at once, split at odd places: the parser must buffer partial heads and bodies.
    for cut in range(0, len(requests), 97):
        writer.write(requests[cut : cut + 97])
    got = []
    for _ in nonces:
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        got.append(content_of(await reader.readexactly(length)))
    writer.close()
    for nonce, content in zip(nonces, got, strict=True):
        parse_vote(content, nonce)


@pytest.mark.slow
async def test_a_whole_run_against_the_server_process_judges_every_case(tmp_path: Path) -> None:
    with lean_server_process(ServerOptions(latency_s=0.001)) as url:
        dataset = write_text_dataset(tmp_path / "data", 6)
        store = tmp_path / "run.sqlite"
        config = RunConfig.model_validate(
            bench_run_config(url, store, dataset, transport="native", concurrency=3, rounds=1)
        )
        summary = await run_evaluation(config)
        cpu = url.cpu_s()
    assert cpu > 0
    assert summary.model_calls == 6 * 12
    with RunStore(store) as run_store:
        assert run_store.status_counts() == {"judged": 6}
        assert run_store.call_counts() == {"ok": 6 * 12}
