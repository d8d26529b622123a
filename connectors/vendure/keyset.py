"""Keyset paging over a Vendure list by one time field, with an opaque resumable cursor.

Vendure lists only page by ``skip``/``take``, which skips or repeats rows when data changes
between pages, and its sort cannot put ``id`` after a time field (GraphQL orders the sort keys
by the schema, ``id`` first). So every page is a fresh query for "rows after the position":

    field > t   OR   (field >= t AND id NOT IN ids-already-read-at-t)

sorted by ``field`` ascending. ``>= t`` is written ``> t - 1 ms`` because SQLite stores
``updatedAt`` to the second and compares dates as strings (``eq`` never matches there).
Rows at the same instant are told apart by id, so no row is lost or read twice in a run.

The cursor saved after a page only moves up to the *settle horizon* (the server's clock
minus ``settle_seconds``): newer rows are read now and read again next time, because a
transaction stamped earlier may still commit behind them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from syncd.cursor import format_time, parse_time
from syncd.errors import ConfigError

CURSOR_VERSION = 1
_ONE_MS = timedelta(milliseconds=1)

Row = dict[str, Any]
#: fetch(filter, sort, take) -> rows, each with "id" and the time field
Fetch = Callable[[dict[str, Any], dict[str, str], int], Awaitable[list[Row]]]


@dataclass(frozen=True)
class Position:
    """Everything at or before ``time`` has been read, except rows at ``time`` not in ``ids``."""

    time: datetime
    ids: frozenset[str] = field(default_factory=frozenset)

    def after(self, time: datetime, row_id: str) -> Position:
        """The position once the row (``time``, ``row_id``) has been read, in time order."""
        if time == self.time:
            return Position(self.time, self.ids | {row_id})
        return Position(time, frozenset({row_id}))


def encode(position: Position) -> str:
    return json.dumps(
        {"v": CURSOR_VERSION, "t": format_time(position.time), "ids": sorted(position.ids)},
        separators=(",", ":"),
    )


def decode(cursor: str | None) -> Position | None:
    """Read a cursor; a bare ISO time is accepted too (everything at or after it is read)."""
    if not cursor:
        return None
    text = cursor.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            time = parse_time(data["t"])
            ids = frozenset(str(i) for i in data.get("ids", ()))
        else:
            time, ids = parse_time(text), frozenset()
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"unreadable Vendure cursor {cursor[:80]!r}: {exc}") from exc
    if time is None:
        raise ConfigError(f"unreadable Vendure cursor {cursor[:80]!r}")
    return Position(time, ids)


def position_filter(field_name: str, position: Position | None) -> dict[str, Any]:
    """The list filter selecting rows not yet read after ``position``."""
    if position is None:
        return {}
    later = {field_name: {"after": format_time(position.time)}}
    same_instant: dict[str, Any] = {"after": format_time(position.time - _ONE_MS)}
    if not position.ids:
        return {field_name: same_instant}
    return {"_or": [
        later,
        {"_and": [{field_name: same_instant}, {"id": {"notIn": sorted(position.ids)}}]},
    ]}


async def keyset_pages(
    fetch: Fetch,
    field_name: str,
    cursor: str | None,
    page_size: int,
    horizon: Callable[[], datetime | None],
) -> AsyncIterator[tuple[Sequence[Row], str | None]]:
    """Yield (rows, cursor-after-these-rows) until the list is exhausted.

    ``horizon()`` is the latest time the cursor may reach (None = no limit). The yielded
    cursor is None when it cannot move past the cursor passed in.
    """
    start = decode(cursor)
    position = saved = start
    frozen = False  # once a row is too new to save, nothing after it may be saved either
    while True:
        rows = await fetch(position_filter(field_name, position), {field_name: "ASC"}, page_size)
        if not rows:
            return
        before = position
        limit = horizon()
        for row in rows:
            time = parse_time(row.get(field_name))
            if time is None:
                continue  # never placed/updated: cannot be ordered, skipped by the filter too
            row_id = str(row["id"])
            position = position.after(time, row_id) if position else Position(
                time, frozenset({row_id})
            )
            if not frozen and (limit is None or time <= limit):
                saved = position
            else:
                frozen = True
        progressed = position != before
        yield rows, (encode(saved) if saved is not None and saved != start else None)
        if len(rows) < page_size or not progressed:
            return
