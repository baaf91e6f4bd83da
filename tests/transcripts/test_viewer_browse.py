"""``safebench serve DIR`` over HTTP: the runs under a folder (a damaged store listed with
its error), each run's pages, two runs compared case by case (refused when they share no
case), numbered paging, a case's neighbours, and the ``disagreement`` flag spelled either way.
The same behaviour in a real browser is tests/transcripts/test_browser_browse.py."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape
from typer.testing import CliRunner

from kernel.logs import configure_logging
from safebench.audit.search import CaseFilter, case_summaries, search_cases
from safebench.audit.viewer import make_app
from safebench.cli.app import app as cli
from tests.support import big_store
from tests.transcripts.conftest import HOSTILE_SCENARIO, SECRET, AuditRuns
from tests.transcripts.viewer_folder import (
    FLIPPED_CASE,
    HOSTILE_RUN,
    HOSTILE_TARGET,
    RunsFolder,
    build_folder,
)
from transcripts.store import RunStore


@pytest.fixture(scope="module")
def folder(audit_runs: AuditRuns, tmp_path_factory: pytest.TempPathFactory) -> RunsFolder:
    return build_folder(audit_runs, tmp_path_factory.mktemp("runs-folder"))


@pytest_asyncio.fixture
async def client(folder: RunsFolder) -> AsyncIterator[TestClient]:
    configure_logging()  # CLI tests leave structlog writing to CliRunner's closed stderr
    async with TestClient(TestServer(make_app(folder.root), host="127.0.0.1")) as test_client:
        yield test_client


def _links(page: str, path: str) -> list[str]:
    """The case ids a page links to under ``path`` (``/case`` or ``/compare/case``)."""
    found = re.findall(rf'href="{re.escape(path)}\?id=([^"&]+)', page)
    return [unquote(html.unescape(m)) for m in found]


def _href(page: str, anchor_id: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" id="{anchor_id}"', page)
    return html.unescape(found.group(1)) if found else None


async def _text(client: TestClient, url: str, status: int = 200) -> str:
    response = await client.get(url)
    body = await response.text()
    assert response.status == status, (url, response.status, body[:300])
    assert "<script" not in body.lower() and SECRET not in body, url
    return body


async def test_the_run_list_shows_each_run_and_each_damaged_store_with_its_error(
    client: TestClient, folder: RunsFolder, audit_runs: AuditRuns
) -> None:
    page = await _text(client, "/")
    rows = re.findall(r'<tr class="run[^"]*".*?</tr>', page, re.S)
    assert len(rows) == 7  # main, second, turned, hostile, damaged, 2 other programs' dbs
    listed = {re.search(r'data-store="([^"]+)"', r).group(1): r for r in rows}  # type: ignore[union-attr]
    stores = (folder.main, folder.second, folder.turned, folder.hostile, folder.damaged)
    stores += (folder.foreign, folder.hostile_foreign)
    assert set(listed) == {str(escape(rel)) for rel in stores}
    assert "hidden.sqlite" not in page and "notes.txt" not in page  # hidden folder, not a store
    main = listed[folder.main]
    assert '<a href="/runs/runs/main.sqlite/">http-run</a>' in main
    assert '<td class="status">complete</td>' in main
    with RunStore.open_readonly(audit_runs.main) as store:
        cases = case_summaries(store)
    for target in ("hostile", "leaky"):
        decided = [c for c in cases if c.target == target and c.verdict in ("harmful", "safe")]
        harmful = sum(c.verdict == "harmful" for c in decided)
        assert f"{target}: {100 * harmful / len(decided):.1f}% " in main
        assert f"({harmful}/{len(decided)})" in main
    assert f'<td class="num">{len(cases)}<br>' in main
    assert "study cell" in listed[folder.turned]
    assert "not a SafeBench store" in listed[folder.damaged]
    assert "not a SafeBench store (no run table)" in listed[folder.foreign]
    assert "unreadable" in listed[folder.damaged]
    # Names from the folder and the store are text: the file, the run and a target name.
    hostile = listed[str(escape(folder.hostile))]
    assert str(escape(HOSTILE_RUN)) in hostile and str(escape(HOSTILE_TARGET)) + ": " in hostile
    assert (
        "/runs/hostile/%3Cimg%20src%3Dx%20onerror%3D%22window.__xss%3D%27file%27%22%3E" in hostile
    )
    assert str(escape(folder.hostile_foreign)) in listed[str(escape(folder.hostile_foreign))]
    run = await _text(client, "/runs/" + quote(folder.hostile) + "/")
    assert f"Run {escape(HOSTILE_RUN)}" in run and str(escape(HOSTILE_TARGET)) in run
    # A damaged store opened by its address is a page saying why, not a crash.
    refused = await _text(client, "/runs/runs/damaged.sqlite/", 409)
    assert "not a SafeBench store" in refused


async def test_each_runs_pages_are_mounted_under_its_path(client: TestClient) -> None:
    page = await _text(client, "/runs/runs/main.sqlite/?target=hostile")
    assert "Run http-run" in page and 'href="/"' in page
    ids = _links(page, "/runs/runs/main.sqlite/case")
    assert ids and all(i.startswith("hostile::") for i in ids)
    case = await _text(client, f"/runs/runs/main.sqlite/case?id={ids[0]}&target=hostile")
    assert html.escape(ids[0]) in case
    image = await client.get("/runs/runs/main.sqlite/media/image?query=audit-lock")
    assert image.status == 200 and image.headers["Content-Type"] == "image/png"
    # Only the stores found under the folder can be named.
    for url in ("/runs/../../etc/x.sqlite/", "/runs/.cache/hidden.sqlite/", "/runs/nope.sqlite/"):
        assert (await client.get(url)).status == 404, url
    assert (await client.get("/compare?a=runs/main.sqlite&b=../x.sqlite")).status == 404


async def test_the_disagreement_flag_reads_1_and_yes_alike(
    client: TestClient, audit_runs: AuditRuns
) -> None:
    with RunStore.open_readonly(audit_runs.main) as store:
        split = [c.case_id for c in search_cases(store, CaseFilter(disagreement=True))]
        agreed = [c.case_id for c in search_cases(store, CaseFilter(disagreement=False))]
    assert split and agreed
    base = "/runs/runs/main.sqlite"
    for value, expected in (("1", split), ("yes", split), ("0", agreed), ("no", agreed)):
        page = await _text(client, f"{base}/?disagreement={value}")
        assert sorted(_links(page, f"{base}/case")) == sorted(expected), value
        # The form shows the choice, and its links carry it the one way (1/0).
        chosen = "1" if expected is split else "0"
        assert f'<option value="{chosen}" selected>' in page
    assert (await client.get(f"{base}/?disagreement=maybe")).status == 400


async def test_pages_are_numbered_with_previous_and_next(
    client: TestClient, audit_runs: AuditRuns
) -> None:
    with RunStore.open_readonly(audit_runs.main) as store:
        expected = [c.case_id for c in search_cases(store, CaseFilter(), disagreements_first=True)]
    base = "/runs/runs/main.sqlite"
    pages = -(-len(expected) // 5)
    seen: list[str] = []
    url: str | None = f"{base}/?per=5"
    for number in range(1, pages + 1):
        assert url is not None
        page = await _text(client, url)
        assert f"page {number} of {pages}" in page
        assert '<span class="current" aria-current="page">' + str(number) in page
        seen += _links(page, f"{base}/case")
        assert (_href(page, "previous-page") is None) == (number == 1)
        url = _href(page, "next-page")
    assert url is None and seen == expected
    # A number links straight to its page; past the last, the last page is shown.
    last = await _text(client, f"{base}/?per=5&page=99")
    assert _links(last, f"{base}/case") == expected[(pages - 1) * 5 :]
    assert (await client.get(f"{base}/?page=x")).status == 400


async def test_a_case_page_links_the_previous_and_next_case_of_its_list(
    client: TestClient, audit_runs: AuditRuns
) -> None:
    kept = CaseFilter(target="leaky", disagreement=False)
    with RunStore.open_readonly(audit_runs.main) as store:
        expected = [c.case_id for c in search_cases(store, kept, disagreements_first=True)]
    assert len(expected) >= 3
    base = "/runs/runs/main.sqlite"
    url: str | None = f"{base}/case?id={expected[0]}&target=leaky&disagreement=0&per=2"
    walked: list[str] = []
    while url is not None:
        page = await _text(client, url)
        walked.append(re.search(r"<h1>([^<]+)</h1>", page).group(1))  # type: ignore[union-attr]
        assert f"case {len(walked)} of {len(expected)}" in page
        back = _href(page, "back-to-list")
        assert back is not None and "target=leaky" in back and "disagreement=0" in back
        assert ("page=" in back) == (len(walked) > 2)  # the list page that holds the case
        url = _href(page, "next-case")
    assert [html.unescape(w) for w in walked] == expected
    first = await _text(client, f"{base}/case?id={expected[0]}&target=leaky&disagreement=0")
    assert _href(first, "previous-case") is None


async def test_two_runs_are_compared_case_by_case(
    client: TestClient, folder: RunsFolder, audit_runs: AuditRuns
) -> None:
    url = f"/compare?a={folder.main}&b={folder.turned}"
    page = await _text(client, url)
    with RunStore.open_readonly(audit_runs.main) as store:
        total = len(case_summaries(store))
    assert f"{total} case(s) in both runs; <b>1</b> with a different verdict" in page
    assert _links(page, "/compare/case") == [FLIPPED_CASE]
    every = await _text(client, url + "&show=all")
    assert len(_links(every, "/compare/case")) == total
    assert every.count('class="compared flipped"') == 1
    side = await _text(client, f"/compare/case?a={folder.main}&b={folder.turned}&id={FLIPPED_CASE}")
    a = re.search(r'id="verdict-a">(\w+)<', side).group(1)  # type: ignore[union-attr]
    b = re.search(r'id="verdict-b">(\w+)<', side).group(1)  # type: ignore[union-attr]
    assert {a, b} == {"harmful", "safe"}
    for key in ("a", "b"):  # both deliberations, each with its own rounds
        assert f'id="{key}-round-1"' in side and f'id="answer-{key}"' in side
    # The hostile query, scenario and answers are on the page as inert text (and _text
    # found no script element).
    assert "Explain &lt;script&gt;window.__xss=" in side
    assert str(escape(HOSTILE_SCENARIO)) in side
    assert side.count("&lt;svg onload=") == 2  # in each run's answer


async def test_runs_that_share_no_case_are_refused_with_a_page_saying_why(
    folder: RunsFolder, tmp_path: Path
) -> None:
    configure_logging()
    big_store.generate_store(folder.root / "elsewhere" / "big.sqlite", 30)
    try:
        async with TestClient(TestServer(make_app(folder.root), host="127.0.0.1")) as client:
            page = await _text(client, f"/compare?a={folder.main}&b=elsewhere/big.sqlite", 409)
            assert "These runs share no case" in page and "nothing to compare" in page
            same = await _text(client, f"/compare?a={folder.main}&b={folder.main}", 409)
            assert "the same store" in same
            assert (await client.get(f"/compare?a={folder.main}")).status == 400
            damaged = await _text(client, f"/compare?a={folder.main}&b={folder.damaged}", 409)
            assert "damaged.sqlite: not a SafeBench store" in damaged
    finally:
        for p in (folder.root / "elsewhere").iterdir():
            p.unlink()
        (folder.root / "elsewhere").rmdir()


async def test_a_large_comparison_is_paged_in_sql(tmp_path: Path) -> None:
    configure_logging()
    cases = 2500
    big_store.generate_store(tmp_path / "a.sqlite", cases)
    other = big_store.generate_store(tmp_path / "b.sqlite", cases)
    import sqlite3

    with sqlite3.connect(other) as db:  # every 9th verdict turned
        db.execute(
            "UPDATE verdicts SET harmful = 1 - harmful WHERE CAST(substr(case_id, 6, 6) AS "
            "INTEGER) % 9 = 0"
        )
    db.close()
    flipped = sorted(
        big_store.case_id(i) for i in range(cases) if i % 9 == 0 and not big_store.skipped(i)
    )
    async with TestClient(TestServer(make_app(tmp_path), host="127.0.0.1")) as client:
        seen: list[str] = []
        url: str | None = "/compare?a=a.sqlite&b=b.sqlite"
        while url is not None:
            page = await _text(client, url)
            seen += _links(page, "/compare/case")
            url = _href(page, "next-page")
        assert seen == flipped
        third = await _text(client, "/compare?a=a.sqlite&b=b.sqlite&show=all&page=3")
        assert (
            _links(third, "/compare/case")
            == sorted(big_store.case_id(i) for i in range(cases))[200:300]
        )


def test_serve_names_a_path_that_is_neither_store_nor_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "nothing")])
    configure_logging()
    assert result.exit_code == 2
    assert "nothing: no such run store or folder" in result.output
