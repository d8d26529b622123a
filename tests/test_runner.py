"""The shared page runner (jobs/base.py): data errors parked for every flow, one write window
across pages with the cursor never passing an unfinished item. Real HTTP to the simulators,
a real SQLite state DB."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from syncd.config import load_config
from syncd.engine import Engine
from syncd.state.db import StateDB
from syncd.state.ops import failures
from syncd.state.tables import OrderLink, ProductLink
from tests.conftest import Sims, config_text
from tests.daemon_proc import EXE, run_cli, wait_for
from tests.test_flows import PERSON, place_order, run, seed_catalogue


def _engine(sims: Sims, tmp_path: Path, **extra: str) -> Engine:
    """An engine on its own config file and migrated state DB in ``tmp_path``."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, tmp_path / "state.sqlite", **extra))
    config = load_config(path)
    db = StateDB.from_settings(config.daemon)
    db.migrate()
    return Engine(config, db)


async def test_myogo_400_on_the_opt_in_order_update_parks_that_order_and_the_rest_flow(
    sims: Sims, tmp_path: Path
) -> None:
    async with _engine(sims, tmp_path, extra_store="update_new_orders = true") as engine:
        seed_catalogue(sims.woo)
        await run(engine, "products")
        edited = place_order(sims.woo, [("SKU-1", 1)])
        await run(engine, "orders")
        # The merchant edits the sent order (still new in myOGO), and new orders arrive.
        sims.woo.update_order(edited, {"shipping": {**PERSON, "address_1": "Uusikatu 2"}})
        fresh = [place_order(sims.woo, [("SKU-2", 1)]) for _ in range(3)]
        sims.myogo.add_fault("error", method="PUT", path=f"/orders/WC-{edited}$", status=400)

        counts = await run(engine, "orders")   # asserts the run is ok

        assert counts["sent"] == 3 and counts["failed"] == 1
        for store_id in fresh:
            assert len(sims.myogo.orders_by_reference(f"WC-{store_id}")) == 1
        [kept] = sims.myogo.orders_by_reference(f"WC-{edited}")
        assert kept["customer"]["address1"] == PERSON["address_1"]   # the update was refused
        db: Any = engine.db
        with db.session() as session:
            [failure] = [f for f in failures(session, "woo") if f.flow == "orders"]
            assert failure.key == str(edited)
            assert "400" in failure.reason and f"WC-{edited}" in failure.reason
            link = session.exec(select(OrderLink).where(
                OrderLink.store_order_id == str(edited))).one()
            assert link.status == "sent"        # it was sent: never sent again


def test_a_slow_item_on_page_one_holds_the_cursor_while_later_pages_go_on_then_a_crash(
    sims: Sims, tmp_path: Path
) -> None:
    """The window runs across pages; SIGKILL while page 1's slow write is unanswered must
    leave the cursor before it, so the next run writes it (products have no intent row)."""
    codes = [f"P-{i:02d}" for i in range(50)]            # pages of 20, 20, 10
    # Edited an hour ago: older than the cursor's look-back, so a saved cursor past an item
    # really skips it.
    sims.woo.advance(timedelta(hours=-1))
    for code in codes:
        sims.woo.add_product(f"Item {code}", code, stock=1)
    sims.woo.advance(timedelta(hours=1))
    # The first product POST to arrive (one of page 1's) hangs in transit; the kill cuts
    # it, so myOGO never receives it.
    sims.myogo.add_fault("stall", method="POST", path="/products$", count=1, seconds=60)
    config = tmp_path / "config.toml"
    config.write_text(config_text(sims, tmp_path / "state.sqlite", timeout=120))
    proc = subprocess.Popen([*EXE, "sync", "products", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(sims.myogo.products) == len(codes) - 1, 60,
                 "every product but the slow one in myOGO (pages 2 and 3 did not wait)")
        db = StateDB.from_settings(load_config(config).daemon)
        with db.session() as session:
            linked = session.exec(select(ProductLink)).all()
        assert len(linked) >= 20       # finished pages were recorded while the slow one ran
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    [missing] = set(codes) - {p["code"] for p in sims.myogo.products}

    done = run_cli("sync", "products", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    in_myogo = [p["code"] for p in sims.myogo.products]
    assert sorted(in_myogo) == codes                     # the slow one arrived, none twice
    with db.session() as session:
        links = {link.sku: link.status for link in session.exec(select(ProductLink))}
    assert links == dict.fromkeys(codes, "synced"), missing


async def test_first_sync_against_a_catalogue_myogo_already_holds_writes_only_what_differs(
    sims: Sims, tmp_path: Path
) -> None:
    """A merchant leaving the PHP plugin: myOGO has the products, our state DB is empty."""
    ids = seed_catalogue(sims.woo)
    async with _engine(sims, tmp_path / "plugin") as engine:
        await run(engine, "products")            # stands in for the plugin's years of work
    held = {p["code"]: p for p in sims.myogo.products}
    sims.woo.update_item(ids["SKU-2"], {"regular_price": "21.00"})
    sims.woo.add_product("Scarf", "SKU-NEW", price="9.90")
    sims.myogo.reset_counts()

    async with _engine(sims, tmp_path / "daemon") as engine:
        counts = await run(engine, "products")
        by_route = sims.myogo.request_counts()
        assert by_route.get("PUT /api/v1/products/{code}", 0) == 1       # SKU-2's price
        assert by_route.get("POST /api/v1/products", 0) == 1             # SKU-NEW
        assert counts["matched"] == 3 and counts["written"] == 2
        now = {p["code"]: p for p in sims.myogo.products}
        assert now["SKU-2"]["salesPrice"] == 21.0 and "SKU-NEW" in now
        assert now["SKU-1"] == held["SKU-1"]
        with engine.db.session() as session:
            links = {link.sku: link.status for link in session.exec(select(ProductLink))
                     if link.sku}
        assert links == dict.fromkeys(["SKU-1", "SKU-2", "SKU-S", "SKU-M", "SKU-NEW"],
                                      "synced")
        # Linked now: the next run writes nothing.
        sims.myogo.reset_counts()
        counts = await run(engine, "products")
        assert counts["written"] == 0 and counts["unchanged"] == 5


async def test_product_state_is_written_per_page_not_per_item(
    sims: Sims, tmp_path: Path
) -> None:
    """The state DB sees a transaction per page (bulk upsert of the links), not per product."""
    from sqlalchemy import event

    codes = [f"B-{i:02d}" for i in range(45)]           # pages of 20, 20, 5
    for code in codes:
        sims.woo.add_product(f"Item {code}", code)
    async with _engine(sims, tmp_path) as engine:
        commits = Counter[str]()
        event.listen(engine.db.engine, "commit", lambda _conn: commits.update(["commit"]))
        counts = await run(engine, "products")
        assert counts["written"] == len(codes)
        assert commits["commit"] <= 3 * 2 + 4     # per page: flush(+cursor); run bookkeeping
        with engine.db.session() as session:
            assert {link.sku for link in session.exec(select(ProductLink))
                    if link.status == "synced"} == set(codes)
