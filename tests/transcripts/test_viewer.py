"""The viewer over HTTP: headers, media confined to the dataset directory, no secrets."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from safebench.logs import configure_logging
from safebench.records import MediaRef, Query
from tests.transcripts.conftest import SECRET, AuditRuns
from transcripts.store import RunStore
from transcripts.viewer import make_app


def _copy_store(src: Path, dst: Path) -> Path:
    # Through SQLite's backup API, so nothing still in the source's WAL is lost.
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def _evil(qid: str, path: str, mime: str = "image/png") -> Query:
    image = MediaRef(path=path, sha256="0" * 64, mime_type=mime)
    return Query(id=qid, category="Ethics", scenario="Bioethics", text="x", image=image)


@pytest_asyncio.fixture
async def client(audit_runs: AuditRuns, tmp_path: Path) -> AsyncIterator[TestClient]:
    # CLI tests leave structlog writing to CliRunner's closed stderr; point it back.
    configure_logging()
    store_path = _copy_store(audit_runs.main, tmp_path / "copy.sqlite")
    secret_file = tmp_path / "secret.png"  # outside the dataset directory
    secret_file.write_bytes(b"\x89PNG top secret")
    link = tmp_path / "linkroot"
    shutil.copytree(audit_runs.dataset, link)
    (link / "media" / "escape.png").symlink_to(secret_file)
    with RunStore(store_path) as store:
        store.set_dataset_root(link)
        for query in (
            _evil("dotdot", "../secret.png"),
            _evil("absolute", str(secret_file)),
            _evil("symlink", "media/escape.png"),
            _evil("svg", "media/audit-lock.png", "image/svg+xml"),
        ):
            # Written around the model's validation, as a tampered store would hold them.
            store._db.execute(
                "INSERT INTO queries VALUES (?, ?)", (query.id, query.model_dump_json())
            )
    async with TestClient(TestServer(make_app(store_path), host="127.0.0.1")) as test_client:
        yield test_client


async def test_pages_send_a_script_free_policy_and_hold_no_secret(client: TestClient) -> None:
    for url in ("/", "/?verdict=harmful&disagreement=yes", "/case?id=hostile::audit-lock::image"):
        response = await client.get(url)
        assert response.status == 200, url
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        body = await response.text()
        assert SECRET not in body and "sk-test" not in body
        assert "<script" not in body.lower()


async def test_media_is_served_only_from_inside_the_dataset(client: TestClient) -> None:
    ok = await client.get("/media/image?query=audit-lock")
    assert ok.status == 200 and ok.headers["Content-Type"] == "image/png"
    assert "sandbox" in ok.headers["Content-Security-Policy"]
    for query in ("dotdot", "absolute", "symlink"):
        refused = await client.get(f"/media/image?query={query}")
        assert refused.status == 404, query
        assert b"top secret" not in await refused.read()
    assert (await client.get("/media/image?query=svg")).status == 403
    assert (await client.get("/media/image?query=nope")).status == 404
    assert (await client.get("/media/audio?query=audit-lock&i=7")).status == 404
    assert (await client.get("/media/audio?query=audit-lock&i=x")).status == 400
    assert (await client.get("/media/../../etc/passwd")).status == 404


async def test_unknown_case_and_bad_filter_are_client_errors(client: TestClient) -> None:
    assert (await client.get("/case?id=nope")).status == 404
    assert (await client.get("/?verdict=<script>")).status == 400
