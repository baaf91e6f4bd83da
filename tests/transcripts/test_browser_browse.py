"""``safebench serve DIR`` in a real headless Chromium: the run list, opening a run, the
comparison of two runs (a flip, both deliberations side by side), numbered paging, a case's
previous and next case, the deliberation beside the image, ``?disagreement=1``; and no
payload planted in a model answer, a query or a scenario name ever runs on these pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.transcripts.conftest import AuditRuns, ViewerThread
from tests.transcripts.test_browser import Watched
from tests.transcripts.viewer_folder import (
    FLIPPED_CASE,
    HOSTILE_RUN,
    HOSTILE_TARGET,
    build_folder,
)

MAIN = "/runs/runs/main.sqlite/"


@pytest.fixture(scope="module")
def served(audit_runs: AuditRuns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = build_folder(audit_runs, tmp_path_factory.mktemp("browse"))
    with ViewerThread(folder.root) as running:
        yield running, folder


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def _case_rows(p: Any) -> list[dict[str, str]]:
    return p.eval_on_selector_all(
        "#cases tr.case",
        """rows => rows.map(r => ({split: r.className, target: r.cells[1].textContent,
            href: r.querySelector('a').getAttribute('href')}))""",
    )


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def test_the_run_list_shows_status_and_asr_and_opens_a_run(page: Watched, served: Any) -> None:
    viewer, folder = served
    p = page.page
    p.goto(viewer.url + "/")
    runs = p.eval_on_selector_all(
        "#runs tr.run",
        """rows => rows.map(r => ({store: r.dataset.store, text: r.innerText,
            status: r.dataset.status || null}))""",
    )
    by_store = {r["store"]: r for r in runs}
    readable = (folder.main, folder.second, folder.turned, folder.hostile)
    unreadable = (folder.damaged, folder.foreign, folder.hostile_foreign)
    assert set(by_store) == {*readable, *unreadable}
    for store in readable:
        assert by_store[store]["status"] == "complete"
        text = by_store[store]["text"]
        assert "hostile: " in text and "%" in text
    assert "leaky: " in by_store[folder.main]["text"]
    assert "not a SafeBench store" in by_store[folder.damaged]["text"]
    assert {r["store"] for r in runs[-3:]} == set(unreadable)  # listed last
    # The hostile names are shown as text, and opening that run runs nothing either.
    assert HOSTILE_RUN in by_store[folder.hostile]["text"]
    assert HOSTILE_TARGET + ": " in by_store[folder.hostile]["text"]
    page.assert_inert("SafeBench viewer")
    with p.expect_navigation():
        p.locator("#runs tr.run a", has_text="window.__xss='run'").click()
    assert p.inner_text("h1") == f"Run {HOSTILE_RUN}"
    assert any(r["target"] == HOSTILE_TARGET for r in _case_rows(p))
    page.assert_inert("SafeBench viewer")
    p.goto(viewer.url + "/")
    page.assert_inert("SafeBench viewer")
    with p.expect_navigation():
        p.click(f"#runs tr[data-store='{folder.main}'] a")
    assert urlparse(p.url).path == MAIN
    assert p.inner_text("h1") == "Run http-run"
    assert len(_case_rows(p)) == 18
    page.assert_inert("SafeBench viewer")
    with p.expect_navigation():
        p.click("#all-runs")
    assert urlparse(p.url).path == "/"


def test_a_comparison_shows_the_flip_with_both_deliberations(page: Watched, served: Any) -> None:
    viewer, folder = served
    p = page.page
    p.goto(viewer.url + "/")
    p.select_option("#compare-form select[name=a]", folder.main)
    p.select_option("#compare-form select[name=b]", folder.turned)
    with p.expect_navigation():
        p.click("#compare-form button[type=submit]")
    assert _query(p.url)["show"] == ["flips"]
    rows = p.locator("#comparison tr.compared")
    assert rows.count() == 1 and "flipped" in (rows.first.get_attribute("class") or "")
    assert p.inner_text("#tally").startswith("18 case(s) in both runs; 1 with a different")
    page.assert_inert("SafeBench viewer")
    with p.expect_navigation():
        rows.first.locator("a").click()
    assert _query(p.url)["id"] == [FLIPPED_CASE]
    verdicts = {p.inner_text("#verdict-a"), p.inner_text("#verdict-b")}
    assert verdicts == {"harmful", "safe"}
    # Both deliberations, side by side: the same top, A left of B, each with its rounds.
    a, b = p.locator("#side-a").bounding_box(), p.locator("#side-b").bounding_box()
    assert a is not None and b is not None
    assert abs(a["y"] - b["y"]) < 2 and a["x"] + a["width"] <= b["x"]
    assert p.locator("#side-a .round").count() >= 1 and p.locator("#side-b .round").count() >= 1
    assert p.locator("#a-round-1 tr").count() == 1 + 5 and p.locator("#b-round-1 tr").count() == 6
    assert "<svg onload=" in p.inner_text("#answer-a")  # shown, as text
    page.assert_inert("SafeBench case")
    with p.expect_navigation():
        p.click("#back-to-list")
    p.select_option("select[name=show]", "all")
    with p.expect_navigation():
        p.click("form.filters button[type=submit]")
    assert p.locator("#comparison tr.compared").count() == 18
    assert p.locator("#comparison tr.flipped").count() == 1
    page.assert_inert("SafeBench viewer")


def test_pages_have_numbers_previous_and_next(page: Watched, served: Any) -> None:
    viewer, _ = served
    p = page.page
    p.goto(viewer.url + MAIN + "?per=5")
    first = _case_rows(p)
    assert len(first) == 5 and "page 1 of 4" in p.inner_text("nav.pages")
    assert p.locator("#previous-page").count() == 0
    numbers = p.eval_on_selector_all(
        "nav.pages >> nth=0 >> a.page-number", "as => as.map(a => a.textContent)"
    )
    assert numbers == ["2", "3", "4"]
    with p.expect_navigation():
        p.locator("nav.pages").first.get_by_role("link", name="3", exact=True).click()
    assert _query(p.url)["page"] == ["3"] and p.inner_text(".current") == "3"
    third = _case_rows(p)
    with p.expect_navigation():
        p.click("#previous-page")
    assert _query(p.url)["page"] == ["2"]
    second = _case_rows(p)
    with p.expect_navigation():
        p.click("#next-page")
    assert _case_rows(p) == third
    with p.expect_navigation():
        p.click("#next-page")
    last = _case_rows(p)
    assert len(last) == 3 and p.locator("#next-page").count() == 0
    hrefs = [r["href"] for r in first + second + third + last]
    assert len(set(hrefs)) == 18
    page.assert_inert("SafeBench viewer")


def test_a_case_links_its_previous_and_next_case_and_shows_the_deliberation_beside_the_image(
    page: Watched, served: Any
) -> None:
    viewer, _ = served
    p = page.page
    p.goto(viewer.url + MAIN + "?target=hostile&modality=image")
    listed = [r["href"] for r in _case_rows(p)]
    assert len(listed) == 3
    with p.expect_navigation():
        p.click("#cases tr.case a >> nth=0")
    assert p.locator("#previous-case").count() == 0
    assert p.inner_text("#case-position") == "case 1 of 3"
    with p.expect_navigation():
        p.click("#next-case")
    assert p.url.endswith(listed[1]) and p.inner_text("#case-position") == "case 2 of 3"
    with p.expect_navigation():
        p.click("#next-case")
    assert p.url.endswith(listed[2]) and p.locator("#next-case").count() == 0
    with p.expect_navigation():
        p.click("#previous-case")
    assert p.url.endswith(listed[1])
    # The deliberation beside the image (not below it); the image small, enlarged on click.
    p.wait_for_load_state("load")
    image = p.locator("#query-image").bounding_box()
    deliberation = p.locator("#deliberation").bounding_box()
    assert image is not None and deliberation is not None
    assert image["width"] <= 240 and image["height"] <= 180
    assert deliberation["x"] >= image["x"] + image["width"]
    assert deliberation["y"] < image["y"] + image["height"]
    assert not p.locator("#enlarged-query").is_visible()
    p.click("#query-image")
    assert p.locator("#enlarged-query").is_visible()
    big = p.locator("#enlarged-query img").bounding_box()
    assert big is not None and big["width"] > image["width"]
    p.click("#enlarged-query")  # a click anywhere closes it
    assert not p.locator("#enlarged-query").is_visible()
    page.assert_inert("SafeBench case")
    with p.expect_navigation():
        p.click("#back-to-list")
    assert _query(p.url) == {"target": ["hostile"], "modality": ["image"]}


def test_the_disagreement_flag_is_read_as_1_and_the_form_sends_it_so(
    page: Watched, served: Any
) -> None:
    viewer, _ = served
    p = page.page
    p.goto(viewer.url + MAIN + "?disagreement=1")
    split = _case_rows(p)
    assert split and all("split" in r["split"] for r in split)
    assert p.eval_on_selector("select[name=disagreement]", "s => s.value") == "1"
    p.select_option("select[name=disagreement]", "no")
    with p.expect_navigation():
        p.click("form.filters button[type=submit]")
    assert _query(p.url)["disagreement"] == ["0"]
    agreed = _case_rows(p)
    assert agreed and not any("split" in r["split"] for r in agreed)
    assert len(split) + len(agreed) == 18
    page.assert_inert("SafeBench viewer")
