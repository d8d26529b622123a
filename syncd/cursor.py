"""Time-based cursor helpers shared by connectors and flows.

Rules (docs/design-notes.md, cursors): remember the run's start (the *signpost*); the saved
cursor is never later than the signpost minus a look-back overlap, nor than the newest
modified time seen, and never goes backwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEFAULT_OVERLAP = timedelta(minutes=2)


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 time leniently; a naive value is taken as UTC."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # .NET "O" format has 7 fractional digits; Python takes at most 6.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        tail = ""
        for i, ch in enumerate(rest):
            if not ch.isdigit():
                tail = rest[i:]
                break
            digits += ch
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}" if digits else head + tail
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, second precision kept to microseconds."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def next_cursor(
    max_seen: datetime | None,
    signpost: datetime,
    previous: datetime | None,
    overlap: timedelta = DEFAULT_OVERLAP,
) -> datetime | None:
    """The cursor to save after a complete window (used with a strict "modified after").

    ``min(max_seen, signpost - overlap)``: anything stamped up to ``signpost - overlap`` is
    taken to be visible by the time the run started (commit delay and clock skew stay under
    ``overlap``), so once a change is older than the overlap the window stops re-reading it
    and a quiet store costs one request per flow; newer changes are read again next time.
    Never earlier than ``previous``; None when nothing was ever seen.
    """
    if max_seen is None:
        return previous
    candidate = min(max_seen, signpost - overlap)
    if previous is not None and candidate < previous:
        return previous
    return candidate


def scan_cursor(
    max_seen: datetime | None,
    signpost: datetime,
    previous: datetime | None,
    overlap: timedelta = DEFAULT_OVERLAP,
) -> datetime | None:
    """``next_cursor`` for a page-number scan (myOGO's ``page``/``limit`` paging).

    If an item changed while we paged (its modified time is at or after the signpost), the
    pages may have shifted under us and skipped an item; keep the previous cursor so the
    next run reads the whole window again.
    """
    if max_seen is not None and max_seen >= signpost:
        return previous
    return next_cursor(max_seen, signpost, previous, overlap)


def as_time(value: object) -> datetime | None:
    """A datetime from a payload field that may already be one, or an ISO string."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(str(value))
