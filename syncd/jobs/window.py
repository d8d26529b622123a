"""One read of a myOGO ``modifiedAfter`` feed, and the cursor it leaves behind.

myOGO pages by page number, so every myOGO-fed stream (stock, tracking, myOGO product edits)
follows the same rule (``syncd.cursor.scan_cursor``): take the signpost before reading, note
the newest modified time seen, and save ``min(max_seen, signpost - overlap)`` only when no
item changed during the scan. This class is that rule, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from syncd.cursor import DEFAULT_OVERLAP, as_time, format_time, parse_time, scan_cursor, utc_now
from syncd.state.ops import get_cursor, set_cursor

if TYPE_CHECKING:
    from syncd.jobs.base import FlowContext


class Window:
    """``Window(ctx, stream)`` takes the signpost and reads the saved cursor; ``see`` every
    item's modified time; ``save()`` (or ``write(session)``) after a complete scan."""

    def __init__(self, ctx: FlowContext, stream: str, overlap: timedelta = DEFAULT_OVERLAP
                 ) -> None:
        self.ctx = ctx
        self.stream = stream
        self.overlap = overlap
        self.signpost = utc_now()
        with ctx.db.session() as session:
            self.saved: datetime | None = parse_time(get_cursor(session, ctx.name, stream))
        self.max_seen: datetime | None = None

    def see(self, modified: object) -> None:
        """Note one item's modified time (a datetime or an ISO string; None is ignored)."""
        when = as_time(modified)
        if when is not None and (self.max_seen is None or when > self.max_seen):
            self.max_seen = when

    @property
    def next(self) -> datetime | None:
        """The cursor after this scan (the saved one when the pages may have shifted)."""
        return scan_cursor(self.max_seen, self.signpost, self.saved, self.overlap)

    def write(self, session: Session, value: datetime | None = None) -> None:
        """Put ``value`` (default: ``next``) in ``session``; the caller commits."""
        value = self.next if value is None else value
        if value is not None:
            set_cursor(session, self.ctx.name, self.stream, format_time(value))

    def save(self, value: datetime | None = None) -> None:
        """Save ``value`` (default: ``next``) in its own transaction, unless this is a dry
        run or it equals the saved cursor."""
        value = self.next if value is None else value
        if self.ctx.dry_run or value is None or value == self.saved:
            return
        with self.ctx.db.session() as session:
            self.write(session, value)
            session.commit()
