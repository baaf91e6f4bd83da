"""Waiting for a run to make its answers durable, by condition rather than by time."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from transcripts.store import RunStore


def wait_until_recorded(store: Path, answered: int, deadline_s: float = 180.0) -> None:
    """Return once ``store`` holds at least ``answered`` recorded calls: the client has made
    durable every answer the server gave before a kill test pulls the plug. Polls; after
    ``deadline_s`` it returns anyway, and the test's own assertions say what was lost (a
    fixed sleep instead would be too short on a loaded machine)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            opened = RunStore.open_readonly(store)
        except Exception:  # not created yet, or mid-migration: look again
            time.sleep(0.05)
            continue
        try:
            if sum(opened.call_counts().values()) >= answered:
                return
        except sqlite3.Error:
            pass
        finally:
            opened.close()
        time.sleep(0.05)
