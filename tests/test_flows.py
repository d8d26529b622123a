"""The four flows end to end: the real WooCommerce connector against the WooCommerce
simulator, the real myOGO client against the myOGO simulator, a real SQLite state DB."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlmodel import select

from syncd.engine import Engine
from syncd.myogo import ProductRequest
from syncd.state.ops import failures
from syncd.state.tables import Failure, OrderLink, ProductLink
from syncd.testing.woo_sim import WooStore
from tests.conftest import Sims

PERSON = {"first_name": "Maija", "last_name": "Meikäläinen", "address_1": "Testikatu 1",
          "city": "Helsinki", "postcode": "00100", "country": "FI", "phone": "+358401234567"}


def seed_catalogue(woo: WooStore) -> dict[str, int]:
    ids = {
        "SKU-1": woo.add_product("Mug", "SKU-1", price="12.50", stock=5, ean="6400000000019"),
        "SKU-2": woo.add_product("Cap", "SKU-2", price="20.00", stock=3),
    }
    shirt = woo.add_product("Shirt", None, type="variable")
    ids["SKU-S"] = woo.add_variation(shirt, "SKU-S", option="S", price="15.00", stock=2)
    ids["SKU-M"] = woo.add_variation(shirt, "SKU-M", option="M", price="15.00", stock=2)
    ids["no-sku"] = woo.add_product("Gift card", None, price="50.00")
    return ids


def place_order(woo: WooStore, lines: list[tuple[str, int]], *, paid: bool = True,
                country: str = "FI") -> int:
    person = {**PERSON, "country": country}
    return woo.add_order(lines, status="processing" if paid else "pending",
                         billing={**person, "email": "maija@example.com"}, shipping=person)


def writes(counts: dict[str, int]) -> dict[str, int]:
    """Requests that change something (token requests are not writes)."""
    return {route: n for route, n in counts.items()
            if route.split()[0] in {"POST", "PUT", "DELETE"} and "oauth" not in route.lower()}


async def run(engine: Engine, flow: str, **options: Any) -> Counter[str]:
    result = await engine.run_flow("woo", flow, **options)
    assert result.ok, result.error
    return result.counts


async def test_products_reach_myogo_and_bad_ones_are_parked(
    sims: Sims, engine: Engine, db: Any
) -> None:
    ids = seed_catalogue(sims.woo)
    counts = await run(engine, "products")
    codes = {p["code"]: p for p in sims.myogo.products}
    assert set(codes) == {"SKU-1", "SKU-2", "SKU-S", "SKU-M"}
    assert codes["SKU-1"]["name"] == "Mug"
    assert codes["SKU-1"]["salesPrice"] == 12.5
    assert codes["SKU-1"]["eanCode"] == "6400000000019"
    assert counts["written"] == 4 and counts["failed"] == 1
    with db.session() as session:
        parked = failures(session, "woo")
        assert [(f.flow, f.key) for f in parked] == [("products", str(ids["no-sku"]))]
        assert "SKU is missing" in parked[0].reason
        assert len(list(session.exec(select(ProductLink).where(
            ProductLink.status == "synced")))) == 4

    # Nothing changed: nothing is written, the parked item is not retried.
    sims.myogo.reset_counts()
    counts = await run(engine, "products")
    assert counts["written"] == 0 and counts["failed"] == 0
    assert writes(sims.myogo.request_counts()) == {}

    # The merchant fixes the product: it is sent and the failure is gone.
    sims.woo.update_item(ids["no-sku"], {"sku": "GIFT-50"})
    counts = await run(engine, "products")
    assert counts["written"] == 1
    assert any(p["code"] == "GIFT-50" for p in sims.myogo.products)
    with db.session() as session:
        assert failures(session, "woo") == []


async def test_product_edited_in_myogo_is_put_back_from_the_store(
    sims: Sims, engine: Engine
) -> None:
    seed_catalogue(sims.woo)
    await run(engine, "products")
    # Someone renames the product in myOGO (store-dominant data).
    await engine.myogo.update_product(
        "SKU-1", ProductRequest(code="SKU-1", name="Renamed", language_code="fi"))
    assert {p["code"]: p["name"] for p in sims.myogo.products}["SKU-1"] == "Renamed"
    counts = await run(engine, "products")
    assert counts["restored"] == 1
    assert {p["code"]: p["name"] for p in sims.myogo.products}["SKU-1"] == "Mug"
    # Our own write comes back in myOGO's feed and must not be written again.
    counts = await run(engine, "products")
    assert counts["restored"] == 0


async def test_paid_orders_are_sent_once_and_bad_ones_parked(
    sims: Sims, engine: Engine, db: Any
) -> None:
    seed_catalogue(sims.woo)
    await run(engine, "products")
    good = place_order(sims.woo, [("SKU-1", 2), ("SKU-S", 1)])
    unpaid = place_order(sims.woo, [("SKU-2", 1)], paid=False)
    bad = place_order(sims.woo, [("SKU-2", 1)], country="XX")
    counts = await run(engine, "orders")
    assert counts["sent"] == 1 and counts["failed"] == 1
    [order] = sims.myogo.orders_by_reference(f"WC-{good}")
    assert order["customer"]["name"] == "Maija Meikäläinen"
    assert order["customer"]["countryCode"] == "FI"
    assert order["shippingCode"] == "POSTI"
    assert sorted((line["code"], line["quantity"]) for line in order["orderLines"]) == [
        ("SKU-1", 2), ("SKU-S", 1)]
    assert sims.myogo.orders_by_reference(f"WC-{unpaid}") == []
    assert sims.myogo.orders_by_reference(f"WC-{bad}") == []
    with db.session() as session:
        [failure] = [f for f in failures(session, "woo") if f.flow == "orders"]
        assert failure.key == str(bad) and "'XX' is not an ISO" in failure.reason

    # Again: nothing new is sent.
    sims.myogo.reset_counts()
    counts = await run(engine, "orders")
    assert counts["sent"] == 0
    assert writes(sims.myogo.request_counts()) == {}

    # Paying the pending order and fixing the bad one sends both, once.
    sims.woo.pay(unpaid)
    sims.woo.update_order(bad, {"shipping": {**PERSON, "country": "SE"}})
    counts = await run(engine, "orders")
    assert counts["sent"] == 2
    for store_id in (good, unpaid, bad):
        assert len(sims.myogo.orders_by_reference(f"WC-{store_id}")) == 1
    with db.session() as session:
        assert [f for f in failures(session, "woo") if f.flow == "orders"] == []
        statuses = Counter(link.status for link in session.exec(select(OrderLink)))
        assert statuses == Counter({"sent": 3})


async def test_order_post_that_times_out_after_commit_is_adopted_not_duplicated(
    sims: Sims, engine: Engine, db: Any
) -> None:
    seed_catalogue(sims.woo)
    await run(engine, "products")
    first = place_order(sims.woo, [("SKU-1", 1)])
    second = place_order(sims.woo, [("SKU-2", 1)])
    # myOGO stores the order, then the answer never arrives (client timeout 5 s).
    sims.myogo.add_fault("commit_timeout", method="POST", path="/orders", count=2, seconds=30)
    counts = await run(engine, "orders")
    assert counts["adopted"] == 2 and counts["sent"] == 0
    for store_id in (first, second):
        assert len(sims.myogo.orders_by_reference(f"WC-{store_id}")) == 1
    await run(engine, "orders")
    for store_id in (first, second):
        assert len(sims.myogo.orders_by_reference(f"WC-{store_id}")) == 1
    with db.session() as session:
        assert {link.status for link in session.exec(select(OrderLink))} == {"sent"}


async def test_cancelled_store_orders_are_cancelled_in_myogo_while_allowed(
    sims: Sims, engine: Engine, db: Any
) -> None:
    seed_catalogue(sims.woo)
    await run(engine, "products")
    new = place_order(sims.woo, [("SKU-1", 1)])
    collecting = place_order(sims.woo, [("SKU-2", 1)])
    never_sent = place_order(sims.woo, [("SKU-2", 1)], paid=False)
    sims.myogo.set_stock("SKU-2", 10)  # in stock, so myOGO takes the order as new
    await run(engine, "orders")
    sims.myogo.collect(f"WC-{collecting}")
    for store_id in (new, collecting, never_sent):
        sims.woo.cancel(store_id)
    counts = await run(engine, "orders")
    assert counts["cancelled"] == 1 and counts["cancel_refused"] == 1
    assert sims.myogo.orders_by_reference(f"WC-{new}")[0]["status"] == "cancelled"
    assert sims.myogo.orders_by_reference(f"WC-{collecting}")[0]["status"] == "collecting"
    with db.session() as session:
        [failure] = list(session.exec(select(Failure).where(Failure.flow != "products")))
        assert failure.key == str(collecting) and "a person must stop it" in failure.reason
        assert session.get(OrderLink, ("woo", str(never_sent))).status == "cancelled"
    # The cancelled, never-sent order is never sent even if it shows up paid later.
    sims.woo.set_order_status(never_sent, "processing")
    await run(engine, "orders")
    assert sims.myogo.orders_by_reference(f"WC-{never_sent}") == []


async def test_stock_flows_from_myogo_including_zero_and_overrides_store_edits(
    sims: Sims, engine: Engine
) -> None:
    seed_catalogue(sims.woo)
    await run(engine, "products")
    sims.myogo.set_stock("SKU-1", 42)
    sims.myogo.set_stock("SKU-2", 0)
    sims.myogo.set_stock("SKU-S", 7)
    sims.myogo.set_stock("SKU-M", 1)
    await run(engine, "stock")
    assert [sims.woo.stock_of(s) for s in ("SKU-1", "SKU-2", "SKU-S", "SKU-M")] == [42, 0, 7, 1]
    # Incremental: only the changed level is written.
    sims.myogo.set_stock("SKU-M", 0)
    sims.woo.requests.clear()
    counts = await run(engine, "stock")
    assert counts["written"] == 1 and sims.woo.stock_of("SKU-M") == 0
    # Someone edits stock in the store; myOGO dominates on the full reconcile.
    sims.woo.update_item(sims.woo.find_sku("SKU-1")["id"], {"stock_quantity": 999})
    await run(engine, "stock", full=True)
    assert sims.woo.stock_of("SKU-1") == 42


async def test_stock_feed_zeroing_most_skus_is_refused_until_forced(
    sims: Sims, engine: Engine
) -> None:
    for i in range(30):
        sims.woo.add_product(f"P{i}", f"Z-{i}", stock=0)
    await run(engine, "products")
    for i in range(30):
        sims.myogo.set_stock(f"Z-{i}", 5)
    await run(engine, "stock")
    for i in range(30):
        sims.myogo.set_stock(f"Z-{i}", 0)
    result = await engine.run_flow("woo", "stock")
    assert not result.ok and "would set 30 of 30 in-stock SKUs to 0" in (result.error or "")
    assert sims.woo.stock_of("Z-0") == 5
    await run(engine, "stock", force=True)
    assert sims.woo.stock_of("Z-0") == 0


async def test_tracking_goes_back_to_the_store_once(sims: Sims, engine: Engine, db: Any) -> None:
    seed_catalogue(sims.woo)
    await run(engine, "products")
    order_id = place_order(sims.woo, [("SKU-1", 1)])
    other = place_order(sims.woo, [("SKU-2", 1)])
    sims.myogo.set_stock("SKU-1", 10)
    await run(engine, "orders")
    await run(engine, "tracking")  # sets the tracking cursor
    sims.myogo.collect(f"WC-{order_id}")
    sims.myogo.ship(f"WC-{order_id}", "JJFI1,JJFI2", "https://track.example/JJFI1")
    counts = await run(engine, "tracking")
    assert counts["shipped"] == 1
    assert sims.woo.order(order_id)["status"] == "completed"
    assert sorted(t["tracking_number"] for t in sims.woo.trackings(order_id)) == [
        "JJFI1", "JJFI2"]
    assert sims.woo.order(other)["status"] == "processing"
    sims.woo.requests.clear()
    counts = await run(engine, "tracking")
    assert counts["shipped"] == 0
    assert writes(dict(sims.woo.requests)) == {}
    with db.session() as session:
        link = session.get(OrderLink, ("woo", str(order_id)))
        assert link.status == "fulfilled" and link.tracking_number == "JJFI1,JJFI2"


async def test_dry_run_writes_nothing_anywhere(sims: Sims, engine: Engine, db: Any) -> None:
    seed_catalogue(sims.woo)
    for flow in ("products", "orders", "stock", "tracking"):
        result = await engine.run_flow("woo", flow, dry_run=True)
        assert result.ok, result.error
    assert writes(sims.myogo.request_counts()) == {}
    assert writes(dict(sims.woo.requests)) == {}
    assert sims.myogo.products == []
    with db.session() as session:
        assert list(session.exec(select(ProductLink))) == []
        assert list(session.exec(select(Failure))) == []
    result = await engine.run_flow("woo", "products", dry_run=True)
    assert any("write SKU-1 (Mug)" in line for line in result.plan)


async def test_no_change_cycle_is_cheap_and_writes_nothing(sims: Sims, engine: Engine) -> None:
    # Steady state: every store change (including the daemon's own stock writes) is older
    # than the cursors' 2-minute look-back. The store's clock runs 30 minutes behind ours,
    # which is what 30 quiet minutes look like from the daemon's side.
    sims.woo.advance(timedelta(minutes=-30))
    seed_catalogue(sims.woo)
    for i in range(60):  # more than one page of everything (page_size 20)
        sims.woo.add_product(f"Extra {i}", f"X-{i}", stock=1)
    await run(engine, "products")
    for _ in range(25):
        place_order(sims.woo, [("SKU-1", 1)])
    sims.woo.update_item(sims.woo.find_sku("SKU-2")["id"], {"name": "Cap v2"})
    place_order(sims.woo, [("SKU-2", 1)])
    for _settle in range(2):  # the first stock push bumps the products' modified times once
        for flow in ("products", "orders", "stock", "tracking"):
            # The products are new in myOGO (stock 0): the first stock run zeroes a live
            # shop only when forced (tests/test_golive.py).
            await run(engine, flow, force=True)
    sims.myogo.reset_counts()
    sims.woo.requests.clear()
    per_flow: dict[str, int] = {}
    for flow in ("products", "orders", "stock", "tracking"):
        before = sum(sims.myogo.request_counts().values()) + sum(sims.woo.requests.values())
        counts = await run(engine, flow)
        after = sum(sims.myogo.request_counts().values()) + sum(sims.woo.requests.values())
        per_flow[flow] = after - before
        assert counts["written"] + counts["sent"] + counts["shipped"] == 0
    assert writes(sims.myogo.request_counts()) == {}
    assert writes(dict(sims.woo.requests)) == {}
    assert all(n <= 4 for n in per_flow.values()), per_flow


async def test_entity_encoded_store_names_arrive_as_text(sims: Sims, engine: Engine) -> None:
    sims.woo.add_product("Salt &amp; Pepper &#8211; set", "SP-1")
    await run(engine, "products")
    assert [p["name"] for p in sims.myogo.products] == ["Salt & Pepper \u2013 set"]
