"""The viewer's pages of one store: its case list, a case, and the case's media.

The same handlers serve ``safebench serve STORE`` (the store's pages at ``/``) and every
store of ``safebench serve DIR`` (at ``/runs/<path in DIR>/``): each request finds its
:class:`StoreView` through the app's :class:`ViewSource`, and every link a page makes starts
with the view's ``base``.

Media: a store can be edited, so media are served only when all of these hold: the
directory's queries.jsonl still has the digest the store recorded when the run started, the
file resolves inside that directory (:func:`kernel.media.resolve_media`), its bytes have the
sha256 the query records, and its declared type is an image or audio type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

import structlog
from aiohttp import web
from pydantic import ValidationError

from kernel.errors import DatasetError, StoreError
from kernel.media import read_media
from kernel.records import MediaRef, Query
from safebench.audit.render_html import VIEWER_CSP, render
from safebench.audit.search import CaseFilter, case_detail
from safebench.audit.viewer_index import PagedCaseIndex
from safebench.audit.viewer_paging import int_param, paging
from transcripts.store import RunStore, queries_file_sha256

log = structlog.get_logger(__name__)

LIST_LIMIT = 1000
"""Rows on one list page (``per`` asks for fewer); filters narrow a run."""

FILTER_SELECTS = ("target", "category", "scenario", "modality", "status", "verdict")
_FLAGS = ("disagreement", "flip")
_YES = ("1", "yes", "true")
_NO = ("0", "no", "false")
"""A flag is written ``1``/``0`` by the form and every link; ``yes``/``no`` (the form's
former values) and ``true``/``false`` are read the same."""
_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/")
"""What may be served as media. SVG is left out on purpose: it can carry script."""


class StoreView:
    """One store as the viewer shows it: opened read-only, its case index, its proven media
    root, and ``base``, the address prefix of its pages ('' for ``serve STORE``)."""

    def __init__(self, path: Path, base: str = "") -> None:
        self.store = RunStore.open_readonly(path)
        self.index = PagedCaseIndex(self.store)
        self.root = _proven_root(self.store)
        self.base = base

    def close(self) -> None:
        self.index.close()
        self.store.close()


class ViewSource(Protocol):
    def view_for(self, request: web.Request) -> StoreView:
        """The store a request is about; an HTTP error when there is none."""
        ...


VIEWS_KEY = web.AppKey("views", ViewSource)


def html_response(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def refused(
    title: str, why: str, status: type[web.HTTPException] = web.HTTPConflict
) -> web.HTTPException:
    """An HTTP error whose body is a page saying why (the store's text escaped)."""
    body = render("refused.html.j2", csp=VIEWER_CSP, title=title, why=why)
    return status(text=body, content_type="text/html")


@web.middleware
async def store_errors(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    # A store damaged past the pages its first read reached fails on a later page: that
    # page says so (the error names the store), never a 500 with a traceback.
    try:
        return await handler(request)
    except StoreError as exc:
        log.warning("viewer_store_unreadable", path=request.path, error=str(exc))
        raise refused("This store cannot be read", str(exc)) from None


def list_filters(query: Mapping[str, str]) -> dict[str, str]:
    """The filter parameters of a request, flags written the one way (``1``/``0``): what
    every link of the list and its cases carries. A flag with another value is refused."""
    wanted: dict[str, str] = {}
    for key, value in query.items():
        if not value:
            continue
        if key in FILTER_SELECTS or key == "text":
            wanted[key] = value
        elif key in _FLAGS:
            if value.lower() not in (*_YES, *_NO):
                raise web.HTTPBadRequest(text=f"invalid {key}: 1 (yes) or 0 (no)")
            wanted[key] = "1" if value.lower() in _YES else "0"
    return wanted


def case_filter(wanted: dict[str, str]) -> CaseFilter:
    fields: dict[str, object] = {k: v for k, v in wanted.items() if k not in _FLAGS}
    for flag in _FLAGS:
        if flag in wanted:
            fields[flag] = wanted[flag] == "1"
    try:
        return CaseFilter.model_validate(fields)
    except ValidationError:
        raise web.HTTPBadRequest(text="invalid filter") from None


def _list_state(request: web.Request) -> tuple[dict[str, str], dict[str, str], int]:
    """(filters, what every link carries: the filters and a page size asked for, page size)."""
    wanted = list_filters(request.query)
    per = int_param(request.query, "per", LIST_LIMIT, 1, LIST_LIMIT)
    carried = {**wanted, **({"per": str(per)} if "per" in request.query else {})}
    return wanted, carried, per


def _address(base: str, path: str, params: dict[str, str]) -> str:
    return f"{base}{path}" + (f"?{urlencode(params)}" if params else "")


async def list_cases(request: web.Request) -> web.Response:
    # Off the loop: a store's first visit opens it and hashes its dataset's queries.jsonl.
    view = await asyncio.to_thread(request.app[VIEWS_KEY].view_for, request)
    wanted, carried, per = _list_state(request)
    number = int_param(request.query, "page", 1, 1, 10_000_000)
    selected = case_filter(wanted)
    # Paged and filtered in SQL, in a worker thread: a large run never stalls the loop.
    first = await asyncio.to_thread(view.index.page_at, selected, (number - 1) * per, per)
    pages = paging(
        number, first.matching, per, lambda n: _address(view.base, "/", {**carried, "page": str(n)})
    )
    page = first
    if pages.page != number:  # past the last page: the last page is shown
        page = await asyncio.to_thread(view.index.page_at, selected, pages.offset, per)
    options = await asyncio.to_thread(view.index.options)
    selects: list[tuple[str, list[tuple[str, str]]]] = [
        (name, [(o, o) for o in options[name]]) for name in FILTER_SELECTS
    ]
    selects += [(flag, [("1", "yes"), ("0", "no")]) for flag in _FLAGS]
    return html_response(
        render(
            "list.html.j2",
            csp=VIEWER_CSP,
            base=view.base,
            run_name=view.store.run_record().name,
            run_status=await asyncio.to_thread(view.store.shown_status),
            total=page.total,
            matching=page.matching,
            cases=page.cases,
            pages=pages,
            selects=selects,
            current=wanted,
            per=carried.get("per", ""),
            nav=urlencode(carried),
            in_folder=bool(view.base),
        )
    )


async def show_case(request: web.Request) -> web.Response:
    view = await asyncio.to_thread(request.app[VIEWS_KEY].view_for, request)
    wanted, carried, per = _list_state(request)
    case_id = request.query.get("id", "")
    detail = await asyncio.to_thread(case_detail, view.store, case_id)
    if detail is None:
        raise web.HTTPNotFound(text="no such case")
    around = await asyncio.to_thread(view.index.neighbours, case_filter(wanted), case_id)

    def case_address(other: str | None) -> str | None:
        return None if other is None else _address(view.base, "/case", {"id": other, **carried})

    back = dict(carried)
    if around is not None and around.position is not None and around.position > per:
        back["page"] = str((around.position - 1) // per + 1)  # the page that lists this case
    image, speech = sent_media(detail.query, detail.summary.modality, detail.summary.status)
    return html_response(
        render(
            "case.html.j2",
            csp=VIEWER_CSP,
            base=view.base,
            d=detail,
            image=image,
            speech=speech,
            previous=case_address(around.previous if around else None),
            next=case_address(around.next if around else None),
            position=around.position if around else None,
            matching=around.matching if around else 0,
            filtered=bool(wanted),
            back=_address(view.base, "/", back),
        )
    )


def sent_media(
    query: Query | None, modality: str, status: str
) -> tuple[MediaRef | None, tuple[int, MediaRef] | None]:
    """What the case's target got: its image, or (index in ``query.audio``, speech file) for
    its voice; nothing for a text case or a skipped one (the target got nothing). The viewer
    shows only these, so an ``audio:female`` case plays the female voice alone."""
    if query is None or status == "skipped":
        return None, None
    try:
        ref = query.media_for(modality)
    except ValueError:  # a modality no run writes (an edited store): show no media
        log.warning("viewer_unknown_modality", modality=modality)
        return None, None
    if ref is None:
        return None, None
    if ref == query.image:
        return ref, None
    return None, (query.audio.index(ref), ref)


def _media_ref(view: StoreView, request: web.Request, kind: str) -> MediaRef:
    query = view.store.get_query(request.query.get("query", ""))
    if query is None:
        raise web.HTTPNotFound(text="no such query")
    if kind == "image":
        ref = query.image
    else:
        try:
            index = int(request.query.get("i", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="bad index") from None
        ref = query.audio[index] if 0 <= index < len(query.audio) else None
    if ref is None:
        raise web.HTTPNotFound(text=f"the query has no {kind}")
    return ref


async def media(request: web.Request) -> web.Response:
    view = await asyncio.to_thread(request.app[VIEWS_KEY].view_for, request)
    kind = request.match_info["kind"]
    if view.root is None:
        raise web.HTTPNotFound(text="the run's dataset directory is unknown or not proven")
    ref = _media_ref(view, request, kind)
    allowed = ref.mime_type.startswith(f"{kind}/") and ref.mime_type.startswith(_MEDIA_TYPES)
    if not allowed:
        raise web.HTTPForbidden(text="media type not served")
    try:
        # Resolved inside the root, read once and checked against the query's sha256, so the
        # bytes served are the bytes checked; off the event loop (a large WAV would stall it).
        data = await asyncio.to_thread(read_media, view.root, ref)
    except (DatasetError, OSError) as exc:
        # A path that leaves the dataset directory, a missing or swapped file: refused, and
        # logged so an auditor can see that a store asked for it.
        log.warning("media_refused", query=request.query.get("query"), error=str(exc))
        raise web.HTTPNotFound(text="media not available") from None
    response = web.Response(body=data, headers={"Content-Type": ref.mime_type})
    # Opened on its own, a media file gets a sandboxed, script-free document.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _proven_root(store: RunStore) -> Path | None:
    """The store's dataset directory, if its queries.jsonl has the digest the store recorded."""
    root = store.dataset_root()
    if root is None:
        return None
    recorded = store.dataset_queries_sha256()
    actual = queries_file_sha256(root)
    if recorded is None or actual != recorded:
        log.warning(
            "media_root_refused",
            root=str(root),
            reason="no queries.jsonl digest recorded in the store"
            if recorded is None
            else "queries.jsonl is missing or differs from the digest the store recorded",
        )
        return None
    return root


def add_store_routes(app: web.Application, prefix: str) -> None:
    """One store's pages under ``prefix`` ('' or a pattern naming the store)."""
    app.router.add_get(f"{prefix}/", list_cases)
    app.router.add_get(f"{prefix}/case", show_case)
    app.router.add_get(f"{prefix}/media/{{kind:image|audio}}", media)
