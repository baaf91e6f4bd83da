"""One writer per store: a second run or rejudge on a store in use is refused, naming the holder.

The first run is held mid-call by the server (its answers wait for a release), so it holds
the store for as long as the test needs, whatever the machine's speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jury.config import JuryConfig
from kernel.errors import StoreInUse
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from safebench.run.rejudge import rejudge
from tests.safebench.helpers import http_run_config, serve_everything, write_config
from tests.support.sim_server import ServerThread, SimServer
from transcripts.lock import WriterLock, lock_path
from transcripts.store import RunStore

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 240.0
"""Generous: only how long a loaded machine may take to start a run, never asserted on."""


def safebench(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "safebench", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_second_run_on_a_store_in_use_is_refused_naming_the_holder(tmp_path: Path) -> None:
    server = serve_everything(SimServer())
    with ServerThread(server) as thread:
        store = tmp_path / "run.sqlite"
        config = http_run_config(
            thread.base_url,
            store,
            limit=1,
            concurrency=1,
            # No attempt times out while the server holds it: one call stays in flight.
            gateway={"max_retries": 2, "backoff_base_s": 0.01, "timeout_s": 600},
        )
        path = write_config(tmp_path / "run.yaml", config)
        server.hold()
        first = safebench("run", str(path), "--quiet")
        try:
            wait_for(lambda: server.count() >= 1 or first.poll() is not None, "the first call")
            assert first.poll() is None, first.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            calls = server.count()

            second = safebench("run", str(path), "--quiet")
            _out, err = second.communicate(timeout=DEADLINE_S)
            message = " ".join(err.decode().split())
            assert second.returncode == 2, message
            assert f"pid {first.pid}" in message, message
            assert "safebench run" in message, message
            assert server.count() == calls, "the refused run called a model"
        finally:
            server.release()
        _out, err = first.communicate(timeout=DEADLINE_S)
        assert first.returncode == 0, err.decode()[-2000:]
        with RunStore(store) as run_store:
            assert run_store.run_record().status == "complete"
        # The lock died with its holder: the same command now resumes (nothing left to do).
        again = safebench("run", str(path), "--quiet")
        _out, err = again.communicate(timeout=DEADLINE_S)
        assert again.returncode == 0, err.decode()[-2000:]


async def test_rejudge_into_a_store_in_use_is_refused_and_readers_take_no_lock(
    openai_server: SimServer, tmp_path: Path
) -> None:
    server = serve_everything(openai_server)
    config = RunConfig.model_validate(
        http_run_config(server.base_url, tmp_path / "run.sqlite", limit=1)
    )
    await run_evaluation(config)
    jury = JuryConfig.model_validate(
        {
            "jurors": [
                {"model": "openai/refusal-juror", "api_base": server.base_url, "api_key": "k"}
            ],
            "rounds": 0,
        }
    )
    target = tmp_path / "rejudged.sqlite"
    with WriterLock.acquire(target):
        calls = server.count()
        with pytest.raises(StoreInUse, match=f"pid {os.getpid()}"):
            await rejudge(config.store_path(), jury, target)
        assert server.count() == calls
        # The run's own store is not locked by the rejudge, and readers never lock.
        with RunStore(config.store_path()) as reader:
            assert reader.run_record().status == "complete"
    summary = await rejudge(config.store_path(), jury, target)
    assert summary.status == "complete"
    assert lock_path(target).is_file()  # left for the next writer; its lock died with us
