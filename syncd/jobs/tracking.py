"""Tracking flow: myOGO -> store (myOGO-dominant).

When myOGO marks an order SHIPPED, its tracking numbers (a set: myOGO may send "A,B") and
the shipped status go back to the store. The ``fulfilling`` intent is committed before the
store write; the connector's ``mark_shipped`` is idempotent, so resolving an intent is
simply calling it again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, func, select

from syncd.errors import DataError
from syncd.jobs.base import (
    FlowContext,
    FlowResult,
    parker,
    raise_first,
    record_run,
    run_bounded,
)
from syncd.jobs.window import Window
from syncd.mapping import split_tracking
from syncd.model import Shipment
from syncd.myogo import OrderResponse
from syncd.state import OrderLink, ledger
from syncd.state.ledger import OrderStatus

FLOW = "tracking"
OVERLAP = timedelta(minutes=2)


async def run(ctx: FlowContext) -> FlowResult:
    return await record_run(ctx, FLOW, _sync)


async def _sync(ctx: FlowContext, result: FlowResult) -> None:
    await _resolve_intents(ctx, result)
    window = Window(ctx, FLOW, OVERLAP)
    saved = window.saved
    with ctx.db.session() as session:
        if saved is None or ctx.full:
            # Start from the oldest order we sent: nothing earlier can concern this store.
            oldest = session.exec(select(func.min(OrderLink.updated_at)).where(
                OrderLink.store == ctx.name)).one()
    if saved is None or ctx.full:
        start = (oldest.replace(tzinfo=window.signpost.tzinfo) - OVERLAP) if oldest else None
        if start is None:
            window.save(window.signpost - OVERLAP)
            return
    else:
        start = saved
    async for page in ctx.myogo.iter_orders(modified_after=start):
        result.counts["seen"] += len(page)
        for order in page:
            window.see(order.edit_time)
        await apply_shipped(ctx, result, page)
        if ctx.stopping.is_set():
            return
    window.save()


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
        if link.status == OrderStatus.CANCELLED:
            continue
        if (link.status == OrderStatus.FULFILLED
                and set(numbers) <= set(split_tracking(link.tracking_number))):
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
            merged = ledger.begin_fulfil(session, ctx.name, link.store_order_id, numbers)
            session.commit()
        if merged is None:
            return
        await _mark(ctx, result, link.store_order_id, link.reference, merged, url)

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
            ledger.fulfil_refused(session, ctx.name, key,
                                  f"store refused tracking for {reference}: {exc}", str(exc),
                                  numbers)
            session.commit()
        return
    with ctx.db.session() as session:
        ledger.mark_fulfilled(session, ctx.name, key)
        session.commit()
    result.counts["shipped"] += 1


async def _resolve_intents(ctx: FlowContext, result: FlowResult) -> None:
    """Finish ``fulfilling`` intents left by a crash: mark_shipped is idempotent."""
    with ctx.db.session() as session:
        pending = ledger.pending(session, ctx.name, OrderStatus.FULFILLING)
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
