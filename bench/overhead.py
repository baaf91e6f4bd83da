"""CPU per model call: the full stack (Gateway with its store) vs a bare aiohttp client.

Both make the same calls (``calls`` distinct requests, ``concurrency`` in flight) to the same
server, which runs in its own process, so the CPU counted (``time.process_time`` of this
process) is the client's alone. The figure is the ratio stack / bare; target <= 3x for the
native transport. litellm's is printed beside it for scale.

    .venv/bin/python bench/overhead.py                    # 2,000 calls at 64 in flight
    .venv/bin/python bench/overhead.py --calls 4000 --stream
    .venv/bin/python bench/overhead.py --transport native --agent   # + an autogen agent turn

``--agent`` measures two jury paths: an agent built per call (as the courtroom did before it
kept its agents), and one agent per in-flight slot, reset and rebound per call (as it does
now). Each row also gives the garbage collector's CPU per call.

The server is ``bench/lean_server.py`` (precomputed answers); ``--server sim`` uses the
offline stack's server instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from common import ECHO_MODEL, ServerOptions, load_note, quiet_logs, server_process
from lean_server import lean_server_process

from agents.gateway import Gateway, GatewaySettings, ProviderLimits
from agents.spec import ModelSpec
from transcripts.store import RunStore


def messages(i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a careful safety juror."},
        {"role": "user", "content": f"Case {i}: is this answer harmful? Answer briefly."},
    ]


async def bounded(calls: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    """Run ``one(i)`` for every i with ``concurrency`` in flight (a fixed pool of tasks)."""
    counter = iter(range(calls))

    async def worker() -> None:
        for i in counter:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def bare(base_url: str, calls: int, concurrency: int, stream: bool) -> None:
    """The floor: aiohttp posting the OpenAI body and decoding the JSON reply, nothing else."""
    url = base_url + "/chat/completions"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            body = {"model": ECHO_MODEL, "messages": messages(i), "stream": stream}
            headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
            async with session.post(url, data=json.dumps(body), headers=headers) as response:
                if stream:
                    async for _line in response.content:
                        pass
                else:
                    json.loads(await response.read())

        await bounded(calls, concurrency, one)


@asynccontextmanager
async def bench_gateway(
    base_url: str, concurrency: int, transport: str, store: Path
) -> AsyncIterator[tuple[Gateway, ModelSpec]]:
    """A gateway recording into ``store``, and the echo model's spec on ``transport``."""
    settings = GatewaySettings(default_limits=ProviderLimits(max_concurrency=concurrency))
    spec = ModelSpec(
        model=f"openai/{ECHO_MODEL}",
        api_base=base_url,
        api_key="sk-bench-not-a-secret",
        transport=transport,  # type: ignore[arg-type]
    )
    with RunStore(store) as run_store:
        gateway = Gateway(settings, cache=run_store)
        try:
            yield gateway, spec
        finally:
            await gateway.aclose()


async def stack(
    base_url: str, calls: int, concurrency: int, stream: bool, transport: str, store: Path
) -> None:
    """The gateway (cache lookup, limits, retries, timeout, record in the store) + transport."""
    async with bench_gateway(base_url, concurrency, transport, store) as (gateway, spec):

        async def one(i: int) -> None:
            await gateway.complete(spec, messages(i), scope=f"case-{i}", stream=stream)

        await bounded(calls, concurrency, one)


async def via_agent(
    base_url: str,
    calls: int,
    concurrency: int,
    stream: bool,
    transport: str,
    store: Path,
    reuse: bool = True,
) -> None:
    """As ``stack``, but each call is one autogen ``AssistantAgent`` turn over
    ``GatewayChatClient``: the jury's path. ``reuse``: one agent per in-flight slot, reset
    and rebound to the call's scope each time (the courtroom's pool); else one built per
    call."""
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.messages import TextMessage
    from autogen_core import CancellationToken

    from agents.chat_client import GatewayChatClient

    async with bench_gateway(base_url, concurrency, transport, store) as (gateway, spec):

        def build(i: int) -> tuple[AssistantAgent, GatewayChatClient]:
            client = GatewayChatClient(gateway, spec, scope=f"case-{i}", role="juror")
            agent = AssistantAgent(
                name="juror_1",
                model_client=client,
                system_message=messages(i)[0]["content"],
                model_client_stream=stream,
            )
            return agent, client

        idle: list[tuple[AssistantAgent, GatewayChatClient]] = []

        async def one(i: int) -> None:
            if reuse and idle:
                agent, client = idle.pop()
                client.bind(f"case-{i}")
            else:
                agent, client = build(i)
            turn = TextMessage(content=messages(i)[1]["content"], source="clerk")
            await agent.on_messages([turn], CancellationToken())
            if reuse:
                await agent.on_reset(CancellationToken())
                idle.append((agent, client))

        await bounded(calls, concurrency, one)


GC_CPU = [0.0, 0.0]
"""CPU seconds spent in the garbage collector so far, and when the running one started."""


def _gc_clock(phase: str, _info: dict[str, int]) -> None:
    if phase == "start":
        GC_CPU[1] = time.process_time()
    else:
        GC_CPU[0] += time.process_time() - GC_CPU[1]


def cpu_of(run: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one asyncio run in this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run())  # type: ignore[arg-type]
    return time.process_time() - cpu, time.perf_counter() - wall


def row(label: str, cpu: float, wall: float, gc_s: float, n: int, base_cpu: float) -> str:
    per, gc_per = cpu / n * 1000, gc_s / n * 1000
    return f"{label:<20}{cpu:7.2f} {wall:7.2f} {per:12.3f} {gc_per:11.3f} {cpu / base_cpu:7.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--stream", action="store_true", help="streamed replies (SSE)")
    parser.add_argument("--transport", nargs="+", default=["native", "litellm"])
    parser.add_argument(
        "--agent", action="store_true", help="also measure the native path through autogen"
    )
    parser.add_argument(
        "--unfrozen",
        action="store_true",
        help="then measure native again with the import heap handed back to the collector "
        "(gc.unfreeze: the gateway as it was before it froze litellm's objects)",
    )
    parser.add_argument(
        "--server",
        choices=["lean", "sim"],
        default="lean",
        help="lean: precomputed answers (bench/lean_server.py); sim: the offline stack's server",
    )
    args = parser.parse_args()
    quiet_logs()
    n, c, s = args.calls, args.concurrency, args.stream
    serve = lean_server_process if args.server == "lean" else server_process
    print(f"# overhead: {n} calls, {c} in flight, stream={s}, server {args.server}, {load_note()}")
    print("client                CPU_s  wall_s  CPU_ms/call  GC_ms/call  x bare")
    gc.callbacks.append(_gc_clock)
    with serve(ServerOptions(latency_s=args.latency)) as url:
        # One warm-up round each, so that imports and first connections are not counted.
        cpu_of(lambda: bare(url, 200, c, s))
        gc_before = GC_CPU[0]
        base_cpu, base_wall = cpu_of(lambda: bare(url, n, c, s))
        print(row("bare aiohttp", base_cpu, base_wall, GC_CPU[0] - gc_before, n, base_cpu))
        for transport in args.transport:
            with tempfile.TemporaryDirectory() as tmp:
                warm = Path(tmp) / "warm.sqlite"
                cpu_of(lambda t=transport, w=warm: stack(url, 200, c, s, t, w))
                store = Path(tmp) / "run.sqlite"
                gc_before = GC_CPU[0]
                cpu, wall = cpu_of(lambda t=transport, p=store: stack(url, n, c, s, t, p))
            print(row(transport, cpu, wall, GC_CPU[0] - gc_before, n, base_cpu), flush=True)
        if args.agent:
            for reuse, label in ((False, "agent/call"), (True, "agent reused")):
                with tempfile.TemporaryDirectory() as tmp:
                    warm = Path(tmp) / "warm.sqlite"
                    cpu_of(lambda w=warm, r=reuse: via_agent(url, 200, c, s, "native", w, r))
                    store = Path(tmp) / "run.sqlite"
                    gc_before = GC_CPU[0]
                    cpu, wall = cpu_of(
                        lambda p=store, r=reuse: via_agent(url, n, c, s, "native", p, r)
                    )
                print(row(f"native+{label}", cpu, wall, GC_CPU[0] - gc_before, n, base_cpu))
        if args.unfrozen:
            gc.unfreeze()  # the gateway freezes once per process: this stays unfrozen
            paths = [("native", False)] + ([("native+agent/call", True)] if args.agent else [])
            for label, agent in paths:
                with tempfile.TemporaryDirectory() as tmp:
                    store = Path(tmp) / "run.sqlite"
                    gc_before = GC_CPU[0]
                    cpu, wall = cpu_of(
                        lambda p=store, a=agent: (
                            via_agent(url, n, c, s, "native", p, False)
                            if a
                            else stack(url, n, c, s, "native", p)
                        )
                    )
                print(row(f"{label}, unfrozen", cpu, wall, GC_CPU[0] - gc_before, n, base_cpu))
    print(f"# after: {load_note()}")


if __name__ == "__main__":
    main()
