"""Small read/write helpers over the state tables, shared by the flows and the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col, select

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


def upsert_rows(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert or update many rows of ``table`` in one statement (keyed by its primary key).

    One ``INSERT ... ON CONFLICT DO UPDATE`` instead of a read and a merge per row; SQLite
    and PostgreSQL spell it the same way.
    """
    if not rows:
        return
    sql_table = table.__table__  # type: ignore[attr-defined]
    keys = [c.name for c in sql_table.primary_key.columns]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(sql_table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: statement.excluded[name] for name in rows[0] if name not in keys})
    session.execute(statement)


def clear_failures(session: Session, store: str, flow: str, keys: Iterable[str]) -> None:
    """Forget the failures of these items (one statement)."""
    keys = list(keys)
    if keys:
        session.execute(delete(Failure).where(
            col(Failure.store) == store, col(Failure.flow) == flow, col(Failure.key).in_(keys)))


def parked_hashes(session: Session, store: str, flow: str,
                  keys: Iterable[str]) -> dict[str, str | None]:
    """The content hash each of these items failed with, for those that are parked."""
    rows = session.exec(select(Failure.key, Failure.content_hash).where(
        Failure.store == store, Failure.flow == flow, col(Failure.key).in_(list(keys))))
    return dict(rows.all())
