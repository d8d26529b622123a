"""WooCommerce connector behaviour beyond the conformance kit (simulator, in-process ASGI)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from syncd.connector import load_connector
from syncd.errors import AuthError, ConfigError, TransientError
from syncd.http_retry import DEFAULT_POLICY
from syncd.model import Shipment, StockLevel
from syncd.testing.conformance.suite import pages
from syncd.testing.woo_sim import KEY, SECRET, WooStore, create_app, signed_delivery

URL = "https://shop.test"


@pytest.fixture
def store() -> WooStore:
    return WooStore()


@pytest.fixture
async def http(store: WooStore) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(store))) as client:
        yield client


def connector(http: httpx.AsyncClient, **overrides: Any) -> WooCommerceConnector:
    fields: dict[str, Any] = {"url": URL, "consumer_key": KEY, "consumer_secret": SECRET}
    fields.update(overrides)
    return WooCommerceConnector(WooCommerceSettings(**fields), http)


# -- settings and registry ------------------------------------------------------------------

def test_entry_point_and_settings() -> None:
    assert load_connector("woocommerce") is WooCommerceConnector
    settings = WooCommerceSettings(url="https://shop.example.com/wp-json/wc/v3/",
                                   consumer_key="ck", consumer_secret="cs")
    assert settings.url == "https://shop.example.com"
    with pytest.raises(ValidationError, match="only accepts key authentication over https"):
        WooCommerceSettings(url="http://shop.example.com", consumer_key="ck",
                            consumer_secret="cs")
    with pytest.raises(ValidationError, match="extra"):
        WooCommerceSettings(url=URL, consumer_key="ck", consumer_secret="cs", colour="red")
    with pytest.raises(ValidationError):
        WooCommerceSettings(url=URL, consumer_key="ck", consumer_secret="cs", page_size=101)


# -- check and errors ------------------------------------------------------------------------

async def test_check_hints(store: WooStore, http: httpx.AsyncClient) -> None:
    await connector(http).check()
    assert store.requests["POST /products/batch"] == 1, "write permission probed once"
    assert store.products == {}, "the probe writes nothing"

    store.add_key("ck_ro", "cs_ro", "read")
    with pytest.raises(AuthError, match="Read/Write"):
        await connector(http, consumer_key="ck_ro", consumer_secret="cs_ro").check()

    with pytest.raises(AuthError, match="Consumer secret is invalid") as bad:
        await connector(http, consumer_secret="cs_leaky_secret").check()
    assert "cs_leaky_secret" not in str(bad.value)

    store.pretty_permalinks = False
    with pytest.raises(ConfigError, match="pretty permalinks"):
        await connector(http).check()
    store.pretty_permalinks = True

    store.orderby_modified = False
    with pytest.raises(ConfigError, match="orderby=modified"):
        await connector(http).check()


async def test_query_string_auth(store: WooStore, http: httpx.AsyncClient) -> None:
    store.strip_authorization = True
    with pytest.raises(AuthError, match='auth = "query"'):
        await connector(http).check()
    store.add_product("Mug", "MUG", stock=1)
    store.request_log.clear()
    query = connector(http, auth="query")
    await query.check()
    results = await query.set_stock([StockLevel(sku="MUG", quantity=7)])
    assert [r.ok for r in results] == [True] and store.stock_of("MUG") == 7
    assert all(params.get("consumer_key") == KEY for _, _, params in store.request_log)


async def test_server_errors_are_retried_then_transient(store: WooStore,
                                                        http: httpx.AsyncClient) -> None:
    store.add_product("Mug", "MUG")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    def retrying() -> WooCommerceConnector:
        conn = connector(http)
        conn.client.sleep = sleep
        return conn

    for status in (503, 429):
        store.faults = [status] * DEFAULT_POLICY.attempts      # down for every attempt
        with pytest.raises(TransientError):
            await pages(retrying().changed_products(None))
        assert store.faults == []
    store.faults = [503]                                       # down once: retried
    assert len(await pages(retrying().changed_products(None))) == 1
    assert len(waits) == 2 * (DEFAULT_POLICY.attempts - 1) + 1


# -- stock ------------------------------------------------------------------------------------

async def test_stock_batches_never_exceed_100(store: WooStore, http: httpx.AsyncClient) -> None:
    skus = [f"S-{n:03d}" for n in range(250)]
    for sku in skus:
        store.add_product(sku, sku, stock=1)
    parent = store.add_product("Shirt", type="variable")
    variants = [f"V-{n:03d}" for n in range(120)]
    for sku in variants:
        store.add_variation(parent, sku, option=sku, stock=1)
    levels = [StockLevel(sku=s, quantity=n % 4) for n, s in enumerate(skus + variants)]
    results = await connector(http).set_stock(levels)
    assert all(r.ok for r in results) and len(results) == 370
    assert store.requests["POST /products/batch"] == math.ceil(250 / 100)
    assert store.requests["POST /products/{id}/variations/batch"] == math.ceil(120 / 100)
    assert store.requests["GET /products"] == math.ceil(370 / 100), "SKUs looked up in chunks"
    assert [store.stock_of(lv.sku) for lv in levels] == [lv.quantity for lv in levels]
    assert store.find_sku("V-001")["manage_stock"] is True  # type: ignore[index]


async def test_parent_sku_is_not_a_stock_target(store: WooStore, http: httpx.AsyncClient) -> None:
    parent = store.add_product("Shirt", "SHIRT", type="variable")
    store.add_variation(parent, "SHIRT-S", option="S", stock=1)
    results = {r.key: r for r in await connector(http).set_stock([
        StockLevel(sku="SHIRT", quantity=3), StockLevel(sku="SHIRT-S", quantity=2)])}
    assert not results["SHIRT"].ok and "variable" in (results["SHIRT"].error or "")
    assert results["SHIRT-S"].ok and store.stock_of("SHIRT-S") == 2


async def test_sku_with_a_comma_gets_stock(store: WooStore, http: httpx.AsyncClient) -> None:
    # the parts of the SKU are other products' SKUs: only the exact one may be written
    store.add_product("Part A", "A", stock=1)
    store.add_product("Part B", "B", stock=1)
    store.add_product("Bundle", "A,B", stock=1)
    store.add_product("Other", "C", stock=1)
    results = {r.key: r for r in await connector(http).set_stock([
        StockLevel(sku="A,B", quantity=6), StockLevel(sku="C", quantity=2)])}
    assert results["A,B"].ok, results["A,B"].error
    assert (store.stock_of("A,B"), store.stock_of("C")) == (6, 2)
    assert (store.stock_of("A"), store.stock_of("B")) == (1, 1)


# -- reading ----------------------------------------------------------------------------------

async def test_cursor_is_gmt_whatever_the_site_timezone(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.utc_offset = timedelta(hours=-5)
    first = store.add_product("First", "FIRST")
    done = await pages(connector(http).changed_products(None))
    store.advance(timedelta(hours=1))
    second = store.add_product("Second", "SECOND")
    later = await pages(connector(http).changed_products(done[-1].cursor))
    # "first" is re-read through the look-back overlap; "second" is lost if the bound
    # were read in the site's timezone (5 h behind GMT)
    assert [p.store_id for page in later for p in page.items] == [str(first), str(second)]


async def test_variation_change_is_read_incrementally(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    parent = store.add_product("Shirt", type="variable", description="<p>Soft &amp; warm</p>")
    small = store.add_variation(parent, "SHIRT-S", option="S", ean="6400000000019")
    store.add_variation(parent, "SHIRT-M", option="M")
    done = await pages(connector(http).changed_products(None))
    found = {p.sku: p for page in done for p in page.items}
    assert set(found) == {"SHIRT-S", "SHIRT-M"}
    assert found["SHIRT-S"].ean == "6400000000019"
    assert found["SHIRT-S"].description == "Soft & warm"
    assert found["SHIRT-S"].name == "Shirt - S" and found["SHIRT-S"].parent_id == str(parent)
    store.advance(timedelta(minutes=10))
    store.update_item(small, {"regular_price": "12.00"})
    later = await pages(connector(http).changed_products(done[-1].cursor))
    changed = {p.sku: p.price for page in later for p in page.items}
    assert str(changed["SHIRT-S"]) == "12.00"


async def test_ean_from_meta_key(store: WooStore, http: httpx.AsyncClient) -> None:
    store.add_product("Mug", "MUG", meta={"_ean": "6401234567897"})
    found = await pages(connector(http, ean_meta_key="_ean").changed_products(None))
    assert [p.ean for page in found for p in page.items] == ["6401234567897"]


async def test_order_mapping(store: WooStore, http: httpx.AsyncClient) -> None:
    store.add_product("Mug", "MUG", price="12.40")
    order_id = store.add_order(
        [("MUG", 2)],
        billing={"first_name": "Bill", "last_name": "Payer", "address_1": "Billing 1",
                 "city": "Espoo", "postcode": "02100", "country": "FI",
                 "email": "bill@example.com", "phone": "+358501"},
        shipping={"first_name": "Sam", "last_name": "Receiver", "address_1": "Ship 2",
                  "city": "Tampere", "country": "fi"},
        shipping_method=("local_pickup", 7), meta={"_pickup_point_id": "PP-1234"},
        number="WC-1001",
    )
    [page] = await pages(connector(http).paid_orders(None))
    [order] = page.items
    assert order.number == "WC-1001" and order.store_id == str(order_id)
    address = order.address
    assert (address.name, address.address1, address.city, address.country_code) == (
        "Sam Receiver", "Ship 2", "Tampere", "FI")
    # the postcode is part of the (complete) shipping address: Espoo's is never mixed in
    assert (address.zip, address.email, address.phone) == (None, "bill@example.com",
                                                           "+358501")
    assert order.shipping_method == "local_pickup:7" and order.pickup_point == "PP-1234"
    assert (order.currency, str(order.total)) == ("EUR", "29.80")
    assert [(line.sku, line.quantity, str(line.unit_price)) for line in order.lines] == [
        ("MUG", 2, "12.40")]


async def test_virtual_and_downloadable_lines_are_left_out(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG")
    store.add_product("Gift card", "GIFT", virtual=True)
    store.add_product("E-book", "EBOOK", downloadable=True)
    parent = store.add_product("Course", type="variable")
    store.add_variation(parent, "COURSE-ONLINE", option="Online", virtual=True)
    store.add_variation(parent, "COURSE-BOOK", option="Book")
    mixed = store.add_order([("MUG", 1), ("GIFT", 1), ("EBOOK", 2), ("COURSE-ONLINE", 1),
                             ("COURSE-BOOK", 3)])
    only_virtual = store.add_order([("GIFT", 1), ("COURSE-ONLINE", 1)])
    found = [o for page in await pages(connector(http).paid_orders(None)) for o in page.items]
    assert [o.store_id for o in found] == [str(mixed)], f"{only_virtual} has nothing to ship"
    assert [(line.sku, line.quantity) for line in found[0].lines] == [
        ("MUG", 1), ("COURSE-BOOK", 3)]


async def test_pickup_point_keys_of_finnish_carriers(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG")
    for key in ("_wc_posti_pickup_id", "_wc_schenker_pickup_id", "_budbee_locker"):
        store.add_order([("MUG", 1)], meta={key: f"{key}-42"})
    found = [o for page in await pages(connector(http).paid_orders(None)) for o in page.items]
    assert [o.pickup_point for o in found] == [
        "_wc_posti_pickup_id-42", "_wc_schenker_pickup_id-42", "_budbee_locker-42"]


async def test_ogoship_product_meta_variation_else_parent(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    ogo = {"_nettivarasto_hscode": "691200", "_nettivarasto_countryoforigin": "pt",
           "_nettivarasto_customsdescription": "Ceramic mug", "_nettivarasto_supplier_name":
           "Nordic Homeware Oy", "_nettivarasto_supplier_code": "NH-4471",
           "_nettivarasto_purchase_price": "21.40", "_nettivarasto_eancode": "6412345678907"}
    store.add_product("Mug", "MUG", meta=ogo)
    store.add_product("Hidden", "HIDDEN", meta={"_nettivarasto_no_export": "yes"})
    parent = store.add_product("Shirt", type="variable", meta={**ogo, "_nettivarasto_eancode": ""})
    store.add_variation(parent, "SHIRT-S", option="S", meta={
        "_nettivarasto_hscode": "610910", "_nettivarasto_eancode": "6400000000019"})
    store.add_variation(parent, "SHIRT-M", option="M", meta={"_nettivarasto_no_export": "yes"})
    hidden_parent = store.add_product("Old", type="variable",
                                      meta={"_nettivarasto_no_export": "yes"})
    store.add_variation(hidden_parent, "OLD-S", option="S")
    found = {p.sku: p for page in await pages(connector(http).changed_products(None))
             for p in page.items}
    assert set(found) == {"MUG", "SHIRT-S"}, "no_export=yes products are not exported"
    mug, small = found["MUG"], found["SHIRT-S"]
    assert (mug.hs_code, mug.country_of_origin, mug.customs_description, mug.supplier,
            mug.supplier_code, str(mug.purchase_price), mug.ean) == (
        "691200", "PT", "Ceramic mug", "Nordic Homeware Oy", "NH-4471", "21.40",
        "6412345678907")
    # the variation's own values win, the rest comes from the parent
    assert (small.hs_code, small.ean, small.supplier, small.country_of_origin) == (
        "610910", "6400000000019", "Nordic Homeware Oy", "PT")


async def test_refunded_orders_count_as_cancelled(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG")
    refunded = store.add_order([("MUG", 1)], status="refunded")
    store.add_order([("MUG", 1)], status="completed")
    found = await pages(connector(http).cancelled_orders(None))
    assert [r.store_id for page in found for r in page.items] == [str(refunded)]
    only_cancelled = connector(http, cancelled_statuses=["cancelled"])
    assert [p.items for p in await pages(only_cancelled.cancelled_orders(None))] == [[]]


# -- tracking ---------------------------------------------------------------------------------

def _writes(store: WooStore) -> int:
    return sum(n for key, n in store.requests.items() if not key.startswith("GET"))


async def test_mark_shipped_fallback_meta_and_note(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.shipment_tracking = False
    store.add_product("Mug", "MUG")
    order_id = store.add_order([("MUG", 1)])
    shipment = Shipment(store_order_id=str(order_id), order_number=str(order_id),
                        tracking_numbers=("A1", "B2"), tracking_url="https://t.example/A1")
    await connector(http).mark_shipped(shipment)
    writes = _writes(store)
    await connector(http).mark_shipped(shipment)
    assert _writes(store) == writes, "the second call writes nothing"
    items = store.meta_value(order_id, "_wc_shipment_tracking_items")
    assert [i["tracking_number"] for i in items] == ["A1", "B2"]
    assert [e.kind for e in store.customer_emails(order_id)] == [
        "customer_note", "customer_completed_order"]
    assert "A1, B2" in store.customer_emails(order_id)[0].body
    assert store.order(order_id)["status"] == "completed"


async def test_mark_shipped_api_uses_completed_email(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG")
    order_id = store.add_order([("MUG", 1)])
    shipment = Shipment(store_order_id=str(order_id), order_number=str(order_id),
                        tracking_numbers=("A1",), tracking_url="https://t.example/A1")
    await connector(http).mark_shipped(shipment)
    await connector(http).mark_shipped(shipment)
    assert store.requests[
        "POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings"] == 1
    [email] = store.customer_emails(order_id)
    assert email.kind == "customer_completed_order" and "A1" in email.body
    # tracking added later to an order already completed by hand: the customer gets a note
    other = store.add_order([("MUG", 1)], status="completed")
    await connector(http).mark_shipped(shipment.model_copy(
        update={"store_order_id": str(other), "order_number": str(other)}))
    assert [e.kind for e in store.customer_emails(other)] == [
        "customer_completed_order", "customer_note"]


async def test_ogoship_tracking_meta_is_optional(store: WooStore, http: httpx.AsyncClient) -> None:
    store.add_product("Mug", "MUG")
    plain_order, ogo_order = store.add_order([("MUG", 1)]), store.add_order([("MUG", 1)])
    shipment = Shipment(store_order_id=str(plain_order), order_number="1",
                        tracking_numbers=("JJFI1", "JJFI2"), tracking_url="https://t.example/1")
    await connector(http).mark_shipped(shipment)
    assert store.meta_value(plain_order, "ogoship_tracking") is None, "off by default"
    ogo = connector(http, ogoship_tracking_meta=True)
    shipment = shipment.model_copy(update={"store_order_id": str(ogo_order)})
    await ogo.mark_shipped(shipment)
    assert store.meta_value(ogo_order, "ogoship_tracking") == "JJFI1, JJFI2"
    assert store.meta_value(ogo_order, "ogoship_tracking_url") == "https://t.example/1"
    assert store.order(ogo_order)["status"] == "completed"
    writes = _writes(store)
    await ogo.mark_shipped(shipment)
    assert _writes(store) == writes, "the second call writes nothing"


async def test_custom_shipped_status_and_no_notification(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG")
    order_id = store.add_order([("MUG", 1)])
    quiet = connector(http, shipped_status="on-hold", notify_customer=False)
    await quiet.mark_shipped(Shipment(store_order_id=str(order_id), order_number="x",
                                      tracking_numbers=("Q1",)))
    assert store.order(order_id)["status"] == "on-hold"
    assert store.customer_emails(order_id) == []
    assert [t["tracking_number"] for t in store.trackings(order_id)] == ["Q1"]


# -- webhooks ---------------------------------------------------------------------------------

async def test_webhook_signature(store: WooStore, http: httpx.AsyncClient) -> None:
    hooked = connector(http, webhook_secret="hook-secret")
    headers, body = signed_delivery({"id": 42, "status": "processing"}, "hook-secret",
                                    "order.updated")
    event = await hooked.parse_webhook(headers, body)
    assert event is not None and (event.kind, event.store_id) == ("order_paid", "42")
    _, cancelled_body = signed_delivery({"id": 43, "status": "cancelled"}, "hook-secret",
                                        "order.updated")
    cancelled_headers = {**headers, "X-WC-Webhook-Signature": signed_delivery(
        {"id": 43, "status": "cancelled"}, "hook-secret", "order.updated")[0][
        "X-WC-Webhook-Signature"]}
    cancelled = await hooked.parse_webhook(cancelled_headers, cancelled_body)
    assert cancelled is not None and cancelled.kind == "order_cancelled"
    with pytest.raises(ValueError, match="does not match"):
        await hooked.parse_webhook(headers, body.replace(b"42", b"43"))
    with pytest.raises(ValueError, match="missing"):
        await hooked.parse_webhook({"X-WC-Webhook-Topic": "order.updated"}, body)
    assert await hooked.parse_webhook({}, b"webhook_id=5") is None
    with pytest.raises(ConfigError, match="webhook_secret"):
        await connector(http).parse_webhook(headers, body)


def test_variation_name_is_parent_and_values() -> None:
    """A real variation row is named by its values only; myOGO gets "Parent - values"."""
    from connectors.woocommerce.mapping import to_variant

    parent = {"id": 10, "name": "T-Shirt &amp; Co"}
    two = {"id": 12, "name": "M, Blue", "attributes": [
        {"id": 0, "name": "Size", "slug": "size", "option": "M"},
        {"id": 0, "name": "Color", "slug": "color", "option": "Blue"}]}
    assert to_variant(two, parent, None).name == "T-Shirt & Co - M, Blue"
    assert to_variant({"id": 13, "name": "", "attributes": []}, parent, None).name \
        == "T-Shirt & Co"
