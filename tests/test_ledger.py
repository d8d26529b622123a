"""The ledger (typed statuses and their transitions) and the flow registry.

Transitions run against a real SQLite state file; the structure tests read the source, so a
flow writing a raw status string again, or state/ importing jobs/, fails here.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from syncd import flows
from syncd.config import ScheduleSettings
from syncd.state import ledger
from syncd.state.db import StateDB
from syncd.state.ledger import Kind, OrderStatus, ProductStatus
from syncd.state.tables import Failure, OrderLink, ProductLink

ROOT = Path(__file__).resolve().parents[1] / "syncd"
STATUS_VALUES = {s.value for s in OrderStatus} | {s.value for s in ProductStatus}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    state = StateDB(f"sqlite:///{tmp_path}/state.sqlite")
    state.migrate()
    yield state
    state.dispose()


def _failures(db: StateDB) -> set[tuple[str, str]]:
    with db.session() as session:
        return {(f.flow, f.key) for f in session.exec(select(Failure))}


def test_an_order_goes_sending_sent_fulfilling_fulfilled(db: StateDB) -> None:
    with db.session() as s:
        ledger.park(s, "shop", Kind.ORDERS, "7", "refused", "h0", link=OrderLink)
        ledger.begin_send(s, "shop", "7", "WEB-7", {"reference": "WEB-7"}, "h1")
        s.commit()
        assert [link.store_order_id for link in ledger.pending(s, "shop", OrderStatus.SENDING)] \
            == ["7"]
        ledger.count_attempt(s, "shop", "7")
        ledger.mark_sent(s, "shop", "7", "m-1")
        s.commit()
        assert ledger.pending(s, "shop", OrderStatus.SENDING) == []
    assert _failures(db) == set()          # sent clears the parked send
    with db.session() as s:
        assert ledger.begin_fulfil(s, "shop", "7", ["B"]) == ("B",)
        s.commit()
        assert len(ledger.pending(s, "shop", OrderStatus.FULFILLING)) == 1
        ledger.mark_fulfilled(s, "shop", "7")
        s.commit()
        # a second shipment adds to the numbers the store has
        assert ledger.begin_fulfil(s, "shop", "7", ["A"]) == ("A", "B")
        ledger.fulfil_refused(s, "shop", "7", "store refused", "bad", ["A", "B"])
        s.commit()
        link = s.get(OrderLink, ("shop", "7"))
        assert link is not None
        assert (link.status, link.myogo_id, link.attempts, link.payload) == (
            "sent", "m-1", 1, '{"reference": "WEB-7"}')
        assert ledger.begin_fulfil(s, "shop", "missing", ["A"]) is None
    assert _failures(db) == {("tracking", "7")}


def test_park_keeps_an_order_myogo_has_and_cancel_clears(db: StateDB) -> None:
    with db.session() as s:
        ledger.begin_send(s, "shop", "8", "WEB-8", {}, "h")
        ledger.mark_sent(s, "shop", "8", None)
        ledger.park(s, "shop", Kind.ORDERS, "8", "late refusal", "h", link=OrderLink,
                    keep=ledger.ORDER_DONE)
        s.commit()
        link = s.get(OrderLink, ("shop", "8"))
        assert link is not None and link.status == OrderStatus.SENT
        ledger.mark_cancelled(s, "shop", "9", "WEB-9")     # never sent: remembered
        ledger.mark_cancelled(s, "shop", "8", "WEB-8")
        s.commit()
        rows = {r.store_order_id: r.status for r in s.exec(select(OrderLink))}
    assert rows == {"8": "cancelled", "9": "cancelled"}
    assert _failures(db) == set()


def test_a_product_parks_then_syncs(db: StateDB) -> None:
    with db.session() as s:
        s.add(ProductLink(store="shop", store_id="1", sku="A"))
        ledger.park(s, "shop", Kind.PRODUCTS, "1", "no price", "h", link=ProductLink)
        s.commit()
        link = s.get(ProductLink, ("shop", "1"))
        assert link is not None and (link.status, link.error) == ("failed", "no price")
        ledger.mark_synced(s, "shop", "1", "A", "h2", "m1", {"code": "A"})
        s.commit()
        s.refresh(link)
        assert (link.status, link.error, link.content_hash) == ("synced", None, "h2")
    assert _failures(db) == set()


def test_state_never_imports_jobs() -> None:
    for path in (ROOT / "state").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert not name.startswith("syncd.jobs"), f"{path.name} imports {name}"


def _raw_status_strings(tree: ast.AST) -> list[int]:
    """Lines where ``.status`` is assigned or compared to a status string literal."""
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, values = node.targets, [node.value]
        elif isinstance(node, ast.Compare):
            targets, values = [node.left], list(node.comparators)
        else:
            continue
        if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets) and any(
                isinstance(v, ast.Constant) and v.value in STATUS_VALUES for v in values):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("name", ["jobs/base.py", "jobs/orders.py", "jobs/products.py",
                                  "jobs/stock.py", "jobs/tracking.py", "retry.py",
                                  "status.py"])
def test_flows_write_no_raw_status_strings(name: str) -> None:
    assert _raw_status_strings(ast.parse((ROOT / name).read_text())) == []


def test_registry_is_the_one_list() -> None:
    assert flows.NAMES == ("products", "orders", "stock", "tracking")
    assert tuple(ScheduleSettings.model_fields) == flows.NAMES
    for flow in flows.FLOWS:
        module = importlib.import_module(f"syncd.jobs.{flow.name}")
        assert module.FLOW == flow.name and flow.runner is module.run
        assert ScheduleSettings().model_dump()[flow.name] == flow.interval
        assert flow.name in flow.failures       # its own failures are rewound by retry
    assert set(flows.REWIND) == {k.value for k in Kind}
    assert {f.intent for f in flows.FLOWS if f.intent} == ledger.INTENTS
    assert [f.name for f in flows.for_myogo_event("nonsense")] == ["stock", "tracking"]
    assert flows.for_store_event("order_cancelled") is flows.get("orders")
    with pytest.raises(KeyError, match="flows: products"):
        flows.get("nope")


def test_an_order_another_integration_sent_is_adopted(db: StateDB) -> None:
    with db.session() as s:
        ledger.park(s, "shop", Kind.ORDERS, "5", "refused", "h", link=OrderLink)
        ledger.adopt(s, "shop", "5", "5-wc_order_abc", "m-5")   # no link yet: created
        s.commit()
        link = s.get(OrderLink, ("shop", "5"))
        assert link is not None
        assert (link.status, link.reference, link.myogo_id) == ("sent", "5-wc_order_abc", "m-5")
    assert _failures(db) == set()
