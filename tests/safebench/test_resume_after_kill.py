"""A run killed with SIGKILL part-way, then rerun, repeats no model call (counted at the server).

The server freezes its answers at a chosen request, waits for the client to record what it
already received, then kills the client. Calls still unanswered at that moment were never
completed, so asking them again is not a repeat; every call the server did answer must be
read back from the store on resume.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.recorded import wait_until_recorded
from tests.support.sim_server import RequestLogEntry, ServerThread, SimServer
from transcripts.store import RunStore

REPO = Path(__file__).resolve().parents[2]


def start_run(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "safebench", "run", str(config), "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [40, 150])
def test_resume_after_sigkill_repeats_no_call(tmp_path: Path, kill_at: int) -> None:
    server = serve_everything(SimServer(latency_s=0.01))
    thread = ServerThread(server).start()
    try:
        store = tmp_path / "run.sqlite"
        config = write_config(
            tmp_path / "run.yaml", http_run_config(thread.base_url, store, limit=8)
        )
        process = start_run(config)
        answered_at_kill: list[str] = []
        killed = threading.Event()

        def freeze_then_kill(entry: RequestLogEntry) -> None:
            if entry.seq + 1 != kill_at:
                return
            server.hold()

            def kill() -> None:
                # Once the client has recorded every answer it already has, kill it hard.
                answered = server.answered_keys()
                wait_until_recorded(store, len(answered))
                answered_at_kill.extend(answered)
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed.set()
                server.release()

            threading.Thread(target=kill, daemon=True).start()

        server.on_request = freeze_then_kill
        process.wait(timeout=240)
        assert killed.wait(timeout=10), "the run finished before it could be killed"
        assert process.returncode == -signal.SIGKILL
        first_run_requests = len(server.requests)
        server.on_request = None
        time.sleep(0.2)  # let released, orphaned handlers finish against the dead socket

        resumed = start_run(config)
        _out, err = resumed.communicate(timeout=240)
        assert resumed.returncode == 0, err.decode()[-2000:]
        resumed_keys = [e.body_key for e in server.requests[first_run_requests:]]
        repeated = set(resumed_keys) & set(answered_at_kill)
        assert resumed_keys, "the resumed run had nothing left to do"
        assert repeated == set(), f"{len(repeated)} answered calls were asked again"
        with RunStore(store) as run_store:
            counts = run_store.status_counts()
            assert run_store.integrity_check() == "ok"
        # 8 queries x 2 modalities x 2 targets; the text-only target skips image cases.
        assert counts == {"judged": 24, "skipped": 8}
        print(
            f"kill at request {kill_at}: {len(answered_at_kill)} answered before the kill, "
            f"{len(resumed_keys)} asked after, 0 repeated"
        )
    finally:
        thread.stop()


def test_kill_helper_uses_no_running_loop() -> None:
    # The kill thread above must not touch asyncio objects from outside the server's loop.
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
