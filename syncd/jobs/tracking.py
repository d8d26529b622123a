"""Tracking flow: myOGO -> store (myOGO-dominant).

When myOGO marks an order SHIPPED, its tracking numbers (a set: myOGO may send "A,B") and
the shipped status go back to the store. The ``fulfilling`` intent is committed before the
store write; the connector's ``mark_shipped`` is idempotent, so resolving an intent is
simply calling it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, func, select

from syncd.cursor import as_time, format_time, parse_time, scan_cursor, utc_now
from syncd.errors import DataError
from syncd.jobs.base import (
    FlowContext,
    FlowResult,
    parker,
    raise_first,
    record_run,
    run_bounded,
)
from syncd.mapping import split_tracking
from syncd.model import Shipment
from syncd.myogo import OrderResponse
from syncd.state import OrderLink
from syncd.state.ops import clear_failure, get_cursor, now, record_failure, set_cursor

FLOW = "tracking"
OVERLAP = timedelta(minutes=2)


async def run(ctx: FlowContext) -> FlowResult:
    return await record_run(ctx, FLOW, _sync)


async def _sync(ctx: FlowContext, result: FlowResult) -> None:
    await _resolve_intents(ctx, result)
    signpost = utc_now()
    with ctx.db.session() as session:
        saved = parse_time(get_cursor(session, ctx.name, FLOW))
        if saved is None or ctx.full:
            # Start from the oldest order we sent: nothing earlier can concern this store.
            oldest = session.exec(select(func.min(OrderLink.updated_at)).where(
                OrderLink.store == ctx.name)).one()
    if saved is None or ctx.full:
        start = (oldest.replace(tzinfo=signpost.tzinfo) - OVERLAP) if oldest else None
        if start is None:
            if not ctx.dry_run:
                _save(ctx, signpost - OVERLAP)
            return
    else:
        start = saved
    max_seen: datetime | None = None
    async for page in ctx.myogo.iter_orders(modified_after=start):
        result.counts["seen"] += len(page)
        for order in page:
            edited = as_time(order.edit_time)
            if edited and (max_seen is None or edited > max_seen):
                max_seen = edited
        await apply_shipped(ctx, result, page)
        if ctx.stopping.is_set():
            return
    new = scan_cursor(max_seen, signpost, saved, OVERLAP)
    if not ctx.dry_run and new is not None and new != saved:
        _save(ctx, new)


def _save(ctx: FlowContext, value: datetime) -> None:
    with ctx.db.session() as session:
        set_cursor(session, ctx.name, FLOW, format_time(value))
        session.commit()


async def apply_shipped(ctx: FlowContext, result: FlowResult, orders: list[OrderResponse]) -> None:
    """Write tracking for the shipped orders among ``orders`` that belong to this store."""
    shipped = {o.reference: o for o in orders
               if o.reference and (o.status or "").lower() == "shipped"}
    if not shipped:
        return
    with ctx.db.session() as session:
        links = list(session.exec(select(OrderLink).where(
            OrderLink.store == ctx.name, col(OrderLink.reference).in_(list(shipped)))))
    todo: list[tuple[OrderLink, tuple[str, ...], str | None]] = []
    for link in links:
        order = shipped[link.reference]
        numbers = split_tracking(order.tracking_number)
        if link.status == "cancelled":
            continue
        if link.status == "fulfilled" and set(numbers) <= set(split_tracking(link.tracking_number)):
            result.counts["unchanged"] += 1
            continue
        todo.append((link, numbers, order.tracking_url))
    if ctx.dry_run:
        for link, numbers, _ in todo:
            ctx.would(f"tracking: mark {link.reference} shipped with {','.join(numbers) or '-'}")
        return

    async def ship(item: tuple[OrderLink, tuple[str, ...], str | None]) -> None:
        link, numbers, url = item
        with ctx.db.session() as session:
            row = session.get(OrderLink, (ctx.name, link.store_order_id))
            if row is None:
                return
            known = set(split_tracking(row.tracking_number)) if row.status == "fulfilled" else set()
            row.status = "fulfilling"
            row.tracking_number = ",".join(sorted(known | set(numbers)))
            row.updated_at = now()
            session.add(row)
            session.commit()
        await _mark(ctx, result, link.store_order_id, link.reference,
                    tuple(sorted(known | set(numbers))), url)

    raise_first(await run_bounded(todo, ship, ctx.concurrency, ctx.stopping,
                                  park=parker(ctx, result, FLOW, lambda t: t[0].store_order_id)))


def _order_number(ctx: FlowContext, reference: str) -> str:
    prefix = ctx.store.reference_prefix
    return reference[len(prefix):] if prefix and reference.startswith(prefix) else reference


async def _mark(
    ctx: FlowContext, result: FlowResult, key: str, reference: str,
    numbers: tuple[str, ...], url: str | None,
) -> None:
    shipment = Shipment(store_order_id=key, order_number=_order_number(ctx, reference),
                        tracking_numbers=numbers, tracking_url=url)
    try:
        await ctx.connector.mark_shipped(shipment)
    except DataError as exc:
        result.counts["failed"] += 1
        with ctx.db.session() as session:
            row = session.get(OrderLink, (ctx.name, key))
            if row is not None:
                row.status = "sent"
                row.error = str(exc)
                session.add(row)
            record_failure(session, ctx.name, FLOW, key,
                           f"store refused tracking for {reference}: {exc}", ",".join(numbers))
            session.commit()
        return
    with ctx.db.session() as session:
        row = session.get(OrderLink, (ctx.name, key))
        if row is not None:
            row.status = "fulfilled"
            row.error = None
            row.updated_at = now()
            session.add(row)
        clear_failure(session, ctx.name, FLOW, key)
        session.commit()
    result.counts["shipped"] += 1


async def _resolve_intents(ctx: FlowContext, result: FlowResult) -> None:
    """Finish ``fulfilling`` intents left by a crash: mark_shipped is idempotent."""
    with ctx.db.session() as session:
        pending = list(session.exec(select(OrderLink).where(
            OrderLink.store == ctx.name, OrderLink.status == "fulfilling")))
    if not pending:
        return
    result.counts["intents"] += len(pending)
    if ctx.dry_run:
        for link in pending:
            ctx.would(f"tracking: resolve unfinished shipment of {link.reference}")
        return

    async def finish(link: OrderLink) -> None:
        order = await ctx.myogo.find_order(link.reference)  # for the tracking URL
        url = order.tracking_url if order is not None else None
        await _mark(ctx, result, link.store_order_id, link.reference,
                    split_tracking(link.tracking_number), url)

    raise_first(await run_bounded(pending, finish, ctx.concurrency, ctx.stopping,
                                  park=parker(ctx, result, FLOW, lambda link: link.store_order_id)))
