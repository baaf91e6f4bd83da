"""cProfile of the whole run path (pipeline, jury, autogen, gateway, transport, store).

The server runs in its own process (bench.common), so the profile holds only the client.

    .venv/bin/python bench/profile_run.py --transport native --items 256 --top 30
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from common import (
    ServerOptions,
    bench_run_config,
    load_note,
    quiet_logs,
    server_process,
    write_text_dataset,
)

from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="native")
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--out", type=Path, default=None, help="also dump the raw profile here")
    args = parser.parse_args()
    quiet_logs()
    options = ServerOptions(latency_s=args.latency)
    with server_process(options) as base_url, tempfile.TemporaryDirectory() as tmp:
        dataset = write_text_dataset(Path(tmp) / "data", args.items)
        config = RunConfig.model_validate(
            bench_run_config(
                base_url,
                Path(tmp) / "run.sqlite",
                dataset,
                transport=args.transport,
                concurrency=args.concurrency,
                rounds=args.rounds,
            )
        )
        # CPU time, not wall time: on a shared machine wall time charges whatever ran
        # while this process waited to whichever function it happened to be in.
        profiler = cProfile.Profile(time.process_time)
        started, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        summary = asyncio.run(run_evaluation(config))
        profiler.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    calls = summary.model_calls
    per_call = cpu / max(calls, 1) * 1000
    print(f"# {args.transport}: {args.items} items, {calls} calls, {wall:.2f} s wall, {cpu:.2f} s")
    print(f"# CPU under the profiler ({per_call:.2f} ms CPU per call), {load_note()}")
    stats = pstats.Stats(profiler)
    if args.out:
        stats.dump_stats(str(args.out))
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
