"""``safebench serve``: a small read-only web viewer of one run, or of every run under a
folder (aiohttp).

Every page is rendered by the autoescaping templates and sent with a Content-Security-Policy
that allows no script at all: filtering is a GET form handled here.

Requests must name the viewer by the host it is bound to (or a loopback alias) and its port
in their ``Host`` header; anything else gets 421, so a DNS-rebinding page (evil.example
resolving to 127.0.0.1) cannot read the run from a browser on this machine.

Stores are opened read-only. One store's pages (its case list, each case, its media, and
the checks media pass before they are served) are ``safebench.audit.viewer_run``; the
folder's pages (its runs, and the comparison of two of them) are
``safebench.audit.viewer_browse``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import structlog
from aiohttp import web

from safebench.audit.render_html import VIEWER_CSP_HEADER
from safebench.audit.viewer_browse import add_folder_routes
from safebench.audit.viewer_run import (
    LIST_LIMIT,
    VIEWS_KEY,
    StoreView,
    add_store_routes,
    sent_media,
    store_errors,
)

__all__ = ["LIST_LIMIT", "make_app", "sent_media"]

log = structlog.get_logger(__name__)

HOSTS_KEY = web.AppKey("allowed_hosts", frozenset)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""Names a browser on this machine may use for the viewer, whatever address it is bound to."""


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


async def no_favicon(_: web.Request) -> web.Response:
    # Browsers ask for one on every page; an empty answer keeps their consoles clean.
    return web.Response(status=204)


class _OneStore:
    """``serve STORE``: every page is about the one store."""

    def __init__(self, view: StoreView) -> None:
        self.view = view

    def view_for(self, request: web.Request) -> StoreView:
        return self.view


def make_app(path: Path, host: str | None = None) -> web.Application:
    """The viewer over the run store at ``path``, or over every store under the folder
    ``path`` (``safebench serve DIR``), answering to ``host`` (the address it is bound to)
    and loopback names. Stores are opened read-only and closed on cleanup; a single store
    that is not a SafeBench store is refused here (StoreError naming it)."""
    app = web.Application(middlewares=[security_headers, bound_host_only, store_errors])
    app[HOSTS_KEY] = LOOPBACK_NAMES | ({_host_name(host)} if host else set())
    app.router.add_get("/favicon.ico", no_favicon)
    if Path(path).is_dir():
        add_folder_routes(app, Path(path))
        return app
    view = StoreView(Path(path))
    app[VIEWS_KEY] = _OneStore(view)
    add_store_routes(app, "")

    async def close_store(app: web.Application) -> None:
        view.close()

    app.on_cleanup.append(close_store)
    return app
