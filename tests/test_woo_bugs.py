"""WooCommerce records found to break the daemon (issue 12), end to end: the WooCommerce
simulator over HTTP -> the real engine with a SQLite state DB -> the myOGO simulator."""

from __future__ import annotations

from syncd.engine import Engine
from syncd.state.db import StateDB
from syncd.state.ops import failures
from tests.conftest import Sims

PERSON = {"first_name": "Maija", "last_name": "Meikäläinen", "address_1": "Testikatu 1",
          "city": "Helsinki", "postcode": "00100", "country": "FI"}


def _paid(sims: Sims, number: str | None = None) -> int:
    return sims.woo.add_order([("MUG", 1)], billing={**PERSON, "email": "m@example.com"},
                              shipping=PERSON, number=number)


async def test_second_order_with_the_same_number_is_parked(
    sims: Sims, engine: Engine, db: StateDB
) -> None:
    sims.woo.add_product("Mug", "MUG", stock=5)
    assert (await engine.run_flow("woo", "products")).ok
    first = _paid(sims, number="1001")
    assert (await engine.run_flow("woo", "orders")).ok
    second = _paid(sims, number="1001")     # e.g. a sequential-numbers plug-in reset
    other = _paid(sims)
    for _ in range(2):
        result = await engine.run_flow("woo", "orders")
        assert result.ok, result.error
    [sent] = sims.myogo.orders_by_reference("WC-1001")
    assert sent["orderLines"] and len(sims.myogo.orders_by_reference(f"WC-{other}")) == 1
    with db.session() as session:
        rows = {f.key: f for f in failures(session, "woo")}
    assert set(rows) == {str(second)}, "the second one is parked, not marked sent"
    assert f"also store order {first}" in rows[str(second)].reason
    assert rows[str(second)].attempts == 1


async def test_ogoship_product_meta_reaches_myogo(sims: Sims, engine: Engine) -> None:
    meta = {"_nettivarasto_hscode": "691200", "_nettivarasto_countryoforigin": "fi",
            "_nettivarasto_customsdescription": "Ceramic mug",
            "_nettivarasto_supplier_name": "Acme Oy", "_nettivarasto_supplier_code": "SUP-42",
            "_nettivarasto_purchase_price": "18.50"}
    sims.woo.add_product("Mug", "MUG", meta=meta)
    parent = sims.woo.add_product("Shirt", type="variable", meta=meta)
    sims.woo.add_variation(parent, "SHIRT-S", option="S",
                           meta={"_nettivarasto_hscode": "610910"})
    sims.woo.add_product("Not for the warehouse", "SECRET",
                         meta={"_nettivarasto_no_export": "yes"})
    result = await engine.run_flow("woo", "products")
    assert result.ok, result.error
    by_code = {p["code"]: p for p in sims.myogo.products}
    assert set(by_code) == {"MUG", "SHIRT-S"}
    fields = ("hsCode", "countryOfOrigin", "customsDescription", "supplier", "supplierCode",
              "supplyPrice")
    assert [by_code["MUG"].get(f) for f in fields] == [
        "691200", "FI", "Ceramic mug", "Acme Oy", "SUP-42", 18.5]
    assert [by_code["SHIRT-S"].get(f) for f in fields] == [
        "610910", "FI", "Ceramic mug", "Acme Oy", "SUP-42", 18.5]


async def test_same_number_twice_on_one_page_sends_one(
    sims: Sims, engine: Engine, db: StateDB
) -> None:
    sims.woo.add_product("Mug", "MUG", stock=5)
    assert (await engine.run_flow("woo", "products")).ok
    twins = [_paid(sims, number="2002") for _ in range(2)]
    result = await engine.run_flow("woo", "orders")
    assert result.ok, result.error
    assert len(sims.myogo.orders_by_reference("WC-2002")) == 1
    with db.session() as session:
        parked = [f.key for f in failures(session, "woo")]
    assert len(parked) == 1 and parked[0] in {str(t) for t in twins}
