"""A run killed with SIGKILL again and again, at seeded random points, then resumed to the end.

After each kill the store is checked: every verdict recorded before it is still there, and
SQLite's integrity check passes. Model calls are counted at the server by request body: no
call answered in an earlier, killed run may be asked again by a later one. Calls still
unanswered when the server froze were never completed, so asking them again is not a repeat.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import RequestLogEntry, ServerThread, SimServer
from transcripts.store import RunStore

REPO = Path(__file__).resolve().parents[2]
KILLS = 3
QUERIES = 6


def start_run(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "safebench", "run", str(config), "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def judged_verdicts(store_path: Path) -> tuple[set[str], str]:
    with RunStore(store_path) as store:
        return {v.case_id for v in store.iter_verdicts()}, store.integrity_check()


@pytest.mark.slow
def test_repeated_sigkills_then_resume_lose_no_verdict_and_repeat_no_call(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261124)
    server = serve_everything(SimServer(latency_s=0.01))
    thread = ServerThread(server).start()
    try:
        store = tmp_path / "run.sqlite"
        config = write_config(
            tmp_path / "run.yaml", http_run_config(thread.base_url, store, limit=QUERIES)
        )
        answered_before: set[str] = set()
        verdicts_before: set[str] = set()
        kills_done = 0
        for _ in range(KILLS):
            first_request = len(server.requests)
            kill_at = first_request + rng.randint(5, 40)
            process = start_run(config)
            killed = threading.Event()

            def freeze_then_kill(
                entry: RequestLogEntry,
                kill_at: int = kill_at,
                process: subprocess.Popen[bytes] = process,
                killed: threading.Event = killed,
            ) -> None:
                if entry.seq != kill_at:
                    return
                server.hold()

                def kill() -> None:
                    # Let the client record every answer it already has, then kill it hard.
                    time.sleep(1.0)
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    killed.set()
                    server.release()

                threading.Thread(target=kill, daemon=True).start()

            server.on_request = freeze_then_kill
            process.wait(timeout=120)
            server.on_request = None
            if not killed.is_set():
                assert process.returncode == 0, process.stderr.read().decode()[-2000:]
                break  # the run finished before its kill point: nothing left to kill
            kills_done += 1
            time.sleep(0.2)  # let released, orphaned handlers finish against the dead socket
            this_run = server.requests[first_request:]
            asked = {e.body_key for e in this_run}
            assert not asked & answered_before, "a killed run asked an answered call again"
            answered_before |= {e.body_key for e in this_run if e.answered}
            verdicts, integrity = judged_verdicts(store)
            assert integrity == "ok"
            assert verdicts_before <= verdicts, "a verdict recorded before a kill was lost"
            verdicts_before = verdicts

        assert kills_done >= 2, "the run kept finishing before it could be killed"
        first_request = len(server.requests)
        resumed = start_run(config)
        _out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err.decode()[-2000:]
        asked = [e.body_key for e in server.requests[first_request:]]
        repeated = set(asked) & answered_before
        assert repeated == set(), f"{len(repeated)} answered calls were asked again"
        verdicts, integrity = judged_verdicts(store)
        assert integrity == "ok"
        assert verdicts_before <= verdicts
        with RunStore(store) as run_store:
            counts = run_store.status_counts()
        # QUERIES x 2 modalities x 2 targets; the text-only target skips image cases.
        assert counts == {"judged": 3 * QUERIES, "skipped": QUERIES}
        assert len(verdicts) == 3 * QUERIES
        print(
            f"{kills_done} kills, {len(answered_before)} calls answered before the last kill, "
            f"{len(asked)} asked on the final resume, 0 repeated, 0 verdicts lost"
        )
    finally:
        thread.stop()
