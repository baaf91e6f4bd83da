"""A provider's tokens-per-minute limit: 429s and throughput, with and without the setting.

A local OpenAI-compatible server (its own process, 127.0.0.1) enforces a TPM limit as a
token bucket refilled over the minute, counting the usage it reports, and answers 429 with
Retry-After once a request would pass it. The gateway then sends ``--calls`` chat calls,
``--concurrency`` at once, twice: with no token limit configured (AIMD concurrency alone
backs off on the 429s), and with ``tokens_per_minute`` set to the server's limit. Printed
per mode: calls, HTTP requests, 429s, wall time, and tokens per minute against the limit.

    .venv/bin/python bench/tpm_limit.py --tpm 30000 --calls 225 --concurrency 32

Each mode takes about two minutes (three minutes' worth of tokens). A full bucket lets one
minute's tokens through at once, so the rate printed is the sustained one: the tokens
beyond that first minute's, over the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT_TOKENS = 100
COMPLETION_TOKENS = 300


def serve(port_out: multiprocessing.connection.Connection, tpm: int, window_s: float) -> None:
    """The TPM-enforcing server: a token bucket of ``tpm`` tokens refilled at ``tpm`` per
    ``window_s``, as providers enforce a per-minute limit (continuously replenished); a
    request it cannot cover is answered 429 with the Retry-After that would cover it."""
    from aiohttp import web

    counts = {"requests": 0, "limited": 0}
    bucket = {"tokens": float(tpm), "at": time.monotonic()}
    rate = tpm / window_s

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        counts["requests"] += 1
        now = time.monotonic()
        bucket["tokens"] = min(float(tpm), bucket["tokens"] + (now - bucket["at"]) * rate)
        bucket["at"] = now
        cost = PROMPT_TOKENS + COMPLETION_TOKENS
        if bucket["tokens"] < cost:
            counts["limited"] += 1
            wait = (cost - bucket["tokens"]) / rate
            body = {"error": {"message": "Rate limit reached for tokens per min", "type": "tokens"}}
            return web.json_response(
                body, status=429, headers={"Retry-After": f"{max(0.1, wait):.2f}"}
            )
        bucket["tokens"] -= cost
        await asyncio.sleep(0.05)
        body = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": cost,
            },
        }
        return web.json_response(body)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(counts)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


async def one_mode(
    base: str, tpm: int | None, calls: int, concurrency: int, tpm_limit: int
) -> dict[str, float]:
    import aiohttp

    from agents.gateway import Gateway, GatewaySettings, ProviderLimits
    from agents.spec import ModelSpec

    async with aiohttp.ClientSession() as http:
        before = await (await http.get(f"{base}/stats")).json()
    limits = ProviderLimits(max_concurrency=concurrency, tokens_per_minute=tpm)
    settings = GatewaySettings(
        max_retries=20, backoff_base_s=0.05, timeout_s=120, providers={"openai": limits}
    )
    gateway = Gateway(settings)
    spec = ModelSpec(
        model="openai/tpm-bench",
        api_base=f"{base}/v1",
        api_key="sk-bench",  # type: ignore[arg-type]
        transport="native",
        params={"max_tokens": COMPLETION_TOKENS},
    )
    prompt = "x" * (PROMPT_TOKENS * 4)
    started = time.monotonic()
    finished: list[float] = []

    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        messages = [{"role": "user", "content": f"{i} {prompt}"}]
        try:
            await gateway.complete(spec, messages, scope=f"{i}")
        except Exception:  # a call that ran out of retries: counted, not the benchmark's end
            failed += 1
            return
        finished.append(time.monotonic() - started)

    await asyncio.gather(*(one(i) for i in range(calls)))
    wall = time.monotonic() - started
    await gateway.aclose()
    async with aiohttp.ClientSession() as http:
        after = await (await http.get(f"{base}/stats")).json()
    # A full bucket lets the first minute's tokens through at once; what the limit sustains
    # is the rest over the wall time: (tokens - one minute's) / minutes.
    done_tokens = len(finished) * (PROMPT_TOKENS + COMPLETION_TOKENS)
    sustained = max(0, done_tokens - (tpm_limit or 0)) / wall * 60
    return {
        "calls": calls,
        "failed": failed,
        "requests": after["requests"] - before["requests"],
        "429s": after["limited"] - before["limited"],
        "wall_s": wall,
        "tokens_per_min": sustained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tpm", type=int, default=30_000, help="the server's token limit")
    parser.add_argument("--calls", type=int, default=225)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    from kernel.logs import configure_logging

    configure_logging(False)  # no debug line per retried call
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(writer, args.tpm, 60.0), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{reader.recv()}"
        rows = []
        for tpm in (None, args.tpm):
            # A full bucket for each mode: the server's refills in a minute.
            row = asyncio.run(one_mode(base, tpm, args.calls, args.concurrency, args.tpm))
            row["mode"] = "tokens_per_minute" if tpm else "AIMD only"
            rows.append(row)
            print(json.dumps(row), flush=True)
            if tpm is None:
                time.sleep(61)
        for row in rows:
            share = row["tokens_per_min"] / args.tpm
            print(
                f"{row['mode']:>18}: {int(row['calls'])} calls ({int(row['failed'])} failed), "
                f"{int(row['requests'])} requests, "
                f"{int(row['429s'])} x 429, {row['wall_s']:.1f} s, "
                f"{row['tokens_per_min']:.0f} tokens/min ({share:.0%} of the limit)"
            )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
