"""The Shopify connector under the connector conformance kit, over real HTTP to the fake.

``ConformanceSuite`` (``syncd.testing.conformance``) runs the shared contract tests with the
``store_handle`` fixture below; the handle's own round trip is checked here as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from syncd.connector import load_connector
from syncd.errors import AuthError
from syncd.model import Shipment, StockLevel
from syncd.testing.conformance import (
    ConformanceSuite,
    SeedOrder,
    SeedProduct,
    SeedVariant,
    StoreHandle,
)
from syncd.testing.server import ServerThread, serve_in_thread
from syncd.testing.shopify_fake import ShopifyFake
from syncd.testing.shopify_fake.handle import ShopifyHandle


@pytest.fixture(scope="module")
def shopify_server() -> Iterator[tuple[ShopifyFake, ServerThread]]:
    fake = ShopifyFake()
    with serve_in_thread(fake.app) as server:
        yield fake, server


@pytest.fixture
async def store_handle(
    shopify_server: tuple[ShopifyFake, ServerThread],
) -> AsyncIterator[ShopifyHandle]:
    fake, server = shopify_server
    handle = ShopifyHandle(fake, base_url=server.url)
    yield handle
    await handle.aclose()


class TestShopifyConformance(ConformanceSuite):
    pass


async def test_handle_round_trip(store_handle: ShopifyHandle) -> None:
    """What the handle seeds, the connector reads; what the connector writes, the handle sees."""
    await store_handle.reset()
    assert isinstance(store_handle, StoreHandle)
    ids = await store_handle.add_product(SeedProduct(name="Tee", variants=[
        SeedVariant(sku="TEE-S", name="S", stock=2), SeedVariant(sku="TEE-M", name="M")]))
    plain = await store_handle.add_product(SeedProduct(name="Mug", sku="MUG", stock=5))
    connector = store_handle.connector()
    products = [p async for page in connector.changed_products(None) for p in page.items]
    assert {p.store_id: p.sku for p in products} == {
        ids[0]: "TEE-S", ids[1]: "TEE-M", plain[0]: "MUG"}
    await store_handle.update_product_name(plain[0], "Cup")
    await store_handle.update_product_name(ids[0], "Small")
    names = {p.store_id: p.name
             async for page in connector.changed_products(None) for p in page.items}
    assert names[plain[0]] == "Cup" and names[ids[0]] == "Tee - Small"

    order = await store_handle.add_order(SeedOrder(lines=[("TEE-S", 1)], paid=False,
                                                   shipping_method=store_handle.shipping_method))
    assert [o async for page in connector.paid_orders(None) for o in page.items] == []
    await store_handle.pay_order(order)
    orders = [o async for page in connector.paid_orders(None) for o in page.items]
    assert [(o.store_id, o.shipping_method, o.address.name) for o in orders] == [
        (order, "standard", "Maija Meikäläinen")]

    results = await connector.set_stock([StockLevel(sku="MUG", quantity=0)])
    assert results[0].ok and await store_handle.stock_of("MUG") == 0
    await connector.mark_shipped(Shipment(store_order_id=order, order_number="1",
                                          tracking_numbers=("JJ1",), tracking_url="https://t/1"))
    assert [(f.tracking_numbers, f.tracking_url)
            for f in await store_handle.fulfilments(order)] == [(("JJ1",), "https://t/1")]
    assert await store_handle.is_shipped(order)
    assert await store_handle.customer_notifications(order) == 1

    cancelled = await store_handle.add_order(SeedOrder(lines=[("MUG", 1)]))
    await store_handle.cancel_order(cancelled)
    refs = [r async for page in connector.cancelled_orders(None) for r in page.items]
    assert [r.store_id for r in refs] == [cancelled]
    await store_handle.reset()
    assert await store_handle.stock_of("MUG") is None


async def test_handle_bad_credentials_are_refused(store_handle: ShopifyHandle) -> None:
    settings = store_handle.bad_credentials_settings()
    connector = load_connector("shopify")(settings, store_handle._client())
    with pytest.raises(AuthError):
        await connector.check()
    assert store_handle.fake.requests[-1].status == 401
