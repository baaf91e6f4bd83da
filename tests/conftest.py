"""Shared fixtures: a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import os

# Before anything imports litellm: no fetch of the remote price list in tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from safebench.offline.server import OpenAICompatServer, ServerThread


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[OpenAICompatServer]:
    """A started server with no models; tests add responders and script faults."""
    async with OpenAICompatServer() as server:
        yield server


@pytest.fixture
def openai_server_thread() -> Iterator[ServerThread]:
    """A server running in its own thread and loop, for subprocess or other-loop clients."""
    thread = ServerThread(OpenAICompatServer())
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
