"""Keyset paging over ``date_modified_gmt`` and ``id`` with a resumable, opaque cursor.

WooCommerce can filter ``modified_after`` (strict, one-second resolution) and sort by
``modified`` but has no "after this id" filter. So each query asks for everything modified
at or after the last item's second and drops rows at or before the last (modified, id)
position. Offsets are only used while more than one page of items share one second, so
items that change during a scan cannot shift unseen items out of reach.

The cursor (JSON) holds the window start ``since``, the run's ``signpost``, the newest
``max_seen`` and the position. When a window completes only the next ``since`` remains:
``min(max_seen, signpost - overlap)`` (``syncd.cursor.next_cursor``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.cursor import format_time, next_cursor, parse_time, utc_now

Row = dict[str, Any]
WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class KeysetCursor:
    since: str | None = None
    signpost: str | None = None
    max_seen: str | None = None
    pos_modified: str | None = None
    pos_id: int | None = None
    skip: int = 0

    @classmethod
    def load(cls, text: str | None) -> KeysetCursor:
        """Parse a saved cursor; a bare ISO time is taken as a window start."""
        if not text:
            return cls()
        if not text.lstrip().startswith("{"):
            if parse_time(text) is None:
                raise ValueError(f"not a WooCommerce cursor: {text!r}")
            return cls(since=text.strip())
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def dump(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in (None, 0)},
                          sort_keys=True)

    def modified_after(self) -> datetime | None:
        """The query's strict lower bound: one second before the position, or ``since``."""
        position = parse_time(self.pos_modified)
        if position is not None:
            return position - timedelta(seconds=1)
        return parse_time(self.since)

    def seen(self, row_time: datetime, row_id: int) -> KeysetCursor:
        newest = parse_time(self.max_seen)
        max_seen = self.max_seen if newest is not None and newest >= row_time \
            else format_time(row_time)
        return replace(self, pos_modified=format_time(row_time), pos_id=row_id,
                       max_seen=max_seen)

    def is_after(self, row_time: datetime, row_id: int) -> bool:
        position = parse_time(self.pos_modified)
        if position is None or self.pos_id is None:
            return True
        return (row_time, row_id) > (position, self.pos_id)

    def closed(self) -> KeysetCursor:
        signpost = parse_time(self.signpost) or utc_now()
        new = next_cursor(parse_time(self.max_seen), signpost, parse_time(self.since))
        return KeysetCursor(since=format_time(new) if new else None)


def row_time(row: Row) -> datetime:
    """``date_modified_gmt`` of a WooCommerce record (naive text, GMT)."""
    value = parse_time(row.get("date_modified_gmt") or row.get("date_modified"))
    return value or datetime(1970, 1, 1, tzinfo=UTC)


FetchPage = Callable[[dict[str, Any], int], Awaitable[tuple[list[Row], bool]]]


async def keyset_pages(
    fetch: FetchPage, text: str | None
) -> AsyncIterator[tuple[list[Row], str]]:
    """Yield ``(rows, cursor)`` pages; ``fetch(params, page) -> (rows, was_last_page)``."""
    cursor = KeysetCursor.load(text)
    if cursor.signpost is None:
        cursor = replace(cursor, signpost=format_time(utc_now()))
    while True:
        bound = cursor.modified_after()
        params: dict[str, Any] = {"orderby": "modified", "order": "asc", "dates_are_gmt": "true"}
        if bound is not None:
            params["modified_after"] = bound.astimezone(UTC).strftime(WIRE_FORMAT)
        page = cursor.skip + 1
        rows, last = await fetch(params, page)
        fresh = [r for r in rows if cursor.is_after(row_time(r), int(r["id"]))]
        for row in fresh:
            cursor = cursor.seen(row_time(row), int(row["id"]))
        if last:
            yield fresh, cursor.closed().dump()
            return
        same_query = cursor.modified_after() == bound
        cursor = replace(cursor, skip=page if same_query else 0)
        if fresh:
            yield fresh, cursor.dump()
