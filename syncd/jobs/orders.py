"""Order flow: paid store orders -> myOGO, exactly once; store cancellations -> myOGO.

Exactly once across crashes: the ``sending`` intent (with the payload) is committed before
the POST; an intent found on a later run is resolved by looking the deterministic reference
up in myOGO before anything is sent again. A POST whose answer never came is resolved the
same way, never re-sent blindly.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import select

from syncd.connector import Capability
from syncd.errors import DataError
from syncd.jobs.base import (
    FlowContext,
    FlowResult,
    IncompletePage,
    apply_pages,
    park,
    park_unmappable,
    parker,
    raise_first,
    record_run,
    run_bounded,
    start_cursor,
)
from syncd.jobs.products import payload_hash
from syncd.jobs.tracking import apply_shipped
from syncd.mapping import order_payload, order_reference
from syncd.model import Order, OrderRef, Unreadable
from syncd.myogo import OrderRequest
from syncd.myogo.errors import MyogoUnknownOutcomeError, MyogoValidationError
from syncd.state import OrderLink, ledger
from syncd.state.ledger import ORDER_DONE as DONE
from syncd.state.ledger import OrderStatus
from syncd.state.ops import is_parked

FLOW = "orders"
CANCEL_STREAM = "cancellations"
NEW_LIKE = frozenset({"new", "draft", "pending", "reserved"})
SAME_REFERENCE = "same reference"


async def run(ctx: FlowContext) -> FlowResult:
    return await record_run(ctx, FLOW, _sync)


async def _sync(ctx: FlowContext, result: FlowResult) -> None:
    await resolve_intents(ctx, result)
    await _send_paid(ctx, result)
    if Capability.CANCELLATIONS in ctx.connector.capabilities and not ctx.stopping.is_set():
        await _cancel_cancelled(ctx, result)


async def resolve_intents(ctx: FlowContext, result: FlowResult) -> None:
    """Finish orders left ``sending`` by a crash or an unknown outcome: look up, then send."""
    with ctx.db.session() as session:
        pending = ledger.pending(session, ctx.name, OrderStatus.SENDING)
    if not pending:
        return
    result.counts["intents"] += len(pending)
    if ctx.dry_run:
        for link in pending:
            ctx.would(f"orders: resolve unfinished send of {link.reference}")
        return

    async def resolve(link: OrderLink) -> None:
        payload = json.loads(link.payload or "{}")
        await _deliver(ctx, result, link.store_order_id, link.reference, payload, resuming=True)

    raise_first(await run_bounded(
        pending, resolve, ctx.concurrency, ctx.stopping,
        park=parker(ctx, result, FLOW, lambda link: link.store_order_id, OrderLink, keep=DONE)))


async def _send_paid(ctx: FlowContext, result: FlowResult) -> None:
    pages = ctx.connector.paid_orders(start_cursor(ctx, FLOW))
    await apply_pages(ctx, FLOW, pages, lambda o: _send_one(ctx, result, o), result,
                      park=parker(ctx, result, FLOW, lambda o: o.store_id, OrderLink, keep=DONE))


def _park(ctx: FlowContext, result: FlowResult, key: str, reason: str, h: str | None) -> None:
    park(ctx, result, FLOW, OrderLink, key, reason, h, keep=DONE)


async def _send_one(ctx: FlowContext, result: FlowResult, order: Order | Unreadable) -> None:
    key = order.store_id
    if isinstance(order, Unreadable):
        with ctx.db.session() as session:
            link = session.get(OrderLink, (ctx.name, key))
        if link is not None and link.status in DONE:
            result.counts["unchanged"] += 1     # already in myOGO: a later odd edit is moot
        else:
            park_unmappable(ctx, result, FLOW, OrderLink, key, DataError(order.reason),
                            order.content_hash())
        return
    if await _adopted_or_before_go_live(ctx, result, order):
        return
    try:
        payload = order_payload(order, ctx.store)
    except DataError as exc:
        park_unmappable(ctx, result, FLOW, OrderLink, key, exc, order.content_hash())
        return
    h = payload_hash(payload)
    reference = payload["reference"]
    twin: str | None = None
    with ctx.db.session() as session:
        link = session.get(OrderLink, (ctx.name, key))
        if link is not None and link.status in DONE:
            if (link.status == OrderStatus.SENT and link.content_hash != h
                    and ctx.store.update_new_orders):
                pass  # handled below, outside the session
            else:
                result.counts["unchanged"] += 1
                return
        elif is_parked(session, ctx.name, FLOW, key, h):
            result.counts["parked"] += 1
            return
        if link is not None and link.status == OrderStatus.SENT:
            update = True
        elif (twin := _reference_twin(session, ctx.name, key, reference)) is not None:
            update = False
        else:
            update = False
            if ctx.dry_run:
                ctx.would(f"orders: send {reference} ({len(order.lines)} lines) to myOGO")
                result.counts["sent"] += 1
                return
            resuming = link is not None
            ledger.begin_send(session, ctx.name, key, reference, payload, h)
            session.commit()
    if twin is not None:
        _park(ctx, result, key, f"order number {order.number} is also store order {twin} "
              f"(myOGO reference {reference}): myOGO needs one reference per order, so this "
              "one is not sent; give it its own number in the store", h)
        return
    if update:
        await _update_new(ctx, result, key, reference, payload, h)
        return
    await _deliver(ctx, result, key, reference, payload, resuming=resuming)


def _reference_twin(session: Any, store: str, key: str, reference: str) -> str | None:
    """Another store order already holding ``reference`` in myOGO (or about to), if any."""
    for twin in session.exec(select(OrderLink).where(
            OrderLink.store == store, OrderLink.reference == reference,
            OrderLink.store_order_id != key)):
        never_sent = twin.status == OrderStatus.FAILED or (
            twin.status == OrderStatus.CANCELLED and twin.myogo_id is None)
        if not never_sent:
            return str(twin.store_order_id)
    return None


async def _adopted_or_before_go_live(ctx: FlowContext, result: FlowResult, order: Order) -> bool:
    """Go-live after another integration: True when this order must not be sent by us.

    An order another integration already sent (found in myOGO under one of the
    connector's ``legacy_references``) is adopted: linked as sent under that reference, so
    tracking and cancellations still flow (tracking at once if it has shipped). Otherwise
    an order paid (else created) before the store's ``orders_since`` is left alone,
    whatever changes in it later.
    """
    with ctx.db.session() as session:
        link = session.get(OrderLink, (ctx.name, order.store_id))
    if link is not None and link.status != OrderStatus.FAILED:
        return False
    for legacy in order.legacy_references:
        existing = await ctx.myogo.find_order(legacy)
        if existing is None:
            continue
        result.counts["adopted"] += 1
        if ctx.dry_run:
            ctx.would(f"orders: adopt {existing.reference or legacy} (already in myOGO) "
                      f"for store order {order.number}; not sent again")
        else:
            _adopt(ctx, order.store_id, existing.reference or legacy, existing.id)
            if (existing.status or "").lower() == "shipped":
                # Shipped before it was adopted: the tracking cursor may be past it already.
                await apply_shipped(ctx, result, [existing])
        return True
    if link is None and _before(order, ctx.store.orders_since):
        result.counts["before_orders_since"] += 1
        return True
    return False


def _before(order: Order, since: date | None) -> bool:
    when = order.paid_at or order.created_at
    if since is None or when is None:
        return False            # no date known: sending beats losing an order
    start = datetime.combine(since, time.min, tzinfo=UTC)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) < start


def _adopt(ctx: FlowContext, key: str, reference: str, myogo_id: str | None) -> None:
    with ctx.db.session() as session:
        ledger.adopt(session, ctx.name, key, reference, myogo_id)
        session.commit()


async def _deliver(
    ctx: FlowContext, result: FlowResult, key: str, reference: str, payload: dict[str, Any],
    *, resuming: bool,
) -> None:
    """POST the order once; adopt it when myOGO already has the reference."""
    if resuming:
        existing = await ctx.myogo.find_order(reference)
        if existing is not None:
            _mark_sent(ctx, key, existing.id)
            result.counts["adopted"] += 1
            return
    with ctx.db.session() as session:
        ledger.count_attempt(session, ctx.name, key)
        session.commit()
    try:
        created = await ctx.myogo.create_order(OrderRequest.model_validate(payload))
    except MyogoUnknownOutcomeError:
        existing = await ctx.myogo.find_order(reference)
        if existing is None:
            raise IncompletePage(
                f"order {reference}: myOGO did not answer the send; it will be looked up "
                "before it is sent again"
            ) from None
        _mark_sent(ctx, key, existing.id)
        result.counts["adopted"] += 1
        return
    except MyogoValidationError as exc:
        if SAME_REFERENCE in (exc.api_message or str(exc)).lower():
            existing = await ctx.myogo.find_order(reference)
            if existing is not None:
                _mark_sent(ctx, key, existing.id)
                result.counts["adopted"] += 1
                return
        _park(ctx, result, key, f"myOGO refused order {reference}: {exc.api_message or exc}",
              payload_hash(payload))
        return
    _mark_sent(ctx, key, created.id)
    result.counts["sent"] += 1


def _mark_sent(ctx: FlowContext, key: str, myogo_id: str | None) -> None:
    with ctx.db.session() as session:
        ledger.mark_sent(session, ctx.name, key, myogo_id)
        session.commit()


async def _update_new(
    ctx: FlowContext, result: FlowResult, key: str, reference: str, payload: dict[str, Any],
    h: str,
) -> None:
    """Opt-in (``update_new_orders``): store edits reach myOGO while the order is still new."""
    existing = await ctx.myogo.find_order(reference)
    if existing is None or (existing.status or "").lower() not in NEW_LIKE:
        result.counts["unchanged"] += 1
        return
    if ctx.dry_run:
        ctx.would(f"orders: update {reference} in myOGO (still {existing.status})")
        return
    await ctx.myogo.update_order(reference, OrderRequest.model_validate(payload))
    with ctx.db.session() as session:
        ledger.note_update(session, ctx.name, key, payload, h)
        session.commit()
    result.counts["updated"] += 1


async def _cancel_cancelled(ctx: FlowContext, result: FlowResult) -> None:
    pages = ctx.connector.cancelled_orders(start_cursor(ctx, CANCEL_STREAM))
    await apply_pages(ctx, CANCEL_STREAM, pages, lambda r: _cancel_one(ctx, result, r),
                      park=parker(ctx, result, CANCEL_STREAM, lambda r: r.store_id))


def _mark_cancelled(ctx: FlowContext, key: str, reference: str) -> None:
    with ctx.db.session() as session:
        ledger.mark_cancelled(session, ctx.name, key, reference)
        session.commit()


async def _cancel_one(ctx: FlowContext, result: FlowResult, ref: OrderRef) -> None:
    key = ref.store_id
    reference = order_reference(ctx.store.reference_prefix, ref.number)
    with ctx.db.session() as session:
        link = session.get(OrderLink, (ctx.name, key))
        status = link.status if link else None
    if status == OrderStatus.CANCELLED:
        return
    if status is None or status == OrderStatus.FAILED:
        # Never reached myOGO: remember it so it is never sent later.
        if ctx.dry_run:
            ctx.would(f"orders: {reference} was cancelled before it was sent; never send it")
        else:
            _mark_cancelled(ctx, key, reference)
        result.counts["cancelled_unsent"] += 1
        return
    existing = await ctx.myogo.find_order(link.reference if link else reference)
    state = (existing.status or "").lower() if existing else None
    if existing is None or state == "cancelled":
        if not ctx.dry_run:
            _mark_cancelled(ctx, key, reference)
        result.counts["cancelled"] += 1
        return
    if state in NEW_LIKE:
        if ctx.dry_run:
            ctx.would(f"orders: cancel {reference} in myOGO (it is {state})")
            return
        await ctx.myogo.cancel_order(existing.reference or reference)
        _mark_cancelled(ctx, key, reference)
        result.counts["cancelled"] += 1
        return
    reason = (f"order {reference} was cancelled in the store but is {state} in myOGO: "
              "a person must stop it there (myOGO: Request a cancellation)")
    result.counts["cancel_refused"] += 1
    if ctx.dry_run:
        ctx.would(f"orders: {reason}")
        return
    with ctx.db.session() as session:
        ledger.refuse_cancel(session, ctx.name, key, reason, state)
        session.commit()
