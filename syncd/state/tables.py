"""State database tables: one row per thing the daemon promised to do.

No secrets or tokens are ever stored here. Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Cursor(SQLModel, table=True):
    """Where a flow resumes: an opaque connector cursor or a myOGO ``modifiedAfter`` time."""

    __tablename__ = "cursor"
    store: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)   # products | orders | cancellations | stock | tracking
    value: str | None = None
    updated_at: datetime = Field(default_factory=_now)


class ProductLink(SQLModel, table=True):
    """A store SKU and what myOGO last received for it."""

    __tablename__ = "product_link"
    store: str = Field(primary_key=True)
    store_id: str = Field(primary_key=True)
    sku: str | None = Field(default=None, index=True)
    content_hash: str | None = None         # hash of the record last written to myOGO
    myogo_id: str | None = None
    payload: str | None = None              # JSON last written to myOGO (re-pushed on myOGO edits)
    status: str = "pending"                 # pending | synced | failed
    error: str | None = None
    updated_at: datetime = Field(default_factory=_now)


class OrderLink(SQLModel, table=True):
    """The outbox of one store order: binds the store order to its myOGO reference.

    status: sending -> sent -> fulfilling -> fulfilled, or failed / cancelling -> cancelled.
    ``sending``/``fulfilling``/``cancelling`` are intents committed *before* the remote write.
    """

    __tablename__ = "order_link"
    store: str = Field(primary_key=True)
    store_order_id: str = Field(primary_key=True)
    reference: str = Field(index=True)
    myogo_id: str | None = None
    status: str = "sending"
    content_hash: str | None = None
    payload: str | None = None              # JSON of the myOGO order, so an intent can be finished
                                            # even when the store no longer lists the order
    tracking_number: str | None = None      # comma-separated set, as myOGO gives it
    attempts: int = 0
    error: str | None = None
    updated_at: datetime = Field(default_factory=_now)


class StockLevel(SQLModel, table=True):
    """The last stock quantity pushed to the store for a SKU."""

    __tablename__ = "stock_level"
    store: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    quantity: int
    pushed_at: datetime = Field(default_factory=_now)


class Failure(SQLModel, table=True):
    """An item parked with its reason; retried when it changes or on ``ogo-syncd retry``."""

    __tablename__ = "failure"
    store: str = Field(primary_key=True)
    flow: str = Field(primary_key=True)     # products | orders | cancellations | stock | tracking
    key: str = Field(primary_key=True)      # store id, SKU or reference
    reason: str
    content_hash: str | None = None
    attempts: int = 1
    since: datetime = Field(default_factory=_now)
    last_seen: datetime = Field(default_factory=_now)


class JobRun(SQLModel, table=True):
    """One run of one flow for one store."""

    __tablename__ = "job_run"
    id: int | None = Field(default=None, primary_key=True)
    store: str = Field(index=True)
    job: str = Field(index=True)
    started_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None
    ok: bool | None = None
    counts: str = "{}"                      # JSON object of counters
    error: str | None = None
    worker: str | None = None               # fleet mode: which worker ran it (host:pid#id)
