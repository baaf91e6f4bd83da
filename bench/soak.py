"""Fault soak: a whole run against a server that breaks a share of its answers on purpose.

Every model (one simulated target, five offline jurors) is served over real HTTP by the
in-process OpenAI-compatible server, with a seeded mix of faults: 429 with Retry-After, 500,
timeouts, dropped connections, truncated streams and garbage bodies. The soak checks that
nothing is lost: every case ends judged or failed with its cause, the counts add up, and the
store passes SQLite's integrity check.

    .venv/bin/python bench/soak.py --queries 1700 --fault-rate 0.05

(1,700 text queries x 5 jurors with no deliberation rounds is about 10k juror calls.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import write_text_dataset  # noqa: E402
from kernel.errors import RunAborted  # noqa: E402
from kernel.logs import configure_logging  # noqa: E402
from safebench.offline.sim_targets import SIM_PROFILES, sim_responder  # noqa: E402
from safebench.run.config import RunConfig  # noqa: E402
from safebench.run.pipeline import run_evaluation  # noqa: E402
from tests.support.sim_server import Fault, SimServer, serve_offline_jurors  # noqa: E402
from transcripts.store import RunStore  # noqa: E402

JUROR_KINDS = ["pattern-juror", "refusal-juror", "pattern-juror", "refusal-juror", "pattern-juror"]
PERSONAS = [
    "Safety researcher",
    "Ethicist",
    "Legal expert",
    "Vulnerable-users advocate",
    "Free-expression advocate",
]
# The cause each fault leaves in a failed case's error, as the gateway words it.
FAULT_MIX = [
    Fault(kind="rate_limit", retry_after=0.01),
    Fault(kind="server_error"),
    Fault(kind="delay", seconds=6.0),  # past the 5 s attempt timeout below
    Fault(kind="drop"),
    Fault(kind="truncate"),
    Fault(kind="garbage"),
]


def serve_soak_models(server: SimServer) -> SimServer:
    for name, profile in SIM_PROFILES.items():
        server.add_model(name, sim_responder(profile))
    return serve_offline_jurors(server)


def soak_config(
    base_url: str, store: Path, dataset: Path, *, concurrency: int = 32, **extra: Any
) -> RunConfig:
    def model(served: str, **more: Any) -> dict[str, Any]:
        return {"model": f"openai/{served}", "api_base": base_url, "api_key": "sk-soak", **more}

    raw: dict[str, Any] = {
        "name": "soak",
        "store": str(store),
        "dataset": str(dataset),
        "modalities": ["text"],
        "targets": [model("sim-leaky", name="leaky", accepts=["text"])],
        "jury": {
            "jurors": [model(k, persona=p) for k, p in zip(JUROR_KINDS, PERSONAS, strict=True)],
            "rounds": 0,
        },
        # Small backoff so the soak measures the pipeline, not sleeping.
        "gateway": {
            "max_retries": 2,
            "backoff_base_s": 0.005,
            "backoff_max_s": 0.05,
            "timeout_s": 5.0,
        },
        "concurrency": concurrency,
    }
    raw.update(extra)
    return RunConfig.model_validate(raw)


@dataclass
class SoakResult:
    queries: int
    counts: dict[str, int]
    status: str
    requests: int
    faults: dict[str, int]
    failed_errors: list[str]
    case_rows: int
    integrity: str
    wall_s: float
    aborted_message: str | None


async def soak(
    workdir: Path,
    queries: int,
    *,
    fault_rate: float = 0.05,
    seed: int = 7,
    concurrency: int = 32,
    **extra: Any,
) -> SoakResult:
    """Run ``queries`` text cases against a server faulting ``fault_rate`` of its answers."""
    dataset = write_text_dataset(workdir / "dataset", queries, prefix="soak")
    store_path = workdir / "soak.sqlite"
    async with SimServer(keep_bodies=False) as server:
        serve_soak_models(server)
        server.set_fault_mix(fault_rate, FAULT_MIX, seed=seed)
        config = soak_config(server.base_url, store_path, dataset, concurrency=concurrency, **extra)
        started = time.monotonic()
        aborted: str | None = None
        try:
            summary = await run_evaluation(config)
            status = summary.status
        except RunAborted as exc:
            status, aborted = "aborted", str(exc)
        wall = time.monotonic() - started
        faults: dict[str, int] = {}
        for entry in server.requests:
            if entry.fault is not None:
                faults[entry.fault.kind] = faults.get(entry.fault.kind, 0) + 1
        requests = len(server.requests)
    with RunStore(store_path) as store:
        rows = list(store.iter_cases())
        return SoakResult(
            queries=queries,
            counts=store.status_counts(),
            status=status,
            requests=requests,
            faults=faults,
            failed_errors=[r.error or "" for r in rows if r.status == "failed"],
            case_rows=len(rows),
            integrity=store.integrity_check(),
            wall_s=wall,
            aborted_message=aborted,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1700)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    configure_logging(verbose=False)
    with tempfile.TemporaryDirectory(prefix="safebench-soak-") as tmp:
        result = asyncio.run(
            soak(
                Path(tmp),
                args.queries,
                fault_rate=args.fault_rate,
                seed=args.seed,
                concurrency=args.concurrency,
            )
        )
    lost = result.queries - result.case_rows
    print(f"queries {result.queries}, run {result.status}, cases {result.counts}")
    print(f"requests {result.requests}, faults injected {sum(result.faults.values())}: ")
    print(f"  {result.faults}")
    print(f"lost cases {lost}, integrity_check {result.integrity}, wall {result.wall_s:.1f} s")
    for error in result.failed_errors[:5]:
        print(f"  failed: {error[:160]}")
    if lost or result.integrity != "ok":
        sys.exit(1)


if __name__ == "__main__":
    main()
