"""``safebench serve``: a small read-only web viewer of one run (aiohttp).

Every page is rendered by the autoescaping templates and sent with a Content-Security-Policy
that allows no script at all: filtering is a GET form handled here.

Requests must name the viewer by the host it is bound to (or a loopback alias) and its port
in their ``Host`` header; anything else gets 421, so a DNS-rebinding page (evil.example
resolving to 127.0.0.1) cannot read the run from a browser on this machine.

The store is opened read-only. It names the dataset directory, but a store can be edited, so
media are served only when all of these hold: the directory's queries.jsonl still has the
digest the store recorded when the run started, the file resolves inside that directory
(:func:`kernel.media.resolve_media`), its bytes have the sha256 the query records, and
its declared type is an image or audio type. Anything else is refused with the reason logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import structlog
from aiohttp import web
from pydantic import ValidationError

from kernel.errors import DatasetError
from kernel.media import read_media
from kernel.records import MediaRef, Query
from safebench.audit.case_index import CaseIndex
from safebench.audit.render_html import VIEWER_CSP, VIEWER_CSP_HEADER, render
from safebench.audit.search import CaseFilter, case_detail
from transcripts.store import RunStore, queries_file_sha256

log = structlog.get_logger(__name__)

STORE_KEY = web.AppKey("store", RunStore)
INDEX_KEY = web.AppKey("case_index", CaseIndex)
ROOT_KEY = web.AppKey("dataset_root", object)
HOSTS_KEY = web.AppKey("allowed_hosts", frozenset)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""Names a browser on this machine may use for the viewer, whatever address it is bound to."""
LIST_LIMIT = 1000
"""Rows on one list page; the next page is a link (keyset paging), filters narrow a run."""
MAX_CURSOR = 2000
"""The longest ``after`` cursor accepted (a sort prefix and a case id)."""

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


def _host_name(name: str) -> str:
    """A host as compared: lower case, no trailing dot, IPv6 without brackets."""
    name = name.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))  # one spelling per address (::1, 0:0::1)
    except ValueError:
        return name


def _split_host(header: str) -> tuple[str, int] | None:
    """``Host`` header -> (host, port); port 80 when absent (HTTP's default); None: malformed."""
    header = header.strip()
    if header.startswith("["):
        host, sep, rest = header[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    elif header.count(":") > 1:
        return None  # a bare IPv6 address must be bracketed in a Host header
    else:
        host, _, port_text = header.partition(":")
    if not host:
        return None
    if not port_text:
        return _host_name(host), 80
    if not port_text.isdigit():
        return None
    return _host_name(host), int(port_text)


@web.middleware
async def bound_host_only(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    # DNS rebinding: a page on evil.example re-resolved to 127.0.0.1 reaches this port with
    # its own name in Host. Only the bound host, a loopback alias, or the address the
    # connection arrived on, each with the port it arrived on, are answered.
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    local_port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    local_addr = _host_name(str(sockname[0])) if local_port is not None else None
    named = _split_host(request.headers.get("Host", ""))
    allowed = request.app[HOSTS_KEY] | ({local_addr} if local_addr else set())
    if named is None or named[0] not in allowed or named[1] != local_port:
        log.warning("viewer_host_refused", host=request.headers.get("Host", ""), path=request.path)
        raise web.HTTPMisdirectedRequest(text="this viewer answers only to its own host name")
    return await handler(request)


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
    index = request.app[INDEX_KEY]
    wanted = {
        k: v
        for k, v in request.query.items()
        if k in (*_FILTER_SELECTS, "text", "disagreement", "flip")
    }
    after = request.query.get("after", "")
    if len(after) > MAX_CURSOR:
        raise web.HTTPBadRequest(text="invalid page cursor")
    case_filter = _filter_from(wanted)
    # Paged and filtered in SQL, in a worker thread: a large run never stalls the loop.
    page = await asyncio.to_thread(index.page, case_filter, after, LIST_LIMIT)
    options = await asyncio.to_thread(index.options)
    selects = [(name, options[name]) for name in _FILTER_SELECTS]
    selects += [("disagreement", ["yes", "no"]), ("flip", ["yes", "no"])]
    next_query = {**wanted, "after": page.next_after} if page.next_after else None
    return _html(
        render(
            "list.html.j2",
            csp=VIEWER_CSP,
            run_name=store.run_record().name,
            run_status=await asyncio.to_thread(store.shown_status),
            total=page.total,
            matching=page.matching,
            cases=page.cases,
            first_page=not after,
            next_query=next_query,
            limit=LIST_LIMIT,
            selects=selects,
            current=wanted,
        )
    )


async def show_case(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    detail = await asyncio.to_thread(case_detail, store, request.query.get("id", ""))
    if detail is None:
        raise web.HTTPNotFound(text="no such case")
    image, speech = sent_media(detail.query, detail.summary.modality, detail.summary.status)
    return _html(render("case.html.j2", csp=VIEWER_CSP, d=detail, image=image, speech=speech))


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


async def media(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    root = request.app[ROOT_KEY]
    if not isinstance(root, Path):
        raise web.HTTPNotFound(text="the run's dataset directory is unknown or not proven")
    ref = _media_ref(request, kind)
    allowed = ref.mime_type.startswith(f"{kind}/") and ref.mime_type.startswith(_MEDIA_TYPES)
    if not allowed:
        raise web.HTTPForbidden(text="media type not served")
    try:
        # Resolved inside the root, read once and checked against the query's sha256, so the
        # bytes served are the bytes checked; off the event loop (a large WAV would stall it).
        data = await asyncio.to_thread(read_media, root, ref)
    except (DatasetError, OSError) as exc:
        # A path that leaves the dataset directory, a missing or swapped file: refused, and
        # logged so an auditor can see that a store asked for it.
        log.warning("media_refused", query=request.query.get("query"), error=str(exc))
        raise web.HTTPNotFound(text="media not available") from None
    response = web.Response(body=data, headers={"Content-Type": ref.mime_type})
    # Opened on its own, a media file gets a sandboxed, script-free document.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


async def no_favicon(_: web.Request) -> web.Response:
    # Browsers ask for one on every page; an empty answer keeps their consoles clean.
    return web.Response(status=204)


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


def make_app(store_path: Path, host: str | None = None) -> web.Application:
    """The viewer over the run store at ``store_path`` (opened read-only here, closed on
    cleanup), answering to ``host`` (the address it is bound to) and loopback names."""
    store = RunStore.open_readonly(store_path)
    app = web.Application(middlewares=[security_headers, bound_host_only])
    app[STORE_KEY] = store
    app[INDEX_KEY] = CaseIndex(store)
    app[ROOT_KEY] = _proven_root(store)
    app[HOSTS_KEY] = LOOPBACK_NAMES | ({_host_name(host)} if host else set())
    app.router.add_get("/", list_cases)
    app.router.add_get("/case", show_case)
    app.router.add_get("/media/{kind:image|audio}", media)
    app.router.add_get("/favicon.ico", no_favicon)

    async def close_store(app: web.Application) -> None:
        app[INDEX_KEY].close()
        store.close()

    app.on_cleanup.append(close_store)
    return app
