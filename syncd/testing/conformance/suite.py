"""The contract tests every store connector must pass (see the package docstring)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from syncd.connector import Capability, StoreConnector
from syncd.errors import ConfigError
from syncd.model import Order, Page, Shipment, StockLevel
from syncd.testing.conformance.handle import (
    SeedAddress,
    SeedOrder,
    SeedProduct,
    SeedVariant,
    StoreHandle,
)

T = TypeVar("T")
#: small pages so a handful of seeded items spans several of them
SMALL_PAGE = 3
#: the stock test writes more levels than one batch of this size
SMALL_BATCH = 5


def require(connector: StoreConnector, *needed: Capability) -> None:
    """Skip (not fail) a contract the connector does not claim."""
    missing = [c.value for c in needed if c not in connector.capabilities]
    if missing:
        pytest.skip(f"{connector.name} lacks capability {', '.join(missing)}")


async def pages(stream: AsyncIterator[Page[T]], limit: int | None = None) -> list[Page[T]]:
    """Read pages of a stream (at most ``limit``), then close it as an engine would."""
    out: list[Page[T]] = []
    try:
        async for page in stream:
            out.append(page)
            if limit is not None and len(out) >= limit:
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return out


def ids(found: Sequence[Page[Any]]) -> list[str]:
    return [item.store_id for page in found for item in page.items]


def last_cursor(found: Sequence[Page[Any]]) -> str | None:
    cursors = [page.cursor for page in found if page.cursor is not None]
    return cursors[-1] if cursors else None


def simple(tag: str, index: int, stock: int = 5) -> SeedProduct:
    return SeedProduct(name=f"{tag} product {index}", sku=f"{tag}-{index:03d}", stock=stock,
                       price=f"{10 + index}.50", ean=f"640000000{index:04d}")


class ConformanceSuite:
    """Subclass as ``class TestMyStoreConformance(ConformanceSuite): pass`` to run the kit."""

    @pytest.fixture
    async def handle(self, store_handle: StoreHandle) -> StoreHandle:
        """The author's ``store_handle``, emptied before each contract test."""
        assert isinstance(store_handle, StoreHandle), "store_handle must return a StoreHandle"
        await store_handle.reset()
        return store_handle

    # -- check ---------------------------------------------------------------------------

    async def test_check_refuses_bad_credentials(self, handle: StoreHandle) -> None:
        [product_id] = await handle.add_product(simple("CHK", 1, stock=3))
        good = handle.connector()
        await good.check()
        bad_settings = handle.bad_credentials_settings()
        async with httpx.AsyncClient(timeout=30) as http:
            bad = type(good)(bad_settings, http)
            with pytest.raises(ConfigError) as caught:
                await bad.check()
        message = str(caught.value)
        assert len(message) > 20, f"error message is not helpful: {message!r}"
        for value in vars(bad_settings).values():
            if isinstance(value, SecretStr) and len(value.get_secret_value()) > 3:
                assert value.get_secret_value() not in message, "the error leaks a secret"
        assert product_id
        assert await handle.stock_of("CHK-001") == 3, "check() must not change the store"

    # -- products ------------------------------------------------------------------------

    async def test_products_with_and_without_sku(self, handle: StoreHandle) -> None:
        connector = handle.connector()
        require(connector, Capability.PRODUCTS)
        [with_sku] = await handle.add_product(simple("SKU", 1, stock=4))
        [without] = await handle.add_product(SeedProduct(name="No SKU product", sku=None))
        found = {p.store_id: p for page in await pages(connector.changed_products(None))
                 for p in page.items}
        assert set(found) == {with_sku, without}
        assert found[with_sku].sku == "SKU-001"
        assert found[with_sku].name == "SKU product 1"
        assert found[without].sku in (None, ""), "a no-SKU product is returned, not dropped"
        assert found[without].name == "No SKU product"
        assert await handle.stock_of("SKU-001") == 4

    async def test_variants_are_separate_skus(self, handle: StoreHandle) -> None:
        connector = handle.connector()
        require(connector, Capability.PRODUCTS)
        variant_ids = await handle.add_product(SeedProduct(name="Shirt", variants=(
            SeedVariant(sku="SHIRT-S", name="S", stock=1),
            SeedVariant(sku="SHIRT-M", name="M", stock=2),
        )))
        found = [p for page in await pages(connector.changed_products(None)) for p in page.items]
        assert sorted(p.store_id for p in found) == sorted(variant_ids), \
            "each variant is one Product and the parent is none"
        assert {p.store_id: p.sku for p in found} == dict(
            zip(variant_ids, ["SHIRT-S", "SHIRT-M"], strict=True))
        parents = {p.parent_id for p in found}
        assert len(parents) == 1 and None not in parents, "variants name their parent"
        assert [await handle.stock_of("SHIRT-S"), await handle.stock_of("SHIRT-M")] == [1, 2]

    async def test_product_paging_and_resume(self, handle: StoreHandle) -> None:
        require(handle.connector(), Capability.PRODUCTS)
        seeded = [i for n in range(7) for i in await handle.add_product(simple("PG", n))]
        full = await pages(handle.connector(page_size=SMALL_PAGE).changed_products(None))
        assert len([p for p in full if p.items]) >= 3, "7 items in pages of 3"
        assert Counter(ids(full)) == Counter(seeded), "each item exactly once in one pass"
        # a "restart": one instance reads a page, a new one resumes from its cursor
        first = await pages(handle.connector(page_size=SMALL_PAGE).changed_products(None), 1)
        assert first[0].cursor is not None
        rest = await pages(handle.connector(page_size=SMALL_PAGE).changed_products(
            first[0].cursor))
        assert Counter(ids(first) + ids(rest)) == Counter(seeded), \
            "no item lost or repeated across a restart"
        # a change after a complete pass is read from the saved cursor
        await handle.update_product_name(seeded[2], "Renamed product")
        again = await pages(handle.connector(page_size=SMALL_PAGE).changed_products(
            last_cursor(full)))
        renamed = [p for page in again for p in page.items if p.store_id == seeded[2]]
        assert [p.name for p in renamed] == ["Renamed product"]

    # -- orders --------------------------------------------------------------------------

    async def _paid(self, handle: StoreHandle, cursor: str | None = None,
                    **overrides: object) -> tuple[dict[str, Order], str | None]:
        found = await pages(handle.connector(**overrides).paid_orders(cursor))
        return ({o.store_id: o for page in found for o in page.items}, last_cursor(found))

    async def test_order_paging_and_resume(self, handle: StoreHandle) -> None:
        require(handle.connector(), Capability.ORDERS)
        await handle.add_product(simple("OP", 1))
        seeded = [await handle.add_order(SeedOrder(lines=[("OP-001", n + 1)]))
                  for n in range(5)]
        full = await pages(handle.connector(page_size=2).paid_orders(None))
        assert len([p for p in full if p.items]) >= 3, "5 orders in pages of 2"
        assert Counter(ids(full)) == Counter(seeded)
        first = await pages(handle.connector(page_size=2).paid_orders(None), 1)
        rest = await pages(handle.connector(page_size=2).paid_orders(first[0].cursor))
        assert Counter(ids(first) + ids(rest)) == Counter(seeded), \
            "no order lost or repeated across a restart"

    async def test_only_paid_orders(self, handle: StoreHandle) -> None:
        require(handle.connector(), Capability.ORDERS)
        await handle.add_product(simple("PAY", 1))
        await handle.add_product(simple("PAY", 2))
        paid = await handle.add_order(SeedOrder(lines=[("PAY-001", 2), ("PAY-002", 1)]))
        unpaid = await handle.add_order(SeedOrder(lines=[("PAY-001", 1)], paid=False))
        found, cursor = await self._paid(handle)
        assert set(found) == {paid}, "an unpaid order is not selected"
        assert sorted((line.sku, line.quantity) for line in found[paid].lines) == \
            [("PAY-001", 2), ("PAY-002", 1)]
        assert found[paid].number
        await handle.pay_order(unpaid)
        later, _ = await self._paid(handle, cursor)
        assert unpaid in later, "an order paid after the last run is read from the cursor"
        assert not await handle.is_shipped(unpaid)

    async def test_address_and_shipping_method(self, handle: StoreHandle) -> None:
        require(handle.connector(), Capability.ORDERS)
        await handle.add_product(simple("ADR", 1))
        address = SeedAddress(name="Erik Exempel", address1="Storgatan 2", city="Stockholm",
                              zip="11122", country_code="SE", email="erik@example.com",
                              phone="+46701234567")
        order_id = await handle.add_order(SeedOrder(
            lines=[("ADR-001", 1)], address=address, shipping_method=handle.shipping_method))
        found, _ = await self._paid(handle)
        got = found[order_id].address
        assert (got.name, got.address1, got.city, got.zip, got.country_code) == \
            ("Erik Exempel", "Storgatan 2", "Stockholm", "11122", "SE")
        assert (got.email, got.phone) == ("erik@example.com", "+46701234567")
        assert found[order_id].shipping_method == handle.shipping_method

    async def test_cancelled_orders(self, handle: StoreHandle) -> None:
        connector = handle.connector()
        require(connector, Capability.CANCELLATIONS)
        await handle.add_product(simple("CAN", 1))
        cancelled = await handle.add_order(SeedOrder(lines=[("CAN-001", 1)]))
        kept = await handle.add_order(SeedOrder(lines=[("CAN-001", 2)]))
        await handle.cancel_order(cancelled)
        found = await pages(connector.cancelled_orders(None))
        assert cancelled in ids(found)
        assert kept not in ids(found)
        assert not await handle.is_shipped(cancelled)

    # -- writes --------------------------------------------------------------------------

    async def test_set_stock_in_batches(self, handle: StoreHandle) -> None:
        connector = handle.connector(page_size=SMALL_BATCH)
        require(connector, Capability.STOCK)
        skus = [f"STK-{n:03d}" for n in range(SMALL_BATCH * 2 + 2)]
        for n in range(len(skus)):
            await handle.add_product(simple("STK", n, stock=5))
        await handle.add_product(SeedProduct(name="Stock shirt", variants=(
            SeedVariant(sku="STK-V-S", name="S", stock=5),
            SeedVariant(sku="STK-V-M", name="M", stock=5),
        )))
        target = {sku: n + 1 for n, sku in enumerate([*skus, "STK-V-S"])}
        target[skus[0]] = 0            # stock 0 is a real value
        target["STK-V-M"] = 0
        levels = [StockLevel(sku=s, quantity=q) for s, q in target.items()]
        levels.append(StockLevel(sku="NO-SUCH-SKU", quantity=3))
        results = await connector.set_stock(levels)
        by_key = {r.key: r for r in results}
        assert len(results) == len(levels) and set(by_key) == {lv.sku for lv in levels}
        assert not by_key["NO-SUCH-SKU"].ok and by_key["NO-SUCH-SKU"].error
        assert [k for k, r in by_key.items() if not r.ok] == ["NO-SUCH-SKU"]
        assert {sku: await handle.stock_of(sku) for sku in target} == target

    async def test_stock_levels_read_what_the_store_holds(self, handle: StoreHandle) -> None:
        connector = handle.connector(page_size=SMALL_BATCH)
        require(connector, Capability.STOCK_LEVELS)
        wanted = {f"LVL-{n:03d}": n for n in range(SMALL_BATCH + 2)}   # 0 included
        for n, sku in enumerate(wanted):
            await handle.add_product(SeedProduct(name=f"Level {n}", sku=sku, stock=n))
        await handle.add_product(SeedProduct(name="Level shirt", variants=(
            SeedVariant(sku="LVL-V-S", name="S", stock=4),
            SeedVariant(sku="LVL-V-M", name="M", stock=0),
        )))
        wanted |= {"LVL-V-S": 4, "LVL-V-M": 0}
        levels = await connector.stock_levels([*wanted, "NO-SUCH-SKU"])
        assert dict(levels) == wanted            # an unknown SKU is left out
        assert wanted == {sku: await handle.stock_of(sku) for sku in wanted}

    async def test_mark_shipped_is_idempotent(self, handle: StoreHandle) -> None:
        connector = handle.connector()
        require(connector, Capability.ORDERS, Capability.TRACKING)
        await handle.add_product(simple("SHP", 1))
        order_id = await handle.add_order(SeedOrder(lines=[("SHP-001", 1)]))
        found, _ = await self._paid(handle)
        shipment = Shipment(store_order_id=order_id, order_number=found[order_id].number,
                            tracking_numbers=("JJFI123456789",),
                            tracking_url="https://tracking.example/JJFI123456789",
                            carrier="Posti")
        await connector.mark_shipped(shipment)
        await handle.connector().mark_shipped(shipment)   # again, as after a crash
        fulfilments = await handle.fulfilments(order_id)
        assert [f.tracking_numbers for f in fulfilments] == [("JJFI123456789",)]
        assert await handle.customer_notifications(order_id) == 1
        assert await handle.is_shipped(order_id)
