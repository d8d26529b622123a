"""Keyset paging over ``date_modified_gmt`` with a resumable, opaque cursor.

WooCommerce can filter ``modified_after``/``modified_before`` (strict, one-second
resolution) and sort by ``modified`` but has no "after this id" filter. So:

* The main scan always asks for page 1 of "modified after ``bound``". After a full page
  whose last row is in second S, every row before S has been seen (rows come sorted by
  modified), so the next page starts at S again (``bound = S - 1s``) and drops the rows
  of S it already returned (their ids are kept in ``edge_ids``). Page 1 of a fresh query
  cannot skip rows that moved: it has no offset.
* A full page whose rows all share one second S means S holds at least a page of rows.
  Only then are offsets used: S alone (``modified_after=S-1s&modified_before=S+1s``),
  sorted by id, page by page. Rows can leave S while it is scanned (an order of a bulk
  action is cancelled: its modified time moves to now) and shift the rest one place left,
  past the offset. Every page therefore checks ``X-WP-Total`` of S against the first
  page's; when S's membership changed, S is scanned again from page 1 (a repeat is
  harmless, a skip would lose an order for good). Only a completely scanned S moves the
  window past it. None of this relies on the order of rows that share a second.

The cursor (JSON) holds the window start ``since``, the run's ``signpost``, the newest
``max_seen``, the main scan's ``bound`` and ``edge_ids``, and a second being scanned
(``drill``, pages done, its total). When a window completes only the next ``since``
remains: ``min(max_seen, signpost - overlap)`` (``syncd.cursor.next_cursor``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.cursor import format_time, next_cursor, parse_time, utc_now
from syncd.errors import TransientError

Row = dict[str, Any]
WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S"
SECOND = timedelta(seconds=1)
#: scans of one second restarted because its rows kept moving before the run gives up
#: (the cursor stays before that second, so the next run tries again)
MAX_RESCANS = 5


@dataclass(frozen=True)
class KeysetCursor:
    since: str | None = None
    signpost: str | None = None
    max_seen: str | None = None
    bound: str | None = None            # main scan: modified after this (None: since)
    edge_ids: tuple[int, ...] = ()      # rows of the bound's next second already returned
    drill: str | None = None            # the second being scanned by offset
    drill_pages: int = 0                # its pages done
    drill_total: int | None = None      # its row count when its scan started
    rescans: int = 0

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
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "edge_ids" in known:
            known["edge_ids"] = tuple(int(i) for i in known["edge_ids"])
        position = parse_time(data.get("pos_modified"))
        if position is not None and "bound" not in known:
            # an older cursor's (modified, id) position: read its second again
            known["bound"] = format_time(position - SECOND)
        return cls(**known)

    def dump(self) -> str:
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if v not in (None, 0, ())}
        return json.dumps(data, sort_keys=True)

    def start(self) -> datetime | None:
        """The main scan's strict lower bound."""
        return parse_time(self.bound) or parse_time(self.since)

    def seen(self, rows: list[Row]) -> KeysetCursor:
        newest = parse_time(self.max_seen)
        for row in rows:
            when = row_time(row)
            if newest is None or when > newest:
                newest = when
        return replace(self, max_seen=format_time(newest) if newest else None)

    def closed(self) -> KeysetCursor:
        signpost = parse_time(self.signpost) or utc_now()
        new = next_cursor(parse_time(self.max_seen), signpost, parse_time(self.since))
        return KeysetCursor(since=format_time(new) if new else None)


def row_time(row: Row) -> datetime:
    """``date_modified_gmt`` of a WooCommerce record (naive text, GMT), whole seconds."""
    value = parse_time(row.get("date_modified_gmt") or row.get("date_modified"))
    return (value or datetime(1970, 1, 1, tzinfo=UTC)).replace(microsecond=0)


def _wire(value: datetime) -> str:
    return value.astimezone(UTC).strftime(WIRE_FORMAT)


#: ``fetch(params, page) -> (rows, was_last_page, total_rows_or_None)``
FetchPage = Callable[[dict[str, Any], int], Awaitable[tuple[list[Row], bool, int | None]]]


async def keyset_pages(
    fetch: FetchPage, text: str | None
) -> AsyncIterator[tuple[list[Row], str]]:
    """Yield ``(rows, cursor)`` pages; each cursor resumes after its page."""
    cursor = replace(KeysetCursor.load(text), rescans=0)    # the limit is per run
    if cursor.signpost is None:
        cursor = replace(cursor, signpost=format_time(utc_now()))
    while True:
        if cursor.drill is not None:
            rows, cursor = await _drill_page(fetch, cursor)
            if rows:
                yield rows, cursor.dump()
            continue
        bound = cursor.start()
        params: dict[str, Any] = {"orderby": "modified", "order": "asc", "dates_are_gmt": "true"}
        if bound is not None:
            params["modified_after"] = _wire(bound)
        rows, last, _ = await fetch(params, 1)
        fresh = [r for r in rows if _id(r) not in cursor.edge_ids
                 or row_time(r) != _next_second(bound)]
        cursor = cursor.seen(rows)
        if last:
            yield fresh, cursor.closed().dump()
            return
        edge = row_time(rows[-1])
        carried = cursor.edge_ids if _next_second(bound) == edge else ()
        returned = tuple(dict.fromkeys((*carried, *(_id(r) for r in rows
                                                      if row_time(r) == edge))))
        if row_time(rows[0]) == edge:
            # a whole page in one second: scan that second alone, by id
            cursor = replace(cursor, drill=format_time(edge), drill_pages=0, drill_total=None,
                             rescans=0, edge_ids=returned)
        else:
            cursor = replace(cursor, bound=format_time(edge - SECOND), edge_ids=returned)
        if fresh:
            yield fresh, cursor.dump()


def _id(row: Row) -> int:
    try:
        return int(row.get("id") or 0)
    except (TypeError, ValueError):
        return 0


def _next_second(bound: datetime | None) -> datetime | None:
    return bound + SECOND if bound is not None else None


async def _drill_page(
    fetch: FetchPage, cursor: KeysetCursor
) -> tuple[list[Row], KeysetCursor]:
    """One page of the second being scanned; rescan it from page 1 if its rows changed."""
    second = parse_time(cursor.drill)
    assert second is not None
    params = {"orderby": "id", "order": "asc", "dates_are_gmt": "true",
              "modified_after": _wire(second - SECOND),
              "modified_before": _wire(second + SECOND)}
    page = cursor.drill_pages + 1
    rows, last, total = await fetch(params, page)
    if cursor.drill_total is not None and total != cursor.drill_total:
        if cursor.rescans >= MAX_RESCANS:
            raise TransientError(
                f"the WooCommerce records modified at {cursor.drill} kept changing while "
                "they were read; the next run reads that second again")
        return [], replace(cursor, drill_pages=0, drill_total=None,
                           rescans=cursor.rescans + 1)
    fresh = [r for r in rows if _id(r) not in cursor.edge_ids]
    cursor = cursor.seen(rows)
    if not last:
        return fresh, replace(cursor, drill_pages=page, drill_total=total)
    # the whole second was read with its membership unchanged: move past it
    return fresh, replace(cursor, drill=None, drill_pages=0, drill_total=None, rescans=0,
                          bound=format_time(second), edge_ids=())
