"""The ledger: every promise the daemon made, its typed status and the only ways it moves.

An order link is an outbox row. Its life::

    (none) -> sending -> sent -> fulfilling -> fulfilled
                 |         ^         |
                 |         +---------+  (the store refused the tracking: back to sent)
                 +-> failed                 cancelled (from none, failed, sending or sent)

``sending`` and ``fulfilling`` are *intents*: committed before the remote write, so a crash
between the two leaves a row that the next run resolves (``pending``) instead of guessing.
A product link goes ``pending -> synced`` (or ``failed``). Parking an item writes its
``failure`` row with the reason and marks its link ``failed``; a later success clears it.

Every call takes a session and plain values and never commits: the caller decides what one
transaction holds (one item, or a whole page). The stored values are these strings; the
enums only stop a typo from inventing a new state. No import from ``syncd.jobs``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from enum import StrEnum
from typing import Any

from sqlmodel import Session, select

from syncd.mapping import split_tracking
from syncd.state.ops import clear_failure, clear_failures, now, record_failure, upsert_rows
from syncd.state.tables import OrderLink, ProductLink


class OrderStatus(StrEnum):
    """``order_link.status``."""

    SENDING = "sending"        # intent: the myOGO POST may be under way
    SENT = "sent"              # myOGO has the order (created or adopted)
    FULFILLING = "fulfilling"  # intent: the store's mark-shipped may be under way
    FULFILLED = "fulfilled"    # the store has the tracking numbers
    FAILED = "failed"          # parked: myOGO refused it, or it could not be mapped
    CANCELLED = "cancelled"    # cancelled in the store; never (again) sent


class ProductStatus(StrEnum):
    """``product_link.status``."""

    PENDING = "pending"
    SYNCED = "synced"          # myOGO holds ``payload`` (hash ``content_hash``)
    FAILED = "failed"


class Kind(StrEnum):
    """``failure.flow``: what a parked item was parked by."""

    PRODUCTS = "products"
    ORDERS = "orders"
    CANCELLATIONS = "cancellations"
    STOCK = "stock"
    TRACKING = "tracking"


#: myOGO has the order, or it must never go there: a store re-read sends nothing
ORDER_DONE: frozenset[str] = frozenset({OrderStatus.SENT, OrderStatus.FULFILLING,
                                        OrderStatus.FULFILLED, OrderStatus.CANCELLED})
#: the intent statuses (rows a run resolves before new work)
INTENTS: frozenset[str] = frozenset({OrderStatus.SENDING, OrderStatus.FULFILLING})

LinkTable = type[OrderLink] | type[ProductLink]


# ---------------------------------------------------------------- reading


def pending(session: Session, store: str, status: OrderStatus) -> list[OrderLink]:
    """The order links of a store left in an intent ``status`` (by a crash or a lost answer)."""
    return list(session.exec(select(OrderLink).where(
        OrderLink.store == store, OrderLink.status == status)))


def order_link(session: Session, store: str, key: str) -> OrderLink | None:
    return session.get(OrderLink, (store, key))


# ---------------------------------------------------------------- orders: send


def begin_send(session: Session, store: str, key: str, reference: str,
               payload: dict[str, Any], content_hash: str) -> OrderLink:
    """The ``sending`` intent, with the payload so it can be finished without the store."""
    link = session.get(OrderLink, (store, key)) or OrderLink(
        store=store, store_order_id=key, reference=reference)
    link.reference = reference
    link.status = OrderStatus.SENDING
    link.payload = json.dumps(payload, sort_keys=True)
    link.content_hash = content_hash
    link.updated_at = now()
    session.add(link)
    return link


def count_attempt(session: Session, store: str, key: str) -> None:
    """One more POST is about to leave for this order."""
    link = session.get(OrderLink, (store, key))
    if link is not None:
        link.attempts += 1
        session.add(link)


def mark_sent(session: Session, store: str, key: str, myogo_id: str | None) -> None:
    """myOGO has the order (created now, or found by its reference)."""
    link = session.get(OrderLink, (store, key))
    if link is None:
        return
    link.status = OrderStatus.SENT
    link.myogo_id = myogo_id
    link.error = None
    link.updated_at = now()
    session.add(link)
    clear_failure(session, store, Kind.ORDERS, key)


def adopt(session: Session, store: str, key: str, reference: str,
          myogo_id: str | None) -> None:
    """Another integration already sent this order to myOGO under ``reference``: link it as
    ``sent`` there (so tracking and cancellations flow) and never send it ourselves."""
    link = session.get(OrderLink, (store, key)) or OrderLink(
        store=store, store_order_id=key, reference=reference)
    link.reference = reference
    link.status = OrderStatus.SENT
    link.myogo_id = myogo_id
    link.error = None
    link.updated_at = now()
    session.add(link)
    clear_failure(session, store, Kind.ORDERS, key)


def note_update(session: Session, store: str, key: str, payload: dict[str, Any],
                content_hash: str) -> None:
    """A sent order's edit reached myOGO (``update_new_orders``): remember the new content."""
    link = session.get(OrderLink, (store, key))
    if link is not None:
        link.content_hash = content_hash
        link.payload = json.dumps(payload, sort_keys=True)
        link.updated_at = now()
        session.add(link)


# ---------------------------------------------------------------- orders: cancel


def mark_cancelled(session: Session, store: str, key: str, reference: str) -> None:
    """Cancelled in the store (and in myOGO, or never sent there): never send it."""
    link = session.get(OrderLink, (store, key)) or OrderLink(
        store=store, store_order_id=key, reference=reference)
    link.status = OrderStatus.CANCELLED
    link.updated_at = now()
    session.add(link)
    clear_failure(session, store, Kind.ORDERS, key)


def refuse_cancel(session: Session, store: str, key: str, reason: str, state: str) -> None:
    """myOGO is past cancelling it by API: park the cancellation for a person."""
    record_failure(session, store, Kind.CANCELLATIONS, key, reason, state)


# ---------------------------------------------------------------- orders: fulfil


def begin_fulfil(session: Session, store: str, key: str,
                 numbers: Collection[str]) -> tuple[str, ...] | None:
    """The ``fulfilling`` intent with the tracking numbers to write (added to those the
    store already has); returns that set, sorted, or None when the link is gone."""
    link = session.get(OrderLink, (store, key))
    if link is None:
        return None
    known = set(split_tracking(link.tracking_number)) \
        if link.status == OrderStatus.FULFILLED else set()
    merged = tuple(sorted(known | set(numbers)))
    link.status = OrderStatus.FULFILLING
    link.tracking_number = ",".join(merged)
    link.updated_at = now()
    session.add(link)
    return merged


def mark_fulfilled(session: Session, store: str, key: str) -> None:
    """The store has the tracking numbers."""
    link = session.get(OrderLink, (store, key))
    if link is not None:
        link.status = OrderStatus.FULFILLED
        link.error = None
        link.updated_at = now()
        session.add(link)
    clear_failure(session, store, Kind.TRACKING, key)


def fulfil_refused(session: Session, store: str, key: str, reason: str, error: str,
                   numbers: Collection[str]) -> None:
    """The store refused the tracking: back to ``sent`` and parked until it changes."""
    link = session.get(OrderLink, (store, key))
    if link is not None:
        link.status = OrderStatus.SENT
        link.error = error
        session.add(link)
    record_failure(session, store, Kind.TRACKING, key, reason, ",".join(numbers))


# ---------------------------------------------------------------- products


def mark_synced(session: Session, store: str, key: str, sku: str, content_hash: str,
                myogo_id: str | None, payload: dict[str, Any]) -> None:
    """myOGO holds this product as ``payload``."""
    link = session.get(ProductLink, (store, key)) or ProductLink(store=store, store_id=key)
    link.sku = sku
    link.content_hash = content_hash
    link.myogo_id = myogo_id
    link.payload = json.dumps(payload, sort_keys=True)
    link.status = ProductStatus.SYNCED
    link.error = None
    link.updated_at = now()
    session.add(link)
    clear_failure(session, store, Kind.PRODUCTS, key)


def mark_synced_many(session: Session, store: str,
                     links: Collection[tuple[str, str, str, str | None, str]]) -> None:
    """``mark_synced`` for a batch of ``(key, sku, content_hash, myogo_id, payload_json)``:
    one bulk upsert and one failure delete instead of a read and a merge per product."""
    if not links:
        return
    stamp = now()
    upsert_rows(session, ProductLink, [
        {"store": store, "store_id": key, "sku": sku, "content_hash": content_hash,
         "myogo_id": myogo_id, "payload": payload, "status": ProductStatus.SYNCED.value,
         "error": None, "updated_at": stamp}
        for key, sku, content_hash, myogo_id, payload in links])
    clear_failures(session, store, Kind.PRODUCTS, [key for key, *_ in links])


# ---------------------------------------------------------------- parking


def park(session: Session, store: str, kind: str, key: str, reason: str,
         content_hash: str | None, *, link: LinkTable | None = None,
         keep: Collection[str] = ()) -> None:
    """Park an item: its ``failure`` row, and its link (if any) ``failed`` with the reason
    unless the link is in one of the ``keep`` states (an order myOGO already has)."""
    row = session.get(link, (store, key)) if link is not None else None
    if row is not None and row.status not in keep:
        row.status = OrderStatus.FAILED if isinstance(row, OrderLink) else ProductStatus.FAILED
        row.error = reason
        row.updated_at = now()
        session.add(row)
    record_failure(session, store, kind, key, reason, content_hash)
