"""Small read/write helpers over the state tables, shared by the flows and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from syncd.state.tables import Cursor, Failure


def now() -> datetime:
    return datetime.now(UTC)


def get_cursor(session: Session, store: str, stream: str) -> str | None:
    row = session.get(Cursor, (store, stream))
    return row.value if row else None


def set_cursor(session: Session, store: str, stream: str, value: str | None) -> None:
    """Save a cursor; a no-op when unchanged, so a quiet cycle writes nothing."""
    row = session.get(Cursor, (store, stream))
    if row is None:
        session.add(Cursor(store=store, stream=stream, value=value, updated_at=now()))
    elif row.value != value:
        row.value = value
        row.updated_at = now()
        session.add(row)


def get_failure(session: Session, store: str, flow: str, key: str) -> Failure | None:
    return session.get(Failure, (store, flow, key))


def record_failure(
    session: Session, store: str, flow: str, key: str, reason: str, content_hash: str | None
) -> None:
    """Park an item with its reason (one row per item; attempts counted)."""
    row = session.get(Failure, (store, flow, key))
    if row is None:
        session.add(Failure(store=store, flow=flow, key=key, reason=reason,
                            content_hash=content_hash, since=now(), last_seen=now()))
    else:
        row.reason = reason
        row.content_hash = content_hash
        row.attempts += 1
        row.last_seen = now()
        session.add(row)


def clear_failure(session: Session, store: str, flow: str, key: str) -> None:
    row = session.get(Failure, (store, flow, key))
    if row is not None:
        session.delete(row)


def failures(session: Session, store: str | None = None) -> list[Failure]:
    query = select(Failure).order_by(Failure.store, Failure.flow, Failure.since)
    if store:
        query = query.where(Failure.store == store)
    return list(session.exec(query))


def is_parked(session: Session, store: str, flow: str, key: str, content_hash: str | None) -> bool:
    """True when the item failed before with the same content: wait for a change or `retry`."""
    row = session.get(Failure, (store, flow, key))
    return row is not None and row.content_hash == content_hash and content_hash is not None
