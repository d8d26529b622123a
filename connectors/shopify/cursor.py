"""The Shopify connector's opaque cursor: a time window plus the GraphQL page position.

A window starts at ``since`` (None = everything) and was opened at ``signpost`` (the run's
start). While a window is being read the cursor also carries the ``phase`` being paged,
the GraphQL ``after`` cursor of the last completed page and the newest ``updatedAt`` seen,
so a new connector instance resumes exactly after the last completed page. When the window
is complete the next ``since`` is ``min(max_seen, signpost - overlap)`` (syncd.cursor).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from syncd.cursor import format_time, next_cursor, parse_time


@dataclass(frozen=True)
class WindowCursor:
    since: str | None = None
    signpost: str | None = None
    max_seen: str | None = None
    phase: str | None = None
    after: str | None = None

    @classmethod
    def load(cls, text: str | None) -> WindowCursor:
        """Parse a saved cursor; a bare ISO time is accepted as a window start."""
        if not text:
            return cls()
        if not text.lstrip().startswith("{"):
            parse_time(text)  # raises ValueError on garbage
            return cls(since=text.strip())
        data = json.loads(text)
        return cls(**{k: data.get(k) for k in ("since", "signpost", "max_seen", "phase", "after")})

    def dump(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None},
                          sort_keys=True)

    def opened(self, now: datetime, first_phase: str) -> WindowCursor:
        """This cursor with a window in progress (a fresh one starts at ``first_phase``)."""
        if self.signpost is not None:
            return self
        return replace(self, signpost=format_time(now), phase=first_phase, after=None,
                       max_seen=None)

    def seen(self, when: datetime | None) -> WindowCursor:
        if when is None:
            return self
        current = parse_time(self.max_seen)
        if current is not None and current >= when:
            return self
        return replace(self, max_seen=format_time(when))

    def closed(self) -> WindowCursor:
        """The cursor after a complete window: only the next ``since`` remains."""
        signpost = parse_time(self.signpost) or datetime.now(UTC)
        new = next_cursor(parse_time(self.max_seen), signpost, parse_time(self.since))
        return WindowCursor(since=format_time(new) if new else None)

    def search_filter(self) -> str:
        """``updated_at:>'...'`` for the window (second precision, rounded down)."""
        since = parse_time(self.since)
        if since is None:
            return ""
        text = since.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"updated_at:>'{text}'"
