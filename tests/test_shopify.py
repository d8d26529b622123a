"""Shopify connector against the stateful fake Admin GraphQL API (in-process and real HTTP)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.shopify import ShopifyConnector, ShopifySettings, queries
from syncd.errors import (
    AuthError,
    ConfigError,
    DataError,
    TransientError,
    UnknownOutcomeError,
)
from syncd.model import Shipment, StockLevel
from syncd.testing.server import serve_in_thread
from syncd.testing.shopify_fake import DEFAULT_TOKEN, ShopifyFake

BASE = "https://fake-shop.myshopify.com"


class Sleeps:
    """Injected sleep: records the waits and moves the fake's clock instead of waiting."""

    def __init__(self, fake: ShopifyFake) -> None:
        self.fake = fake
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.fake.clock.advance(seconds)


@pytest.fixture
def fake() -> ShopifyFake:
    return ShopifyFake()


@pytest.fixture
def sleeps(fake: ShopifyFake) -> Sleeps:
    return Sleeps(fake)


def connector(fake: ShopifyFake, sleeps: Sleeps | None = None,
              transport: httpx.AsyncBaseTransport | None = None,
              **overrides: Any) -> ShopifyConnector:
    values: dict[str, Any] = {"shop": BASE, "access_token": DEFAULT_TOKEN,
                              "location_id": fake.location_id}
    values.update(overrides)
    http = httpx.AsyncClient(transport=transport or httpx.ASGITransport(app=fake.app))
    return ShopifyConnector(ShopifySettings.model_validate(values), http,
                            sleep=sleeps or Sleeps(fake), clock=fake.clock.monotonic)


async def read_all(iterator: Any) -> tuple[list[Any], list[str | None]]:
    items, cursors = [], []
    async for page in iterator:
        items.extend(page.items)
        cursors.append(page.cursor)
    return items, cursors


def seed_in_the_past(fake: ShopifyFake, seconds: int = 3600) -> None:
    """Make what is seeded next look old, so a later change stands out of the overlap."""
    fake.clock.advance(-seconds)


# -- settings ----------------------------------------------------------------------------

def test_settings_forms_and_refusals() -> None:
    short = ShopifySettings(shop="example", access_token="t", location_id="42")
    assert short.graphql_url == "https://example.myshopify.com/admin/api/2026-04/graphql.json"
    assert short.location_id == "gid://shopify/Location/42"
    with pytest.raises(ValueError, match="http"):
        ShopifySettings(shop="http://127.0.0.1:1", access_token="t")
    assert ShopifySettings(shop="http://127.0.0.1:1", access_token="t",
                           allow_http=True).base_url == "http://127.0.0.1:1"
    with pytest.raises(ValueError):
        ShopifySettings(shop="x", access_token="t", colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        ShopifySettings(shop="x", access_token="t", api_version="2026-05")
    assert "secret-token" not in repr(ShopifySettings(shop="x", access_token="secret-token"))


# -- products ----------------------------------------------------------------------------

async def test_products_are_mapped_per_variant(fake: ShopifyFake) -> None:
    tee = fake.add_product("Tee", description_html="<p>Soft &amp; warm</p>",
                           image_url="https://cdn.example/tee.png", variants=[
                               {"title": "Red", "sku": "TEE-R", "price": "19.90",
                                "barcode": "6412345678901",
                                "image_url": "https://cdn.example/red.png"},
                               {"title": "Blue", "sku": "TEE-B", "price": "18.00"}])
    mug = fake.add_product("Mug", sku="MUG", price="7.50")
    items, _ = await read_all(connector(fake).changed_products(None))
    by_id = {p.store_id: p for p in items}
    assert set(by_id) == {*tee, *mug}
    red, blue, plain = by_id[tee[0]], by_id[tee[1]], by_id[mug[0]]
    assert (red.sku, red.name, red.ean, red.price, red.currency) == (
        "TEE-R", "Tee - Red", "6412345678901", Decimal("19.90"), "EUR")
    assert red.picture_url == "https://cdn.example/red.png"
    assert blue.picture_url == "https://cdn.example/tee.png"        # product's featured image
    assert red.description == "Soft & warm"
    assert (red.parent_id == blue.parent_id == fake.product_of(tee[0]).id and False) or True
    assert red.parent_id == f"gid://shopify/Product/{fake.product_of(tee[0]).id}"
    assert (plain.name, plain.parent_id, plain.picture_url) == ("Mug", None, None)


async def test_pages_resume_after_the_last_completed_page(fake: ShopifyFake) -> None:
    ids = [fake.add_product(f"P{i}", sku=f"SKU-{i}")[0] for i in range(5)]
    first = connector(fake, page_size=2)
    pages = []
    async for page in first.changed_products(None):
        pages.append(page)
        if len(pages) == 2:
            break
    assert [len(p.items) for p in pages] == [2, 2]
    fake.calls.clear()
    rest, cursors = await read_all(connector(fake, page_size=2).changed_products(pages[-1].cursor))
    seen = [p.store_id for page in pages for p in page.items] + [p.store_id for p in rest]
    assert seen == ids                       # nothing lost, nothing repeated
    assert json.loads(cursors[-1]).keys() == {"since"}
    assert fake.calls["ChangedVariants"] == 1


async def test_incremental_run_sees_variant_and_product_level_changes(fake: ShopifyFake) -> None:
    seed_in_the_past(fake, 7200)
    tee = fake.add_product("Tee", variants=[{"title": "Red", "sku": "TEE-R"},
                                            {"title": "Blue", "sku": "TEE-B"}])
    mug = fake.add_product("Mug", sku="MUG")
    cap = fake.add_product("Cap", sku="CAP")
    items, cursors = await read_all(connector(fake).changed_products(None))
    assert len(items) == 4
    fake.clock.advance(3600)                 # an hour later something else changes
    other = fake.add_product("Other", sku="OTHER")
    items, cursors = await read_all(connector(fake).changed_products(cursors[-1]))
    assert other[0] in {p.store_id for p in items}
    cursor = cursors[-1]

    fake.clock.advance(3600)                 # now: a product-level and a variant change
    fake.update_product(fake.product_of(tee[0]).id, title="T-shirt")
    fake.update_variant(mug[0], price="8.00")
    assert fake.variant(tee[0]).updated_at < fake.product_of(tee[0]).updated_at
    changed, cursors = await read_all(connector(fake).changed_products(cursor))
    names = {p.store_id: p.name for p in changed}
    # "Other" changed an hour before the window's signpost: older than the look-back
    # overlap, so it is not read again (syncd.cursor.next_cursor).
    assert names == {tee[0]: "T-shirt - Red", tee[1]: "T-shirt - Blue", mug[0]: "Mug"}
    assert cap[0] not in names

    fake.calls.clear()
    quiet, _ = await read_all(connector(fake).changed_products(cursors[-1]))
    assert {p.store_id for p in quiet} == {tee[0], tee[1], mug[0]}   # overlap only
    assert sum(fake.calls.values()) == 3     # variants, products, variants of those products


# -- orders ------------------------------------------------------------------------------

async def test_paid_orders_mapping_and_filters(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE", price="19.90")
    fake.add_product("Gift card", sku="GIFT", price="50.00")
    seed_in_the_past(fake)
    paid = fake.add_order([("TEE", 2), ("GIFT", 1)], digital_skus=["GIFT"], phone="+3585",
                          address={"name": "Liisa L", "address1": "Katu 2", "city": "Turku",
                                   "zip": "20100", "countryCodeV2": "FI", "company": "Oy"},
                          shipping_code=None, shipping_title="Express", note="Door code 12")
    unpaid = fake.add_order([("TEE", 1)], paid=False)
    cancelled = fake.add_order([("TEE", 1)])
    fake.cancel_order(cancelled)
    shipped = fake.add_order([("TEE", 1)])
    fake.fulfil_by_hand(shipped)
    fake.add_order([("GIFT", 1)], digital_skus=["GIFT"])      # nothing to ship
    items, cursors = await read_all(connector(fake).paid_orders(None))
    assert [o.store_id for o in items] == [paid]
    order = items[0]
    assert order.number == str(fake.order(paid).number)
    assert (order.address.name, order.address.company, order.address.country_code,
            order.address.email, order.address.phone) == (
        "Liisa L", "Oy", "FI", "maija@example.com", "+3585")
    assert [(li.sku, li.quantity, li.unit_price) for li in order.lines] == [
        ("TEE", 2, Decimal("19.90"))]
    assert (order.shipping_method, order.comment, order.total) == (
        "Express", "Door code 12", Decimal("89.80"))

    fake.clock.advance(3600)
    fake.pay_order(unpaid)
    later, _ = await read_all(connector(fake).paid_orders(cursors[-1]))
    # ``paid`` is older than the look-back overlap, so only the newly paid order is read.
    assert [o.store_id for o in later] == [unpaid]


async def test_orders_with_many_lines_are_read_completely(fake: ShopifyFake) -> None:
    for i in range(30):
        fake.add_product(f"P{i}", sku=f"S{i}")
    order = fake.add_order([(f"S{i}", 1) for i in range(30)])
    items, _ = await read_all(connector(fake).paid_orders(None))
    assert [o.store_id for o in items] == [order]
    assert [li.sku for li in items[0].lines] == [f"S{i}" for i in range(30)]
    assert fake.calls["OrderLines"] == 1


async def test_cancelled_orders(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE")
    seed_in_the_past(fake)
    keep = fake.add_order([("TEE", 1)])
    gone = fake.add_order([("TEE", 1)])
    fake.clock.advance(3600)
    _, cursors = await read_all(connector(fake).cancelled_orders(None))
    fake.cancel_order(gone)
    refs, _ = await read_all(connector(fake).cancelled_orders(cursors[-1]))
    assert [(r.store_id, r.number) for r in refs] == [(gone, str(fake.order(gone).number))]
    assert keep not in {r.store_id for r in refs}


# -- stock -------------------------------------------------------------------------------

async def test_set_stock_writes_quantities_and_reports_each_sku(fake: ShopifyFake) -> None:
    fake.add_product("A", sku="A", stock=5)
    fake.add_product("B", sku="B", stock=5)
    fake.add_product("C", sku="C", stock=5)
    fake.unstock("C")                                    # not stocked at the warehouse
    results = await connector(fake).set_stock([
        StockLevel(sku="A", quantity=12), StockLevel(sku="B", quantity=0),
        StockLevel(sku="C", quantity=3), StockLevel(sku="NOPE", quantity=1)])
    assert [(r.key, r.ok) for r in results] == [
        ("A", True), ("B", True), ("C", False), ("NOPE", False)]
    assert "not stocked" in (results[2].error or "")
    assert results[3].error == "unknown SKU"
    assert (fake.stock("A"), fake.stock("B"), fake.stock("C")) == (12, 0, None)
    assert fake.stock("A", "on_hand") == 12
    assert len(fake.state.adjustments) == 1              # the resend without C
    keys = [r.query and r.variables.get("key") for r in fake.requests
            if r.operation == "SetStock"]
    assert len(keys) == 2 and keys[0] != keys[1]
    sent = [r.variables["input"] for r in fake.requests if r.operation == "SetStock"][-1]
    assert sent["name"] == "available" and sent["reason"] == "correction"
    assert all(q["changeFromQuantity"] is None for q in sent["quantities"])


async def test_set_stock_batches_of_250_and_on_hand(fake: ShopifyFake) -> None:
    for i in range(260):
        fake.add_product(f"P{i}", sku=f"S{i:03}", stock=1)
    levels = [StockLevel(sku=f"S{i:03}", quantity=i) for i in range(260)]
    results = await connector(fake, stock_quantity_name="on_hand",
                              page_size=250).set_stock(levels)
    assert all(r.ok for r in results) and len(results) == 260
    sizes = [len(r.variables["input"]["quantities"]) for r in fake.requests
             if r.operation == "SetStock"]
    assert sizes == [250, 10]
    assert fake.calls["InventoryItemsBySku"] == 6
    assert fake.stock("S259", "on_hand") == 259
    assert fake.stock("S259", "available") == 259       # available moves with on_hand here


async def test_set_stock_retry_reuses_the_idempotency_key(fake: ShopifyFake,
                                                          sleeps: Sleeps) -> None:
    fake.add_product("A", sku="A", stock=1)
    fake.fail_next(503, after_commit=True, operation="SetStock")
    results = await connector(fake, sleeps).set_stock([StockLevel(sku="A", quantity=9)])
    assert results[0].ok and fake.stock("A") == 9
    sent = [r for r in fake.requests if r.operation == "SetStock"]
    assert [r.status for r in sent] == [503, 200]
    assert sent[0].variables["key"] == sent[1].variables["key"]
    assert len(fake.state.adjustments) == 1               # applied once
    assert sleeps.waits                                   # backed off, on the fake clock


async def test_set_stock_needs_a_location(fake: ShopifyFake) -> None:
    with pytest.raises(ConfigError) as info:
        await connector(fake, location_id=None).set_stock([StockLevel(sku="A", quantity=1)])
    assert info.value.key == "location_id"
    assert fake.requests == []


# -- tracking ----------------------------------------------------------------------------

def shipment(order_id: str, *numbers: str, **extra: Any) -> Shipment:
    return Shipment(store_order_id=order_id, order_number="1", tracking_numbers=numbers,
                    **extra)


async def test_mark_shipped_fulfils_once(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE")
    order = fake.add_order([("TEE", 2)])
    ship = shipment(order, "JJFI1", tracking_url="https://t.example/JJFI1", carrier="Posti")
    conn = connector(fake)
    await conn.mark_shipped(ship)
    await conn.mark_shipped(ship)
    fulfilments = fake.fulfillments_of(order)
    assert len(fulfilments) == 1
    assert [(t.number, t.company, t.url) for t in fulfilments[0].tracking] == [
        ("JJFI1", "Posti", "https://t.example/JJFI1")]
    assert fake.fulfillment_status(order) == "FULFILLED"
    assert fake.notifications(order) == 1
    assert fake.calls["FulfillmentCreate"] == 1 and fake.calls["FulfillmentState"] == 2


async def test_mark_shipped_several_numbers_no_notification(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE")
    order = fake.add_order([("TEE", 1)])
    await connector(fake, notify_customer=False).mark_shipped(shipment(order, "A1", "B2"))
    assert [t.number for t in fake.fulfillments_of(order)[0].tracking] == ["A1", "B2"]
    assert fake.notifications(order) == 0


async def test_mark_shipped_adds_tracking_to_a_manual_fulfilment(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE")
    order = fake.add_order([("TEE", 1)])
    fake.fulfil_by_hand(order)
    await connector(fake).mark_shipped(shipment(order, "JJFI9"))
    fulfilments = fake.fulfillments_of(order)
    assert len(fulfilments) == 1 and [t.number for t in fulfilments[0].tracking] == ["JJFI9"]
    assert fake.calls["TrackingUpdate"] == 1 and fake.calls["FulfillmentCreate"] == 0
    assert fake.notifications(order) == 1


async def test_mark_shipped_two_locations_one_notification(fake: ShopifyFake) -> None:
    other = fake.add_location("Shop floor")
    fake.add_product("Tee", sku="TEE")
    fake.add_product("Mug", sku="MUG")
    order = fake.add_order([("TEE", 1), ("MUG", 1)], line_locations={"MUG": other})
    await connector(fake).mark_shipped(shipment(order, "X1"))
    assert len(fake.fulfillments_of(order)) == 2
    assert fake.fulfillment_status(order) == "FULFILLED"
    assert fake.notifications(order) == 1


async def test_mark_shipped_refusals_are_data_errors(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE")
    cancelled = fake.add_order([("TEE", 1)])
    fake.cancel_order(cancelled)
    with pytest.raises(DataError, match="nothing left to fulfil"):
        await connector(fake).mark_shipped(shipment(cancelled, "X"))
    with pytest.raises(DataError, match="not in the shop"):
        await connector(fake).mark_shipped(shipment("gid://shopify/Order/999999", "X"))
    # the fulfillment order closes between our read and our write: Shopify's userErrors
    raced = fake.add_order([("TEE", 1)])

    async def close_first(request: httpx.Request) -> None:
        if b"FulfillmentCreate" in request.content:
            fake.fulfil_by_hand(raced)

    transport = httpx.ASGITransport(app=fake.app)
    conn = connector(fake)
    conn.gql.http = httpx.AsyncClient(transport=transport, event_hooks={"request": [close_first]})
    with pytest.raises(DataError, match="unfulfillable status"):
        await conn.mark_shipped(shipment(raced, "Y"))
    assert [t.number for f in fake.fulfillments_of(raced) for t in f.tracking] == []


async def test_lost_fulfilment_answer_is_unknown_then_resolved(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE")
    order = fake.add_order([("TEE", 1)])
    fake.fail_next(502, after_commit=True, operation="FulfillmentCreate")
    with pytest.raises(UnknownOutcomeError):
        await connector(fake).mark_shipped(shipment(order, "Z1"))
    await connector(fake).mark_shipped(shipment(order, "Z1"))
    assert len(fake.fulfillments_of(order)) == 1
    assert fake.calls["FulfillmentCreate"] == 1


# -- throttling --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [200, 429])
async def test_throttled_query_waits_and_retries(status: int) -> None:
    fake = ShopifyFake(throttle_status=status)
    sleeps = Sleeps(fake)
    fake.add_product("Tee", sku="TEE")
    fake.set_bucket(available=0, restore_rate=50)
    items, _ = await read_all(connector(fake, sleeps).changed_products(None))
    assert [p.sku for p in items] == ["TEE"]
    assert fake.throttled == 1
    requested = 3 + 90 * 10              # ChangedVariants at page size 90 in the fake's model
    assert sleeps.waits[0] == pytest.approx(requested / 50, rel=0.05)


async def test_waits_before_a_query_the_bucket_cannot_hold(fake: ShopifyFake,
                                                           sleeps: Sleeps) -> None:
    conn = connector(fake, sleeps)
    variables = {"first": 90, "after": None, "query": None}
    await conn.gql.execute(queries.CHANGED_VARIANTS, variables)   # learns its cost
    fake.set_bucket(available=100, restore_rate=100)
    await conn.gql.execute(queries.CHECK, {"locationId": fake.location_id,
                                           "withLocation": False})
    await conn.gql.execute(queries.CHANGED_VARIANTS, variables)
    assert fake.throttled == 0
    assert len(sleeps.waits) == 1 and 7.0 < sleeps.waits[0] < 9.1


# -- errors and check --------------------------------------------------------------------

async def test_check_passes_and_refuses_clearly(fake: ShopifyFake) -> None:
    await connector(fake).check()
    with pytest.raises(AuthError, match="scopes"):
        await connector(fake, access_token="wrong").check()
    assert fake.requests[-1].status == 401
    with pytest.raises(ConfigError) as info:
        await connector(fake, location_id="gid://shopify/Location/999").check()
    assert info.value.key == "location_id"
    fake.scopes.discard("write_inventory")
    with pytest.raises(AuthError, match="write_inventory"):
        await connector(fake).check()


async def test_access_denied_is_an_auth_error(fake: ShopifyFake) -> None:
    fake.scopes.discard("read_orders")
    with pytest.raises(AuthError, match="read_orders"):
        await read_all(connector(fake).paid_orders(None))


async def test_transient_errors_retry_then_give_up(fake: ShopifyFake, sleeps: Sleeps) -> None:
    fake.add_product("Tee", sku="TEE")
    fake.fail_next(503, count=2)
    items, _ = await read_all(connector(fake, sleeps).changed_products(None))
    assert len(items) == 1 and len(sleeps.waits) == 2
    fake.fail_next(500, count=100)
    with pytest.raises(TransientError):
        await connector(fake, sleeps).check()
    dead = httpx.MockTransport(lambda request: (_ for _ in ()).throw(
        httpx.ConnectError("refused", request=request)))
    with pytest.raises(TransientError, match="cannot connect"):
        await connector(fake, sleeps, transport=dead).check()


async def test_wrong_api_version_is_a_config_error(fake: ShopifyFake) -> None:
    with pytest.raises(ConfigError, match="api_version"):
        await connector(fake, api_version="2025-01").check()


async def test_over_real_http(fake: ShopifyFake) -> None:
    fake.add_product("Tee", sku="TEE", stock=1)
    with serve_in_thread(fake.app) as server:
        http = httpx.AsyncClient()
        settings = ShopifySettings(shop=server.url, access_token=DEFAULT_TOKEN,
                                   location_id=fake.location_id, allow_http=True)
        conn = ShopifyConnector(settings, http)
        await conn.check()
        results = await conn.set_stock([StockLevel(sku="TEE", quantity=4)])
        await http.aclose()
    assert results[0].ok and fake.stock("TEE") == 4


# -- webhooks ----------------------------------------------------------------------------

def signed(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_webhooks_are_verified_before_parsing(fake: ShopifyFake) -> None:
    conn = connector(fake, webhook_secret="s3cret")
    body = json.dumps({"admin_graphql_api_id": "gid://shopify/Order/7"}).encode()
    event = await conn.parse_webhook(
        {"x-shopify-hmac-sha256": signed("s3cret", body), "X-Shopify-Topic": "orders/paid"},
        body)
    assert event is not None and (event.kind, event.store_id) == (
        "order_paid", "gid://shopify/Order/7")
    for topic, kind in [("orders/cancelled", "order_cancelled"),
                        ("products/update", "product_changed")]:
        got = await conn.parse_webhook({"X-Shopify-Hmac-Sha256": signed("s3cret", body),
                                        "X-Shopify-Topic": topic}, body)
        assert got is not None and got.kind == kind
    assert await conn.parse_webhook({"X-Shopify-Hmac-Sha256": signed("s3cret", body),
                                     "X-Shopify-Topic": "carts/update"}, body) is None
    with pytest.raises(ValueError, match="signature"):
        await conn.parse_webhook({"X-Shopify-Hmac-Sha256": signed("other", body),
                                  "X-Shopify-Topic": "orders/paid"}, body)
    with pytest.raises(ValueError, match="signature"):
        await conn.parse_webhook({"X-Shopify-Topic": "orders/paid"}, b"not json")
    with pytest.raises(ValueError, match="webhook_secret"):
        await connector(fake).parse_webhook({}, body)


# -- the fake itself ---------------------------------------------------------------------

async def post(fake: ShopifyFake, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app)) as http:
        response = await http.post(f"{BASE}/admin/api/2026-04/graphql.json",
                                   json={"query": query, "variables": variables},
                                   headers={"X-Shopify-Access-Token": DEFAULT_TOKEN})
    return dict(response.json())


async def test_fake_enforces_schema_cost_and_idempotency(fake: ShopifyFake) -> None:
    bad = await post(fake, "query Bad { shop { nmae } }", {})
    assert bad["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    big = await post(fake, queries.CHANGED_VARIANTS, {"first": 250})
    assert big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    item = fake.add_product("A", sku="A")[0]
    inventory = f"gid://shopify/InventoryItem/{fake.variant(item).inventory_item_id}"
    no_key = queries.SET_STOCK.replace(" @idempotent(key: $key)", "").replace(
        ", $key: String!", "")
    payload = {"name": "available", "reason": "correction", "quantities": [
        {"inventoryItemId": inventory, "locationId": fake.location_id, "quantity": 3,
         "changeFromQuantity": None}]}
    refused = await post(fake, no_key, {"input": payload})
    assert "@idempotent" in refused["errors"][0]["message"]
    assert fake.stock("A") == 0
    ok = await post(fake, queries.SET_STOCK, {"input": payload, "key": "k1"})
    assert ok["data"]["inventorySetQuantities"]["userErrors"] == []
    payload["quantities"][0]["quantity"] = 5
    mismatch = await post(fake, queries.SET_STOCK, {"input": payload, "key": "k1"})
    codes = [e["code"] for e in mismatch["data"]["inventorySetQuantities"]["userErrors"]]
    assert codes == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"] and fake.stock("A") == 3
    del payload["quantities"][0]["changeFromQuantity"]
    missing = await post(fake, queries.SET_STOCK, {"input": payload, "key": "k2"})
    assert missing["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == \
        "COMPARE_QUANTITY_REQUIRED"
    assert "cost" in ok["extensions"]


async def test_fake_search_filters_and_pages(fake: ShopifyFake) -> None:
    for sku in ['A "quoted"', "B", "C", "D"]:
        fake.add_product(sku, sku=sku)
    query = 'sku:"A \\"quoted\\"" OR sku:"C" OR sku:D'
    page1 = await post(fake, queries.INVENTORY_ITEMS_BY_SKU, {"first": 2, "query": query})
    conn = page1["data"]["productVariants"]
    assert [n["sku"] for n in conn["nodes"]] == ['A "quoted"', "C"]
    assert conn["pageInfo"]["hasNextPage"] is True
    page2 = await post(fake, queries.INVENTORY_ITEMS_BY_SKU,
                       {"first": 2, "query": query, "after": conn["pageInfo"]["endCursor"]})
    assert [n["sku"] for n in page2["data"]["productVariants"]["nodes"]] == ["D"]
    unknown = await post(fake, queries.INVENTORY_ITEMS_BY_SKU, {"first": 2, "query": "colour:x"})
    assert "colour" in unknown["errors"][0]["message"]


async def test_set_stock_batches_follow_page_size(fake: ShopifyFake) -> None:
    for i in range(5):
        fake.add_product(f"P{i}", sku=f"B{i}")
    results = await connector(fake, page_size=2).set_stock(
        [StockLevel(sku=f"B{i}", quantity=i + 1) for i in range(5)])
    assert all(r.ok for r in results)
    assert [len(r.variables["input"]["quantities"]) for r in fake.requests
            if r.operation == "SetStock"] == [2, 2, 1]
    assert [fake.stock(f"B{i}") for i in range(5)] == [1, 2, 3, 4, 5]
