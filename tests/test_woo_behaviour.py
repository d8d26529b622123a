"""The same REST behaviour checked on the WooCommerce simulator and on real WooCommerce 11.

Each test runs three times: against ``syncd.testing.woo_sim`` and against the real shop in
HPOS and in legacy posts order storage (``tests/woo_server.py``, marker ``woocommerce``).
What passes on the real shop and fails on the simulator is a simulator bug. The checks are
the behaviours the connector relies on: names, dates and their zones, paging, money
types, error shapes, batch answers, deletes, and the order of rows sharing one second.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from woo_server import woo_shop

from syncd.testing.conformance import SeedOrder, SeedProduct, SeedVariant
from syncd.testing.server import ServerThread, serve_in_thread
from syncd.testing.woo_rest_handle import WooRestHandle
from syncd.testing.woo_sim import KEY, SECRET, WooHandle, WooStore, create_app

API = "/wp-json/wc/v3"
SHOP_ZONE = ZoneInfo("Europe/Berlin")     # tests/woocommerce/wc-setup.php sets it
NAIVE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
WIRE = "%Y-%m-%dT%H:%M:%S"
KINDS = ["sim", pytest.param("hpos", marks=pytest.mark.woocommerce),
         pytest.param("posts", marks=pytest.mark.woocommerce)]


@dataclass
class Shop:
    kind: str
    handle: WooHandle | WooRestHandle
    url: str                                # site URL
    key: str
    secret: str
    #: set the modified time (GMT) of products/variations/orders, as SQL or an import would
    set_modified: Callable[[Sequence[int], datetime], None]
    offset: Callable[[datetime], timedelta]  # the shop's UTC offset at a moment


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[WooStore, ServerThread]]:
    store = WooStore()
    with serve_in_thread(create_app(store)) as server:
        yield store, server


def _sim(request: pytest.FixtureRequest) -> Shop:
    store, server = request.getfixturevalue("sim_server")

    def set_modified(ids: Sequence[int], when: datetime) -> None:
        with store.lock:
            for item_id in ids:
                record = store.products.get(item_id) or store.variations.get(item_id) \
                    or store.orders[item_id]
                record["date_modified_gmt"] = when.strftime(WIRE)
                record["date_modified"] = (when + store.utc_offset).strftime(WIRE)

    return Shop("sim", WooHandle(store, server.url), server.url, KEY, SECRET, set_modified,
                lambda _when: store.utc_offset)


def _real(request: pytest.FixtureRequest, storage: str) -> Shop:
    shop = woo_shop(request, storage)

    def set_modified(ids: Sequence[int], when: datetime) -> None:
        listed = ",".join(str(int(i)) for i in ids)
        gmt = when.strftime("%Y-%m-%d %H:%M:%S")
        local = when.astimezone(SHOP_ZONE).strftime("%Y-%m-%d %H:%M:%S")
        if storage == "hpos":    # orders live in wp_wc_orders, which keeps GMT only
            shop.sql(f"UPDATE wp_wc_orders SET date_updated_gmt = '{gmt}' "
                     f"WHERE id IN ({listed})")
        shop.sql(f"UPDATE wp_posts SET post_modified = '{local}', post_modified_gmt = '{gmt}' "
                 f"WHERE ID IN ({listed})")

    return Shop(storage, WooRestHandle(shop.url, shop.key, shop.secret, reset=shop.reset),
                shop.url, shop.key, shop.secret, set_modified,
                lambda when: when.astimezone(SHOP_ZONE).utcoffset() or timedelta())


@pytest.fixture(params=KINDS)
async def shop(request: pytest.FixtureRequest) -> AsyncIterator[Shop]:
    made = _sim(request) if request.param == "sim" else _real(request, request.param)
    await made.handle.reset()
    yield made
    await made.handle.aclose()


@pytest.fixture
async def api(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API (``.../wp-json/wc/v3``) with the shop's admin key."""
    async with httpx.AsyncClient(base_url=shop.url + API, auth=(shop.key, shop.secret),
                                 timeout=60) as client:
        yield client


async def ok(response: Any) -> Any:
    answer = await response
    assert answer.status_code in (200, 201), answer.text[:500]
    return answer.json()


async def error(response: Any, status: int) -> dict[str, Any]:
    answer = await response
    assert answer.status_code == status, answer.text[:500]
    body: dict[str, Any] = answer.json()
    assert set(body) >= {"code", "message", "data"} and body["data"]["status"] == status
    return body


def gmt_of(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["date_modified_gmt"]).replace(tzinfo=UTC)


# -- products and variations ---------------------------------------------------------------

async def test_variation_name_is_its_values_and_the_title_is_elsewhere(
    shop: Shop, api: httpx.AsyncClient
) -> None:
    [small, medium] = await shop.handle.add_product(SeedProduct(name="Shirt", variants=[
        SeedVariant(sku="B-S", name="S", stock=5), SeedVariant(sku="B-M", name="M", stock=5)]))
    [found] = await ok(api.get("/products", params={"sku": "B-M"}))
    assert (found["name"], found["type"]) == ("Shirt - M", "variation")
    listed = await ok(api.get(f"/products/{found['parent_id']}/variations"))
    assert sorted(v["name"] for v in listed) == ["M", "S"]
    assert {str(v["id"]) for v in listed} == {small, medium}
    order_id = await shop.handle.add_order(SeedOrder(lines=[("B-M", 1)]))
    order = await ok(api.get(f"/orders/{order_id}"))
    assert [(li["name"], li["parent_name"]) for li in order["line_items"]] == [
        ("Shirt - M", "Shirt")]


async def test_money_is_text_but_line_price_is_a_number(shop: Shop, api: httpx.AsyncClient) -> None:
    await shop.handle.add_product(SeedProduct(name="Mug", sku="B-MUG", price="9.90", stock=9))
    [mug] = await ok(api.get("/products", params={"sku": "B-MUG"}))
    assert (mug["price"], mug["regular_price"]) == ("9.90", "9.90")
    order_id = await shop.handle.add_order(SeedOrder(lines=[("B-MUG", 2)]))
    order = await ok(api.get(f"/orders/{order_id}"))
    assert isinstance(order["total"], str) and re.fullmatch(r"\d+\.\d\d", order["total"])
    [line] = order["line_items"]
    assert isinstance(line["price"], float) and line["price"] == pytest.approx(9.9)
    assert line["total"] == "19.80" and line["sku"] == "B-MUG"


async def test_variations_of_a_missing_parent_are_an_empty_list(
    shop: Shop, api: httpx.AsyncClient
) -> None:
    assert await ok(api.get("/products/999999/variations")) == []


# -- dates ---------------------------------------------------------------------------------

async def test_dates_come_twice_without_offset(shop: Shop, api: httpx.AsyncClient) -> None:
    await shop.handle.add_product(SeedProduct(name="Mug", sku="D-MUG"))
    [row] = await ok(api.get("/products", params={"sku": "D-MUG"}))
    for name in ("date_created", "date_modified"):
        assert NAIVE.match(row[name]) and NAIVE.match(row[f"{name}_gmt"]), row[name]
    local = datetime.fromisoformat(row["date_modified"]).replace(tzinfo=UTC)
    assert local - gmt_of(row) == shop.offset(gmt_of(row)) != timedelta()


async def test_modified_after_zones(shop: Shop, api: httpx.AsyncClient) -> None:
    """A naive value is shop-local time, or GMT with ``dates_are_gmt=true``. A value with Z
    or an offset is turned into shop-local wall time first, which the flag then reads as
    GMT: with the flag, "Z" is off by the shop's offset. The bound is strict."""
    await shop.handle.add_product(SeedProduct(name="Mug", sku="Z-MUG"))
    [row] = await ok(api.get("/products", params={"sku": "Z-MUG"}))
    gmt = gmt_of(row)
    assert shop.offset(gmt) >= timedelta(hours=1)
    later = (gmt + timedelta(minutes=30)).strftime(WIRE)     # after it in GMT, before in local
    earlier = (gmt - timedelta(minutes=30)).strftime(WIRE)

    async def hit(value: str, **extra: str) -> bool:
        rows = await ok(api.get("/products", params={"modified_after": value, **extra}))
        return row["id"] in [r["id"] for r in rows]

    assert await hit(later), "a naive value is read as the shop's local time"
    assert await hit(later, dates_are_gmt="false")
    assert not await hit(later, dates_are_gmt="true")
    assert await hit(earlier, dates_are_gmt="true")
    # without the flag an explicit offset is honoured
    assert not await hit(later + "Z") and not await hit(later + "+00:00")
    assert await hit(earlier + "Z")
    assert await hit((gmt + timedelta(minutes=90)).strftime(WIRE) + "+02:00")  # = gmt - 30 min
    # with it, the value is shifted by the shop's own offset: "gmt - 30 min Z" misses
    assert not await hit(earlier + "Z", dates_are_gmt="true")
    assert not await hit(gmt.strftime(WIRE), dates_are_gmt="true"), "the bound is strict"
    assert await hit((gmt - timedelta(seconds=1)).strftime(WIRE), dates_are_gmt="true")
    body = await error(api.get("/products", params={"modified_after": "soon-ish"}), 400)
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["details"]["modified_after"]["code"] == "rest_invalid_date"


# -- paging and errors ---------------------------------------------------------------------

async def test_paging_limits(shop: Shop, api: httpx.AsyncClient) -> None:
    await shop.handle.add_product(SeedProduct(name="Mug", sku="P-MUG"))
    too_many = await error(api.get("/products", params={"per_page": 101}), 400)
    assert too_many["code"] == "rest_invalid_param"
    assert too_many["message"] == "Invalid parameter(s): per_page"
    assert too_many["data"]["details"]["per_page"]["code"] == "rest_out_of_bounds"
    zero = await error(api.get("/products", params={"page": 0}), 400)
    assert zero["data"]["details"]["page"]["code"] == "rest_out_of_bounds"
    past = await api.get("/products", params={"page": 5})
    assert past.status_code == 200 and past.json() == []
    assert (past.headers["X-WP-Total"], past.headers["X-WP-TotalPages"]) == ("1", "1")
    bad_order = await error(api.get("/orders", params={"orderby": "price"}), 400)
    assert bad_order["data"]["details"]["orderby"]["code"] == "rest_not_in_enum"


async def test_error_shapes(shop: Shop, api: httpx.AsyncClient) -> None:
    product = await error(api.get("/products/999999"), 404)
    assert product["code"] == "woocommerce_rest_product_invalid_id"
    order = await error(api.get("/orders/999999"), 404)
    assert order["code"] == "woocommerce_rest_shop_order_invalid_id"
    assert (await error(api.get("/no-such-thing"), 404))["code"] == "rest_no_route"
    async with httpx.AsyncClient(base_url=shop.url + API, timeout=60) as guest:
        wrong = await error(guest.get("/products", auth=(shop.key, "cs_wrong")), 401)
        assert wrong["code"] == "woocommerce_rest_authentication_error"
        for auth in (None, ("ck_unknown", "cs_unknown")):
            anonymous = await error(guest.get("/products", auth=auth), 401)
            assert anonymous["code"] == "woocommerce_rest_cannot_view"
        batch = await error(guest.post("/products/batch", json={}), 401)
        assert batch["code"] == "woocommerce_rest_cannot_batch"
    broken = await error(api.post("/products/batch", content=b"{nope",
                                       headers={"Content-Type": "application/json"}), 400)
    assert broken["code"] == "rest_invalid_json"


async def test_batch_answers_per_item(shop: Shop, api: httpx.AsyncClient) -> None:
    [mug] = await shop.handle.add_product(SeedProduct(name="Mug", sku="BA-MUG", stock=1))
    [variation, _] = await shop.handle.add_product(SeedProduct(name="Tee", variants=[
        SeedVariant(sku="BA-S", name="S"), SeedVariant(sku="BA-M", name="M")]))
    [row] = await ok(api.get("/products", params={"sku": "BA-S"}))
    answer = await ok(api.post("/products/batch", json={"update": [
        {"id": int(mug), "stock_quantity": 0}, {"id": 999999, "stock_quantity": 1}]}))
    assert answer["update"][0]["stock_quantity"] == 0
    assert answer["update"][1]["id"] == 999999
    assert answer["update"][1]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    assert answer["update"][1]["error"]["data"]["status"] == 400
    answer = await ok(api.post(f"/products/{row['parent_id']}/variations/batch", json={
        "update": [{"id": int(variation), "stock_quantity": 3}, {"id": 999999}]}))
    assert answer["update"][0]["stock_quantity"] == 3
    missing = answer["update"][1]["error"]
    assert (missing["code"], missing["data"]["status"]) == (
        "woocommerce_rest_product_variation_invalid_id", 404)
    too_big = await error(api.post("/products/batch", json={
        "update": [{"id": int(mug)}] * 101}), 413)
    assert too_big["code"] == "woocommerce_rest_request_entity_too_large"
    assert await shop.handle.stock_of("BA-MUG") == 0


async def test_delete_without_force_trashes(shop: Shop, api: httpx.AsyncClient) -> None:
    [mug] = await shop.handle.add_product(SeedProduct(name="Mug", sku="T-MUG"))
    order_id = await shop.handle.add_order(SeedOrder(lines=[("T-MUG", 1)]))
    deleted = await ok(api.delete(f"/products/{mug}"))
    assert deleted["status"] == "publish", "the answer shows the product before the delete"
    assert (await ok(api.get(f"/products/{mug}")))["status"] == "trash"
    assert await ok(api.get("/products")) == []
    assert await ok(api.get("/products", params={"sku": "T-MUG"})) == []
    await ok(api.delete(f"/orders/{order_id}"))
    assert await ok(api.get("/orders")) == []
    assert [o["id"] for o in await ok(api.get("/orders", params={"status": "trash"}))] \
        == [int(order_id)]
    await ok(api.delete(f"/products/{mug}", params={"force": "true"}))
    await error(api.get(f"/products/{mug}"), 404)


# -- order of rows that share one modified second ------------------------------------------

async def _scan(api: httpx.AsyncClient, path: str, order: str, since: datetime,
                per_page: int) -> list[int]:
    found: list[int] = []
    for page in range(1, 20):
        rows = await ok(api.get(path, params={
            "orderby": "modified", "order": order, "per_page": per_page, "page": page,
            "modified_after": since.strftime(WIRE), "dates_are_gmt": "true"}))
        found += [r["id"] for r in rows]
        if len(rows) < per_page:
            return found
    raise AssertionError("too many pages")


async def test_rows_sharing_one_second_come_in_id_order(shop: Shop, api: httpx.AsyncClient) -> None:
    """With ``orderby=modified`` ties come back by id, in the same direction as ``order``
    (WooCommerce adds the id as a second sort key), so offset paging inside one second is
    stable while nothing changes. Orders and products, both order storages."""
    await shop.handle.add_product(SeedProduct(name="Mug", sku="S-MUG", stock=99))
    orders = [int(await shop.handle.add_order(SeedOrder(lines=[("S-MUG", 1)])))
              for _ in range(7)]
    products = [int(i) for n in range(7)
                for i in await shop.handle.add_product(SeedProduct(name=f"P{n}"))]
    second = datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC)
    shop.set_modified(orders + products, second)
    since = second - timedelta(seconds=1)
    for path, ids in (("/orders", orders), ("/products", products)):
        mug = [] if path == "/orders" else [r["id"] for r in await ok(
            api.get("/products", params={"sku": "S-MUG"}))]
        asc = await _scan(api, path, "asc", since, per_page=3)
        assert asc == sorted(ids) + mug, path      # the mug was modified later
        assert await _scan(api, path, "asc", since, per_page=3) == asc
        desc = await _scan(api, path, "desc", since, per_page=3)
        assert desc == mug + sorted(ids, reverse=True), path


async def test_a_row_leaving_its_second_mid_scan_hides_the_next_one(
    shop: Shop, api: httpx.AsyncClient
) -> None:
    """The hazard offset paging inside one second has on the real shop: a row of the second
    that changes during the scan moves to "now", the rest shift left, one row is skipped."""
    await shop.handle.add_product(SeedProduct(name="Mug", sku="H-MUG", stock=99))
    orders = [int(await shop.handle.add_order(SeedOrder(lines=[("H-MUG", 1)])))
              for _ in range(6)]
    second = datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC)
    shop.set_modified(orders, second)
    params = {"orderby": "modified", "order": "asc", "per_page": 3,
              "modified_after": (second - timedelta(seconds=1)).strftime(WIRE),
              "dates_are_gmt": "true"}
    first = [r["id"] for r in await ok(api.get("/orders", params={**params, "page": 1}))]
    await shop.handle.cancel_order(str(orders[1]))            # leaves the second
    following = [r["id"] for r in await ok(api.get("/orders",
                                                        params={**params, "page": 2}))]
    assert first == orders[:3]
    assert following == [*orders[4:], orders[1]], "orders[3] slid to page 1 unseen"


# -- stock and payment ---------------------------------------------------------------------

async def test_paying_reduces_stock_and_cancelling_restores_it(
    shop: Shop, api: httpx.AsyncClient
) -> None:
    """Payment takes the ordered quantity off managed stock and saves the product (its
    modified time moves, so the product feed re-reads it); a cancellation puts it back."""
    [mug] = await shop.handle.add_product(SeedProduct(name="Mug", sku="R-MUG", stock=10))
    [small, _] = await shop.handle.add_product(SeedProduct(name="Tee", variants=[
        SeedVariant(sku="R-S", name="S", stock=4), SeedVariant(sku="R-M", name="M", stock=4)]))
    old = datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC)
    shop.set_modified([int(mug), int(small)], old)
    unpaid = await shop.handle.add_order(SeedOrder(lines=[("R-MUG", 2), ("R-S", 1)],
                                                   paid=False))
    assert [await shop.handle.stock_of(s) for s in ("R-MUG", "R-S")] == [10, 4]
    await shop.handle.pay_order(unpaid)
    assert [await shop.handle.stock_of(s) for s in ("R-MUG", "R-S", "R-M")] == [8, 3, 4]
    [row] = await ok(api.get("/products", params={"sku": "R-MUG"}))
    assert gmt_of(row) > old, "the stock change saved the product"
    changed = await ok(api.get("/products", params={
        "modified_after": (old + timedelta(seconds=1)).strftime(WIRE), "dates_are_gmt": "true"}))
    assert int(mug) in [r["id"] for r in changed]
    await shop.handle.cancel_order(unpaid)
    assert [await shop.handle.stock_of(s) for s in ("R-MUG", "R-S")] == [10, 4]
    paid = await shop.handle.add_order(SeedOrder(lines=[("R-MUG", 12)]))
    assert await shop.handle.stock_of("R-MUG") == -2, "no stock check on REST orders"
    [row] = await ok(api.get("/products", params={"sku": "R-MUG"}))
    assert row["stock_status"] == "outofstock" and paid
