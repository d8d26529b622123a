"""The whole daemon between a real Vendure server and the myOGO simulator.

Products appear in myOGO; an order placed and paid through Vendure's Shop API reaches myOGO
exactly once; the warehouse ships it and Vendure shows the fulfilment with the tracking
code; stock changed in myOGO becomes Vendure's stock.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from vendure_server import VendureServer, vendure_server

from syncd.testing.conformance import SeedOrder, SeedProduct, SeedVariant
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import serve_in_thread
from syncd.testing.vendure_handle import VendureHandle
from tests.daemon_proc import start_daemon, stop

pytestmark = pytest.mark.vendure


@pytest.fixture(scope="session")
def vendure(request: pytest.FixtureRequest) -> VendureServer:
    return vendure_server(request)


@pytest.fixture
async def handle(vendure: VendureServer) -> AsyncIterator[VendureHandle]:
    store = VendureHandle(vendure.admin_url, vendure.shop_url)
    await store.reset()
    yield store
    await store.aclose()


@pytest.fixture
def myogo() -> Iterator[tuple[MyogoSim, str]]:
    sim = MyogoSim()
    with serve_in_thread(sim.app) as server:
        yield sim, server.url
    sim.close()


async def eventually(check: object, what: str, limit: float = 90) -> None:
    """Poll an async state check until it holds (not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def test_daemon_between_real_vendure_and_myogo(
    handle: VendureHandle, myogo: tuple[MyogoSim, str], tmp_path: Path
) -> None:
    sim, url = myogo
    await handle.add_product(SeedProduct(name="Lamp", sku="V-LAMP", price="49.90", stock=3,
                                         ean="6400000000031"))
    await handle.add_product(SeedProduct(name="Sock", variants=[
        SeedVariant(sku="V-SOCK-S", name="S", stock=1), SeedVariant(sku="V-SOCK-L", name="L")]))
    settings = handle.settings()
    config = tmp_path / "config.toml"
    config.write_text(textwrap.dedent(f"""\
        [daemon]
        state_db = "{tmp_path / 'state.sqlite'}"
        log_format = "json"

        [myogo]
        api_url = "{url}/api/v1"
        token_url = "{url}/OAuth/Token"
        merchant_id = "demo"
        secret_token = "demo"
        rate_limit = 500

        [[stores]]
        name = "vendure"
        connector = "vendure"
        reference_prefix = "VD-"
        language = "en"
        currency = "USD"
        shipping_map = {{ "{handle.shipping_method}" = "POSTI" }}

        [stores.schedule]
        products = "1s"
        orders = "1s"
        stock = "1s"
        tracking = "1s"

        [stores.options]
        url = "{settings.url}"
        username = "{settings.username}"
        password = "{settings.password.get_secret_value()}"
        channel_token = "{settings.channel_token}"
        allow_http = true
        settle_seconds = 0
        """))
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        async def products_in_myogo() -> bool:
            return {p["code"] for p in sim.products} == {"V-LAMP", "V-SOCK-S", "V-SOCK-L"}
        await eventually(products_in_myogo, "the Vendure variants in myOGO")
        lamp = next(p for p in sim.products if p["code"] == "V-LAMP")
        assert lamp["name"] == "Lamp" and lamp["eanCode"] == "6400000000031"
        assert lamp["salesPrice"] == pytest.approx(49.90)

        for code, qty in (("V-LAMP", 40), ("V-SOCK-S", 0), ("V-SOCK-L", 12)):
            sim.set_stock(code, qty)

        async def stock_in_vendure() -> bool:
            return [await handle.stock_of(s) for s in ("V-LAMP", "V-SOCK-S", "V-SOCK-L")] \
                == [40, 0, 12]
        await eventually(stock_in_vendure, "myOGO's stock in Vendure")

        order_id = await handle.add_order(SeedOrder(lines=[("V-LAMP", 2), ("V-SOCK-L", 1)]))
        code = (await handle.order(order_id))["code"]
        reference = f"VD-{code}"

        async def order_in_myogo() -> bool:
            return len(sim.orders_by_reference(reference)) == 1
        await eventually(order_in_myogo, "the paid Vendure order in myOGO")
        [sent] = sim.orders_by_reference(reference)
        assert sorted((line["code"], line["quantity"]) for line in sent["orderLines"]) == [
            ("V-LAMP", 2), ("V-SOCK-L", 1)]
        assert sent["shippingCode"] == "POSTI"

        sim.collect(reference)
        sim.ship(reference, "JJFI777", "https://track.example/JJFI777")

        async def shipped_in_vendure() -> bool:
            return await handle.is_shipped(order_id)
        await eventually(shipped_in_vendure, "the fulfilment in Vendure")
        await asyncio.sleep(3)  # a few more cycles: nothing may be written twice
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]
    fulfilments = await handle.fulfilments(order_id)
    assert [f.tracking_numbers for f in fulfilments] == [("JJFI777",)]
    assert len(sim.orders_by_reference(reference)) == 1
    assert "Traceback" not in log.read_text()
