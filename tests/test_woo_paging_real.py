"""Issue 12's lost paid order, against a real WooCommerce 11 shop (HPOS and posts storage).

The same sequence as ``tests/test_woo_paging.py``: more paid orders than ``page_size`` in
ONE second (set by SQL, as an admin bulk action leaves them), that second older than the
2-minute overlap when the catch-up scan runs, and one order of it cancelled during the
scan. The connector reads through a real HTTP client whose response hook cancels the
order right after the second order listing; every other paid order must be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from woo_server import STORAGES, WooShop, woo_shop

from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings

pytestmark = pytest.mark.woocommerce
PAGE_SIZE = 4
BULK = 2 * PAGE_SIZE + 3
SQL_TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="session", params=STORAGES)
def woo(request: pytest.FixtureRequest) -> WooShop:
    return woo_shop(request, request.param)


@pytest.fixture
def shop(woo: WooShop) -> WooShop:
    woo.reset()
    return woo


def _create_orders(http: httpx.Client, product_id: int, count: int) -> list[int]:
    person = {"first_name": "Maija", "last_name": "M", "address_1": "Testikatu 1",
              "city": "Helsinki", "postcode": "00100", "country": "FI"}
    body = {"create": [{"set_paid": True, "billing": {**person, "email": "m@example.com"},
                        "shipping": person, "line_items": [{"product_id": product_id,
                                                            "quantity": 1}]}
                       for _ in range(count)]}
    answer = http.post("/orders/batch", json=body, timeout=120)
    answer.raise_for_status()
    return [int(row["id"]) for row in answer.json()["create"]]


def _set_modified(shop: WooShop, ids: list[int], when: datetime) -> None:
    """Stamp the orders' modified time (GMT) directly in the database."""
    listed = ",".join(map(str, ids))
    gmt = when.strftime(SQL_TIME)
    if shop.storage == "hpos":
        shop.sql(f"UPDATE wp_wc_orders SET date_updated_gmt = '{gmt}' WHERE id IN ({listed})")
    else:
        offset = shop.sql("SELECT option_value FROM wp_options WHERE option_name = 'gmt_offset'")
        hours = float(offset[0][0] or 0) if offset else 0.0
        local = (when + timedelta(hours=hours)).strftime(SQL_TIME)
        shop.sql(f"UPDATE wp_posts SET post_modified = '{local}', post_modified_gmt = '{gmt}' "
                 f"WHERE ID IN ({listed})")


async def _read(connector: WooCommerceConnector, cursor: str | None
                ) -> AsyncIterator[tuple[list[str], str | None]]:
    async for page in connector.paid_orders(cursor):
        yield [o.store_id for o in page.items], page.cursor


async def test_no_paid_order_is_lost_on_a_real_shop(shop: WooShop) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with shop.client() as admin:
        product = admin.post("/products", json={"name": "Mug", "sku": "MUG",
                                                "regular_price": "5.00"}).json()
        [early] = _create_orders(admin, product["id"], 1)
    _set_modified(shop, [early], now - timedelta(minutes=6))
    cancelled: int | None = None
    listings = 0

    async def cancel_mid_scan(response: httpx.Response) -> None:
        nonlocal listings
        request = response.request
        if request.method == "GET" and request.url.path.endswith("/wc/v3/orders"):
            listings += 1
            if listings == 3 and cancelled is not None:   # 1: the previous run; 2, 3: ...
                with shop.client() as admin:
                    admin.put(f"/orders/{cancelled}", json={"status": "cancelled"})

    settings = WooCommerceSettings(url=shop.url, consumer_key=shop.key,
                                   consumer_secret=shop.secret, allow_http=True,
                                   page_size=PAGE_SIZE)
    seen: set[str] = set()
    cursor: str | None = None
    async with httpx.AsyncClient(timeout=60, event_hooks={"response": [cancel_mid_scan]}
                                 ) as http:
        connector = WooCommerceConnector(settings, http)
        async for ids, page_cursor in _read(connector, None):    # the previous run
            seen.update(ids)
            cursor = page_cursor or cursor
        assert seen == {str(early)}
        with shop.client() as admin:
            bulk = _create_orders(admin, product["id"], BULK)     # then the bulk action ...
        _set_modified(shop, bulk, now - timedelta(minutes=5))    # ... older than the overlap
        cancelled = bulk[0]
        for _ in range(2):      # the catch-up run, then a later one from its cursor
            async for ids, page_cursor in _read(connector, cursor):
                seen.update(ids)
                cursor = page_cursor or cursor
    assert listings > 3, "the cancel happened during the catch-up scan"
    with shop.client() as admin:
        assert admin.get(f"/orders/{cancelled}").json()["status"] == "cancelled"
    missing = sorted({str(i) for i in bulk[1:]} - seen)
    assert missing == [], f"paid orders never read: {missing}"
