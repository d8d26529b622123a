"""Stock flow: myOGO -> store (myOGO-dominant), several times an hour.

Reads myOGO's stock feed since the cursor and writes ``stockAvailable`` to the store for
SKUs whose level changed. Stock 0 is a real value. A full reconcile (first run, once a
day, or ``--full``) writes every level, which also undoes stock edited in the store.
Empty-source guard: a feed that would zero most of the catalogue is refused unless forced;
on the first run (nothing pushed yet) it compares with the store's current levels when the
connector can read them (``Capability.STOCK_LEVELS``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from sqlmodel import select

from syncd.connector import Capability
from syncd.cursor import format_time, parse_time
from syncd.errors import SyncdError
from syncd.jobs.base import FlowContext, FlowResult, record_run
from syncd.jobs.window import Window
from syncd.model import StockLevel
from syncd.state import ProductLink
from syncd.state import StockLevel as PushedLevel
from syncd.state.ledger import ProductStatus
from syncd.state.ops import clear_failure, get_cursor, now, record_failure, set_cursor

FLOW = "stock"
FULL_STREAM = "stock_full"
FULL_EVERY = timedelta(hours=24)
OVERLAP = timedelta(minutes=2)
BATCH = 500
#: refuse a run that would drop more than this share of in-stock SKUs to 0 (and > MIN_ZEROED)
ZERO_SHARE = 0.5
MIN_ZEROED = 10


class SourceEmptyError(SyncdError):
    """myOGO's feed looks wrong (empty, or zeroing most SKUs): not applied, a person decides."""


async def run(ctx: FlowContext) -> FlowResult:
    return await record_run(ctx, FLOW, _sync)


async def _sync(ctx: FlowContext, result: FlowResult) -> None:
    window = Window(ctx, FLOW, OVERLAP)
    signpost, saved = window.signpost, window.saved
    with ctx.db.session() as session:
        last_full = parse_time(get_cursor(session, ctx.name, FULL_STREAM))
    full = ctx.full or saved is None or last_full is None or signpost - last_full > FULL_EVERY
    levels: dict[str, int] = {}
    async for page in ctx.myogo.iter_stock(modified_after=None if full else saved):
        for item in page:
            if not item.product_code:
                continue
            levels[item.product_code] = max(0, int(item.stock_available or 0))
            window.see(item.modified)
    result.counts["seen"] = len(levels)
    previous: dict[str, int] = {}
    known: set[str] | None = None
    if levels or full:
        # A quiet incremental feed needs neither (nothing to compare, nothing to guard):
        # reading every pushed level and product link made a no-change run O(catalogue).
        with ctx.db.session() as session:
            previous = {row.sku: row.quantity for row in session.exec(
                select(PushedLevel).where(PushedLevel.store == ctx.name))}
            known = _known_skus(ctx, session)
    if known is not None:
        levels = {sku: qty for sku, qty in levels.items() if sku in known}
    todo = [StockLevel(sku=sku, quantity=qty) for sku, qty in sorted(levels.items())
            if full or previous.get(sku) != qty]
    first = saved is None
    store_levels: Mapping[str, int | None] | None = None
    if todo and (ctx.dry_run or (first and not ctx.force)) \
            and Capability.STOCK_LEVELS in ctx.connector.capabilities:
        store_levels = await ctx.connector.stock_levels([level.sku for level in todo])
    if ctx.dry_run:
        _plan(ctx, result, todo, store_levels)
    if first and store_levels is not None:
        _first_run_guard(ctx, levels, store_levels)
    else:
        _guard(ctx, full, levels, previous)
    if ctx.dry_run:
        return
    for start in range(0, len(todo), BATCH):
        if ctx.stopping.is_set():
            return  # cursor not saved: the next run writes the rest
        await _push(ctx, result, todo[start:start + BATCH])
    with ctx.db.session() as session:
        # nothing seen on a first run: start the feed just before this run
        window.write(session, window.next or signpost - OVERLAP)
        if full:
            set_cursor(session, ctx.name, FULL_STREAM, format_time(signpost))
        session.commit()


def _known_skus(ctx: FlowContext, session: object) -> set[str] | None:
    """SKUs this store has (from the product flow); None = the store does not report them."""
    if Capability.PRODUCTS not in ctx.connector.capabilities:
        return None
    rows = session.exec(select(ProductLink.sku).where(  # type: ignore[attr-defined]
        ProductLink.store == ctx.name, ProductLink.status == ProductStatus.SYNCED))
    skus = {sku for sku in rows if sku}
    return skus or None


def _guard(ctx: FlowContext, full: bool, levels: dict[str, int], previous: dict[str, int]) -> None:
    if ctx.force:
        return
    if full and not levels and any(qty > 0 for qty in previous.values()):
        raise SourceEmptyError(
            "myOGO returned no stock at all although the store had stock: not applied "
            "(run `ogo-syncd sync stock --force` if this is right)")
    zeroed = [sku for sku, qty in levels.items() if qty == 0 and previous.get(sku, 0) > 0]
    in_stock = sum(1 for qty in previous.values() if qty > 0)
    if len(zeroed) > MIN_ZEROED and len(zeroed) > ZERO_SHARE * in_stock:
        raise SourceEmptyError(
            f"myOGO would set {len(zeroed)} of {in_stock} in-stock SKUs to 0: not applied "
            "(run `ogo-syncd sync stock --force` if this is right)")


def _plan(ctx: FlowContext, result: FlowResult, todo: Sequence[StockLevel],
          store_levels: Mapping[str, int | None] | None) -> None:
    """Dry run: ``SKU: store level -> myOGO level`` for each level that would change."""
    for level in todo:
        if store_levels is None:
            ctx.would(f"stock: set {level.sku} to {level.quantity} in the store")
            result.counts["written"] += 1
        elif level.sku not in store_levels:
            ctx.would(f"stock: set {level.sku}: not in the store -> {level.quantity} (fails)")
            result.counts["failed"] += 1
        elif store_levels[level.sku] == level.quantity:
            result.counts["unchanged"] += 1
        else:
            held = store_levels[level.sku]
            shown = "in stock, not tracked" if held is None else str(held)
            ctx.would(f"stock: set {level.sku}: {shown} -> {level.quantity}")
            result.counts["written"] += 1


def _first_run_guard(ctx: FlowContext, levels: dict[str, int],
                     store_levels: Mapping[str, int | None]) -> None:
    """First run: nothing pushed yet to compare with, so compare with the store itself.

    Products new in myOGO show stock 0 until goods arrive; writing that over a live
    store's levels (a merchant switching from another integration) empties the shop.
    """
    if ctx.force:
        return
    in_stock = [sku for sku, held in store_levels.items() if held is None or held > 0]
    zeroed = sorted(sku for sku in in_stock if levels.get(sku) == 0)
    if len(zeroed) > MIN_ZEROED and len(zeroed) > ZERO_SHARE * len(in_stock):
        raise SourceEmptyError(
            f"first stock run for store {ctx.name!r}: myOGO would set {len(zeroed)} of the "
            f"{len(in_stock)} SKUs in stock in the store to 0 (e.g. {', '.join(zeroed[:3])}): "
            "not applied. Usual causes: the goods have not arrived at the warehouse yet, or "
            "myOGO has other product codes. See every change with "
            f"`ogo-syncd sync stock --store {ctx.name} --dry-run`; when the levels are right, "
            f"apply them with `ogo-syncd sync stock --store {ctx.name} --force`")


async def _push(ctx: FlowContext, result: FlowResult, batch: Sequence[StockLevel]) -> None:
    results = await ctx.connector.set_stock(batch)
    by_sku = {level.sku: level for level in batch}
    with ctx.db.session() as session:
        for item in results:
            level = by_sku.get(item.key)
            if level is None:
                continue
            if item.ok:
                row = session.get(PushedLevel, (ctx.name, level.sku)) or PushedLevel(
                    store=ctx.name, sku=level.sku, quantity=level.quantity)
                row.quantity = level.quantity
                row.pushed_at = now()
                session.add(row)
                clear_failure(session, ctx.name, FLOW, level.sku)
                result.counts["written"] += 1
            else:
                record_failure(session, ctx.name, FLOW, level.sku,
                               item.error or "store refused the stock level", str(level.quantity))
                result.counts["failed"] += 1
        session.commit()
