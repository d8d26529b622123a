"""Go-live safety for a merchant switching from another integration (OGOship's PHP plugin):
the first stock run, ``orders_since`` and adopting orders sent under the old reference.

The real WooCommerce connector against the WooCommerce simulator, the real myOGO client
against the myOGO simulator, a real SQLite state DB; assertions on all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from syncd.engine import Engine
from syncd.state.ops import get_cursor
from syncd.state.tables import StockLevel
from tests.conftest import Sims
from tests.daemon_proc import run_cli
from tests.test_flows import run

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
