"""``safebench serve``: a small read-only web viewer of one run (aiohttp).

Every page is rendered by the autoescaping templates and sent with a Content-Security-Policy
that allows no script at all: filtering is a GET form handled here. Media are served only
through :func:`generation.dataset.resolve_media`, so only files inside the run's dataset
directory can be read, and only as the image or audio types the query declares.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from aiohttp import web
from pydantic import ValidationError

from generation.dataset import resolve_media
from safebench.errors import DatasetError
from safebench.records import MediaRef
from transcripts.render_html import VIEWER_CSP, VIEWER_CSP_HEADER, render
from transcripts.search import CaseFilter, case_detail, case_summaries, search_cases
from transcripts.store import RunStore

log = structlog.get_logger(__name__)

STORE_KEY = web.AppKey("store", RunStore)
ROOT_KEY = web.AppKey("dataset_root", object)
LIST_LIMIT = 1000
"""Rows on one list page; filters narrow a larger run."""

_FILTER_SELECTS = ("target", "category", "scenario", "modality", "status", "verdict")
_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/")
"""What may be served as media. SVG is left out on purpose: it can carry script."""


@web.middleware
async def security_headers(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers.setdefault("Content-Security-Policy", VIEWER_CSP_HEADER)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", charset="utf-8")


def _filter_from(query: dict[str, str]) -> CaseFilter:
    fields: dict[str, object] = {k: v for k, v in query.items() if v and k in _FILTER_SELECTS}
    for flag in ("disagreement", "flip"):
        if query.get(flag) in ("yes", "no"):
            fields[flag] = query[flag] == "yes"
    if query.get("text"):
        fields["text"] = query["text"]
    try:
        return CaseFilter.model_validate(fields)
    except ValidationError:
        raise web.HTTPBadRequest(text="invalid filter") from None


async def list_cases(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    wanted = {
        k: v
        for k, v in request.query.items()
        if k in (*_FILTER_SELECTS, "text", "disagreement", "flip")
    }
    cases = search_cases(store, _filter_from(wanted), disagreements_first=True)
    everything = case_summaries(store)
    options = {
        name: sorted({str(getattr(c, name)) for c in everything}) for name in _FILTER_SELECTS
    }
    selects = [(name, options[name]) for name in _FILTER_SELECTS]
    selects += [("disagreement", ["yes", "no"]), ("flip", ["yes", "no"])]
    return _html(
        render(
            "list.html.j2",
            csp=VIEWER_CSP,
            run_name=store.run_info()["name"],
            total=len(everything),
            cases=cases[:LIST_LIMIT],
            limit=LIST_LIMIT,
            selects=selects,
            current=wanted,
        )
    )


async def show_case(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    detail = case_detail(store, request.query.get("id", ""))
    if detail is None:
        raise web.HTTPNotFound(text="no such case")
    return _html(render("case.html.j2", csp=VIEWER_CSP, d=detail))


def _media_ref(request: web.Request, kind: str) -> MediaRef:
    store = request.app[STORE_KEY]
    query = store.get_query(request.query.get("query", ""))
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


async def media(request: web.Request) -> web.FileResponse:
    kind = request.match_info["kind"]
    root = request.app[ROOT_KEY]
    if not isinstance(root, Path):
        raise web.HTTPNotFound(text="the run's store does not say where its dataset lives")
    ref = _media_ref(request, kind)
    allowed = ref.mime_type.startswith(f"{kind}/") and ref.mime_type.startswith(_MEDIA_TYPES)
    if not allowed:
        raise web.HTTPForbidden(text="media type not served")
    try:
        path = resolve_media(root, ref)
    except DatasetError as exc:
        # A path that leaves the dataset directory (or a missing file): refused, and logged
        # so an auditor can see that a store asked for it.
        log.warning("media_refused", query=request.query.get("query"), error=str(exc))
        raise web.HTTPNotFound(text="media not available") from None
    response = web.FileResponse(path, headers={"Content-Type": ref.mime_type})
    # Opened on its own, a media file gets a sandboxed, script-free document.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


async def no_favicon(_: web.Request) -> web.Response:
    # Browsers ask for one on every page; an empty answer keeps their consoles clean.
    return web.Response(status=204)


def make_app(store_path: Path) -> web.Application:
    """The viewer over the run store at ``store_path`` (opened here, closed on cleanup)."""
    store = RunStore(store_path)
    app = web.Application(middlewares=[security_headers])
    app[STORE_KEY] = store
    app[ROOT_KEY] = store.dataset_root()
    app.router.add_get("/", list_cases)
    app.router.add_get("/case", show_case)
    app.router.add_get("/media/{kind:image|audio}", media)
    app.router.add_get("/favicon.ico", no_favicon)

    async def close_store(_: web.Application) -> None:
        store.close()

    app.on_cleanup.append(close_store)
    return app
