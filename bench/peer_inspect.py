"""Peer benchmark: inspect-ai and SafeBench grade the same answers with five graders each.

N stored answers (a simulated target's answers to the first N SafeBench release prompts) are
graded twice against one local server, in its own process, that answers every call after the
same latency (100 ms by default), in the wire format ``--format`` names:

- ``openai`` (the default): OpenAI chat completions.
  inspect-ai: ``model_graded_qa`` with a list of five ``openai/grader-k`` models (majority
  vote), the graders answering ``GRADE: C`` / ``GRADE: I`` as that scorer expects;
  SafeBench: ``run`` with a replay target (the same answers, no target call) and a jury of
  five HTTP jurors (the offline pattern and refusal jurors served over HTTP as
  ``openai/pattern-juror`` and ``openai/refusal-juror``), no deliberation rounds.
- ``anthropic``: Anthropic's Messages API (``POST /v1/messages``, bench/anthropic_sim.py),
  every grader and juror an ``anthropic/grader-k`` model. inspect-ai's ``anthropic/``
  provider (the ``anthropic`` SDK) with ``base_url`` at the local server and a dummy
  ``ANTHROPIC_API_KEY``; SafeBench's jurors with ``api_base`` at the same server and a dummy
  key through ``api_key_env`` (``transport: auto`` then sends them through its native
  Anthropic client, which the run's stored calls confirm). ``grader-k`` answers a SafeBench
  ballot (a brief with a ``Case NONCE.`` header) as the k-th juror kind of the OpenAI run
  does, and any other prompt as a ``model_graded_qa`` grader.

Both get the same concurrency (samples in flight, connections per model). Each tool runs in
its own child process; the figure is the wall time of the grading call alone (inspect's
``eval``, SafeBench's ``run_evaluation``), and the child's whole wall time beside it. The
server counts the requests each child sent, per path, so every line shows that both sides
went over HTTP in the format asked for.

    .venv/bin/pip install -e '.[bench]'   # --format anthropic also needs: pip install anthropic
    .venv/bin/python bench/peer_inspect.py --n 200 --latency 0.1 [--format anthropic]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from safebench.offline.wire import ChatRequest

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
FORMATS = ("openai", "anthropic")
KEY_VARIABLE = "PEER_ANTHROPIC_KEY"
"""The environment variable SafeBench's Anthropic jurors read their (dummy) key from."""
DUMMY_KEY = "sk-peer"
REFUSAL = re.compile(r"\b(sorry|can't|cannot|won't|unable)\b", re.IGNORECASE)


def grader_reply(text: str) -> str:
    """A grader in model_graded_qa's format: reasoning, then ``GRADE: C`` or ``GRADE: I``."""
    submission = text.split("[Submission]:", 1)[-1]
    grade = "C" if REFUSAL.search(submission) else "I"
    return f"The submission {'refuses' if grade == 'C' else 'helps'}.\nGRADE: {grade}"


def grader_or_juror(kind: str) -> Callable[[ChatRequest], str]:
    """``grader-k`` of the Anthropic run: a SafeBench ballot gets the offline juror ``kind``'s
    vote (as ``openai/<kind>`` answers it in the OpenAI run), any other prompt a grader's."""
    from kernel.ballot import read_case
    from safebench.offline.models import OFFLINE_MODELS
    from safebench.offline.seeding import seeded

    juror = OFFLINE_MODELS[kind]

    def answer(request: ChatRequest) -> str:
        text = request.last_user_text()
        if read_case(text) is None:
            return grader_reply(text)
        with seeded(request.seed):  # as the OpenAI run's HTTP jurors are answered
            return juror(request.messages)

    return answer


def serve(latency_s: float, graders: int, wire: str) -> None:
    """The model server, in its own process: the bench measures the clients, not it.

    It prints its root URL, then answers ``counts`` on stdin with the requests so far per
    path (one JSON line), and stops when the parent closes its stdin."""
    sys.path.insert(0, str(REPO))
    from anthropic_sim import AnthropicSimServer, path_counts

    from tests.support.sim_server import ServerThread, serve_offline_jurors

    server = AnthropicSimServer(latency_s=latency_s, keep_bodies=False)
    if wire == "anthropic":
        for i in range(graders):
            server.add_model(f"grader-{i + 1}", grader_or_juror(JUROR_KINDS[i % 5]))
    else:
        serve_offline_jurors(server)
        for i in range(graders):
            server.add_model(
                f"grader-{i + 1}", lambda request: grader_reply(request.last_user_text())
            )
    thread = ServerThread(server).start()
    sys.stdout.write(server.root_url + "\n")
    sys.stdout.flush()
    for line in sys.stdin:  # serve until the parent closes our stdin
        if line.strip() == "counts":
            sys.stdout.write(path_counts(server) + "\n")
            sys.stdout.flush()
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
    work: Path, root_url: str, concurrency: int, transport: str, jurors: int, wire: str
) -> dict[str, Any]:
    """Grade the stored answers with SafeBench's jury; return the timing."""
    import asyncio

    sys.path.insert(0, str(REPO))
    from kernel.logs import configure_logging
    from safebench.run.config import RunConfig
    from safebench.run.pipeline import run_evaluation

    configure_logging(verbose=False)

    def juror(i: int) -> dict[str, Any]:
        if wire == "anthropic":
            # The key comes from the environment, as a user's real one would.
            seat = {"model": f"anthropic/grader-{i + 1}", "api_base": root_url}
            seat["api_key_env"] = KEY_VARIABLE
        else:
            seat = {"model": f"openai/{JUROR_KINDS[i % 5]}", "api_base": f"{root_url}/v1"}
            seat["api_key"] = DUMMY_KEY
        return {**seat, "transport": transport, "persona": PERSONAS[i % 5]}

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
                "jurors": [juror(i) for i in range(jurors)],
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
        "transports": stored_transports(work / "peer.sqlite"),
    }


def stored_transports(store: Path) -> dict[str, int]:
    """How many of the run's stored calls each transport carried (``status`` beside it),
    and the verdicts (harmful or not): read after the timing, straight from the store."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        calls = db.execute(
            "SELECT json_extract(record, '$.transport'), status, count(*) FROM calls GROUP BY 1, 2"
        ).fetchall()
        verdicts = db.execute("SELECT harmful, count(*) FROM verdicts GROUP BY 1").fetchall()
    found = {f"{transport} {status}": int(count) for transport, status, count in calls}
    names = {1: "verdict harmful", 0: "verdict not harmful", None: "verdict none"}
    found |= {names.get(harmful, str(harmful)): int(count) for harmful, count in verdicts}
    return found


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


class Server:
    """The model server's process: its root URL, and its request counts on demand."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        command = [sys.executable, __file__, "--serve", "--format", args.format]
        command += ["--latency", str(args.latency), "--graders", str(args.graders)]
        self.proc = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.root_url = self.stdout.readline().strip()
        if not self.root_url:
            raise SystemExit("the model server did not start (see its error above)")

    def counts(self) -> dict[str, int]:
        """Requests received so far, per path."""
        self.stdin.write("counts\n")
        self.stdin.flush()
        counts: dict[str, int] = json.loads(self.stdout.readline())
        return counts

    def close(self) -> None:
        self.stdin.close()
        self.proc.wait(timeout=30)


def sent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The requests a child sent: the server's counts after it, less those before."""
    return {path: n - before.get(path, 0) for path, n in after.items() if n > before.get(path, 0)}


def check_parity(
    wire: str,
    expected: int,
    inspect_sent: dict[str, int],
    ours_sent: dict[str, int],
    inspect_samples: int,
    ours: dict[str, Any],
) -> list[str]:
    """What differs between the two sides' work (empty when both did the same)."""
    path = "/v1/messages" if wire == "anthropic" else "/v1/chat/completions"
    problems = []
    for who, got in (("inspect-ai", inspect_sent), ("SafeBench", ours_sent)):
        if got != {path: expected}:
            problems.append(f"{who} sent {got}, not {expected} to {path}")
    if inspect_samples != ours["samples"]:
        problems.append(f"inspect-ai graded {inspect_samples} samples, SafeBench {ours['samples']}")
    transports = {k for k in ours["transports"] if not k.startswith("verdict ")}
    if wire == "anthropic" and transports != {"native-anthropic ok"}:
        problems.append(f"SafeBench's stored calls went by {ours['transports']}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--graders", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--format",
        default="openai",
        choices=FORMATS,
        help="the wire format of every grader and juror, and of the server",
    )
    parser.add_argument(
        "--transport",
        default="auto",
        choices=["auto", "litellm", "native"],
        help="SafeBench's jurors' transport; auto is the product's default",
    )
    parser.add_argument("--serve", action="store_true", help="internal")
    parser.add_argument("--safebench-child", type=Path, help="internal")
    parser.add_argument("--base-url", help="internal: the server's root URL")
    args = parser.parse_args()
    if args.serve:
        serve(args.latency, args.graders, args.format)
        return
    if args.safebench_child:
        result = safebench_child(
            args.safebench_child,
            args.base_url,
            args.concurrency,
            args.transport,
            args.graders,
            args.format,
        )
        sys.stdout.write(json.dumps(result) + "\n")
        return
    if not SAFEBENCH_JSON.is_file():
        raise SystemExit(f"{SAFEBENCH_JSON}: the SafeBench release prompts are not there")

    # Dummy keys only: the server accepts any. inspect's anthropic provider reads its key
    # from ANTHROPIC_API_KEY; SafeBench's Anthropic jurors from KEY_VARIABLE.
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "INSPECT_DISPLAY": "none",
        "ANTHROPIC_API_KEY": DUMMY_KEY,
        KEY_VARIABLE: DUMMY_KEY,
    }
    server = Server(args, env)
    rows = make_answers(args.n)
    print(
        f"{len(rows)} answers, {args.graders} graders each, server latency {args.latency:g} s, "
        f"concurrency {args.concurrency}, format {args.format}, "
        f"SafeBench transport {args.transport}"
    )
    try:
        for attempt in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="safebench-peer-") as tmp:
                work = Path(tmp)
                write_inputs(work, rows)
                before = server.counts()
                inspect_result, inspect_total = run_child(
                    [
                        str(REPO / "bench" / "peer_inspect_task.py"),
                        str(work / "samples.jsonl"),
                        server.root_url,
                        str(work / "inspect-logs"),
                        "--graders",
                        str(args.graders),
                        "--concurrency",
                        str(args.concurrency),
                        "--format",
                        args.format,
                    ],
                    env,
                )
                middle = server.counts()
                ours, ours_total = run_child(
                    [
                        __file__,
                        "--safebench-child",
                        str(work),
                        "--base-url",
                        server.root_url,
                        "--concurrency",
                        str(args.concurrency),
                        "--transport",
                        args.transport,
                        "--graders",
                        str(args.graders),
                        "--format",
                        args.format,
                    ],
                    env,
                )
                after = server.counts()
            inspect_sent, ours_sent = sent(before, middle), sent(middle, after)
            ratio = inspect_result["wall_s"] / ours["wall_s"]
            print(
                f"run {attempt + 1}: inspect-ai {inspect_result['wall_s']:.2f} s grading "
                f"({inspect_total:.1f} s process, {inspect_result['samples']} samples, "
                f"grades {inspect_result['grades']}, status {inspect_result['status']}, "
                f"requests {inspect_sent}); "
                f"SafeBench {ours['wall_s']:.2f} s grading ({ours_total:.1f} s process, "
                f"{ours['counts']}, {ours['model_calls']} calls, requests {ours_sent}, "
                f"store {ours['transports']}); "
                f"SafeBench is {ratio:.2f}x faster"
            )
            problems = check_parity(
                args.format,
                len(rows) * args.graders,
                inspect_sent,
                ours_sent,
                inspect_result["samples"],
                ours,
            )
            for problem in problems:
                print(f"run {attempt + 1}: NOT COMPARABLE: {problem}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
