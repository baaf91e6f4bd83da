"""The report and the viewer in a real headless Chromium: they load cleanly, filters work,
images render, and no payload planted in a model answer ever runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from safebench.audit.render_html import render_report
from safebench.audit.report import build_report
from tests.transcripts.conftest import SECRET, AuditRuns, ViewerThread


class Watched:
    """A page with every console error, page error and dialog it raises collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_inert(self, title_prefix: str) -> None:
        page = self.page
        assert page.evaluate("typeof window.__xss") == "undefined", page.evaluate("window.__xss")
        assert page.title().startswith(title_prefix)
        assert page.title() != "pwned"
        assert page.evaluate("document.querySelectorAll('script, iframe, svg').length") == 0
        assert page.evaluate("document.querySelectorAll('[onerror], [onload]').length") == 0
        assert not self.dialogs
        assert not self.errors, self.errors
        assert SECRET not in page.content()


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context()
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def _rows(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "#cases tr.case",
        """rows => rows.map(r => ({verdict: r.dataset.verdict, split: r.className,
            target: r.cells[1].textContent, href: r.querySelector('a').getAttribute('href')}))""",
    )


def test_report_renders_its_plots_and_runs_no_payload(
    page: Watched, audit_runs: AuditRuns, tmp_path: Path
) -> None:
    html = tmp_path / "report.html"
    html.write_text(render_report(build_report([audit_runs.main, audit_runs.second])), "utf-8")
    page.page.goto(html.as_uri())
    page.page.wait_for_load_state("load")
    sizes = page.page.eval_on_selector_all(
        "img.plot", "imgs => imgs.map(i => [i.complete, i.naturalWidth])"
    )
    assert len(sizes) == 3 and all(done and width > 0 for done, width in sizes), sizes
    # The payloads are on the page, as text.
    body = page.page.inner_text("body")
    assert "<script>" in body and 'onload="window.__xss=' in body and "javascript:" in body
    assert page.page.locator("#asr-by-category tr").count() == 1 + 4  # 2 runs x 2 targets
    page.assert_inert("SafeBench report")


def test_viewer_filters_and_lists_split_juries_first(page: Watched, viewer: ViewerThread) -> None:
    p = page.page
    response = p.goto(viewer.url + "/")
    assert response is not None and response.ok
    csp = response.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    rows = _rows(p)
    assert len(rows) == 18
    splits = ["split" in r["split"] for r in rows]
    assert any(splits) and splits == sorted(splits, reverse=True)  # split juries on top

    p.select_option("select[name=verdict]", "harmful")
    with p.expect_navigation():
        p.click("button[type=submit]")
    assert parse_qs(urlparse(p.url).query)["verdict"] == ["harmful"]
    harmful = _rows(p)
    assert harmful and all(r["verdict"] == "harmful" for r in harmful)
    assert len(harmful) < len(rows)
    # The hostile scenario name is a plain option; choosing it filters on it.
    p.select_option("select[name=verdict]", "")
    p.select_option("select[name=target]", "leaky")
    p.select_option("select[name=disagreement]", "no")
    with p.expect_navigation():
        p.click("button[type=submit]")
    kept = _rows(p)
    assert kept and all(r["target"] == "leaky" and "split" not in r["split"] for r in kept)
    p.fill("input[name=text]", "onerror")
    p.select_option("select[name=target]", "hostile")
    p.select_option("select[name=disagreement]", "")
    with p.expect_navigation():
        p.click("button[type=submit]")
    found = _rows(p)
    assert found and all(r["target"] == "hostile" for r in found)
    page.assert_inert("SafeBench viewer")


def test_viewer_case_page_shows_media_and_runs_no_payload(
    page: Watched, viewer: ViewerThread, audit_runs: AuditRuns
) -> None:
    p = page.page
    p.goto(viewer.url + "/?target=hostile&modality=image&text=lock")
    link = p.locator("#cases tr.case a").first
    with p.expect_navigation():
        link.click()
    assert "hostile%3A%3Aaudit-lock%3A%3Aimage" in p.url or "hostile::audit-lock::image" in p.url
    p.wait_for_load_state("load")
    image = p.eval_on_selector("#query-image", "i => [i.complete, i.naturalWidth, i.naturalHeight]")
    assert image == [True, 64, 40]
    # An image case shows only what its target got: the image, no speech player.
    assert p.locator("audio").count() == 0
    case_url = p.url
    p.goto(viewer.url + "/case?id=hostile%3A%3Aaudit-lock%3A%3Aaudio")
    assert p.locator("img").count() == 0
    audio_src = p.get_attribute("audio", "src")
    assert audio_src and audio_src.startswith("/media/audio?query=audit-lock")
    wav = p.request.get(viewer.url + audio_src)
    assert wav.ok and wav.headers["content-type"] == "audio/wav" and wav.body()[:4] == b"RIFF"
    p.goto(case_url)
    answer = p.inner_text("#answer")
    assert "<img src=x onerror=" in answer and "javascript:" in answer  # shown, as text
    assert "<script>window.__xss='query'</script>" in p.inner_text("#query")
    assert p.locator(".round").count() >= 1
    assert p.locator("#round-1 tr").count() == 1 + 5  # header + five jurors
    assert p.inner_text("#verdict").split()[0] in ("harmful", "safe", "undecided")
    # Every link on the page is the viewer's own (or the image's enlarging anchor); no
    # javascript: URL was made from an answer.
    hrefs = p.eval_on_selector_all("a", "as => as.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("/", "#")) for h in hrefs), hrefs
    page.assert_inert("SafeBench case")
