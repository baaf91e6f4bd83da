"""Scale: wall time and resident memory of a run at 10k, 30k, 100k items.

The 2,300 prompts of the SafeBench release (``../shared/data/safebench/safebench.json``) are
repeated with distinct ids into a temporary dataset of N text queries. Each size runs in its
own child process (so peak RSS belongs to that size alone) with a fast offline setup: one
simulated text-only target and pattern jurors served over HTTP by a server in another process
(reached with the native aiohttp transport), no deliberation rounds, no embedding juror. A
sampler thread reads VmRSS from /proc/self/status every half second, so the figures show
whether memory stays flat while the run goes, not only its peak.

    .venv/bin/python bench/scale.py --sizes 10000 30000 100000 --jurors 3

Memory is flat when RSS after the first 10% of cases is within a few MB of RSS at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAFEBENCH_JSON = REPO.parent / "shared" / "data" / "safebench" / "safebench.json"
PERSONAS = [
    "Safety researcher",
    "Ethicist",
    "Legal expert",
    "Vulnerable-users advocate",
    "Free-expression advocate",
]
CATEGORIES = [
    ("Illegal Activity", "Drug Trafficking"),
    ("Cybersecurity", "Malware Generation"),
    ("Hate Speech", "Harassment"),
    ("Physical Harm", "Weapons"),
]


def read_prompts(path: Path) -> list[str]:
    """The release's prompts (a JSON object whose ``data`` holds ``{"prompt": …}`` rows)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    prompts = [str(row["prompt"]) for row in data["data"] if row.get("prompt")]
    if not prompts:
        raise SystemExit(f"{path}: no prompts found")
    return prompts


def write_dataset(root: Path, prompts: list[str], size: int) -> Path:
    """``size`` text queries, the prompts repeated in order, each with its own id."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(size):
            category, scenario = CATEGORIES[i % len(CATEGORIES)]
            row = {
                "id": f"sb-{i:07d}",
                "category": category,
                "scenario": scenario,
                "text": prompts[i % len(prompts)],
                "source": "safebench-release",
            }
            handle.write(json.dumps(row) + "\n")
    return root


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def serve() -> None:
    """The model server, in its own process so that its memory and CPU are not the run's."""
    sys.path.insert(0, str(REPO))
    from safebench.offline.sim_targets import SIM_PROFILES, sim_responder
    from tests.support.sim_server import ServerThread, SimServer, serve_offline_jurors

    server = SimServer(keep_bodies=False)
    for name, profile in SIM_PROFILES.items():
        server.add_model(name, sim_responder(profile))
    serve_offline_jurors(server)
    thread = ServerThread(server).start()
    sys.stdout.write(thread.base_url + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # serve until the parent closes our stdin
    thread.stop()


def child(
    dataset: Path, store: Path, base_url: str, jurors: int, concurrency: int
) -> dict[str, Any]:
    """Run one size in this process; return wall time and RSS samples against progress."""
    sys.path.insert(0, str(REPO))
    from kernel.logs import configure_logging
    from safebench.run.config import RunConfig
    from safebench.run.pipeline import run_evaluation

    configure_logging(verbose=False)

    def model(served: str, **more: Any) -> dict[str, Any]:
        # The native transport: litellm's CPU per call would make the bench measure litellm.
        return {
            "model": f"openai/{served}",
            "api_base": base_url,
            "api_key": "sk-scale",
            "transport": "native",
            **more,
        }

    kinds = ["pattern-juror", "refusal-juror"]
    config = RunConfig.model_validate(
        {
            "name": "scale",
            "store": str(store),
            "dataset": str(dataset),
            "modalities": ["text"],
            "targets": [model("sim-leaky", name="leaky", accepts=["text"])],
            "jury": {
                "jurors": [
                    model(kinds[i % 2], persona=PERSONAS[i % len(PERSONAS)]) for i in range(jurors)
                ],
                "rounds": 0,
            },
            "concurrency": concurrency,
        }
    )
    samples: list[tuple[float, int, int]] = []  # (seconds, cases finished, RSS kB)
    done = threading.Event()

    class Counter:
        finished = 0

        def start(self, total: int, already_done: int) -> None:
            return None

        def advance(self, status: str) -> None:
            Counter.finished += 1

    def sample() -> None:
        started = time.monotonic()
        while not done.wait(0.5):
            samples.append((time.monotonic() - started, Counter.finished, rss_kb()))

    rss_before = rss_kb()
    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    summary = asyncio.run(run_evaluation(config, Counter()))
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    import resource

    return {
        "cases": Counter.finished,
        "counts": summary.counts,
        "model_calls": summary.model_calls,
        "wall_s": wall,
        "rss_before_run_kb": rss_before,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "samples": samples,
    }


def rss_at(samples: list[list[float]], share: float, total: int) -> float:
    """RSS (MB) at the first sample past ``share`` of the cases."""
    for _t, finished, kb in samples:
        if finished >= share * total:
            return kb / 1024
    return samples[-1][2] / 1024 if samples else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000])
    parser.add_argument("--jurors", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--child", nargs=3, metavar=("DATASET", "STORE", "URL"), help="internal")
    parser.add_argument("--serve", action="store_true", help="internal: run the model server")
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.child:
        dataset, store, url = args.child
        result = child(Path(dataset), Path(store), url, args.jurors, args.concurrency)
        sys.stdout.write(json.dumps(result) + "\n")
        return
    if not SAFEBENCH_JSON.is_file():
        raise SystemExit(f"{SAFEBENCH_JSON}: the SafeBench release prompts are not there")
    prompts = read_prompts(SAFEBENCH_JSON)
    print(f"{len(prompts)} prompts; jury of {args.jurors} pattern jurors, 0 rounds, 1 target")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    try:
        run_sizes(args, prompts, base_url, env)
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def run_sizes(
    args: argparse.Namespace, prompts: list[str], base_url: str, env: dict[str, str]
) -> None:
    print("size   wall_s  cases/s  calls   RSS@10%  RSS@50%  RSS@end  peak(MB)")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="safebench-scale-") as tmp:
            dataset = write_dataset(Path(tmp) / "dataset", prompts, size)
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--jurors",
                    str(args.jurors),
                    "--concurrency",
                    str(args.concurrency),
                    "--child",
                    str(dataset),
                    str(Path(tmp) / "scale.sqlite"),
                    base_url,
                ],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise SystemExit(f"size {size} failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        samples = result["samples"]
        print(
            f"{size:<6} {result['wall_s']:7.1f} {size / result['wall_s']:8.1f} "
            f"{result['model_calls']:6d}  {rss_at(samples, 0.1, size):7.1f}  "
            f"{rss_at(samples, 0.5, size):7.1f}  {samples[-1][2] / 1024 if samples else 0:7.1f}"
            f"  {result['peak_rss_kb'] / 1024:7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
