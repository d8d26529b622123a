"""The WooCommerce simulator behaves like WooCommerce REST v3 (in-process over ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncd.testing.server import serve_in_thread
from syncd.testing.woo_sim import (
    KEY,
    SECRET,
    WooStore,
    create_app,
    deliver_pending,
    signature,
)

API = "/wp-json/wc/v3"
AUTH = (KEY, SECRET)


@pytest.fixture
def store() -> WooStore:
    return WooStore()


@pytest.fixture
async def http(store: WooStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        yield client


async def test_index_is_public_and_collections_need_keys(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    index = await http.get(API)
    assert index.status_code == 200 and "/wc/v3/products" in index.json()["routes"]
    anonymous = await http.get(f"{API}/products")
    assert (anonymous.status_code, anonymous.json()["code"]) == (
        401, "woocommerce_rest_cannot_view")
    wrong = await http.get(f"{API}/products", auth=(KEY, "nope"))
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Consumer secret is invalid.")
    # an unknown key is not "invalid": the request runs as a guest (as on WooCommerce 11)
    unknown = await http.get(f"{API}/products", auth=("ck_nope", SECRET))
    assert (unknown.status_code, unknown.json()["code"]) == (
        401, "woocommerce_rest_cannot_view")
    query = await http.get(f"{API}/products",
                           params={"consumer_key": KEY, "consumer_secret": SECRET})
    assert query.status_code == 200 and query.json() == []


async def test_read_only_key_cannot_write(store: WooStore, http: httpx.AsyncClient) -> None:
    store.add_key("ck_ro", "cs_ro", "read")
    pid = store.add_product("Mug", "MUG", stock=1)
    assert (await http.get(f"{API}/products/{pid}", auth=("ck_ro", "cs_ro"))).status_code == 200
    refused = await http.put(f"{API}/products/{pid}", auth=("ck_ro", "cs_ro"),
                             json={"stock_quantity": 9})
    assert refused.status_code == 401
    assert "does not have write permissions" in refused.json()["message"]
    assert store.stock_of("MUG") == 1


async def test_stripped_authorization_header_needs_query_keys(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.strip_authorization = True
    assert (await http.get(f"{API}/products", auth=AUTH)).status_code == 401
    ok = await http.get(f"{API}/products", params={"consumer_key": KEY,
                                                   "consumer_secret": SECRET})
    assert ok.status_code == 200


async def test_paging_headers_and_limits(store: WooStore, http: httpx.AsyncClient) -> None:
    for n in range(25):
        store.add_product(f"P{n}", f"P-{n:02d}")
    page3 = await http.get(f"{API}/products", auth=AUTH,
                           params={"per_page": 10, "page": 3, "orderby": "id", "order": "asc"})
    assert page3.headers["X-WP-Total"] == "25" and page3.headers["X-WP-TotalPages"] == "3"
    assert [p["sku"] for p in page3.json()] == [f"P-{n:02d}" for n in range(20, 25)]
    too_big = await http.get(f"{API}/products", auth=AUTH, params={"per_page": 101})
    assert (too_big.status_code, too_big.json()["code"]) == (400, "rest_invalid_param")
    store.orderby_modified = False
    old = await http.get(f"{API}/orders", auth=AUTH, params={"orderby": "modified"})
    assert old.status_code == 400 and old.json()["code"] == "rest_invalid_param"


async def test_modified_after_local_and_gmt(store: WooStore, http: httpx.AsyncClient) -> None:
    store.utc_offset = timedelta(hours=-5)
    old = store.add_product("Old", "OLD")
    store.advance(timedelta(hours=1))
    new = store.add_product("New", "NEW")
    cut = store.find_sku("NEW")["date_modified_gmt"]  # type: ignore[index]
    gmt = (await http.get(f"{API}/products", auth=AUTH, params={
        "modified_after": _minus(cut, minutes=30), "dates_are_gmt": "true"})).json()
    assert [p["id"] for p in gmt] == [new]
    local = (await http.get(f"{API}/products", auth=AUTH, params={
        "modified_after": _minus(cut, minutes=30)})).json()
    assert local == [], "without dates_are_gmt the bound is read as site-local time"
    assert old != new


def _minus(text: str, minutes: int) -> str:
    from datetime import datetime

    return (datetime.fromisoformat(text) - timedelta(minutes=minutes)).isoformat()


async def test_changes_bump_date_modified(store: WooStore, http: httpx.AsyncClient) -> None:
    parent = store.add_product("Shirt", type="variable")
    variation = store.add_variation(parent, "SHIRT-S", option="S", stock=1)
    before = store.products[parent]["date_modified_gmt"]
    store.advance(timedelta(seconds=10))
    answer = await http.post(f"{API}/products/{parent}/variations/batch", auth=AUTH,
                             json={"update": [{"id": variation, "stock_quantity": 4}]})
    assert answer.json()["update"][0]["stock_quantity"] == 4
    assert store.variations[variation]["date_modified_gmt"] > before
    assert store.products[parent]["date_modified_gmt"] > before, "parent sync bumps the parent"


async def test_sku_filter_finds_products_and_variations(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG")
    parent = store.add_product("Shirt", type="variable")
    store.add_variation(parent, "SHIRT-S", option="S")
    store.add_product("Other", "OTHER")
    found = (await http.get(f"{API}/products", auth=AUTH,
                            params={"sku": "MUG,SHIRT-S,NONE"})).json()
    assert sorted((p["sku"], p["parent_id"]) for p in found) == [("MUG", 0), ("SHIRT-S", parent)]
    listed = (await http.get(f"{API}/products", auth=AUTH)).json()
    assert sorted(p["name"] for p in listed) == ["Mug", "Other", "Shirt"]


async def test_variation_name_is_its_attribute_values(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    """As on a real WooCommerce 11 shop: the variations endpoint names a variation "M"; the
    post title "Shirt - M" shows in the SKU search and in order lines (with parent_name)."""
    parent = store.add_product("Shirt", type="variable")
    store.add_variation(parent, "SHIRT-M", option="M")
    listed = (await http.get(f"{API}/products/{parent}/variations", auth=AUTH)).json()
    assert [v["name"] for v in listed] == ["M"]
    found = (await http.get(f"{API}/products", auth=AUTH, params={"sku": "SHIRT-M"})).json()
    assert [v["name"] for v in found] == ["Shirt - M"]
    order = store.order(store.add_order([("SHIRT-M", 1)]))
    assert [(li["name"], li["parent_name"]) for li in order["line_items"]] == [
        ("Shirt - M", "Shirt")]


async def test_batch_limit_and_per_item_errors(store: WooStore, http: httpx.AsyncClient) -> None:
    pid = store.add_product("Mug", "MUG", stock=1)
    big = await http.post(f"{API}/products/batch", auth=AUTH,
                          json={"update": [{"id": pid, "stock_quantity": 2}] * 101})
    assert (big.status_code, big.json()["code"]) == (
        413, "woocommerce_rest_request_entity_too_large")
    assert store.stock_of("MUG") == 1
    mixed = (await http.post(f"{API}/products/batch", auth=AUTH, json={"update": [
        {"id": pid, "stock_quantity": 0, "manage_stock": True}, {"id": 999999}]})).json()
    assert mixed["update"][0]["stock_quantity"] == 0
    assert mixed["update"][1] == {"id": 999999, "error": {
        "code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.",
        "data": {"status": 400}}}
    assert store.stock_of("MUG") == 0
    assert store.find_sku("MUG")["stock_status"] == "outofstock"  # type: ignore[index]
    assert store.requests["POST /products/batch"] == 2


async def test_orders_status_filter_notes_and_tracking(
    store: WooStore, http: httpx.AsyncClient
) -> None:
    store.add_product("Mug", "MUG", price="7.00")
    paid = store.add_order([("MUG", 2)])
    pending = store.add_order([("MUG", 1)], status="pending")
    held = store.add_order([("MUG", 1)], status="on-hold")
    comma = (await http.get(f"{API}/orders", auth=AUTH,
                            params={"status": "processing,on-hold"})).json()
    array = (await http.get(f"{API}/orders?status[]=processing&status[]=pending",
                            auth=AUTH)).json()
    assert sorted(o["id"] for o in comma) == [paid, held]
    assert sorted(o["id"] for o in array) == [paid, pending]
    order = (await http.get(f"{API}/orders/{paid}", auth=AUTH)).json()
    assert (order["total"], order["line_items"][0]["sku"]) == ("19.00", "MUG")
    note = await http.post(f"{API}/orders/{paid}/notes", auth=AUTH,
                           json={"note": "Shipped", "customer_note": True})
    assert note.status_code == 201 and [e.kind for e in store.customer_emails(paid)] == [
        "customer_note"]
    url = f"/wp-json/wc-shipment-tracking/v3/orders/{paid}/shipment-trackings"
    added = await http.post(url, auth=AUTH, json={
        "tracking_number": "T1", "custom_tracking_provider": "Posti",
        "custom_tracking_link": "https://t.example/T1"})
    assert added.status_code == 201 and added.json()["tracking_number"] == "T1"
    assert [t["tracking_number"] for t in (await http.get(url, auth=AUTH)).json()] == ["T1"]
    done = await http.put(f"{API}/orders/{paid}", auth=AUTH, json={"status": "completed"})
    assert done.json()["status"] == "completed" and done.json()["date_completed_gmt"]
    completed_mail = store.customer_emails(paid)[-1]
    assert completed_mail.kind == "customer_completed_order" and "T1" in completed_mail.body
    store.shipment_tracking = False
    missing = await http.get(url, auth=AUTH)
    assert (missing.status_code, missing.json()["code"]) == (404, "rest_no_route")


async def test_plain_permalinks_hide_the_api(store: WooStore, http: httpx.AsyncClient) -> None:
    store.pretty_permalinks = False
    answer = await http.get(API)
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]


async def test_faults_are_injected_in_order(store: WooStore, http: httpx.AsyncClient) -> None:
    store.faults = [503, 429]
    statuses = [(await http.get(API)).status_code for _ in range(3)]
    assert statuses == [503, 429, 200]


def test_webhook_deliveries_are_signed() -> None:
    received: list[tuple[str, bytes]] = []

    async def receive(request: Request) -> Response:
        received.append((request.headers["x-wc-webhook-signature"], await request.body()))
        return Response(status_code=200)

    store = WooStore()
    store.add_product("Mug", "MUG")
    order_id = store.add_order([("MUG", 1)], status="pending")
    with serve_in_thread(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as srv:
        store.add_webhook(f"{srv.url}/hook", "s3cret&<x>")
        store.pay(order_id)
        assert deliver_pending(store) == [200]
    [(sent, body)] = received
    assert sent == signature(body, "s3cret&<x>")
    assert b'"status":"processing"' in body
    assert store.pending_deliveries == []
