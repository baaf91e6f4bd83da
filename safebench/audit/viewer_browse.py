"""``safebench serve DIR``: the runs under a folder, each run's pages, and two runs compared.

``/`` lists every store under the folder (name, kind, status, cases, ASR per target, jury,
date; an unreadable store with its error); ``/runs/<path>/`` is that store's case list, with
the pages ``serve STORE`` shows at ``/``; ``/compare?a=<path>&b=<path>`` lists the cases of
two runs that share a case id whose verdicts differ (or all of them), each opening both
deliberations side by side. Only stores found under the folder are opened: a path in an
address that names anything else is a 404.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import cast
from urllib.parse import quote, urlencode

from aiohttp import web

from kernel.errors import StoreError
from safebench.audit.browse_compare import Comparison, Show
from safebench.audit.browse_folder import FolderRuns, RunEntry
from safebench.audit.render_html import VIEWER_CSP, render
from safebench.audit.search import case_detail
from safebench.audit.stored_config import StoredConfig
from safebench.audit.viewer_paging import int_param, paging
from safebench.audit.viewer_run import (
    VIEWS_KEY,
    StoreView,
    add_store_routes,
    html_response,
    refused,
    sent_media,
)

RUNS_PER_PAGE = 100
COMPARE_PER_PAGE = 100
_STORE = r"/runs/{store:.+\.sqlite}"


def store_base(rel: str) -> str:
    """The address prefix of a store's pages."""
    return "/runs/" + quote(rel, safe="/")


class Folder:
    """The stores under a folder, each opened (read-only) the first time it is shown."""

    def __init__(self, root: Path) -> None:
        self.runs = FolderRuns(root)
        self._lock = threading.Lock()
        self._views: dict[str, StoreView] = {}
        self._comparisons: dict[tuple[str, str], Comparison] = {}

    def path_of(self, rel: str) -> Path:
        """A store found under the folder; 404 for any other path."""
        found = self.runs.scan().get(rel)
        if found is None:
            raise web.HTTPNotFound(text="no such store under this folder")
        return found

    def view(self, rel: str) -> StoreView:
        with self._lock:
            kept = self._views.get(rel)
            if kept is not None:
                return kept
            path = self.path_of(rel)
            try:
                view = StoreView(path, store_base(rel))
                view.store.run_record()
            except StoreError as exc:
                raise refused(f"{rel} cannot be shown", str(exc)) from None
            self._views[rel] = view
            return view

    def view_for(self, request: web.Request) -> StoreView:
        return self.view(request.match_info["store"])

    def comparison(self, a: str, b: str) -> Comparison:
        with self._lock:
            kept = self._comparisons.get((a, b))
            if kept is None:
                kept = Comparison(self.path_of(a), self.path_of(b))
                self._comparisons[(a, b)] = kept
            return kept

    def close(self) -> None:
        with self._lock:
            for view in self._views.values():
                view.close()
            self._views.clear()


FOLDER_KEY = web.AppKey("folder", Folder)


async def list_runs(request: web.Request) -> web.Response:
    folder = request.app[FOLDER_KEY]
    entries = await asyncio.to_thread(folder.runs.entries)
    number = int_param(request.query, "page", 1, 1, 10_000_000)
    pages = paging(number, len(entries), RUNS_PER_PAGE, lambda n: f"/?page={n}")
    shown = entries[pages.offset : pages.offset + RUNS_PER_PAGE]
    readable = [e for e in entries if e.error is None]
    return html_response(
        render(
            "runs.html.j2",
            csp=VIEWER_CSP,
            folder=str(folder.runs.root),
            entries=shown,
            readable=readable,
            pages=pages,
            base_of=store_base,
            damaged=len(entries) - len(readable),
        )
    )


def _compare_state(request: web.Request) -> tuple[str, str, Show, str | None]:
    a, b = request.query.get("a", ""), request.query.get("b", "")
    if not a or not b:
        raise refused(
            "Choose two runs", "A comparison needs two runs: a and b.", web.HTTPBadRequest
        )
    show = request.query.get("show", "flips")
    if show not in ("flips", "all"):
        raise web.HTTPBadRequest(text="invalid show: flips or all")
    return a, b, cast(Show, show), request.query.get("target") or None


def _run_head(folder: Folder, rel: str) -> dict[str, object]:
    """A compared run's name, jury and dataset digest, for the comparison's header."""
    view = folder.view(rel)
    record = view.store.run_record()
    jury = record.config_as(StoredConfig).jury
    return {
        "rel": rel,
        "base": view.base,
        "name": record.name,
        "status": view.store.shown_status(),
        "jury": jury,
        "dataset": view.store.dataset_queries_sha256(),
    }


async def compare_runs(request: web.Request) -> web.Response:
    folder = request.app[FOLDER_KEY]
    a, b, show, target = _compare_state(request)
    if a == b:
        raise refused("Nothing to compare", "Run a and run b are the same store.")
    heads = [await asyncio.to_thread(_run_head, folder, rel) for rel in (a, b)]
    # Off the loop: a first comparison walks the served folder to find the two stores.
    comparison = await asyncio.to_thread(folder.comparison, a, b)
    tally = await asyncio.to_thread(comparison.tally, target, COMPARE_PER_PAGE)
    if tally.shared == 0:
        raise refused(
            "These runs share no case",
            f"{a} ({tally.cases_a} cases) and {b} ({tally.cases_b} cases) have no case in "
            "common (a case is one target, query id and modality): they are not runs of the "
            "same dataset and targets, so there is nothing to compare case by case.",
        )
    params = {"a": a, "b": b, "show": show, **({"target": target} if target else {})}
    number = int_param(request.query, "page", 1, 1, 10_000_000)
    items = tally.flips if show == "flips" else tally.shared
    pages = paging(
        number, items, COMPARE_PER_PAGE, lambda n: f"/compare?{urlencode({**params, 'page': n})}"
    )
    starts = tally.starts[show]
    start = starts[pages.page - 1] if starts else None
    rows = (
        [] if start is None
        else await asyncio.to_thread(comparison.page, show, target, start, COMPARE_PER_PAGE)
    )  # fmt: skip
    targets = await asyncio.to_thread(folder.view(a).store.targets)
    return html_response(
        render(
            "compare.html.j2",
            csp=VIEWER_CSP,
            heads=heads,
            tally=tally,
            rows=rows,
            pages=pages,
            show=show,
            target=target,
            targets=targets,
            params=params,
            nav=urlencode(params),
        )
    )


async def compare_case(request: web.Request) -> web.Response:
    folder = request.app[FOLDER_KEY]
    a, b, show, target = _compare_state(request)
    case_id = request.query.get("id", "")
    # Off the loop: a first comparison walks the served folder to find the two stores.
    comparison = await asyncio.to_thread(folder.comparison, a, b)
    row = await asyncio.to_thread(comparison.one, case_id)
    if row is None:
        raise web.HTTPNotFound(text="no such case in both runs")
    heads = [await asyncio.to_thread(_run_head, folder, rel) for rel in (a, b)]
    sides = []
    for rel in (a, b):
        view = folder.view(rel)
        detail = await asyncio.to_thread(case_detail, view.store, case_id)
        if detail is None:
            raise web.HTTPNotFound(text="no such case in both runs")
        image, speech = sent_media(detail.query, detail.summary.modality, detail.summary.status)
        sides.append({"d": detail, "image": image, "speech": speech, "base": view.base})
    previous, following = await asyncio.to_thread(comparison.neighbours, show, target, case_id)
    params = {"a": a, "b": b, "show": show, **({"target": target} if target else {})}

    def address(other: str | None) -> str | None:
        return None if other is None else f"/compare/case?{urlencode({**params, 'id': other})}"

    return html_response(
        render(
            "compare_case.html.j2",
            csp=VIEWER_CSP,
            heads=heads,
            row=row,
            sides=sides,
            previous=address(previous),
            next=address(following),
            back=f"/compare?{urlencode(params)}",
        )
    )


def add_folder_routes(app: web.Application, root: Path) -> None:
    """The folder's pages on ``app``, and every store's pages under ``/runs/<path>/``."""
    folder = Folder(root)
    app[FOLDER_KEY] = folder
    app[VIEWS_KEY] = folder
    app.router.add_get("/", list_runs)
    app.router.add_get("/compare", compare_runs)
    app.router.add_get("/compare/case", compare_case)
    add_store_routes(app, _STORE)

    async def close_stores(app: web.Application) -> None:
        folder.close()

    app.on_cleanup.append(close_stores)


__all__ = ["RunEntry", "add_folder_routes"]
