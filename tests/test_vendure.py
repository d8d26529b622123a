"""The Vendure connector against a real Vendure 3.7 server on 127.0.0.1 (tests/vendure)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from vendure_server import VendureServer, vendure_server

from connectors.vendure import VendureConnector, VendureSettings
from connectors.vendure.keyset import Position, decode, encode, position_filter
from syncd.errors import AuthError, ConfigError, DataError
from syncd.model import Shipment, StockLevel
from syncd.testing.conformance.handle import SeedAddress, SeedOrder, SeedProduct, SeedVariant
from syncd.testing.vendure_handle import VendureHandle

pytestmark = pytest.mark.vendure


@pytest.fixture(scope="session")
def vendure(request: pytest.FixtureRequest) -> VendureServer:
    return vendure_server(request)


@pytest.fixture
async def store(vendure: VendureServer) -> AsyncIterator[VendureHandle]:
    """An empty store: a fresh Vendure channel per test."""
    handle = VendureHandle(vendure.admin_url, vendure.shop_url)
    await handle.reset()
    yield handle
    await handle.aclose()


async def collect(pages: AsyncIterator[Any]) -> tuple[list[Any], list[str | None]]:
    items: list[Any] = []
    cursors: list[str | None] = []
    async for page in pages:
        items.extend(page.items)
        cursors.append(page.cursor)
    return items, cursors


async def paid_order(store: VendureHandle, sku: str = "W-1", quantity: int = 2) -> str:
    await store.add_product(SeedProduct(name="Widget", sku=sku, price="19.99", stock=50))
    return await store.add_order(SeedOrder(lines=[(sku, quantity)]))


# -- settings and cursors (no server) ----------------------------------------------------


def test_plain_http_is_refused_unless_allowed() -> None:
    base = {"url": "http://127.0.0.1:3000/admin-api", "username": "u", "password": "p"}
    with pytest.raises(ValidationError, match="plain http"):
        VendureSettings(**base)
    assert VendureSettings(**base, allow_http=True).url == base["url"]
    with pytest.raises(ValidationError, match="GraphQL field name"):
        VendureSettings(**base, allow_http=True, ean_custom_field="ean }")


def test_cursor_round_trip_and_filter() -> None:
    position = Position(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), frozenset({"7", "3"}))
    assert decode(encode(position)) == position
    assert decode("2026-01-02T03:04:05Z") == Position(position.time)
    assert decode(None) is None
    with pytest.raises(ConfigError):
        decode("{not json")
    assert position_filter("updatedAt", position) == {"_or": [
        {"updatedAt": {"after": "2026-01-02T03:04:05Z"}},
        {"_and": [{"updatedAt": {"after": "2026-01-02T03:04:04.999000Z"}},
                  {"id": {"notIn": ["3", "7"]}}]},
    ]}


# -- products ----------------------------------------------------------------------------


async def test_changed_products_carry_sku_price_ean_and_description(
    store: VendureHandle,
) -> None:
    [simple_id] = await store.add_product(SeedProduct(
        name="Mug", sku="MUG-1", price="19.99", ean="4006381333931",
        description="A blue mug", stock=3,
    ))
    variant_ids = await store.add_product(SeedProduct(name="Shirt", variants=[
        SeedVariant(sku="SHIRT-S", name="Shirt S", price="25.00", ean="4006381333948"),
        SeedVariant(sku="SHIRT-M", name="Shirt M", price="26.50"),
    ]))

    products, _ = await collect(store.connector().changed_products(None))

    by_sku = {p.sku: p for p in products}
    assert sorted(by_sku) == ["MUG-1", "SHIRT-M", "SHIRT-S"]
    mug = by_sku["MUG-1"]
    assert (mug.store_id, mug.name, mug.price, mug.currency, mug.ean, mug.description) == (
        simple_id, "Mug", Decimal("19.99"), "EUR", "4006381333931", "A blue mug"
    )
    assert by_sku["SHIRT-S"].ean == "4006381333948"
    assert by_sku["SHIRT-M"].ean is None
    assert by_sku["SHIRT-M"].price == Decimal("26.50")
    assert {by_sku["SHIRT-S"].store_id, by_sku["SHIRT-M"].store_id} == set(variant_ids)
    assert by_sku["SHIRT-S"].parent_id == by_sku["SHIRT-M"].parent_id != mug.parent_id


async def test_cursor_resumes_after_the_last_page_in_a_new_connector(
    store: VendureHandle,
) -> None:
    for i in range(5):
        await store.add_product(SeedProduct(name=f"P{i}", sku=f"RES-{i}"))
    first = store.connector(page_size=2, settle_seconds=0)
    pages = first.changed_products(None)
    page_one = await pages.__anext__()
    await pages.aclose()
    assert len(page_one.items) == 2 and page_one.cursor is not None

    rest, cursors = await collect(
        store.connector(page_size=2, settle_seconds=0).changed_products(page_one.cursor)
    )

    seen = [p.sku for p in page_one.items] + [p.sku for p in rest]
    assert sorted(seen) == [f"RES-{i}" for i in range(5)]  # each exactly once
    again, _ = await collect(store.connector(settle_seconds=0).changed_products(cursors[-1]))
    assert again == []


async def test_recent_changes_are_not_saved_past_the_settle_window(store: VendureHandle) -> None:
    [variant_id] = await store.add_product(SeedProduct(name="Lamp", sku="LAMP-1"))
    connector = store.connector(settle_seconds=5)  # the production default
    assert VendureSettings.model_fields["settle_seconds"].default == 5
    products, cursors = await collect(connector.changed_products(None))
    assert [p.sku for p in products] == ["LAMP-1"]
    assert cursors == [None]  # too fresh to save: the next run reads it again

    await store.update_product_name(variant_id, "Lamp (renamed)")
    products, _ = await collect(store.connector(settle_seconds=5).changed_products(cursors[-1]))
    assert [(p.sku, p.name) for p in products] == [("LAMP-1", "Lamp (renamed)")]


# -- orders ------------------------------------------------------------------------------


async def test_paid_order_is_listed_with_address_lines_and_shipping_method(
    store: VendureHandle,
) -> None:
    await store.add_product(SeedProduct(name="Widget", sku="W-1", price="19.99", stock=10))
    await store.add_product(SeedProduct(name="Gadget", sku="G-1", price="5.00", stock=10))
    address = SeedAddress(name="Maija Meikäläinen", address1="Testikatu 1", city="Helsinki",
                          zip="00100", country_code="FI", email="maija@example.com",
                          phone="+358401234567")
    paid_id = await store.add_order(SeedOrder(lines=[("W-1", 2), ("G-1", 1)], address=address))
    unpaid_id = await store.add_order(SeedOrder(lines=[("W-1", 1)], paid=False))

    orders, cursors = await collect(store.connector(settle_seconds=0).paid_orders(None))

    assert [o.store_id for o in orders] == [paid_id]
    order = orders[0]
    assert order.number == (await store.order(paid_id))["code"]
    assert order.address.model_dump(exclude_none=True) == {
        "name": "Maija Meikäläinen", "address1": "Testikatu 1", "city": "Helsinki",
        "zip": "00100", "country_code": "FI", "phone": "+358401234567",
        "email": "maija@example.com",
    }
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        ("W-1", 2, Decimal("19.99")), ("G-1", 1, Decimal("5.00")),
    ]
    assert order.shipping_method == store.shipping_method
    assert order.total == Decimal("49.98")  # 2 x 19.99 + 5.00 + 5.00 shipping

    await store.pay_order(unpaid_id)
    later, _ = await collect(store.connector(settle_seconds=0).paid_orders(cursors[-1]))
    assert [o.store_id for o in later] == [unpaid_id]


async def test_cancelled_order_is_listed_and_no_longer_paid(store: VendureHandle) -> None:
    keep = await paid_order(store, "C-1")
    cancel = await store.add_order(SeedOrder(lines=[("C-1", 1)]))
    await store.cancel_order(cancel)

    cancelled, _ = await collect(store.connector().cancelled_orders(None))
    paid, _ = await collect(store.connector().paid_orders(None))

    assert [(ref.store_id, ref.number) for ref in cancelled] == [
        (cancel, (await store.order(cancel))["code"])
    ]
    assert [o.store_id for o in paid] == [keep]


# -- stock -------------------------------------------------------------------------------


async def test_set_stock_writes_on_hand_and_reports_unknown_skus(store: VendureHandle) -> None:
    await store.add_product(SeedProduct(name="A", sku="ST-A", stock=5))
    await store.add_product(SeedProduct(name="B", sku="ST-B", stock=5))

    results = await store.connector().set_stock([
        StockLevel(sku="ST-A", quantity=42), StockLevel(sku="ST-B", quantity=0),
        StockLevel(sku="NOPE", quantity=3),
    ])

    assert [(r.key, r.ok, r.error) for r in results] == [
        ("ST-A", True, None), ("ST-B", True, None), ("NOPE", False, "unknown SKU"),
    ]
    assert (await store.stock_of("ST-A"), await store.stock_of("ST-B")) == (42, 0)


async def test_set_stock_into_a_named_stock_location(store: VendureHandle) -> None:
    await store.add_product(SeedProduct(name="A", sku="LOC-A", stock=5))
    location = (await store.admin("{stockLocations{items{id}}}"))["stockLocations"]["items"][0]

    [result] = await store.connector(stock_location_id=location["id"]).set_stock(
        [StockLevel(sku="LOC-A", quantity=17)]
    )

    assert result.ok
    assert await store.stock_of("LOC-A") == 17


# -- tracking ----------------------------------------------------------------------------


async def test_mark_shipped_twice_gives_one_shipped_fulfilment(store: VendureHandle) -> None:
    order_id = await paid_order(store)
    shipment = Shipment(store_order_id=order_id, order_number="x",
                        tracking_numbers=("TRK-1", "TRK-2"))

    await store.connector().mark_shipped(shipment)
    await store.connector().mark_shipped(shipment)

    [fulfilment] = await store.fulfilments(order_id)
    assert fulfilment.tracking_numbers == ("TRK-1", "TRK-2")
    assert await store.is_shipped(order_id)
    order = await store.order(order_id)
    assert [(f["state"], f["method"]) for f in order["fulfillments"]] == [("Shipped", "OGOship")]
    assert await store.customer_notifications(order_id) == 1


async def test_mark_shipped_finishes_a_fulfilment_left_pending(store: VendureHandle) -> None:
    order_id = await paid_order(store)
    line = (await store.order(order_id))["lines"][0]
    await store.admin(
        "mutation($in:FulfillOrderInput!){addFulfillmentToOrder(input:$in){"
        "... on Fulfillment{id} ... on ErrorResult{errorCode message}}}",
        {"in": {"lines": [{"orderLineId": line["id"], "quantity": line["quantity"]}],
                "handler": {"code": "manual-fulfillment", "arguments": [
                    {"name": "method", "value": "OGOship"},
                    {"name": "trackingCode", "value": "TRK-9"}]}}},
    )
    assert not await store.is_shipped(order_id)

    await store.connector().mark_shipped(
        Shipment(store_order_id=order_id, order_number="x", tracking_numbers=("TRK-9",))
    )

    assert [f.tracking_numbers for f in await store.fulfilments(order_id)] == [("TRK-9",)]
    assert await store.is_shipped(order_id)


async def test_mark_shipped_on_a_cancelled_order_is_a_data_error(store: VendureHandle) -> None:
    order_id = await paid_order(store)
    await store.cancel_order(order_id)
    with pytest.raises(DataError, match="cancelled"):
        await store.connector().mark_shipped(
            Shipment(store_order_id=order_id, order_number="x", tracking_numbers=("T",))
        )
    assert await store.fulfilments(order_id) == []


# -- credentials and check ---------------------------------------------------------------


async def test_bad_credentials_raise_auth_error(store: VendureHandle) -> None:
    connector = VendureConnector(store.bad_credentials_settings(), store.connector().http)
    with pytest.raises(AuthError, match="refused the username/password"):
        await connector.check()
    with pytest.raises(AuthError):
        await collect(connector.changed_products(None))


async def test_check_accepts_good_settings_and_names_bad_ones(store: VendureHandle) -> None:
    await store.connector().check()
    with pytest.raises(ConfigError, match="no Vendure channel has this token"):
        await store.connector(channel_token="no-such-channel").check()
    with pytest.raises(ConfigError, match="ean_custom_field"):
        await store.connector(ean_custom_field="gtin").check()


async def test_an_expired_session_is_renewed_once(store: VendureHandle) -> None:
    await store.add_product(SeedProduct(name="A", sku="SES-A"))
    connector = store.connector()
    await connector.check()
    connector.client._token = "expired-session-token"  # as if Vendure had dropped it

    products, _ = await collect(connector.changed_products(None))

    assert [p.sku for p in products] == ["SES-A"]
    assert connector.client._token not in (None, "expired-session-token")
    assert list(connector.http.cookies.jar) == []  # no session cookie left for others to send


async def test_missing_permissions_are_named(store: VendureHandle) -> None:
    channel = (await store.admin("{activeChannel{id}}"))["activeChannel"]["id"]
    role = await store.admin(
        "mutation($in:CreateRoleInput!){createRole(input:$in){id}}",
        {"in": {"code": f"reader-{store.channel_token}", "description": "read only",
                "permissions": ["ReadCatalog", "ReadOrder"], "channelIds": [channel]}},
    )
    email = f"reader-{store.channel_token}@example.com"
    await store.admin(
        "mutation($in:CreateAdministratorInput!){createAdministrator(input:$in){id}}",
        {"in": {"firstName": "Read", "lastName": "Only", "emailAddress": email,
                "password": "reader-pass", "roleIds": [role["createRole"]["id"]]}},
    )
    order_id = await paid_order(store, "PERM-1")
    reader = store.connector(username=email, password="reader-pass")

    with pytest.raises(ConfigError, match="UpdateCatalog or UpdateProduct, UpdateOrder"):
        await reader.check()
    with pytest.raises(AuthError, match="lacks a permission"):
        await reader.mark_shipped(
            Shipment(store_order_id=order_id, order_number="x", tracking_numbers=("T",))
        )
    assert await store.fulfilments(order_id) == []
    products, _ = await collect(reader.changed_products(None))  # reading is allowed
    assert [p.sku for p in products] == ["PERM-1"]


def test_missing_node_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import vendure_server as server_module

    monkeypatch.setattr(server_module.shutil, "which", lambda tool: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="node and npm not found"):
        server_module._require_node()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        server_module._require_node()
