"""Go-live safety against a real WooCommerce 11 shop (HPOS and posts storage) and the myOGO
simulator, with a real SQLite state DB: the first stock run does not empty the shop, and
an order OGOship's plugin sent (under its ``{id}-{order_key}`` reference) is adopted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from woo_server import STORAGES, WooShop, woo_shop

from syncd.config import load_config
from syncd.engine import Engine
from syncd.state.db import StateDB
from syncd.state.tables import OrderLink, StockLevel
from syncd.testing.conformance import SeedOrder, SeedProduct
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import serve_in_thread
from syncd.testing.woo_rest_handle import WooRestHandle
from syncd.testing.woo_sim import KEY, SECRET
from tests.conftest import Sims, config_text
from tests.test_golive import plugin_sends

pytestmark = pytest.mark.woocommerce
LIVE = 12    # in-stock SKUs: more than the guard's minimum


@pytest.fixture(scope="session", params=STORAGES)
def woo(request: pytest.FixtureRequest) -> WooShop:
    return woo_shop(request, request.param)


@pytest.fixture
def myogo() -> Iterator[tuple[MyogoSim, str]]:
    sim = MyogoSim()
    with serve_in_thread(sim.app) as server:
        yield sim, server.url
    sim.close()


@pytest.fixture
async def shop(woo: WooShop) -> AsyncIterator[WooRestHandle]:
    handle = WooRestHandle(woo.url, woo.key, woo.secret, reset=woo.reset)
    await handle.reset()
    yield handle
    await handle.aclose()


def engine_for(woo: WooShop, myogo_url: str, tmp_path: Path) -> tuple[Engine, StateDB]:
    sims = Sims(None, myogo_url, None, woo.url)  # type: ignore[arg-type]
    text = config_text(sims, tmp_path / "state.sqlite")
    text = text.replace(f'"{KEY}"', f'"{woo.key}"').replace(f'"{SECRET}"', f'"{woo.secret}"')
    path = tmp_path / "config.toml"
    path.write_text(text)
    config = load_config(path)
    db = StateDB.from_settings(config.daemon)
    db.migrate()
    return Engine(config, db), db


async def test_real_shop_first_stock_run_and_plugin_order_adoption(
    woo: WooShop, shop: WooRestHandle, myogo: tuple[MyogoSim, str], tmp_path: Path
) -> None:
    sim, url = myogo
    skus = [f"GL-{n:02d}" for n in range(LIVE)]
    for sku in skus:
        await shop.add_product(SeedProduct(name=f"Live {sku}", sku=sku, stock=5))
    order_id = await shop.add_order(SeedOrder(lines=[(skus[0], 1)]))
    row = await shop.order(order_id)
    assert row["order_key"].startswith("wc_order_")            # the plugin's assumption
    legacy = f"{order_id}-{row['order_key'].removeprefix('wc_order_')}"
    held = [await shop.stock_of(s) for s in skus]          # the paid order took one
    assert held == [4] + [5] * (LIVE - 1)
    engine, db = engine_for(woo, url, tmp_path)
    async with engine:
        assert (await engine.run_flow("woo", "products")).ok
        await plugin_sends(engine, legacy, skus[0])

        result = await engine.run_flow("woo", "orders")
        assert result.ok and result.counts["adopted"] == 1, (result.error, result.counts)
        assert [o["reference"] for o in sim.orders] == [legacy]
        with db.session() as session:
            link = session.get(OrderLink, ("woo", order_id))
            assert (link.status, link.reference) == ("sent", legacy)

        result = await engine.run_flow("woo", "stock")
        assert not result.ok and f"set {LIVE} of the {LIVE} SKUs" in (result.error or "")
        assert [await shop.stock_of(s) for s in skus] == held
        dry = await engine.run_flow("woo", "stock", dry_run=True)
        assert f"stock: set {skus[1]}: 5 -> 0" in dry.plan
        with db.session() as session:
            assert list(session.exec(select(StockLevel))) == []
