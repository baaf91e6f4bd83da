"""The viewer pages and filters in SQL: the same cases, in the same order, as the reference
search (``search_cases``), and right pages of a generated 100k-case store. No timing is
asserted here; bench/viewer_scale.py measures it."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from kernel.logs import configure_logging
from safebench.audit.case_index import CaseIndex
from safebench.audit.search import CaseFilter, search_cases
from safebench.audit.viewer import LIST_LIMIT, make_app
from tests.support import big_store
from tests.transcripts.conftest import AuditRuns
from transcripts.store import RunStore

CASES = 100_000

FILTERS = [
    {},
    {"disagreement": True},
    {"disagreement": False},
    {"flip": True},
    {"flip": False},
    {"verdict": "harmful"},
    {"verdict": "safe"},
    {"verdict": "none"},
    {"target": "hostile", "modality": "image"},
    {"status": "skipped"},
    {"text": "javascript:window"},
    {"text": "JAVASCRIPT:WINDOW", "target": "leaky"},
    {"text": "no such words anywhere"},
]


@pytest.mark.parametrize("fields", FILTERS, ids=[str(f) for f in FILTERS])
def test_the_index_keeps_what_the_reference_search_keeps(
    audit_runs: AuditRuns, fields: dict[str, object]
) -> None:
    case_filter = CaseFilter.model_validate(fields)
    with RunStore.open_readonly(audit_runs.main) as store:
        expected = search_cases(store, case_filter, disagreements_first=True)
        index = CaseIndex(store)
        try:
            pages, after = [], ""
            while True:  # three cases a page: the keyset cursor is exercised
                page = index.page(case_filter, after, 3)
                pages.extend(page.cases)
                assert page.matching == len(expected)
                if page.next_after is None:
                    break
                after = page.next_after
        finally:
            index.close()
    assert pages == expected


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("big") / "big.sqlite"
    yield big_store.generate_store(path, CASES)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest_asyncio.fixture
async def client(big: Path) -> AsyncIterator[TestClient]:
    configure_logging()
    async with TestClient(TestServer(make_app(big), host="127.0.0.1")) as test_client:
        yield test_client


def _listed(page: str) -> list[str]:
    return [unquote(html.unescape(m)) for m in re.findall(r'href="/case\?id=([^"&]+)', page)]


def _next(page: str) -> str | None:
    found = re.search(r'href="(/\?[^"]*)" id="next-page"', page)
    return html.unescape(found.group(1)) if found else None


def _expected(keep: object = None) -> list[str]:
    """The generated store's cases a filter keeps, in the viewer's order (split juries
    first: every split case's jurors also flipped; then the rest), by case id."""
    chosen = [i for i in range(CASES) if keep is None or keep(i)]  # type: ignore[operator]
    first = sorted(big_store.case_id(i) for i in chosen if big_store.split(i))
    rest = sorted(big_store.case_id(i) for i in chosen if not big_store.split(i))
    return first + rest


async def test_a_large_store_is_paged_in_the_viewers_order(client: TestClient) -> None:
    expected = _expected()
    response = await client.get("/")
    page = await response.text()
    assert response.status == 200
    assert f"{CASES} case(s) in the run;" in page
    assert _listed(page) == expected[:LIST_LIMIT]
    link = _next(page)
    assert link is not None
    second = await (await client.get(link)).text()
    assert _listed(second) == expected[LIST_LIMIT : 2 * LIST_LIMIT]


async def test_a_large_store_is_filtered_in_sql(client: TestClient) -> None:
    def keep(i: int) -> bool:
        return i % 3 == 1 and not big_store.skipped(i) and big_store.harmful(i)

    expected = _expected(keep)
    page = await (await client.get("/?target=t1&verdict=harmful")).text()
    assert f"{CASES} case(s) in the run, {len(expected)} matching;" in page
    assert _listed(page) == expected[:LIST_LIMIT]
    link = _next(page)
    assert link is not None and "target=t1" in link and "verdict=harmful" in link
    assert _listed(await (await client.get(link)).text()) == expected[LIST_LIMIT:][:LIST_LIMIT]

    # The text filter reads answers case-folded: "Zanzibar" is in every 1000th answer.
    text = await (await client.get("/?text=ZANZIBAR&modality=text")).text()
    assert _listed(text) == _expected(lambda i: i % 1000 == 0)
    assert _next(text) is None


async def test_a_case_of_a_large_store_opens_by_its_key(client: TestClient) -> None:
    cid = big_store.case_id(7)
    page = await (await client.get(f"/case?id={cid}")).text()
    assert "summary of case 7" in page and "Round 2" in page
    assert '<td class="seat">juror-5<br><span class="juror-model">openai/judge</span>' in page


def test_the_index_follows_a_live_run(audit_runs: AuditRuns, tmp_path: Path) -> None:
    import sqlite3

    from kernel.records import TargetAnswer
    from transcripts.store import CaseMeta

    path = tmp_path / "live.sqlite"
    with sqlite3.connect(audit_runs.main) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    with RunStore.open_readonly(path) as reader:
        index = CaseIndex(reader)
        before = index.page(CaseFilter())
        meta = CaseMeta(
            case_id="late::q::text", target="late", query_id="q", modality="text",
            category="C", scenario="S",
        )  # fmt: skip
        answer = TargetAnswer(
            case_id=meta.case_id, target="late", query_id="q", modality="text",
            status="skipped", reason="not accepted",
        )  # fmt: skip
        with RunStore(path) as writer:  # the run, still writing while the viewer reads
            writer.save_skipped(meta, answer)
        after = index.page(CaseFilter(target="late"))
        index.close()
    assert after.total == before.total + 1
    assert [c.case_id for c in after.cases] == ["late::q::text"]
