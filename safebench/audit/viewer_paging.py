"""Numbered paging for the viewer's lists: which page a request asks for, and the links
(first, a window around the current page, last, previous and next) every list shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web
from pydantic import BaseModel

WINDOW = 2
"""Pages linked on each side of the current one (1 … 4 5 [6] 7 8 … 100)."""
MAX_PAGE = 10_000_000
"""Larger page numbers are refused as malformed (a page past the last shows the last)."""


class PageLink(BaseModel):
    number: int | None
    """None: a gap (…) between linked pages."""
    href: str = ""
    current: bool = False


class Paging(BaseModel):
    """Where one page of a list sits among its pages."""

    page: int
    pages: int
    per: int
    items: int
    first_item: int
    """1-based number of the page's first item (0 when the list is empty)."""
    last_item: int
    previous: str | None
    next: str | None
    links: list[PageLink]

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; 400 naming it otherwise."""
    text = query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise web.HTTPBadRequest(text=f"invalid {name}: a whole number from {low} to {high}")
    return int(text)


def paging(page: int, items: int, per: int, href: Callable[[int], str]) -> Paging:
    """The links of page ``page`` (clamped to the last) of ``items`` items, ``per`` a page;
    ``href(n)`` is page n's address."""
    pages = max(1, -(-items // per))
    page = min(max(page, 1), pages)
    shown = sorted({1, pages, *range(max(1, page - WINDOW), min(pages, page + WINDOW) + 1)})
    links: list[PageLink] = []
    for number in shown:
        if links and links[-1].number is not None and number - links[-1].number > 1:
            links.append(PageLink(number=None))
        links.append(PageLink(number=number, href=href(number), current=number == page))
    first = (page - 1) * per
    return Paging(
        page=page,
        pages=pages,
        per=per,
        items=items,
        first_item=first + 1 if items else 0,
        last_item=min(items, first + per),
        previous=href(page - 1) if page > 1 else None,
        next=href(page + 1) if page < pages else None,
        links=links,
    )
