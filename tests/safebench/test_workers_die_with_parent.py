"""Worker processes stop when their parent stops, and a SIGTERM or Ctrl-C (SIGINT) marks the
run ``stopped``.

A ``workers: 2`` run is held mid-run by the server (answers wait for a release, and no
attempt can time out meanwhile), its parent alone is killed, and the test waits, with a
deadline generous enough for any loaded machine, for every process the run started to be
gone; then it counts the calls the server saw. Nothing here depends on timing: a worker that
outlives its parent stays blocked on its held call, so it is still there at the deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import RequestLogEntry, ServerThread, SimServer
from transcripts.store import RunStore

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 240.0
"""Only how long a loaded machine may take; never asserted on."""
HOLD_AT = 12
CONCURRENCY = 4
JURORS = 5
QUERIES = 4


def start_run(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "safebench", "run", str(config), "--quiet"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a live process, None once it is gone (a zombie counts as gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = raw.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else (state, int(ppid))


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``, with its depth below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[1]
    depth: dict[int, int] = {}
    frontier = {root: 0}
    while frontier:
        pid, level = frontier.popitem()
        for child, parent in parents.items():
            if parent == pid and child not in depth:
                depth[child] = level + 1
                frontier[child] = level + 1
    return depth


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["sigterm", "sigint", "sigkill"]
)
def test_workers_stop_with_their_parent_and_the_run_resumes(
    tmp_path: Path, sig: signal.Signals
) -> None:
    server = serve_everything(SimServer())
    with ServerThread(server) as thread:
        store = tmp_path / "run.sqlite"
        config = http_run_config(
            thread.base_url,
            store,
            limit=QUERIES,
            workers=2,
            concurrency=CONCURRENCY,
            gateway={"max_retries": 2, "backoff_base_s": 0.01, "timeout_s": 600},
        )
        path = write_config(tmp_path / "run.yaml", config)
        held = threading.Event()

        def hold_mid_run(entry: RequestLogEntry) -> None:
            if entry.seq == HOLD_AT:
                server.hold()
                held.set()

        server.on_request = hold_mid_run
        parent = start_run(path)
        try:
            wait_for(lambda: held.is_set() or parent.poll() is not None, "the held call")
            assert parent.poll() is None, parent.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            # Both workers (the fork server's children) are up before any is killed.
            wait_for(
                lambda: sum(d == 2 for d in descendants(parent.pid).values()) >= 2,
                "two worker processes",
            )
            family = set(descendants(parent.pid))

            parent.send_signal(sig)
            parent.wait(timeout=DEADLINE_S)
            wait_for(
                lambda: all(_stat(pid) is None for pid in family),
                f"the run's processes {sorted(family)} to end after its parent's {sig.name}",
            )
            calls_when_gone = server.count()
        finally:
            server.on_request = None
            server.release()
        # Nothing of the run is left to ask anything: only calls already in flight at the
        # kill were seen (each case in flight has at most its jurors' calls out at once).
        assert server.count() == calls_when_gone
        assert calls_when_gone <= HOLD_AT + 1 + CONCURRENCY * JURORS
        with RunStore(store) as run_store:
            status = run_store.run_record().status
        if sig in (signal.SIGTERM, signal.SIGINT):
            # Ctrl-C as SIGTERM: one line saying how to resume, no Python warning or traceback.
            assert parent.returncode == 128 + sig
            assert status == "stopped"
            said = parent.stderr.read().decode()  # type: ignore[union-attr]
            assert "rerun the same command to resume" in said, said[-2000:]
            assert "Traceback" not in said and "Warning" not in said, said[-2000:]
        else:
            assert parent.returncode == -signal.SIGKILL
            assert status == "running"  # nobody was left to say otherwise

        resumed = start_run(path)
        _out, err = resumed.communicate(timeout=DEADLINE_S)
        assert resumed.returncode == 0, err.decode()[-2000:]
        with RunStore(store) as run_store:
            assert run_store.run_record().status == "complete"
            # QUERIES x 2 modalities x 2 targets; the text-only target skips image cases.
            assert run_store.status_counts() == {"judged": 3 * QUERIES, "skipped": QUERIES}
            assert run_store.integrity_check() == "ok"
