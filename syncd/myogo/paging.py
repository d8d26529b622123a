"""Page/limit paging over bare JSON arrays (docs/simulator.md, paging).

Pages are 1-based; the last page is the first one shorter than ``limit``. A server that
ignores ``page`` would loop forever, so an identical repeated page, or more than
``max_pages`` pages, stops with ``MyogoPagingError`` (the caller's cursor stays put).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from syncd.myogo.errors import MyogoPagingError

DEFAULT_MAX_PAGES = 10_000

FetchPage = Callable[[int], Awaitable[list[Any]]]


async def iter_pages(fetch: FetchPage, limit: int, *, max_pages: int = DEFAULT_MAX_PAGES,
                     what: str = "items") -> AsyncIterator[list[Any]]:
    """Yield each non-empty raw page (a list of JSON items) until a short page."""
    previous: list[Any] | None = None
    for page in range(1, max_pages + 1):
        items = await fetch(page)
        if not items:
            return
        if items == previous:
            raise MyogoPagingError(
                f"{what}: page {page} repeats page {page - 1}; the server ignores paging")
        yield items
        if len(items) < limit:
            return
        previous = items
    raise MyogoPagingError(f"{what}: more than {max_pages} pages of {limit}; giving up")
