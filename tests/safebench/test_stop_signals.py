"""Ctrl-C (SIGINT) and SIGTERM stop rejudge and study as they stop a run: one line saying how
to resume, exit 130 or 143, no traceback or Python warning. The command is held mid-way by
the server (its answers wait for a release), so no timing decides when the signal lands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import RequestLogEntry, ServerThread, SimServer

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 240.0
"""Only how long a loaded machine may take; never asserted on."""


def _held_after(server: SimServer, seen: int) -> threading.Event:
    held = threading.Event()

    def hold(entry: RequestLogEntry) -> None:
        if entry.seq >= seen and not held.is_set():
            server.hold()
            held.set()

    server.on_request = hold
    return held


def _stop(args: list[str], server: SimServer, sig: signal.Signals) -> tuple[int, str]:
    held = _held_after(server, server.count() + 2)
    process = subprocess.Popen(
        [sys.executable, "-m", "safebench", *args, "--quiet"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not held.is_set() and process.poll() is None:
            assert time.monotonic() < deadline, "gave up waiting for the held call"
            time.sleep(0.1)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        process.send_signal(sig)
        process.wait(timeout=DEADLINE_S)
    finally:
        server.on_request = None
        server.release()
    return process.returncode, process.stderr.read().decode()  # type: ignore[union-attr]


@pytest.mark.slow
def test_rejudge_and_study_stop_cleanly_on_a_signal(tmp_path: Path) -> None:
    # One signal each (both go through the same handler, run_cmd.run_stoppable; the run
    # itself is tested with both in test_workers_die_with_parent).
    server = serve_everything(SimServer())
    with ServerThread(server) as thread:
        raw = http_run_config(thread.base_url, tmp_path / "run.sqlite", limit=2)
        config = write_config(tmp_path / "run.yaml", raw)
        done = subprocess.run(
            [sys.executable, "-m", "safebench", "run", str(config), "--quiet"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        # A run config is a jury file too: the run's own jury, asked again.
        rejudge = ["rejudge", str(tmp_path / "run.sqlite"), "--jury", str(config)]
        code, said = _stop(
            [*rejudge, "--store", str(tmp_path / "re.sqlite")], server, signal.SIGTERM
        )
        assert code == 128 + signal.SIGTERM, said[-2000:]
        assert "rejudge stopped" in said and "rerun the same command to resume" in said
        assert "Traceback" not in said and "Warning" not in said, said[-2000:]

        (tmp_path / "study.yaml").write_text("name: s\nbase: run.yaml\nlimit: 2\n", "utf-8")
        code, said = _stop(
            ["study", str(tmp_path / "study.yaml"), "--out", str(tmp_path / "study")],
            server,
            signal.SIGINT,
        )
        assert code == 128 + signal.SIGINT, said[-2000:]
        assert "study stopped" in said and "Traceback" not in said and "Warning" not in said


@pytest.mark.slow
@pytest.mark.ray
def test_a_ray_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    # Ray's driver set SIGTERM handlers of its own (a C++ one that aborted with a stack dump,
    # a Python one that exited 15), over the run's: the store was left "running".
    pytest.importorskip("ray")
    server = serve_everything(SimServer())
    with ServerThread(server) as thread:
        raw = http_run_config(thread.base_url, tmp_path / "run.sqlite", limit=3)
        raw.update(executor="ray", ray={"num_workers": 1}, workers=1)
        config = write_config(tmp_path / "run.yaml", raw)
        code, said = _stop(["run", str(config)], server, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, said[-2000:]
    assert "run stopped (SIGTERM)" in said and "Traceback" not in said, said[-2000:]
    from transcripts.store import RunStore

    with RunStore.open_readonly(tmp_path / "run.sqlite") as store:
        assert store.run_record().status == "stopped"
