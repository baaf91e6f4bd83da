"""The viewer over HTTP: headers, media confined to the dataset directory, no secrets."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from kernel.logs import configure_logging
from kernel.records import MediaRef, Query
from safebench.audit.viewer import make_app
from tests.transcripts.conftest import SECRET, AuditRuns
from transcripts.store import RunStore


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


async def test_a_foreign_host_header_is_refused(client: TestClient) -> None:
    # A DNS-rebinding page re-resolves its own name to 127.0.0.1: its Host names it.
    port = client.server.port
    for host in (f"evil.example:{port}", "evil.example", f"localhost.evil.example:{port}",
                 f"localhost:{port + 1}", f"127.0.0.1:{port}@evil.example", ""):  # fmt: skip
        for url in ("/", "/media/image?query=audit-lock", "/case?id=x"):
            refused = await client.get(url, headers={"Host": host})
            assert refused.status == 421, (host, url)
            assert "Viewer" not in await refused.text()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST.:{port}", f"[::1]:{port}"):
        assert (await client.get("/", headers={"Host": host})).status == 200, host


def _tamper(store: Path, **meta: str | None) -> None:
    # Written by hand, as someone editing the file would: no SafeBench code involved.
    with sqlite3.connect(store) as db:
        for key, value in meta.items():
            db.execute("DELETE FROM meta WHERE key=?", (key,))
            if value is not None:
                db.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (key, value))
    db.close()


async def _media_status(store: Path, *queries: str) -> list[int]:
    async with TestClient(TestServer(make_app(store), host="127.0.0.1")) as test_client:
        return [(await test_client.get(f"/media/image?query={q}")).status for q in queries]


async def test_a_tampered_store_serves_no_media(audit_runs: AuditRuns, tmp_path: Path) -> None:
    configure_logging()
    genuine = _copy_store(audit_runs.main, tmp_path / "genuine.sqlite")
    assert await _media_status(genuine, "audit-lock") == [200]
    with RunStore(genuine) as store:
        recorded = store.dataset_queries_sha256()
        assert recorded is not None
        # A query naming a file outside any dataset, with that file's true digest.
        passwd = Path("/etc/passwd")
        digest = hashlib.sha256(passwd.read_bytes()).hexdigest()
        image = MediaRef(path="etc/passwd", sha256=digest, mime_type="image/png")
        query = Query(id="passwd", category="E", scenario="S", text="x", image=image)
        store._db.execute("INSERT INTO queries VALUES (?, ?)", (query.id, query.model_dump_json()))

    # The root moved to / (its digest kept, or dropped): / proves nothing.
    for digest_meta in (recorded, None):
        moved = _copy_store(genuine, tmp_path / "moved.sqlite")
        _tamper(moved, dataset_root="/", dataset_queries_sha256=digest_meta)
        assert await _media_status(moved, "passwd", "audit-lock") == [404, 404]
        moved.unlink()

    # Another directory, given a queries.jsonl and the store rewritten to its digest: the
    # root is proven, but a file whose bytes differ from the query's record is not served.
    other = tmp_path / "other"
    shutil.copytree(audit_runs.dataset, other)
    (other / "queries.jsonl").write_text("{}\n", encoding="utf-8")
    (other / "media" / "audit-lock.png").write_bytes(b"\x89PNG swapped in")
    forged = _copy_store(genuine, tmp_path / "forged.sqlite")
    forged_digest = hashlib.sha256((other / "queries.jsonl").read_bytes()).hexdigest()
    _tamper(forged, dataset_root=str(other), dataset_queries_sha256=forged_digest)
    assert await _media_status(forged, "audit-lock", "audit-malware") == [404, 200]

    # The dataset's own media file swapped after the run: refused.
    swapped_root = tmp_path / "swapped"
    shutil.copytree(audit_runs.dataset, swapped_root)
    with RunStore(genuine) as store:
        store.set_dataset_root(swapped_root)
    (swapped_root / "media" / "audit-lock.png").write_bytes(b"\x89PNG swapped in")
    assert await _media_status(genuine, "audit-lock", "audit-pills") == [404, 200]
    # ... and the dataset's queries.jsonl changed after the run: nothing is served from it.
    with (swapped_root / "queries.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("\n")
    assert await _media_status(genuine, "audit-pills") == [404]
