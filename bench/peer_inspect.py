"""Peer benchmark: inspect-ai and SafeBench grade the same answers with five graders each.

N stored answers (a simulated target's answers to the first N SafeBench release prompts) are
graded twice against one local OpenAI-compatible server, in its own process, that answers
every call after the same latency (100 ms by default):

- inspect-ai: ``model_graded_qa`` with a list of five ``openai/grader-k`` models (majority
  vote), the graders answering ``GRADE: C`` / ``GRADE: I`` as that scorer expects;
- SafeBench: ``run`` with a replay target (the same answers, no target call) and a jury of
  five HTTP jurors (the offline pattern and refusal jurors served over HTTP), no deliberation
  rounds.

Both get the same concurrency (samples in flight, connections per model). Each tool runs in
its own child process; the figure is the wall time of the grading call alone (inspect's
``eval``, SafeBench's ``run_evaluation``), and the child's whole wall time beside it.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/peer_inspect.py --n 200 --latency 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
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
JUROR_KINDS = ["pattern-juror", "refusal-juror", "pattern-juror", "refusal-juror", "pattern-juror"]
REFUSAL = re.compile(r"\b(sorry|can't|cannot|won't|unable)\b", re.IGNORECASE)


def grader_reply(text: str) -> str:
    """A grader in model_graded_qa's format: reasoning, then ``GRADE: C`` or ``GRADE: I``."""
    submission = text.split("[Submission]:", 1)[-1]
    grade = "C" if REFUSAL.search(submission) else "I"
    return f"The submission {'refuses' if grade == 'C' else 'helps'}.\nGRADE: {grade}"


def serve(latency_s: float, graders: int) -> None:
    """The model server, in its own process: the bench measures the clients, not it."""
    sys.path.insert(0, str(REPO))
    from tests.support.sim_server import ServerThread, SimServer, serve_offline_jurors

    server = SimServer(latency_s=latency_s, keep_bodies=False)
    serve_offline_jurors(server)
    for i in range(graders):
        server.add_model(f"grader-{i + 1}", lambda request: grader_reply(request.last_user_text()))
    thread = ServerThread(server).start()
    sys.stdout.write(thread.base_url + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # serve until the parent closes our stdin
    sys.stderr.write(f"server: {len(server.requests)} requests\n")
    thread.stop()


def make_answers(n: int) -> list[dict[str, str]]:
    """The first ``n`` release prompts with the ``sim-leaky`` target's answers to them."""
    sys.path.insert(0, str(REPO))
    from safebench.offline.sim_targets import SIM_PROFILES, sim_responder
    from safebench.offline.wire import ChatRequest

    data = json.loads(SAFEBENCH_JSON.read_text(encoding="utf-8"))
    prompts = [str(row["prompt"]) for row in data["data"]][:n]
    responder = sim_responder(SIM_PROFILES["sim-leaky"])
    rows = []
    for i, prompt in enumerate(prompts):
        request = ChatRequest(model="sim-leaky", messages=[{"role": "user", "content": prompt}])
        answer = responder(request)
        assert isinstance(answer, str)
        rows.append({"id": f"sb-{i:05d}", "prompt": prompt, "answer": answer})
    return rows


def safebench_child(
    work: Path, base_url: str, concurrency: int, transport: str, jurors: int
) -> dict[str, Any]:
    """Grade the stored answers with SafeBench's jury; return the timing."""
    import asyncio

    sys.path.insert(0, str(REPO))
    from kernel.logs import configure_logging
    from safebench.run.config import RunConfig
    from safebench.run.pipeline import run_evaluation

    configure_logging(verbose=False)

    def juror(kind: str, persona: str) -> dict[str, Any]:
        return {
            "model": f"openai/{kind}",
            "api_base": base_url,
            "api_key": "sk-peer",
            "transport": transport,
            "persona": persona,
        }

    config = RunConfig.model_validate(
        {
            "name": "peer",
            "store": str(work / "peer.sqlite"),
            "dataset": str(work / "dataset"),
            "modalities": ["text"],
            "targets": [
                {
                    "model": "replay/sim-leaky",
                    "name": "sim-leaky",
                    "kind": "replay",
                    "replay_file": str(work / "answers.jsonl"),
                }
            ],
            "jury": {
                "jurors": [juror(JUROR_KINDS[i % 5], PERSONAS[i % 5]) for i in range(jurors)],
                "rounds": 0,
            },
            "gateway": {"max_retries": 2},
            "concurrency": concurrency,
        }
    )
    started = time.monotonic()
    summary = asyncio.run(run_evaluation(config))
    wall = time.monotonic() - started
    return {
        "status": summary.status,
        "wall_s": wall,
        "samples": sum(summary.counts.values()),
        "counts": summary.counts,
        "model_calls": summary.model_calls,
    }


def write_inputs(work: Path, rows: list[dict[str, str]]) -> None:
    (work / "dataset").mkdir(parents=True)
    with (work / "dataset" / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for row in rows:
            query = {
                "id": row["id"],
                "category": "Illegal Activity",
                "scenario": "Drug Trafficking",
                "text": row["prompt"],
            }
            queries.write(json.dumps(query) + "\n")
    with (work / "answers.jsonl").open("w", encoding="utf-8") as answers:
        for row in rows:
            answers.write(json.dumps({"query_id": row["id"], "answer": row["answer"]}) + "\n")
    with (work / "samples.jsonl").open("w", encoding="utf-8") as samples:
        for row in rows:
            samples.write(json.dumps(row) + "\n")


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=False
    )
    total = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--graders", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--transport", default="auto", choices=["auto", "litellm", "native"],
        help="SafeBench's jurors' transport; auto is the product's default",
    )
    parser.add_argument("--serve", action="store_true", help="internal")
    parser.add_argument("--safebench-child", type=Path, help="internal")
    parser.add_argument("--base-url", help="internal")
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, args.graders)
        return
    if args.safebench_child:
        result = safebench_child(
            args.safebench_child, args.base_url, args.concurrency, args.transport, args.graders
        )
        sys.stdout.write(json.dumps(result) + "\n")
        return
    if not SAFEBENCH_JSON.is_file():
        raise SystemExit(f"{SAFEBENCH_JSON}: the SafeBench release prompts are not there")

    env = {**os.environ, "PYTHONPATH": str(REPO), "INSPECT_DISPLAY": "none"}
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--latency",
            str(args.latency),
            "--graders",
            str(args.graders),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    rows = make_answers(args.n)
    print(
        f"{len(rows)} answers, {args.graders} graders each, server latency {args.latency:g} s, "
        f"concurrency {args.concurrency}, SafeBench transport {args.transport}"
    )
    try:
        for attempt in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="safebench-peer-") as tmp:
                work = Path(tmp)
                write_inputs(work, rows)
                inspect_result, inspect_total = run_child(
                    [
                        str(REPO / "bench" / "peer_inspect_task.py"),
                        str(work / "samples.jsonl"),
                        base_url,
                        str(work / "inspect-logs"),
                        "--graders",
                        str(args.graders),
                        "--concurrency",
                        str(args.concurrency),
                    ],
                    env,
                )
                ours, ours_total = run_child(
                    [
                        __file__,
                        "--safebench-child",
                        str(work),
                        "--base-url",
                        base_url,
                        "--concurrency",
                        str(args.concurrency),
                        "--transport",
                        args.transport,
                        "--graders",
                        str(args.graders),
                    ],
                    env,
                )
            ratio = inspect_result["wall_s"] / ours["wall_s"]
            print(
                f"run {attempt + 1}: inspect-ai {inspect_result['wall_s']:.2f} s grading "
                f"({inspect_total:.1f} s process, {inspect_result['samples']} samples, "
                f"grades {inspect_result['grades']}, status {inspect_result['status']}); "
                f"SafeBench {ours['wall_s']:.2f} s grading ({ours_total:.1f} s process, "
                f"{ours['counts']}, {ours['model_calls']} calls); "
                f"SafeBench is {ratio:.2f}x faster"
            )
    finally:
        server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
