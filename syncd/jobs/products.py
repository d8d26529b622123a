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
from collections.abc import AsyncIterator
from typing import Any

from sqlmodel import select

from syncd.errors import DataError
from syncd.jobs.base import (
    FlowContext,
    FlowResult,
    apply_pages,
    park,
    parker,
    record_run,
    start_cursor,
)
from syncd.jobs.product_book import ProductBook, payload_text
from syncd.jobs.window import Window
from syncd.mapping import clean_text, product_payload
from syncd.model import Page, Product, Unreadable
from syncd.myogo import ProductRequest
from syncd.myogo.errors import MyogoNotFoundError
from syncd.state import ProductLink
from syncd.state.ledger import ProductStatus

FLOW = "products"
MYOGO_STREAM = "myogo_products"
#: fields myOGO keeps as sent; ``eanCode`` is excluded ("existing EAN will not be overwritten")
COMPARED_FIELDS = ("name", "description", "salesPrice", "currencyCode", "pictureUrl", "infoUrl")
#: what a first sync compares with myOGO's catalogue before deciding a PUT is not needed
#: (every field we send but the EAN; one myOGO does not echo back only costs a PUT)
HELD_FIELDS = (*COMPARED_FIELDS, "hsCode", "countryOfOrigin", "customsDescription",
               "supplier", "supplierCode", "supplyPrice")


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
    # First sync of a store: one paged read of myOGO's products instead of a lookup per
    # product; it also tells which of them already hold what the store has.
    known = await _myogo_catalogue(ctx) if linked is None else None
    # One writer per SKU at a time, so two store items with one SKU can't both pass the
    # duplicate check before either is linked.
    locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
    book = ProductBook(ctx.db, ctx.name, FLOW)

    async def pages() -> AsyncIterator[Page[Product | Unreadable]]:
        async for page in ctx.connector.changed_products(start_cursor(ctx, FLOW)):
            book.load(page.items)      # the page's state in three queries
            yield page

    async def one(product: Product | Unreadable) -> None:
        try:
            await _sync_one(ctx, result, product, known, locks, book)
        finally:
            book.done(product)

    await apply_pages(ctx, FLOW, pages(), one, result,
                      park=parker(ctx, result, FLOW, lambda p: p.store_id, ProductLink),
                      flush=book.flush)


def _fail(ctx: FlowContext, result: FlowResult, key: str, reason: str, h: str | None,
          book: ProductBook) -> None:
    park(ctx, result, FLOW, ProductLink, key, reason, h)
    book.failed(key, h)


#: myOGO's products by code: (id, fingerprint of the compared fields), see ``_fingerprint``
Catalogue = dict[str, tuple[str | None, tuple[int, ...]]]


async def _myogo_catalogue(ctx: FlowContext) -> Catalogue:
    known: Catalogue = {}
    async for page in ctx.myogo.iter_products():
        for item in page:
            if item.code:
                known[item.code] = (item.id, _fingerprint(item.model_dump(by_alias=True)))
    return known


def _fingerprint(product: dict[str, Any]) -> tuple[int, ...]:
    """A compact stand-in for the ``HELD_FIELDS`` of a product (plus whether an EAN is set):
    a whole catalogue fits in memory, and equal fields give equal numbers."""
    values: list[Any] = []
    for name in HELD_FIELDS:
        value = product.get(name)
        values.append(round(float(value), 2) if isinstance(value, int | float) else value)
    values.append(bool(product.get("eanCode")))
    return tuple(hash(v) for v in values)


def _same_as_myogo(payload: dict[str, Any], held: tuple[int, ...]) -> bool:
    """Whether a PUT of ``payload`` would change nothing myOGO keeps as sent (fields not in
    the payload keep myOGO's value; an EAN is only ever added, never overwritten)."""
    mine = _fingerprint(payload)
    for i, name in enumerate(HELD_FIELDS):
        if name in payload and mine[i] != held[i]:
            return False
    return not (payload.get("eanCode") and held[-1] == hash(False))


async def _sync_one(
    ctx: FlowContext, result: FlowResult, product: Product | Unreadable,
    known: Catalogue | None, locks: dict[str, asyncio.Lock], book: ProductBook,
) -> None:
    if isinstance(product, Unreadable):
        _park_unreadable(ctx, result, product.store_id, product.reason,
                         product.content_hash(), book)
        return
    code = clean_text(product.sku) or ""
    async with locks[code]:
        await _sync_locked(ctx, result, product, known, book)


def _park_unreadable(ctx: FlowContext, result: FlowResult, key: str, reason: str, h: str,
                     book: ProductBook) -> None:
    """A record that cannot be mapped: park it once; the same content later is only counted."""
    if book.is_parked(key, h):
        result.counts["parked"] += 1
    else:
        _fail(ctx, result, key, reason, h, book)


async def _sync_locked(
    ctx: FlowContext, result: FlowResult, product: Product, known: Catalogue | None,
    book: ProductBook,
) -> None:
    key = product.store_id
    try:
        payload = product_payload(product, ctx.store)
    except DataError as exc:
        _park_unreadable(ctx, result, key, str(exc), product.content_hash(), book)
        return
    text = payload_text(payload)
    h = hashlib.sha256(text.encode()).hexdigest()[:32]
    code = payload["code"]
    link = book.link(key)
    if link is not None and link.status == ProductStatus.SYNCED and link.content_hash == h:
        result.counts["unchanged"] += 1
        return
    if book.is_parked(key, h):
        result.counts["parked"] += 1
        return
    twin = book.twin(code, key)
    previous_code = link.sku if link is not None and link.status == ProductStatus.SYNCED else None
    if twin is not None:
        _fail(ctx, result, key, f"duplicate SKU {code!r}: store item {twin} "
              "already uses it; give each product its own SKU", h, book)
        return
    if ctx.dry_run:
        ctx.would(f"products: write {code} ({payload['name']}) to myOGO")
        result.counts["written"] += 1
        return
    try:
        myogo_id, wrote = await _upsert(ctx, code, previous_code, payload, known)
    except DataError as exc:
        _fail(ctx, result, key, f"myOGO refused product {code}: {exc}", h, book)
        return
    book.wrote(key, code, h, myogo_id, text)
    result.counts["written" if wrote else "matched"] += 1


async def _upsert(
    ctx: FlowContext, code: str, previous_code: str | None, payload: dict[str, Any],
    known: Catalogue | None,
) -> tuple[str | None, bool]:
    """Update when myOGO has the product (renames use the old code in the path), else create;
    ``(myOGO id, whether anything was written)``.

    ``known`` is myOGO's catalogue when it was read up front (first sync), else None; a
    product myOGO already holds as the store has it is linked without a write.
    """
    body = ProductRequest.model_validate(payload)
    if previous_code is not None:
        try:
            return (await ctx.myogo.update_product(previous_code, body)).id, True
        except MyogoNotFoundError:
            pass  # deleted in myOGO: fall through and create it again
    elif known is not None:
        held = known.get(code)
        if held is not None:
            if _same_as_myogo(payload, held[1]):
                return held[0], False
            return (await ctx.myogo.update_product(code, body)).id, True
    elif await ctx.myogo.find_product(code) is not None:
        return (await ctx.myogo.update_product(code, body)).id, True
    created = (await ctx.myogo.create_product(body)).id
    if known is not None:   # a second store item with this code (seen later) must not POST
        known[code] = (created, _fingerprint(payload))
    return created, True


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
