"""Shared fixtures: a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import os

# Before anything imports litellm: no fetch of the remote price list in tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

import safebench.offline  # noqa: F401  (its import fills the offline catalogue)
from safebench.run.session import register_offline_routes
from tests.support.sim_server import ServerThread, SimServer

# As the app does before it reads a config: tests also validate ``safebench/…`` model specs
# directly, and those names come from the catalogue the offline package fills when imported.
# As the app does too: a study called directly (no model session handed down) reaches the
# offline models through the route provider registered for ``safebench/``.
register_offline_routes()


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[SimServer]:
    """A started server with no models; tests add responders and script faults."""
    async with SimServer() as server:
        yield server


@pytest.fixture
def openai_server_thread() -> Iterator[ServerThread]:
    """A server running in its own thread and loop, for subprocess or other-loop clients."""
    thread = ServerThread(SimServer())
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
