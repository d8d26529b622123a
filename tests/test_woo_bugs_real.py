"""Issue 12's WooCommerce connector fixes against a real WooCommerce 11 shop (both storages):
what the simulator assumes about core (the SKU filter, ``include``, protected meta in
``meta_data``, ``virtual``/``downloadable``) is checked where it matters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from woo_server import STORAGES, WooShop, woo_shop

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from syncd.model import StockLevel
from syncd.testing.conformance.suite import pages

pytestmark = pytest.mark.woocommerce
PERSON = {"first_name": "Maija", "last_name": "M", "address_1": "Testikatu 1",
          "city": "Helsinki", "postcode": "00100", "country": "FI"}


@pytest.fixture(scope="session", params=STORAGES)
def woo(request: pytest.FixtureRequest) -> WooShop:
    return woo_shop(request, request.param)


@pytest.fixture
async def connector(woo: WooShop) -> AsyncIterator[WooCommerceConnector]:
    woo.reset()
    settings = WooCommerceSettings(url=woo.url, consumer_key=woo.key,
                                   consumer_secret=woo.secret, allow_http=True)
    async with httpx.AsyncClient(timeout=60) as http:
        yield WooCommerceConnector(settings, http)


def _post(woo: WooShop, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with woo.client() as admin:
        answer = admin.post(path, json=body)
        answer.raise_for_status()
        row: dict[str, Any] = answer.json()
        return row


def _simple(woo: WooShop, sku: str, **extra: Any) -> dict[str, Any]:
    return _post(woo, "/products", {"name": sku, "sku": sku, "regular_price": "5.00",
                                    "manage_stock": True, "stock_quantity": 1, **extra})


def _meta(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


def _stock(woo: WooShop, product_id: int) -> int:
    with woo.client() as admin:
        return int(admin.get(f"/products/{product_id}").json()["stock_quantity"])


async def test_sku_with_a_comma_gets_stock(woo: WooShop, connector: WooCommerceConnector
                                           ) -> None:
    part_a, part_b, bundle = (_simple(woo, sku) for sku in ("A", "B", "A,B"))
    [result] = await connector.set_stock([StockLevel(sku="A,B", quantity=6)])
    assert result.ok, result.error
    assert [_stock(woo, p["id"]) for p in (bundle, part_a, part_b)] == [6, 1, 1]


async def test_ogoship_meta_and_no_export(woo: WooShop, connector: WooCommerceConnector
                                          ) -> None:
    ogo = {"_nettivarasto_hscode": "691200", "_nettivarasto_countryoforigin": "PT",
           "_nettivarasto_supplier_name": "Acme Oy", "_nettivarasto_purchase_price": "18.50",
           "_nettivarasto_eancode": "6412345678907"}
    _simple(woo, "MUG", meta_data=_meta(ogo))
    _simple(woo, "HIDDEN", meta_data=_meta({"_nettivarasto_no_export": "yes"}))
    parent = _post(woo, "/products", {
        "name": "Shirt", "type": "variable", "meta_data": _meta(ogo),
        "attributes": [{"name": "Size", "variation": True, "options": ["S"]}]})
    _post(woo, f"/products/{parent['id']}/variations", {
        "sku": "SHIRT-S", "regular_price": "9.00", "attributes": [{"name": "Size",
                                                                   "option": "S"}],
        "meta_data": _meta({"_nettivarasto_hscode": "610910",
                            "_nettivarasto_eancode": "6400000000019"})})
    found = {p.sku: p for page in await pages(connector.changed_products(None))
             for p in page.items}
    assert set(found) == {"MUG", "SHIRT-S"}
    mug, small = found["MUG"], found["SHIRT-S"]
    assert (mug.hs_code, mug.country_of_origin, mug.supplier, str(mug.purchase_price),
            mug.ean) == ("691200", "PT", "Acme Oy", "18.50", "6412345678907")
    assert (small.hs_code, small.ean, small.supplier) == ("610910", "6400000000019",
                                                          "Acme Oy")


async def test_virtual_lines_skipped_and_pickup_meta(
    woo: WooShop, connector: WooCommerceConnector
) -> None:
    mug = _simple(woo, "MUG")
    gift = _simple(woo, "GIFT", virtual=True)
    ebook = _simple(woo, "EBOOK", downloadable=True)

    def order(*products: dict[str, Any], meta: dict[str, str] | None = None) -> int:
        return int(_post(woo, "/orders", {
            "set_paid": True, "billing": {**PERSON, "email": "m@example.com"},
            "shipping": PERSON, "meta_data": _meta(meta or {}),
            "line_items": [{"product_id": p["id"], "quantity": 1} for p in products]})["id"])

    mixed = order(mug, gift, ebook, meta={"_wc_posti_pickup_id": "POSTI-123"})
    order(gift, ebook)
    found = [o for page in await pages(connector.paid_orders(None)) for o in page.items]
    assert [o.store_id for o in found] == [str(mixed)], "an all-virtual order is not sent"
    assert [line.sku for line in found[0].lines] == ["MUG"]
    assert found[0].pickup_point == "POSTI-123"
