"""Product data flow: store -> myOGO (store-dominant).

Changed store products are written to myOGO when their mapped payload changed. A product
edited in myOGO is put back to the store's version (the ``myogo_products`` stream watches
myOGO's ``modifiedAfter`` feed and compares it with what was last written).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from typing import Any

from sqlmodel import select

from syncd.errors import DataError
from syncd.jobs.base import (
    FlowContext,
    FlowResult,
    apply_pages,
    park,
    park_unmappable,
    parker,
    record_run,
    start_cursor,
)
from syncd.jobs.window import Window
from syncd.mapping import clean_text, product_payload
from syncd.model import Product, Unreadable
from syncd.myogo import ProductRequest
from syncd.myogo.errors import MyogoNotFoundError
from syncd.state import ProductLink, ledger
from syncd.state.ledger import ProductStatus
from syncd.state.ops import is_parked

FLOW = "products"
MYOGO_STREAM = "myogo_products"
#: fields myOGO keeps as sent; ``eanCode`` is excluded ("existing EAN will not be overwritten")
COMPARED_FIELDS = ("name", "description", "salesPrice", "currencyCode", "pictureUrl", "infoUrl")


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


async def run(ctx: FlowContext) -> FlowResult:
    return await record_run(ctx, FLOW, _sync)


async def _sync(ctx: FlowContext, result: FlowResult) -> None:
    await _push_store_changes(ctx, result)
    if not ctx.stopping.is_set():
        await _restore_myogo_edits(ctx, result)


async def _push_store_changes(ctx: FlowContext, result: FlowResult) -> None:
    with ctx.db.session() as session:
        linked = session.exec(select(ProductLink.store_id).where(
            ProductLink.store == ctx.name).limit(1)).first()
    # First sync of a store: one paged read of myOGO's codes instead of a lookup per product.
    known = await _myogo_codes(ctx) if linked is None else None
    # One writer per SKU at a time, so two store items with one SKU on a page can't both
    # pass the duplicate check before either is linked.
    locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
    pages = ctx.connector.changed_products(start_cursor(ctx, FLOW))
    await apply_pages(ctx, FLOW, pages, lambda p: _sync_one(ctx, result, p, known, locks),
                      result, park=parker(ctx, result, FLOW, lambda p: p.store_id, ProductLink))


def _fail(ctx: FlowContext, result: FlowResult, key: str, reason: str, h: str | None) -> None:
    park(ctx, result, FLOW, ProductLink, key, reason, h)


async def _myogo_codes(ctx: FlowContext) -> set[str]:
    codes: set[str] = set()
    async for page in ctx.myogo.iter_products():
        codes.update(item.code for item in page if item.code)
    return codes


async def _sync_one(
    ctx: FlowContext, result: FlowResult, product: Product | Unreadable, known: set[str] | None,
    locks: dict[str, asyncio.Lock],
) -> None:
    if isinstance(product, Unreadable):
        park_unmappable(ctx, result, FLOW, ProductLink, product.store_id,
                        DataError(product.reason), product.content_hash())
        return
    code = clean_text(product.sku) or ""
    async with locks[code]:
        await _sync_locked(ctx, result, product, known)


async def _sync_locked(
    ctx: FlowContext, result: FlowResult, product: Product, known: set[str] | None
) -> None:
    key = product.store_id
    try:
        payload = product_payload(product, ctx.store)
    except DataError as exc:
        park_unmappable(ctx, result, FLOW, ProductLink, key, exc, product.content_hash())
        return
    h = payload_hash(payload)
    code = payload["code"]
    with ctx.db.session() as session:
        link = session.get(ProductLink, (ctx.name, key))
        if link is not None and link.status == ProductStatus.SYNCED and link.content_hash == h:
            result.counts["unchanged"] += 1
            return
        if is_parked(session, ctx.name, FLOW, key, h):
            result.counts["parked"] += 1
            return
        twin = session.exec(
            select(ProductLink).where(
                ProductLink.store == ctx.name,
                ProductLink.sku == code,
                ProductLink.store_id != key,
                ProductLink.status == ProductStatus.SYNCED,
            )
        ).first()
        previous_code = link.sku if link is not None and link.status == ProductStatus.SYNCED \
            else None
    if twin is not None:
        _fail(ctx, result, key, f"duplicate SKU {code!r}: store item {twin.store_id} "
              "already uses it; give each product its own SKU", h)
        return
    if ctx.dry_run:
        ctx.would(f"products: write {code} ({payload['name']}) to myOGO")
        result.counts["written"] += 1
        return
    try:
        myogo_id = await _upsert(ctx, code, previous_code, payload, known)
    except DataError as exc:
        _fail(ctx, result, key, f"myOGO refused product {code}: {exc}", h)
        return
    with ctx.db.session() as session:
        ledger.mark_synced(session, ctx.name, key, code, h, myogo_id, payload)
        session.commit()
    result.counts["written"] += 1


async def _upsert(
    ctx: FlowContext, code: str, previous_code: str | None, payload: dict[str, Any],
    known: set[str] | None,
) -> str | None:
    """Update when myOGO has the product (renames use the old code in the path), else create.

    ``known`` is myOGO's set of codes when it was read up front (first sync), else None.
    """
    body = ProductRequest.model_validate(payload)
    if previous_code is not None:
        try:
            return (await ctx.myogo.update_product(previous_code, body)).id
        except MyogoNotFoundError:
            pass  # deleted in myOGO: fall through and create it again
    else:
        exists = (code in known) if known is not None else (
            await ctx.myogo.find_product(code) is not None)
        if exists:
            return (await ctx.myogo.update_product(code, body)).id
    return (await ctx.myogo.create_product(body)).id


def _differs(written: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether myOGO's product no longer matches what we wrote (fields we did not send don't
    count: myOGO keeps its own value for them)."""
    for name in COMPARED_FIELDS:
        if name not in written:
            continue
        mine, theirs = written[name], current.get(name)
        if isinstance(mine, int | float) and isinstance(theirs, int | float):
            if abs(float(mine) - float(theirs)) >= 0.005:
                return True
        elif mine != theirs:
            return True
    return False


async def _restore_myogo_edits(ctx: FlowContext, result: FlowResult) -> None:
    """Put back the store's version of products someone edited in myOGO (store dominates)."""
    window = Window(ctx, MYOGO_STREAM)
    if window.saved is None:
        # Nothing to compare against yet: everything just written is the store's version.
        window.save(window.signpost)
        return
    async for page in ctx.myogo.iter_products(modified_after=window.saved):
        for item in page:
            window.see(item.edit_time)
            await _restore_one(ctx, result, item.code, item.model_dump(by_alias=True))
    window.save()


async def _restore_one(
    ctx: FlowContext, result: FlowResult, code: str | None, current: dict[str, Any]
) -> None:
    if not code:
        return
    with ctx.db.session() as session:
        link = session.exec(
            select(ProductLink).where(
                ProductLink.store == ctx.name,
                ProductLink.sku == code,
                ProductLink.status == ProductStatus.SYNCED,
            )
        ).first()
    if link is None or not link.payload:
        return
    written = json.loads(link.payload)
    if not _differs(written, current):
        return
    if ctx.dry_run:
        ctx.would(f"products: restore {code} in myOGO to the store's version")
        return
    await ctx.myogo.update_product(code, ProductRequest.model_validate(written))
    result.counts["restored"] += 1
