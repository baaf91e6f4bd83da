"""A run whose process died shows ``interrupted``, not ``running`` forever (issue 27).

The store keeps ``running`` when its process is killed with SIGKILL; the writer lock dies
with the process. Every view (the report, the viewer, ``transcripts list``, the export)
shows a run recorded ``running`` whose lock is free as ``interrupted``; while a live process
holds the lock, it stays ``running``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from kernel.logs import configure_logging
from safebench.audit.export import export_jsonl
from safebench.audit.report import build_report
from safebench.audit.viewer import make_app
from safebench.cli.app import app
from safebench.run.config import RunConfig
from safebench.run.pipeline import run_evaluation
from transcripts.lock import WriterLock, writer_alive
from transcripts.store import RunStore

REPO = Path(__file__).resolve().parents[2]

HOLD = """\
import sys, time
from pathlib import Path
from transcripts.lock import WriterLock
from transcripts.store import RunStore
lock = WriterLock.acquire(Path(sys.argv[1]))
with RunStore(Path(sys.argv[1])) as store:
    store.set_status("running")
print("holding", flush=True)
time.sleep(600)
"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "run.sqlite"
    config = {
        "name": "killed",
        "store": str(path),
        "modalities": ["text"],
        "targets": [{"model": "safebench/sim-leaky"}],
        "jury": {"jurors": [{"model": "safebench/pattern-juror"}], "rounds": 0},
        "limit": 1,
    }
    asyncio.run(run_evaluation(RunConfig.model_validate(config)))
    return path


@pytest.fixture
def holder(store: Path) -> Iterator[subprocess.Popen[str]]:
    """A writer process holding the store, recorded ``running``, killed by the test."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "holding"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def shown(store: Path, tmp_path: Path) -> dict[str, str]:
    """The status each view shows."""
    configure_logging()
    report = build_report([store])
    listed = CliRunner().invoke(app, ["transcripts", "list", str(store)])
    assert listed.exit_code == 0, listed.output
    out = tmp_path / "export.jsonl"
    with RunStore.open_readonly(store) as readonly:
        export_jsonl(readonly, out)
    header = json.loads(out.read_text(encoding="utf-8").splitlines()[0])

    async def page() -> str:
        async with TestClient(TestServer(make_app(store))) as client:
            response = await client.get("/")
            return await response.text()

    html = asyncio.run(page())
    return {
        "report": report.runs[0].status,
        "list": listed.output.split("; run ", 1)[1].split()[0],
        "export": header["status"],
        "viewer": html.split('id="run-status">Status: ', 1)[1].split("<", 1)[0],
    }


def test_a_killed_run_shows_interrupted_everywhere(
    store: Path, holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    assert writer_alive(store) is True
    assert set(shown(store, tmp_path).values()) == {"running"}
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while writer_alive(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    with RunStore.open_readonly(store) as readonly:
        assert readonly.run_record().status == "running"  # as the killed process left it
    views = ("report", "list", "export", "viewer")
    assert shown(store, tmp_path) == dict.fromkeys(views, "interrupted")


def test_probing_the_lock_never_keeps_a_writer_out(store: Path) -> None:
    assert writer_alive(store) is False
    with WriterLock.acquire(store):
        assert writer_alive(store) is True
    # The probe took nothing: the next writer gets the store.
    with WriterLock.acquire(store):
        pass
    with RunStore(store) as writable:
        assert writable.shown_status() == "complete"
