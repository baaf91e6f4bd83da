"""Throughput of a whole run against a server with latency L: achieved / ideal items per second.

With C items in flight and d sequential calls on each item's critical path (the target, the
jury's first vote, each deliberation round, the foreperson), an infinitely fast client
finishes C items every d·L seconds: ideal = C / (d·L) items/s. The run here makes exactly d
calls per item (early stop off), 1 + 5·(1 + rounds) + 1 calls in all, every one over HTTP to
the benchmark server in its own process. The figure is the ratio achieved/ideal over
``waves`` x C items, in steady state (start-up excluded; see ``measure``) and from the run's
start.

    .venv/bin/python bench/throughput.py                       # C = 8, 64, 256; both transports
    .venv/bin/python bench/throughput.py --concurrency 64 --transport native --workers 2
    .venv/bin/python bench/throughput.py --executor ray --workers 2 --transport native
    .venv/bin/python bench/throughput.py --provider anthropic gemini azure ollama --concurrency 8 64

``--provider`` runs every model of the run in that provider's own wire format (``anthropic/…``
at the lean server's ``/v1/messages``, ``gemini/…`` at ``:generateContent``, ``azure/…`` at
its deployment path, ``ollama_chat/…`` at ``/api/chat``): ``--transport native`` is then that
provider's native client (``native-anthropic`` …) against litellm, a row each, and a table
per provider at the end.

``--executor ray`` adds rows run on Ray actors (``executor: ray``, ``ray.num_workers`` = each
``--workers``) beside one process and ``workers: N`` on this machine, in the same run, on a
local Ray cluster started once (its start-up is left out; the actors' is in "from start").

The server is ``bench/lean_server.py`` (precomputed answers, its CPU per call a small
fraction of the client's) unless faults are asked for or ``--server sim`` is given: then it is
the offline stack's server (simulated targets and offline jurors answering each brief).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import (
    ServerHandle,
    ServerOptions,
    bench_run_config,
    load_note,
    quiet_logs,
    server_process,
    write_text_dataset,
)
from lean_server import lean_server_process

from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation


class Clock:
    """Progress sink that timestamps the start and every finished item."""

    def __init__(self) -> None:
        self.started = 0.0
        self.first = 0.0
        self.last = 0.0
        self.done = 0
        self.statuses: dict[str, int] = {}

    def start(self, total: int, already_done: int) -> None:
        self.started = time.perf_counter()

    def advance(self, status: str) -> None:
        self.last = time.perf_counter()
        if self.done == 0:
            self.first = self.last
        self.done += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


PROVIDER_PREFIX = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "azure": "azure",
    "ollama": "ollama_chat",
}
"""Each ``--provider`` and the model prefix that selects its wire format."""


def in_provider_format(settings: dict[str, Any], provider: str, base_url: str) -> None:
    """Point every model of a bench config at ``provider``'s own wire format (in place)."""
    if provider == "openai":
        return
    jury = settings["jury"]
    for spec in [*settings["targets"], *jury["jurors"], jury["foreperson"]]:
        served = spec["model"].split("/", 1)[1]
        spec["model"] = f"{PROVIDER_PREFIX[provider]}/{served}"
        spec["api_base"] = base_url.removesuffix("/v1")
        if provider == "azure":
            spec["params"] = {**spec.get("params", {}), "api_version": "2024-10-21"}


def transport_label(transport: str, provider: str) -> str:
    """``native-anthropic`` for the native client of a provider format; ``litellm`` and
    ``auto`` say the format after them (``litellm@anthropic``)."""
    if provider == "openai":
        return transport
    return f"native-{provider}" if transport == "native" else f"{transport}@{provider}"


async def measure(
    base_url: ServerHandle,
    workdir: Path,
    *,
    transport: str,
    provider: str = "openai",
    concurrency: int,
    latency_s: float,
    rounds: int,
    waves: int,
    workers: int,
    executor: str = "local",
) -> dict[str, float | int | str]:
    items = waves * concurrency
    dataset = write_text_dataset(workdir / f"data-{items}", items)
    store = workdir / f"{provider}-{transport}-{concurrency}-{workers}-{executor}.sqlite"
    settings = bench_run_config(
        base_url,
        store,
        dataset,
        transport=transport,
        concurrency=concurrency,
        rounds=rounds,
        workers=workers,
    )
    in_provider_format(settings, provider, str(base_url))
    if executor == "ray":
        settings.update(workers=1, executor="ray", ray={"num_workers": workers})
    config = RunConfig.model_validate(settings)
    clock = Clock()
    cpu, server_cpu = time.process_time(), base_url.cpu_s()
    summary = await run_evaluation(config, clock)
    cpu, server_cpu = time.process_time() - cpu, base_url.cpu_s() - server_cpu
    depth = 3 + rounds
    ideal_rate = concurrency / (depth * latency_s)
    # Steady state: from when the first item would have started had it taken exactly d·L, to
    # the last item. This leaves out one-time start-up (imports, worker processes, the first
    # connections), which a long run amortises; "from start" keeps it.
    elapsed = clock.last - (clock.first - depth * latency_s)
    achieved = clock.done / elapsed if elapsed > 0 else 0.0
    from_start = clock.done / (clock.last - clock.started) / ideal_rate
    return {
        "transport": transport_label(transport, provider),
        "provider": provider,
        "executor": executor,
        "workers": workers,
        "C": concurrency,
        "items": clock.done,
        "judged": clock.statuses.get("judged", 0),
        "calls": summary.model_calls,
        "elapsed_s": elapsed,
        "achieved": achieved,
        "ideal": ideal_rate,
        "ratio": achieved / ideal_rate,
        "from_start": from_start,
        # This process's CPU per call; with workers the calls are made in other processes.
        "cpu_ms": (
            cpu / max(summary.model_calls, 1) * 1000
            if workers == 1 and executor == "local"
            else float("nan")
        ),
        "server_cpu_ms": server_cpu / max(summary.model_calls, 1) * 1000,
    }


@contextlib.contextmanager
def ray_cluster(wanted: bool) -> Iterator[None]:
    """A local Ray cluster for the ray rows, started once (not once per row)."""
    if not wanted:
        yield
        return
    import ray

    ray.init(include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def print_provider_table(rows: list[dict[str, Any]]) -> None:
    """One line per provider and transport: achieved/ideal and CPU per call at each C."""
    print("\n| provider | transport | C | achieved/ideal | client CPU per call |")
    print("|---|---|---|---|---|")
    keys = dict.fromkeys((r["provider"], r["transport"]) for r in rows if r["executor"] == "local")
    for provider, transport in keys:
        mine = [r for r in rows if (r["provider"], r["transport"]) == (provider, transport)]
        concurrency = " / ".join(str(r["C"]) for r in mine)
        ratio = " / ".join(f"{r['ratio']:.2f}" for r in mine)
        cpu = " / ".join(f"{r['cpu_ms']:.2f}" for r in mine)
        print(f"| {provider} | {transport} | {concurrency} | {ratio} | {cpu} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=None,
        help="items in flight (default 8 64 256; 32 with --executor ray)",
    )
    parser.add_argument("--transport", nargs="+", default=["native", "litellm"])
    parser.add_argument(
        "--provider",
        nargs="+",
        choices=list(PROVIDER_PREFIX),
        default=["openai"],
        help="wire formats to serve every model in (native = that provider's native client)",
    )
    parser.add_argument("--latency", type=float, default=0.1, help="server latency L, seconds")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra uniform latency, s")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of answers the server breaks"
    )
    parser.add_argument(
        "--faults",
        nargs="+",
        default=["rate_limit", "server_error", "drop", "truncate", "garbage"],
        help="fault kinds mixed in (tests/support/sim_server.py FAULT_KINDS)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="deliberation rounds")
    parser.add_argument("--waves", type=int, default=4, help="items = waves x C")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        nargs="+",
        default=["local"],
        help="ray: also run each --workers N on N Ray actors, beside one process and "
        "workers: N (needs the ray extra)",
    )
    parser.add_argument(
        "--server",
        choices=["auto", "lean", "sim"],
        default="auto",
        help="lean: precomputed answers (bench/lean_server.py); sim: the offline stack's "
        "server; auto: lean unless a fault rate is set",
    )
    args = parser.parse_args()
    on_ray = "ray" in args.executor
    if args.concurrency is None:
        args.concurrency = [32] if on_ray else [8, 64, 256]
    # With ray: one process and workers: N here, then N actors, in the same run.
    rows = [("local", w) for w in sorted({1, *args.workers} if on_ray else args.workers)]
    rows += [("ray", w) for w in args.workers if on_ray]
    lean = args.server == "lean" or (args.server == "auto" and not args.fault_rate)
    quiet_logs()
    options = ServerOptions(
        latency_s=args.latency,
        jitter_s=args.jitter,
        fault_rate=args.fault_rate,
        fault_kinds=args.faults,
    )
    print(
        f"# throughput, L={args.latency * 1000:.0f} ms, jitter {args.jitter * 1000:.0f} ms, "
        f"faults {args.fault_rate:g}, d={3 + args.rounds}, "
        f"server {'lean' if lean else 'sim'}, {load_note()}"
    )
    if args.provider != ["openai"] and not lean:
        parser.error("--provider needs the lean server (no --fault-rate, no --server sim)")
    print(
        "        transport executor workers    C  items  calls  elapsed_s  items/s  ideal/s"
        "  achieved/ideal  (from start)  CPU_ms/call  server_CPU_ms/call"
    )
    rows_done: list[dict[str, Any]] = []
    serve = lean_server_process if lean else server_process
    with serve(options) as base_url, tempfile.TemporaryDirectory() as tmp, ray_cluster(on_ray):
        for provider in args.provider:
            for transport in args.transport:
                # One small unmeasured run first: imports (litellm's alone is seconds of
                # CPU), the gateway's set-up and first connections happen once per process,
                # and were counted in the first row's CPU per call.
                warm = Path(tmp) / f"warm-{provider}-{transport}"
                warm.mkdir()
                asyncio.run(
                    measure(
                        base_url,
                        warm,
                        transport=transport,
                        provider=provider,
                        concurrency=8,
                        latency_s=args.latency,
                        rounds=args.rounds,
                        waves=1,
                        workers=1,
                    )
                )
                for executor, workers in rows:
                    for concurrency in args.concurrency:
                        row = asyncio.run(
                            measure(
                                base_url,
                                Path(tmp),
                                transport=transport,
                                provider=provider,
                                concurrency=concurrency,
                                latency_s=args.latency,
                                rounds=args.rounds,
                                waves=args.waves,
                                workers=workers,
                                executor=executor,
                            )
                        )
                        rows_done.append(row)
                        print(
                            f"{row['transport']:>17} {row['executor']:>8} {row['workers']:>7} "
                            f"{row['C']:>4} "
                            f"{row['items']:>6} {row['calls']:>6} {row['elapsed_s']:>10.2f} "
                            f"{row['achieved']:>8.1f} {row['ideal']:>8.1f} {row['ratio']:>15.2f}"
                            f"  {row['from_start']:>12.2f}  {row['cpu_ms']:>11.2f}"
                            f"  {row['server_cpu_ms']:>18.2f}",
                            flush=True,
                        )
    if args.provider != ["openai"]:
        print_provider_table(rows_done)
    print(f"# after: {load_note()}")
    if any(t not in ("auto", "native", "litellm") for t in args.transport):
        sys.exit(2)


if __name__ == "__main__":
    main()
