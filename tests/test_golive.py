"""Go-live safety for a merchant switching from another integration (OGOship's PHP plugin):
the first stock run, ``orders_since`` and adopting orders sent under the old reference.

The real WooCommerce connector against the WooCommerce simulator, the real myOGO client
against the myOGO simulator, a real SQLite state DB; assertions on all three.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from syncd.config import load_config
from syncd.engine import Engine
from syncd.myogo import OrderRequest
from syncd.state.db import StateDB
from syncd.state.ops import get_cursor
from syncd.state.tables import OrderLink, StockLevel
from tests.conftest import Sims, config_text
from tests.daemon_proc import run_cli
from tests.test_flows import place_order, run, seed_catalogue

LIVE = 30    # a live shop: more in-stock SKUs than the guard's minimum


def live_shop(sims: Sims) -> list[str]:
    """A shop already selling (stock 5 each) whose products are new in myOGO (stock 0)."""
    skus = [f"L-{i:02d}" for i in range(LIVE)]
    for sku in skus:
        sims.woo.add_product(f"Product {sku}", sku, stock=5)
    return skus


async def test_first_stock_run_refuses_to_zero_a_live_store(
    sims: Sims, engine: Engine, db: Any
) -> None:
    skus = live_shop(sims)
    await run(engine, "products")
    assert {sims.myogo.stock[s]["stockAvailable"] for s in skus} == {0}

    result = await engine.run_flow("woo", "stock")
    assert not result.ok
    assert f"myOGO would set {LIVE} of the {LIVE} SKUs in stock in the store to 0" in (
        result.error or "")
    assert "ogo-syncd sync stock --store woo --dry-run" in (result.error or "")
    assert "--force" in (result.error or "")
    assert [sims.woo.stock_of(s) for s in skus] == [5] * LIVE
    with db.session() as session:
        assert list(session.exec(select(StockLevel))) == []
        assert get_cursor(session, "woo", "stock") is None   # still a first run next time

    # --force applies myOGO's levels, 0 included.
    await run(engine, "stock", force=True)
    assert [sims.woo.stock_of(s) for s in skus] == [0] * LIVE
    with db.session() as session:
        assert {row.quantity for row in session.exec(select(StockLevel))} == {0}


async def test_first_stock_run_applies_levels_that_match_the_warehouse(
    sims: Sims, engine: Engine
) -> None:
    skus = live_shop(sims)
    await run(engine, "products")
    for index, sku in enumerate(skus):
        sims.myogo.set_stock(sku, index)       # one real 0, the rest arrived
    await run(engine, "stock")
    assert [sims.woo.stock_of(s) for s in skus] == list(range(LIVE))


async def test_stock_dry_run_shows_store_level_to_myogo_level(
    sims: Sims, engine: Engine
) -> None:
    skus = live_shop(sims)
    await run(engine, "products")
    sims.myogo.set_stock(skus[1], 5)           # the same on both sides: not listed
    sims.myogo.set_stock(skus[2], 9)
    result = await engine.run_flow("woo", "stock", dry_run=True)
    assert "stock: set L-00: 5 -> 0" in result.plan
    assert "stock: set L-02: 5 -> 9" in result.plan
    assert not any("L-01" in line for line in result.plan)
    assert len(result.plan) == LIVE - 1
    assert not result.ok and "--force" in (result.error or "")   # and what a run would do
    assert [sims.woo.stock_of(s) for s in skus] == [5] * LIVE


def test_cli_stock_dry_run_prints_each_change_and_the_refusal(
    sims: Sims, config_path: Path, engine: Engine
) -> None:
    skus = live_shop(sims)
    cfg = str(config_path)
    assert run_cli("sync", "products", "--config", cfg).returncode == 0
    dry = run_cli("sync", "stock", "--config", cfg, "--dry-run")
    assert "L-00: 5 -> 0" in dry.stdout, dry.stdout + dry.stderr
    assert "--force" in dry.stdout
    assert [sims.woo.stock_of(s) for s in skus] == [5] * LIVE
    forced = run_cli("sync", "stock", "--config", cfg, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert [sims.woo.stock_of(s) for s in skus] == [0] * LIVE


# -- orders_since and adopting the old plugin's orders ----------------------------------

@asynccontextmanager
async def engine_with(sims: Sims, tmp_path: Path, store_lines: str
                      ) -> AsyncIterator[tuple[Engine, StateDB]]:
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, tmp_path / "state.sqlite", extra_store=store_lines))
    config = load_config(path)
    db = StateDB.from_settings(config.daemon)
    db.migrate()
    async with Engine(config, db) as engine:
        yield engine, db


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def links(db: StateDB) -> dict[str, OrderLink]:
    with db.session() as session:
        return {link.store_order_id: link for link in session.exec(select(OrderLink))}


async def test_orders_since_keeps_old_orders_out_of_myogo(sims: Sims, tmp_path: Path) -> None:
    seed_catalogue(sims.woo)
    sims.woo.advance(timedelta(days=-400))                 # a shop with history
    old_paid = place_order(sims.woo, [("SKU-1", 1)])
    paid_late = place_order(sims.woo, [("SKU-2", 1)], paid=False)
    sims.woo.advance(timedelta(days=400))
    sims.woo.pay(paid_late)                                # created long ago, paid today
    new = place_order(sims.woo, [("SKU-S", 1)])
    async with engine_with(sims, tmp_path, f'orders_since = "{days_ago(30)}"') as (engine, db):
        await run(engine, "products")
        dry = await engine.run_flow("woo", "orders", dry_run=True)
        assert dry.counts["before_orders_since"] == 1 and dry.counts["sent"] == 2
        counts = await run(engine, "orders")
        assert counts["before_orders_since"] == 1 and counts["sent"] == 2
        assert sims.myogo.orders_by_reference(f"WC-{old_paid}") == []
        for store_id in (paid_late, new):
            assert len(sims.myogo.orders_by_reference(f"WC-{store_id}")) == 1
        assert set(links(db)) == {str(paid_late), str(new)}   # nothing recorded for it
        # The old order changes later (a note, a status round trip): still not sent.
        sims.woo.update_order(old_paid, {"customer_note": "where is my parcel?"})
        sims.woo.set_order_status(old_paid, "on-hold")
        sims.woo.set_order_status(old_paid, "processing")
        counts = await run(engine, "orders")
        assert counts["before_orders_since"] == 1 and counts["sent"] == 0
        assert sims.myogo.orders_by_reference(f"WC-{old_paid}") == []
        assert str(old_paid) not in links(db)


def test_bad_orders_since_exits_78_naming_the_key(sims: Sims, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, tmp_path / "s.sqlite", extra_store='orders_since = "May"'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 78, result.stdout + result.stderr
    assert "stores[0].orders_since" in result.stderr and "YYYY-MM-DD" in result.stderr


def plugin_reference(sims: Sims, order_id: int) -> str:
    """How OGOship's WooCommerce plugin names an order in myOGO."""
    key = sims.woo.order(order_id)["order_key"]
    return f"{order_id}-{key.removeprefix('wc_order_')}"


async def plugin_sends(engine: Engine, reference: str, sku: str) -> str | None:
    """The old plugin sent this order before the switch (over the same myOGO API)."""
    created = await engine.myogo.create_order(OrderRequest.model_validate({
        "reference": reference, "orderLines": [{"code": sku, "quantity": 1}],
        "customer": {"name": "Maija Meikäläinen", "address1": "Testikatu 1",
                     "city": "Helsinki", "zip": "00100", "countryCode": "FI"}}))
    return created.id


async def test_orders_the_old_plugin_sent_are_adopted_and_tracking_flows_back(
    sims: Sims, tmp_path: Path
) -> None:
    seed_catalogue(sims.woo)
    sims.woo.advance(timedelta(days=-2))
    before_switch = place_order(sims.woo, [("SKU-1", 1)])      # sent by the old plugin
    sims.woo.advance(timedelta(days=2))
    shipped_meanwhile = place_order(sims.woo, [("SKU-1", 1)])  # sent, shipped at the switch
    after_switch = place_order(sims.woo, [("SKU-2", 1)])       # the plugin is off by now
    legacy = plugin_reference(sims, before_switch)
    legacy_shipped = plugin_reference(sims, shipped_meanwhile)
    async with engine_with(sims, tmp_path, f'orders_since = "{days_ago(0)}"') as (engine, db):
        await run(engine, "products")
        sims.myogo.set_stock("SKU-1", 10)
        myogo_id = await plugin_sends(engine, legacy, "SKU-1")
        await plugin_sends(engine, legacy_shipped, "SKU-1")
        await run(engine, "tracking")            # the tracking cursor starts now
        sims.myogo.collect(legacy_shipped)
        sims.myogo.ship(legacy_shipped, "JJFI7")
        dry = await engine.run_flow("woo", "orders", dry_run=True)
        assert any(f"adopt {legacy}" in line for line in dry.plan), dry.plan
        assert links(db) == {}

        counts = await run(engine, "orders")
        assert counts["adopted"] == 2 and counts["sent"] == 1
        # Shipped before it was adopted: its tracking is written with the adoption.
        assert [t["tracking_number"] for t in sims.woo.trackings(shipped_meanwhile)] == [
            "JJFI7"]
        assert links(db)[str(shipped_meanwhile)].status == "fulfilled"
        assert len(sims.myogo.orders_by_reference(legacy)) == 1
        assert sims.myogo.orders_by_reference(f"WC-{before_switch}") == []
        assert len(sims.myogo.orders_by_reference(f"WC-{after_switch}")) == 1
        adopted = links(db)[str(before_switch)]
        assert (adopted.status, adopted.reference, adopted.myogo_id) == ("sent", legacy, myogo_id)
        assert (await run(engine, "orders"))["sent"] == 0             # and never re-sent
        assert len(sims.myogo.orders) == 3

        # The warehouse ships the adopted order later: tracking reaches the store.
        sims.myogo.collect(legacy)
        sims.myogo.ship(legacy, "JJFI9", "https://track.example/JJFI9")
        assert (await run(engine, "tracking"))["shipped"] == 1
        assert sims.woo.order(before_switch)["status"] == "completed"
        assert [t["tracking_number"] for t in sims.woo.trackings(before_switch)] == ["JJFI9"]
        assert links(db)[str(before_switch)].status == "fulfilled"


async def test_an_adopted_order_cancelled_in_the_store_is_cancelled_in_myogo(
    sims: Sims, tmp_path: Path
) -> None:
    seed_catalogue(sims.woo)
    order_id = place_order(sims.woo, [("SKU-1", 1)])
    legacy = plugin_reference(sims, order_id)
    async with engine_with(sims, tmp_path, "") as (engine, db):
        await run(engine, "products")
        sims.myogo.set_stock("SKU-1", 10)            # in stock: myOGO takes it as new
        await plugin_sends(engine, legacy, "SKU-1")
        assert (await run(engine, "orders"))["adopted"] == 1
        sims.woo.cancel(order_id)
        assert (await run(engine, "orders"))["cancelled"] == 1
        assert sims.myogo.orders_by_reference(legacy)[0]["status"] == "cancelled"
        assert sims.myogo.orders_by_reference(f"WC-{order_id}") == []
        assert links(db)[str(order_id)].status == "cancelled"
