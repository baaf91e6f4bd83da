"""How soon the command line answers: ``--help`` and a config error, against a bare Python.

Times, in one run and as fresh subprocesses, ``python -c pass`` (the floor every command pays),
``safebench --help`` and ``safebench run BAD.yaml`` (a config that fails validation), each
``--repeat`` times, and prints the min and median of each with its ratio to the floor, and
the load average (the figures mean little on a busy machine). Targets on a quiet machine:
``--help`` <= 0.5 s, a config error <= 1 s.

    .venv/bin/python bench/cli_latency.py               # 7 repetitions of each
    .venv/bin/python bench/cli_latency.py --repeat 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAD_CONFIG = "name: latency\ntargets: []\njury: {jurors: []}\n"
"""Fails validation (no target, no juror): the answer is the error, exit code 2."""


def timed(argv: list[str], expect: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(
            f"{' '.join(argv)} exited {done.returncode}, not {expect}:\n"
            f"{done.stderr.decode(errors='replace')}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="Runs of each command")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.yaml"
        bad.write_text(BAD_CONFIG, encoding="utf-8")
        commands = {
            "python -c pass": ([python, "-c", "pass"], 0),
            "safebench --help": ([python, "-m", "safebench", "--help"], 0),
            "safebench run bad.yaml": ([python, "-m", "safebench", "run", str(bad)], 2),
        }
        for argv, expect in commands.values():  # one warm-up each: the OS file cache
            timed(argv, expect)
        load_before = os.getloadavg()
        samples: dict[str, list[float]] = {name: [] for name in commands}
        # Interleaved, so a burst of load hits every command alike.
        for _ in range(args.repeat):
            for name, (argv, expect) in commands.items():
                samples[name].append(timed(argv, expect))
        load_after = os.getloadavg()
    floor = min(samples["python -c pass"])
    print(f"{'command':<24} {'min s':>7} {'median s':>9} {'min / python':>13}")
    for name, values in samples.items():
        low = min(values)
        print(f"{name:<24} {low:>7.3f} {statistics.median(values):>9.3f} {low / floor:>12.1f}x")
    print(
        f"{args.repeat} runs each; load average (1/5/15 min) before "
        f"{'/'.join(f'{v:.2f}' for v in load_before)}, after "
        f"{'/'.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
