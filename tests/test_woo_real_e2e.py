"""The whole daemon between a real WooCommerce 11 shop and the myOGO simulator, per storage.

Products (a simple one and a variable one with two variations) reach myOGO; stock set in
myOGO, 0 included, becomes the shop's stock; a paid order reaches myOGO exactly once, also
across a daemon restart; the warehouse ships it and the shop shows the tracking and
completes the order; an order cancelled in the shop is cancelled in myOGO. Checked in the
myOGO simulator, in the shop (REST) and in the state DB.
"""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from woo_server import STORAGES, WooShop, woo_shop

from syncd.testing.conformance import SeedAddress, SeedOrder, SeedProduct, SeedVariant
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import serve_in_thread
from syncd.testing.woo_rest_handle import WooRestHandle
from tests.daemon_proc import start_daemon, stop

pytestmark = pytest.mark.woocommerce


@pytest.fixture(scope="session", params=STORAGES)
def woo(request: pytest.FixtureRequest) -> WooShop:
    return woo_shop(request, request.param)


@pytest.fixture
async def handle(woo: WooShop) -> AsyncIterator[WooRestHandle]:
    store = WooRestHandle(woo.url, woo.key, woo.secret, reset=woo.reset)
    await store.reset()
    yield store
    await store.aclose()


@pytest.fixture
def myogo() -> Iterator[tuple[MyogoSim, str]]:
    sim = MyogoSim()
    with serve_in_thread(sim.app) as server:
        yield sim, server.url
    sim.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str,
                     limit: float = 120) -> None:
    """Poll a state check until it holds (not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def config_for(handle: WooRestHandle, myogo_url: str, state_db: Path) -> str:
    return textwrap.dedent(f"""\
        [daemon]
        state_db = "{state_db}"
        log_format = "json"

        [myogo]
        api_url = "{myogo_url}/api/v1"
        token_url = "{myogo_url}/OAuth/Token"
        merchant_id = "demo"
        secret_token = "demo"
        rate_limit = 500

        [[stores]]
        name = "woo"
        connector = "woocommerce"
        reference_prefix = "WC-"
        language = "en"
        currency = "EUR"
        shipping_map = {{ "{handle.shipping_method}" = "POSTI" }}

        [stores.schedule]
        products = "1s"
        orders = "1s"
        stock = "1s"
        tracking = "1s"

        [stores.options]
        url = "{handle.url}"
        consumer_key = "{handle.key}"
        consumer_secret = "{handle.secret}"
        allow_http = true
        """)


def state(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(query))


async def test_daemon_between_real_woocommerce_and_myogo(
    handle: WooRestHandle, myogo: tuple[MyogoSim, str], tmp_path: Path
) -> None:
    sim, url = myogo
    await handle.add_product(SeedProduct(
        name="Lamp", sku="W-LAMP", price="49.90", stock=3, ean="6400000000033"))
    await handle.add_product(SeedProduct(name="Sock", variants=[
        SeedVariant(sku="W-SOCK-S", name="S", stock=1, price="5.00"),
        SeedVariant(sku="W-SOCK-L", name="L", stock=2, price="6.00")]))
    db = tmp_path / "state.sqlite"
    config = tmp_path / "config.toml"
    config.write_text(config_for(handle, url, db))
    log = tmp_path / "daemon.log"
    skus = ("W-LAMP", "W-SOCK-S", "W-SOCK-L")

    proc = start_daemon(config, log)
    try:
        async def products_in_myogo() -> bool:
            return {p["code"] for p in sim.products} == set(skus)
        await eventually(products_in_myogo, "the shop's products in myOGO")
        by_code = {p["code"]: p for p in sim.products}
        assert by_code["W-LAMP"]["name"] == "Lamp"
        assert by_code["W-LAMP"]["eanCode"] == "6400000000033"
        assert by_code["W-LAMP"]["salesPrice"] == pytest.approx(49.90)
        assert {by_code[c]["name"] for c in skus[1:]} == {"Sock - S", "Sock - L"}

        for code, qty in zip(skus, (40, 0, 12), strict=True):
            sim.set_stock(code, qty)

        async def stock_in_shop() -> bool:
            return [await handle.stock_of(s) for s in skus] == [40, 0, 12]
        await eventually(stock_in_shop, "myOGO's stock in the shop")

        berlin = SeedAddress(name="Erika Mustermann", address1="Unter den Linden 1",
                             city="Berlin", zip="10117", country_code="DE",
                             email="erika@example.com", phone="+4930123456")
        order_id = await handle.add_order(SeedOrder(lines=[("W-LAMP", 2), ("W-SOCK-L", 1)],
                                                    address=berlin))
        reference = f"WC-{(await handle.order(order_id))['number']}"

        async def order_in_myogo() -> bool:
            return len(sim.orders_by_reference(reference)) == 1
        await eventually(order_in_myogo, "the paid order in myOGO")
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]

    proc = start_daemon(config, log)     # a restart must not send the order again
    try:
        [sent] = sim.orders_by_reference(reference)
        assert sorted((line["code"], line["quantity"]) for line in sent["orderLines"]) == [
            ("W-LAMP", 2), ("W-SOCK-L", 1)]
        assert sent["shippingCode"] == "POSTI"
        # prices with the shop's own tax (a German address: its DE rate), as WooCommerce
        # computed them
        placed = await handle.order(order_id)
        [rate] = {t["rate_percent"] for t in placed["tax_lines"]}
        for line in placed["line_items"]:
            unit = (Decimal(line["total"]) + Decimal(line["total_tax"])) / line["quantity"]
            [got] = [x for x in sent["orderLines"] if x["code"] == line["sku"]]
            assert got["unitPrice"] == pytest.approx(float(unit), abs=0.005)
            assert got["vatPercentage"] == pytest.approx(rate) and rate > 0

        sim.collect(reference)
        sim.ship(reference, "JJFI777", "https://track.example/JJFI777")

        async def shipped_in_shop() -> bool:
            return await handle.is_shipped(order_id)
        await eventually(shipped_in_shop, "the shipped order completed in the shop")

        cancelled_id = await handle.add_order(SeedOrder(lines=[("W-LAMP", 1)]))
        cancelled_ref = f"WC-{(await handle.order(cancelled_id))['number']}"

        async def second_in_myogo() -> bool:
            return len(sim.orders_by_reference(cancelled_ref)) == 1
        await eventually(second_in_myogo, "the second paid order in myOGO")
        await handle.cancel_order(cancelled_id)

        async def cancelled_in_myogo() -> bool:
            return [o["status"] for o in sim.orders_by_reference(cancelled_ref)] == ["cancelled"]
        await eventually(cancelled_in_myogo, "the store's cancellation in myOGO")
        await asyncio.sleep(3)  # a few more cycles: nothing may be written twice
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]

    assert len(sim.orders_by_reference(reference)) == 1
    assert [f.tracking_numbers for f in await handle.fulfilments(order_id)] == [("JJFI777",)]
    assert await handle.customer_notifications(order_id) == 1
    links = dict(state(db, "SELECT store_order_id, status FROM order_link"))
    assert links == {order_id: "fulfilled", cancelled_id: "cancelled"}
    assert sorted(state(db, "SELECT sku, status FROM product_link")) == [
        (s, "synced") for s in sorted(skus)]
    assert "Traceback" not in log.read_text()
