"""The Vendure connector under the connector conformance kit, on a real Vendure server.

``store_handle`` is a ``VendureHandle`` on a fresh channel of the session's server
(``tests/vendure_server.py``); ``TestVendureConformance`` runs the kit's contract tests.
The handle's own contract (what it seeds, the connector
reads; what the connector writes, the handle sees) is checked here as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from vendure_server import VendureServer, vendure_server

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
from syncd.testing.vendure_handle import VendureHandle

pytestmark = pytest.mark.vendure


@pytest.fixture(scope="session")
def vendure(request: pytest.FixtureRequest) -> VendureServer:
    return vendure_server(request)


@pytest.fixture
async def store_handle(vendure: VendureServer) -> AsyncIterator[VendureHandle]:
    handle = VendureHandle(vendure.admin_url, vendure.shop_url)
    await handle.reset()
    yield handle
    await handle.aclose()


class TestVendureConformance(ConformanceSuite):
    """The kit's contract tests against the real server (the kit resets the handle)."""


async def test_handle_round_trip(store_handle: VendureHandle) -> None:
    """What the handle seeds, the connector reads; what the connector writes, the handle sees."""
    assert isinstance(store_handle, StoreHandle)
    ids = await store_handle.add_product(SeedProduct(name="Tee", variants=[
        SeedVariant(sku="TEE-S", name="Tee S", stock=2), SeedVariant(sku="TEE-M", name="Tee M")]))
    plain = await store_handle.add_product(SeedProduct(name="Mug", sku="MUG", stock=5))
    connector = store_handle.connector()
    products = [p async for page in connector.changed_products(None) for p in page.items]
    assert {p.store_id: p.sku for p in products} == {
        ids[0]: "TEE-S", ids[1]: "TEE-M", plain[0]: "MUG"}
    await store_handle.update_product_name(plain[0], "Cup")
    names = {p.store_id: p.name
             async for page in connector.changed_products(None) for p in page.items}
    assert names[plain[0]] == "Cup"

    order = await store_handle.add_order(SeedOrder(
        lines=[("TEE-S", 1)], paid=False, shipping_method=store_handle.shipping_method))
    assert [o async for page in connector.paid_orders(None) for o in page.items] == []
    await store_handle.pay_order(order)
    orders = [o async for page in connector.paid_orders(None) for o in page.items]
    assert [(o.store_id, o.shipping_method, o.address.name) for o in orders] == [
        (order, "standard-shipping", "Maija Meikäläinen")]

    results = await connector.set_stock([StockLevel(sku="MUG", quantity=0)])
    assert results[0].ok and await store_handle.stock_of("MUG") == 0
    await connector.mark_shipped(Shipment(store_order_id=order, order_number="1",
                                          tracking_numbers=("JJ1",)))
    assert [f.tracking_numbers for f in await store_handle.fulfilments(order)] == [("JJ1",)]
    assert await store_handle.is_shipped(order)
    assert await store_handle.customer_notifications(order) == 1

    cancelled = await store_handle.add_order(SeedOrder(lines=[("MUG", 1)]))
    await store_handle.cancel_order(cancelled)
    refs = [r async for page in connector.cancelled_orders(None) for r in page.items]
    assert [r.store_id for r in refs] == [cancelled]
    await store_handle.reset()
    assert await store_handle.stock_of("MUG") is None
    assert [p async for page in store_handle.connector().changed_products(None)
            for p in page.items] == []


async def test_handle_bad_credentials_are_refused(store_handle: VendureHandle) -> None:
    connector = load_connector("vendure")(
        store_handle.bad_credentials_settings(), store_handle.connector().http
    )
    with pytest.raises(AuthError):
        await connector.check()
