"""The myOGO simulator, driven with raw httpx in-process and over real HTTP.

These tests pin the simulator's behaviour (docs/simulator.md: the routes and the choices
it makes where the real API is not documented), so that the client and the flows are tested
against something that behaves like myOGO.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from syncd.cursor import format_time, parse_time
from syncd.testing.myogo_sim import SIGNATURE_HEADER, MyogoSim
from syncd.testing.server import ServerThread, free_port, serve_in_thread

API_KEY = "test-api-key"
FORM = {"client_id": "123456", "client_secret": "abcdef"}
ALL_SCOPES = ("read:order write:order read:product write:product read:webhook write:webhook "
              "read:metadata write:metadata")


# -- fixtures and helpers -------------------------------------------------------------
@pytest.fixture
def sim() -> Iterator[MyogoSim]:
    sim = MyogoSim(api_keys={API_KEY: "demo"})
    sim.seed_products([{"code": "A", "name": "Apple", "stock": 10},
                       {"code": "B", "name": "Banana", "stock": 1, "eanCode": "6400000000017"}])
    yield sim
    sim.close()


@pytest.fixture
async def client(sim: MyogoSim) -> AsyncIterator[httpx.AsyncClient]:
    """In-process client authenticated with the API key."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app),
                                 base_url="http://myogo.test",
                                 headers={"X-OgoKey": API_KEY}) as http:
        yield http


@pytest.fixture
def server(sim: MyogoSim) -> Iterator[ServerThread]:
    with serve_in_thread(sim.app) as srv:
        yield srv
        sim.close()  # cut short any fault still sleeping in a request


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    """Real-HTTP client authenticated with the API key."""
    with httpx.Client(base_url=server.url, headers={"X-OgoKey": API_KEY}, timeout=5) as c:
        yield c


def order_body(reference: str, lines: list[tuple[str, int]] | None = None,
               **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": reference,
        "orderLines": [{"code": code, "quantity": qty} for code, qty in (lines or [("A", 1)])],
        "customer": {"name": "Maija Meikäläinen", "address1": "Katu 1", "city": "Helsinki",
                     "countryCode": "FI", "zip": "00100"},
    }
    body.update(overrides)
    return body


async def password_grant(client: httpx.AsyncClient, scope: str = ALL_SCOPES) -> httpx.Response:
    return await client.post("/OAuth/Token", data={
        **FORM, "grant_type": "password", "username": "demo", "password": "demo", "scope": scope})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-OgoKey": ""}


# -- auth -------------------------------------------------------------------------------
async def test_password_grant_then_refresh_rotates_and_old_refresh_is_refused(
        client: httpx.AsyncClient) -> None:
    first = await password_grant(client)
    assert first.status_code == 200
    grant = first.json()
    assert grant["expires_in"] == 5400 and grant["token_type"].lower() == "bearer"
    assert (await client.get("/api/v1/orders", headers=bearer(grant["access_token"]))).json() == []

    refreshed = await client.post("/oauth/token", data={
        **FORM, "grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != grant["refresh_token"]
    assert second["access_token"] != grant["access_token"]
    ok = await client.get("/api/v1/orders", headers=bearer(second["access_token"]))
    assert ok.status_code == 200

    reused = await client.post("/OAuth/Token", data={
        **FORM, "grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    again = await client.post("/OAuth/Token", data={
        **FORM, "grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    assert again.status_code == 200


async def test_token_endpoint_accepts_form_data_only(client: httpx.AsyncClient) -> None:
    response = await client.post("/OAuth/Token", json={
        **FORM, "grant_type": "password", "username": "demo", "password": "demo"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "access_token" not in response.json()


async def test_client_credentials_may_come_in_a_basic_header(client: httpx.AsyncClient) -> None:
    response = await client.post("/OAuth/Token", auth=("123456", "abcdef"), data={
        "grant_type": "password", "username": "demo", "password": "demo"})
    assert response.status_code == 200 and response.json()["access_token"]
    wrong = await client.post("/OAuth/Token", auth=("123456", "nope"), data={
        "grant_type": "password", "username": "demo", "password": "demo"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("field", "value", "error"), [
    ("client_secret", "wrong", "invalid_client"),
    ("password", "wrong", "invalid_grant"),
    ("scope", "read:order fly:rocket", "invalid_scope"),
])
async def test_token_request_with_bad_credentials_is_refused(
        client: httpx.AsyncClient, field: str, value: str, error: str) -> None:
    data = {**FORM, "grant_type": "password", "username": "demo", "password": "demo",
            field: value}
    response = await client.post("/OAuth/Token", data=data)
    assert response.status_code == 400 and response.json()["error"] == error


async def test_tokens_expire_on_the_simulated_clock(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    grant = (await password_grant(client)).json()
    sim.clock.advance(5399)
    assert (await client.get("/api/v1/orders", headers=bearer(grant["access_token"]))
            ).status_code == 200
    sim.clock.advance(2)
    expired = await client.get("/api/v1/orders", headers=bearer(grant["access_token"]))
    assert expired.status_code == 401 and expired.json()["statusCode"] == 401
    # The refresh token lives two weeks, then it is refused too.
    sim.clock.advance(14 * 24 * 3600)
    late = await client.post("/OAuth/Token", data={
        **FORM, "grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


async def test_missing_scope_is_403_and_granted_scope_works(client: httpx.AsyncClient) -> None:
    token = (await password_grant(client, scope="read:order")).json()["access_token"]
    assert (await client.get("/api/v1/orders", headers=bearer(token))).status_code == 200
    denied = await client.get("/api/v1/products", headers=bearer(token))
    assert denied.status_code == 403 and "read:product" in denied.json()["message"]
    posted = await client.post("/api/v1/orders", json=order_body("S-1"), headers=bearer(token))
    assert posted.status_code == 403


async def test_api_key_header_works_and_bad_or_missing_credentials_are_401(
        client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/products")).status_code == 200
    assert (await client.get("/api/v1/products", headers={"X-OgoKey": "nope"})).status_code == 401
    assert (await client.get("/api/v1/products", headers={"X-OgoKey": ""})).status_code == 401
    assert (await client.get("/api/v1/products", headers=bearer("made-up"))).status_code == 401


# -- orders: validation -----------------------------------------------------------------
async def test_order_without_customer_name_is_400_naming_the_field(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    body = order_body("V-1")
    del body["customer"]["name"]
    response = await client.post("/api/v1/orders", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["statusCode"] == 400 and "Customer.Name is required" in error["message"]
    assert sim.orders == []


@pytest.mark.parametrize("country", ["FIN", "XX", "F", ""])
async def test_bad_country_code_is_400(
        sim: MyogoSim, client: httpx.AsyncClient, country: str) -> None:
    body = order_body("V-2")
    body["customer"]["countryCode"] = country
    response = await client.post("/api/v1/orders", json=body)
    assert response.status_code == 400
    assert "Customer.CountryCode" in response.json()["message"]
    assert sim.orders == []


async def test_unknown_product_code_in_an_order_line_is_400(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/orders", json=order_body("V-3", [("A", 1), ("NOPE", 2)]))
    assert response.status_code == 400 and "'NOPE'" in response.json()["message"]
    assert sim.orders == [] and sim.stock["A"]["reserved"] == 0


async def test_keys_and_paths_are_case_insensitive_and_output_is_camel_case(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    body = {"REFERENCE": "C-1", "OrderLines": [{"CODE": "A", "Quantity": 2}],
            "Customer": {"Name": "X", "ADDRESS1": "Y", "city": "Z", "CountryCode": "se"}}
    response = await client.post("/API/V1/ORDERS", json=body)
    assert response.status_code == 200
    order = response.json()
    assert order["reference"] == "C-1" and order["status"] == "new"
    assert order["orderLines"][0] == {**order["orderLines"][0], "code": "A", "quantity": 2}
    assert order["customer"]["countryCode"] == "SE" and "editTime" in order
    assert sim.orders_by_reference("C-1")[0]["id"] == order["id"]


async def test_duplicate_reference_rejected_by_default_and_created_in_allow_mode(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/orders", json=order_body("D-1"))).status_code == 200
    again = await client.post("/api/v1/orders", json=order_body("D-1"))
    assert again.status_code == 400
    assert "Trying to add new order but order with same reference" in again.json()["message"]
    assert len(sim.orders_by_reference("D-1")) == 1

    config = await client.put("/_sim/config", json={"duplicateReference": "allow"})
    assert config.json()["duplicateReference"] == "allow"
    assert (await client.post("/api/v1/orders", json=order_body("D-1"))).status_code == 200
    assert len(sim.orders_by_reference("D-1")) == 2
    found = await client.get("/api/v1/orders", params={"reference": "D-1"})
    assert len(found.json()) == 2
    assert sim.stock["A"]["reserved"] == 2


@pytest.mark.parametrize("params", [{"limit": "251"}, {"limit": "0"}, {"page": "0"},
                                    {"limit": "ten"}])
async def test_bad_paging_parameters_are_400(client: httpx.AsyncClient,
                                             params: dict[str, str]) -> None:
    response = await client.get("/api/v1/orders", params=params)
    assert response.status_code == 400 and response.json()["statusCode"] == 400


# -- paging and modifiedAfter -----------------------------------------------------------
async def test_paging_over_1000_products_loses_and_repeats_nothing(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    sim.seed_products([{"code": f"P{i:04d}", "name": f"Product {i}"} for i in range(1030)])
    expected = {p["code"] for p in sim.products}
    assert len(expected) == 1032

    default_page = (await client.get("/api/v1/products")).json()
    assert len(default_page) == 50

    seen: list[str] = []
    sizes: list[int] = []
    page = 1
    while True:
        batch = (await client.get("/api/v1/products",
                                  params={"limit": 250, "page": page})).json()
        sizes.append(len(batch))
        seen += [p["code"] for p in batch]
        if len(batch) < 250:
            break
        page += 1
    assert sizes == [250, 250, 250, 250, 32]
    assert len(seen) == len(set(seen)) == 1032 and set(seen) == expected
    past_end = await client.get("/api/v1/products", params={"limit": 250, "page": 99})
    assert past_end.status_code == 200 and past_end.json() == []


def test_stock_paging_over_real_http_is_complete_and_stable(
        sim: MyogoSim, http: httpx.Client) -> None:
    sim.seed_products([{"code": f"S{i:04d}", "stock": i} for i in range(1100)])
    pages = [http.get("/api/v1/stock", params={"limit": 250, "page": n}).json()
             for n in range(1, 7)]
    codes = [s["productCode"] for page in pages for s in page]
    assert [len(p) for p in pages] == [250, 250, 250, 250, 102, 0]
    assert len(codes) == len(set(codes)) == 1102
    again = [s["productCode"] for s in http.get(
        "/api/v1/stock", params={"limit": 250, "page": 3}).json()]
    assert again == codes[500:750]
    by_code = {s["productCode"]: s for page in pages for s in page}
    assert by_code["S0042"]["stock"] == 42 and by_code["S0042"]["stockAvailable"] == 42


async def test_modified_after_is_strictly_greater_and_changes_bump_edit_time(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    created = [(await client.post("/api/v1/orders", json=order_body(f"M-{i}"))).json()
               for i in range(3)]
    second = created[1]["editTime"]
    newer = (await client.get("/api/v1/orders", params={"modifiedAfter": second})).json()
    assert [o["reference"] for o in newer] == ["M-2"]

    sim.ship("M-0", "TRACK-1")
    newer = (await client.get("/api/v1/orders", params={"modifiedAfter": second})).json()
    assert [o["reference"] for o in newer] == ["M-2", "M-0"]
    assert parse_time(newer[1]["editTime"]) > parse_time(created[0]["editTime"])

    # A naive time is UTC; an unencoded "+" offset (decoded to a space) is still understood.
    naive = format_time(parse_time(second)).rstrip("Z")
    assert len((await client.get("/api/v1/orders", params={"modifiedAfter": naive})).json()) == 2
    shifted = parse_time(second).astimezone().isoformat()
    with_offset = (await client.get(f"/api/v1/orders?modifiedAfter={shifted}")).json()
    assert [o["reference"] for o in with_offset] == ["M-2", "M-0"]
    bad = await client.get("/api/v1/orders", params={"modifiedAfter": "yesterday"})
    assert bad.status_code == 400


async def test_stock_modified_after_sees_reservations_and_stock_changes(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    cursor = max(s["modified"] for s in sim.stock.values())
    assert (await client.get("/api/v1/stock", params={"modifiedAfter": cursor})).json() == []
    await client.post("/api/v1/orders", json=order_body("ST-1", [("A", 4)]))
    changed = (await client.get("/api/v1/stock", params={"modifiedAfter": cursor})).json()
    assert [(s["productCode"], s["stock"], s["reserved"], s["stockAvailable"])
            for s in changed] == [("A", 10, 4, 6)]
    one = await client.get("/api/v1/stock", params={"productCode": "B"})
    assert [s["productCode"] for s in one.json()] == ["B"]
    assert (await client.get("/api/v1/stock", params={"productCode": "ZZ"})).json() == []
    await client.put("/_sim/config", json={"stockUnknownCode": "404"})
    assert (await client.get("/api/v1/stock", params={"productCode": "ZZ"})).status_code == 404


# -- order lifecycle and PUT rules ------------------------------------------------------
async def test_lifecycle_new_collecting_shipped_moves_stock(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    order = (await client.post("/api/v1/orders", json=order_body("L-1", [("A", 3)]))).json()
    assert order["status"] == "new"
    assert {k: sim.stock["A"][k] for k in ("stock", "reserved", "stockAvailable")} == \
        {"stock": 10, "reserved": 3, "stockAvailable": 7}

    response = await client.post("/_sim/orders/L-1/collect")
    assert response.status_code == 200 and response.json()["status"] == "collecting"
    assert {k: sim.stock["A"][k] for k in ("stock", "reserved", "stockAvailable")} == \
        {"stock": 7, "reserved": 0, "stockAvailable": 7}

    sim.ship("L-1", "JJFI1,JJFI2", "https://track.example/JJFI1")
    shipped = (await client.get("/api/v1/orders", params={"reference": "L-1"})).json()[0]
    assert shipped["status"] == "shipped"
    assert shipped["trackingNumber"] == "JJFI1,JJFI2"
    assert shipped["trackingUrl"] == "https://track.example/JJFI1"
    assert parse_time(shipped["editTime"]) > parse_time(order["editTime"])
    assert sim.stock["A"]["stock"] == 7

    sim.return_order("L-1")
    assert sim.orders_by_reference("L-1")[0]["status"] == "returned"
    refused = await client.post("/_sim/orders/L-1/cancel")
    assert refused.status_code == 409


async def test_short_stock_gives_pending_until_stock_arrives(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    order = (await client.post("/api/v1/orders", json=order_body("P-1", [("B", 3)]))).json()
    assert order["status"] == "pending"
    assert sim.stock["B"]["stockAvailable"] == 0
    sim.set_stock("B", 5)
    assert sim.orders_by_reference("P-1")[0]["status"] == "new"
    assert (sim.stock["B"]["reserved"], sim.stock["B"]["stockAvailable"]) == (3, 2)


async def test_cancel_via_put_status_releases_the_reservation(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/orders", json=order_body("X-1", [("A", 4)]))
    assert sim.stock["A"]["reserved"] == 4
    response = await client.put("/api/v1/orders/X-1", json={"status": "Cancelled"})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert sim.stock["A"]["reserved"] == 0 and sim.stock["A"]["stockAvailable"] == 10
    again = await client.put("/api/v1/orders/X-1", json={"status": "new"})
    assert again.status_code == 400


async def test_put_replaces_lines_while_new_and_is_refused_once_collecting(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/v1/orders/NOPE", json=order_body("NOPE"))).status_code == 404
    await client.post("/api/v1/orders", json=order_body("U-1", [("A", 2)]))
    updated = await client.put("/API/V1/ORDERS/U-1",
                               json=order_body("U-1", [("A", 5), ("B", 1)], comments="edited"))
    assert updated.status_code == 200
    lines = [(line["code"], line["quantity"]) for line in updated.json()["orderLines"]]
    assert lines == [("A", 5), ("B", 1)] and updated.json()["comments"] == "edited"
    assert (sim.stock["A"]["reserved"], sim.stock["B"]["reserved"]) == (5, 1)
    assert (await client.put("/api/v1/orders/U-1",
                             json={"status": "shipped"})).status_code == 400
    assert (await client.put("/api/v1/orders/U-1",
                             json={"reference": "OTHER"})).status_code == 400

    sim.collect("U-1")
    refused = await client.put("/api/v1/orders/U-1", json=order_body("U-1", [("A", 1)]))
    assert refused.status_code == 400 and "collecting" in refused.json()["message"]
    assert [line["quantity"] for line in sim.orders_by_reference("U-1")[0]["orderLines"]] == [5, 1]


async def test_unknown_shipping_code_parks_the_order_in_reserved(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    sim.configure(enabled_shipping_codes={"POSTI", "DHL"})
    bad = (await client.post("/api/v1/orders",
                             json=order_body("SH-1", shippingCode="UPS"))).json()
    assert bad["status"] == "reserved" and "UPS" in bad["warehouseComments"]
    good = (await client.post("/api/v1/orders",
                              json=order_body("SH-2", shippingCode="POSTI"))).json()
    assert good["status"] == "new" and good["warehouseComments"] is None
    fixed = (await client.put("/api/v1/orders/SH-1", json={"shippingCode": "DHL"})).json()
    assert fixed["status"] == "new" and fixed["warehouseComments"] is None
    assert sim.stock["A"]["reserved"] == 2


# -- products ---------------------------------------------------------------------------
async def test_products_create_search_update_and_rename(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/products", json={"code": "N"})).json()["message"] \
        == "LanguageCode is required"
    created = await client.post("/api/v1/products", json={
        "code": "SKU/1", "name": "Slash", "languageCode": "fi", "eanCode": "111"})
    assert created.status_code == 200 and created.json()["stock"] == 0
    assert (await client.post("/api/v1/products", json={
        "code": "SKU/1", "languageCode": "fi"})).status_code == 400

    by_code = (await client.get("/api/v1/products", params={"code": "SKU/1"})).json()
    assert [p["name"] for p in by_code] == ["Slash"]
    by_ean = (await client.get("/api/v1/products", params={"eanCode": "6400000000017"})).json()
    assert [p["code"] for p in by_ean] == ["B"]

    plain = await client.put("/api/v1/products/A", json={
        "code": "A", "name": "Green apple", "languageCode": "en"})
    assert plain.status_code == 200 and plain.json()["name"] == "Green apple"

    encoded = base64.urlsafe_b64encode(b"SKU/1").decode().rstrip("=")
    renamed = await client.put(f"/api/v1/products/{encoded}?base64url=true", json={
        "code": "SKU-1", "name": "Renamed", "languageCode": "fi", "eanCode": "999"})
    assert renamed.status_code == 200
    assert renamed.json()["code"] == "SKU-1" and renamed.json()["eanCode"] == "111"
    assert "SKU/1" not in {p["code"] for p in sim.products} and "SKU-1" in sim.stock
    missing = await client.put("/api/v1/products/GHOST", json={"code": "GHOST",
                                                               "languageCode": "en"})
    assert missing.status_code == 404


# -- stock updates, metadata, returns ---------------------------------------------------
async def test_stock_update_create_and_search(sim: MyogoSim, client: httpx.AsyncClient) -> None:
    body = {"supplier": "Acme", "receiveDate": "2024-05-01T00:00:00", "reference": "PO-1",
            "products": [{"code": "A", "expectedQuantity": 20, "countryOfOrigin": "FI"}]}
    missing = await client.post("/api/v1/StockUpdate", json={**body, "supplier": None})
    assert missing.status_code == 400 and "Supplier is required" in missing.json()["message"]
    created = await client.post("/api/v1/stockupdate", json=body)
    assert created.status_code == 200 and created.json()["status"] == "new"
    assert created.json()["products"][0]["receivedQuantity"] == 0
    found = (await client.get("/api/v1/StockUpdate", params={"reference": "PO-1"})).json()
    assert [u["autoReference"] for u in found] == [created.json()["autoReference"]]
    product_a = next(p for p in sim.products if p["code"] == "A")
    assert product_a["stockUpdate"] == 20


async def test_metadata_on_an_order(client: httpx.AsyncClient) -> None:
    order = (await client.post("/api/v1/orders", json=order_body("MD-1"))).json()
    path = f"/api/v1/metadata/{order['id']}"
    assert (await client.get(path)).json() == {"id": order["id"], "metadata": {}}
    put = await client.put(path, json={"id": order["id"], "metadata": {"StoreId": "42"}})
    assert put.status_code == 200 and put.json()["metadata"] == {"StoreId": "42"}
    assert (await client.get(path)).json()["metadata"] == {"StoreId": "42"}
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).json()["metadata"] == {}
    assert (await client.get("/api/v1/metadata/not-an-object")).status_code == 404


async def test_returns_create_search_update(sim: MyogoSim, client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/orders", json=order_body("RT-1", [("A", 2)]))
    body = {"reference": "RET-1", "orderReference": "RT-1", "reason": "too small",
            "returnLines": [{"code": "A", "quantity": 1}]}
    unknown_order = await client.post("/api/v1/returns", json={**body, "orderReference": "?"})
    assert unknown_order.status_code == 400
    created = await client.post("/api/v1/returns", json=body)
    assert created.status_code == 200 and created.json()["status"] == "new"
    found = (await client.get("/api/v1/returns", params={"orderReference": "RT-1"})).json()
    assert [r["reference"] for r in found] == ["RET-1"]
    cancelled = await client.put("/api/v1/returns/RET-1", json={"status": "cancelled"})
    assert cancelled.json()["status"] == "cancelled"
    assert (await client.put("/api/v1/returns/RET-1", json={"reason": "x"})).status_code == 400


# -- webhooks ---------------------------------------------------------------------------
async def test_webhook_subscriptions_crud(client: httpx.AsyncClient) -> None:
    listed = await client.get("/api/v1/webhooks")
    assert listed.status_code == 200 and listed.content == b"null"
    bad = await client.post("/api/v1/webhooks", json={"url": "ftp://x", "key": "k",
                                                      "type": "OrderShipped"})
    assert bad.status_code == 400 and "Url should start with http://" in bad.json()["message"]
    created = await client.post("/api/v1/webhooks", json={
        "url": "https://example.test/hook", "key": "k", "type": 2})
    assert created.status_code == 200
    hook = created.json()
    assert hook["type"] == "ProductStockLevelChanged" and hook["id"]
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}")).json()["url"] == hook["url"]
    updated = await client.put(f"/api/v1/webhooks/{hook['id']}",
                               json={**hook, "type": "OrderShipped"})
    assert updated.status_code == 200 and updated.json()["type"] == "OrderShipped"
    assert [h["id"] for h in (await client.get("/api/v1/webhooks")).json()] == [hook["id"]]
    assert (await client.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await client.get("/api/v1/webhooks")).content == b"null"


class Receiver:
    """A real HTTP webhook receiver that keeps what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        self.received.append((dict(request.headers), await request.body()))
        await Response("ok")(scope, receive, send)


def test_webhooks_are_delivered_signed_to_a_real_receiver(
        sim: MyogoSim, http: httpx.Client) -> None:
    receiver = Receiver()
    with serve_in_thread(receiver) as target:
        for kind, key in (("OrderShipped", "ship-secret"), ("ProductStockLevelChanged", "ä-key")):
            response = http.post("/api/v1/webhooks", json={
                "url": f"{target.url}/hooks/{kind}", "key": key, "type": kind,
                "customHeaders": {"X-Shop": "demo-shop"}})
            assert response.status_code == 200
        http.post("/api/v1/orders", json=order_body("W-1", [("A", 2)]))  # reservation: stock
        sim.ship("W-1", "T1,T2", "https://track.example/T1")            # collect: stock, ship
        deliveries = sim.wait_for_deliveries()

    assert [d["type"] for d in deliveries].count("OrderShipped") == 1
    assert [d["type"] for d in deliveries].count("ProductStockLevelChanged") == 2
    assert all(d["status"] == 200 and d["error"] is None for d in deliveries)
    assert len(receiver.received) == 3
    keys = {"OrderShipped": b"ship-secret", "ProductStockLevelChanged": "ä-key".encode()}
    for headers, body in receiver.received:
        kind = "OrderShipped" if "orderLines" in json.loads(body) else "ProductStockLevelChanged"
        expected = base64.b64encode(hmac.new(keys[kind], body, hashlib.sha256).digest()).decode()
        assert headers[SIGNATURE_HEADER.lower()] == expected
        assert headers["x-shop"] == "demo-shop"
    shipped = next(json.loads(b) for _, b in receiver.received if b"orderLines" in b)
    assert shipped == http.get("/api/v1/orders", params={"reference": "W-1"}).json()[0]
    assert shipped["status"] == "shipped" and shipped["trackingNumber"] == "T1,T2"
    stock_bodies = [json.loads(b) for _, b in receiver.received if b"productCode" in b]
    assert [(s["productCode"], s["stock"], s["reserved"]) for s in stock_bodies] == \
        [("A", 10, 2), ("A", 8, 0)]


async def test_failed_webhook_delivery_is_recorded(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/webhooks", json={
        "url": f"http://127.0.0.1:{free_port()}/gone", "key": "k",
        "type": "ProductStockLevelChanged"})
    sim.set_stock("A", 3)
    [delivery] = sim.wait_for_deliveries()
    assert delivery["status"] is None and "ConnectError" in delivery["error"]


# -- faults as a real client sees them --------------------------------------------------
def test_error_and_rate_limit_faults(sim: MyogoSim, http: httpx.Client) -> None:
    sim.add_fault("error", path="/orders", count=1, status=502)
    failed = http.get("/api/v1/orders")
    assert failed.status_code == 502 and failed.json()["statusCode"] == 502
    assert http.get("/api/v1/orders").status_code == 200  # count=1 used up

    http.post("/_sim/faults", json={"kind": "rate_limit", "count": 1, "retryAfter": 2})
    limited = http.get("/api/v1/products")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    sim.add_fault("rate_limit", count=1)
    bare = http.get("/api/v1/products")
    assert bare.status_code == 429 and "Retry-After" not in bare.headers
    assert http.get("/api/v1/products").status_code == 200


def test_faults_match_method_and_path(sim: MyogoSim, http: httpx.Client) -> None:
    sim.add_fault("error", method="POST", path=r"/orders$")
    assert http.get("/api/v1/orders").status_code == 200
    assert http.get("/api/v1/products").status_code == 200
    assert http.post("/api/v1/orders", json=order_body("F-0")).status_code == 503
    assert http.post("/api/v1/orders", json=order_body("F-0")).status_code == 503  # no count
    assert sim.orders_by_reference("F-0") == []
    assert http.delete("/_sim/faults").json() == {"faults": []}
    assert http.post("/api/v1/orders", json=order_body("F-0")).status_code == 200


def test_drop_closes_the_connection_without_a_response(
        sim: MyogoSim, http: httpx.Client) -> None:
    sim.add_fault("drop", path="/orders", count=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        http.post("/api/v1/orders", json=order_body("DR-1"))
    assert sim.orders_by_reference("DR-1") == []  # dropped before it was handled
    assert http.post("/api/v1/orders", json=order_body("DR-1")).status_code == 200


def test_commit_timeout_stores_the_write_then_the_client_times_out(
        sim: MyogoSim, http: httpx.Client) -> None:
    sim.add_fault("commit_timeout", method="POST", path="/orders", count=1, seconds=30)
    with pytest.raises(httpx.ReadTimeout):
        http.post("/api/v1/orders", json=order_body("CT-1", [("A", 2)]), timeout=0.5)
    [stored] = sim.orders_by_reference("CT-1")
    assert stored["status"] == "new" and sim.stock["A"]["reserved"] == 2
    retry = http.post("/api/v1/orders", json=order_body("CT-1", [("A", 2)]))
    assert retry.status_code == 400 and "same reference" in retry.json()["message"]

    sim.add_fault("commit_timeout", method="POST", path="/orders", count=1)  # seconds=0: drop
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/v1/orders", json=order_body("CT-2"))
    assert len(sim.orders_by_reference("CT-2")) == 1


def test_a_sleeping_fault_does_not_block_other_requests(
        sim: MyogoSim, server: ServerThread) -> None:
    sim.add_fault("commit_timeout", method="POST", count=1, seconds=30)
    outcome: list[BaseException] = []

    def slow_post() -> None:
        with httpx.Client(base_url=server.url, headers={"X-OgoKey": API_KEY}) as c:
            try:
                c.post("/api/v1/orders", json=order_body("SL-1"), timeout=2.5)
            except httpx.HTTPError as exc:
                outcome.append(exc)

    worker = threading.Thread(target=slow_post)
    worker.start()
    for _ in range(500):
        if sim.orders_by_reference("SL-1"):
            break
        threading.Event().wait(0.01)
    assert len(sim.orders_by_reference("SL-1")) == 1
    with httpx.Client(base_url=server.url, headers={"X-OgoKey": API_KEY}) as c:
        answered = c.get("/api/v1/orders", params={"reference": "SL-1"}, timeout=2)
    assert answered.status_code == 200 and len(answered.json()) == 1
    assert worker.is_alive()  # the first request is still waiting for its answer
    worker.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.ReadTimeout)


def test_latency_fault_delays_past_the_client_timeout(
        sim: MyogoSim, http: httpx.Client) -> None:
    sim.add_fault("latency", path="/stock", count=1, seconds=5)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/api/v1/stock", timeout=0.3)
    sim.add_fault("latency", path="/stock", count=1, seconds=0.05)
    delayed = http.get("/api/v1/stock")
    assert delayed.status_code == 200 and len(delayed.json()) == 2


async def test_faults_in_process_raise_the_same_transport_error(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    sim.add_fault("drop", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/api/v1/orders")
    sim.add_fault("commit_timeout", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/api/v1/orders", json=order_body("IP-1"))
    assert len(sim.orders_by_reference("IP-1")) == 1


async def test_seeded_fault_rate_is_repeatable(client: httpx.AsyncClient, sim: MyogoSim) -> None:
    async def pattern() -> list[int]:
        sim.clear_faults()
        sim.add_fault("error", rate=0.5, seed=7, status=500)
        return [(await client.get("/api/v1/orders")).status_code for _ in range(20)]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 0 < first.count(500) < 20 and set(first) == {200, 500}


# -- counters, control API, threads, serve() --------------------------------------------
async def test_request_counts_per_route_template(
        sim: MyogoSim, client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/orders", json=order_body("RC-1"))
    sim.reset_counts()
    await password_grant(client)
    await client.get("/api/v1/orders", params={"modifiedAfter": "2020-01-01T00:00:00Z"})
    await client.get("/API/v1/Orders")
    await client.put("/api/v1/orders/RC-1", json={"comments": "x"})
    await client.get("/_sim/state")
    assert sim.request_counts() == {"POST /OAuth/Token": 1, "GET /api/v1/orders": 2,
                                    "PUT /api/v1/orders/{reference}": 1}
    over_http = (await client.get("/_sim/requests")).json()
    assert over_http == {"total": 4, "byRoute": sim.request_counts(), "throttled": 0}
    await client.delete("/_sim/requests")
    assert sim.request_counts() == {}


def test_control_api_over_real_http(sim: MyogoSim, http: httpx.Client) -> None:
    assert http.post("/_sim/products", json=[{"code": "C", "name": "Cherry", "stock": 4}]
                     ).json()["count"] == 1
    assert http.put("/_sim/stock/C", json={"stock": 6}).json()["stockAvailable"] == 6
    assert http.post("/api/v1/orders", json=order_body("H-1", [("C", 2)])).status_code == 200
    shipped = http.post("/_sim/orders/H-1/ship", json={"trackingNumber": "TN", "trackingUrl": "u"})
    assert shipped.json()["status"] == "shipped"
    assert http.post("/_sim/orders/NOPE/collect").status_code == 404
    assert http.put("/_sim/stock/NOPE", json={"stock": 1}).status_code == 409

    state = http.get("/_sim/state").json()
    assert [o["reference"] for o in state["orders"]] == ["H-1"]
    assert {s["productCode"]: s["stock"] for s in state["stock"]}["C"] == 4

    before = sim.clock.now()
    http.post("/_sim/clock", json={"advance": 3600})
    assert sim.clock.now() - before >= timedelta(seconds=3600)
    config = http.put("/_sim/config", json={"enabledShippingCodes": ["POSTI"]}).json()
    assert config["enabledShippingCodes"] == ["POSTI"]

    http.post("/_sim/reset")
    assert sim.orders == [] and sim.products == [] and sim.request_counts() == {}
    assert sim.store.config.enabled_shipping_codes is None


def test_concurrent_requests_and_python_calls_keep_state_consistent(
        sim: MyogoSim, server: ServerThread) -> None:
    sim.set_stock("A", 1000)

    def place(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers={"X-OgoKey": API_KEY}) as c:
            for i in range(15):
                assert c.post("/api/v1/orders",
                              json=order_body(f"T{worker}-{i}", [("A", 2)])).status_code == 200

    threads = [threading.Thread(target=place, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for n in range(10):
        sim.seed_products([{"code": f"Q{n}", "stock": n}])
    for thread in threads:
        thread.join()
    assert len(sim.orders) == 60
    assert sim.stock["A"]["reserved"] == 120 and sim.stock["A"]["stockAvailable"] == 880
    assert sim.request_counts()["POST /api/v1/orders"] == 60


def test_serve_prints_url_and_demo_credentials() -> None:
    port = free_port()
    code = f"from syncd.testing.myogo_sim import serve; serve(port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(6)]
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}" in text
        assert "client_id=123456 client_secret=abcdef" in text
        assert "merchant_id=demo secret_token=demo" in text
        response = None
        for _ in range(200):
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/OAuth/Token", data={
                    **FORM, "grant_type": "password", "username": "demo", "password": "demo"})
                break
            except httpx.ConnectError:
                threading.Event().wait(0.05)
        assert response is not None and response.status_code == 200
        assert response.json()["expires_in"] == 5400
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
