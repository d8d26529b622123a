"""Fault soak: 30 % of the requests to both sides fail, then everything converges.

While faults are on, the shopper places paid orders, the merchant edits products, the
warehouse changes stock and ships orders, and the four flows run side by side (as the
daemon's scheduler runs them). The faults are a seeded mix of 5xx answers, 429 with
Retry-After, dropped connections, writes that are stored but never answered, and latency
spikes of 1-5 s. Then the faults stop; a few more cycles must bring both sides in step
with nothing duplicated and nothing missing: orders, products, stock and tracking.

The engine runs in-process (``Engine``, as in ``test_flows.py``) against the simulators
over real HTTP: the flow cycles are explicit, so the run is repeatable and fast (no
process start, no scheduler timing), and each failed run's error can be checked to be a
classified transient one. Crash-safety of the real process is the crash harness's job
(``test_crash.py``, ``bench/crash_harness.py``); ``bench/fault_soak.py`` runs this soak
longer against the real daemon process.

The WooCommerce simulator only has a list of status codes to answer with, so its faults
come from ``WooFaults``, an ASGI middleware around the simulator's app.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syncd.config import load_config
from syncd.engine import Engine
from syncd.jobs.base import FLOWS, FlowResult
from syncd.state.db import StateDB
from syncd.state.ops import failures
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.myogo_sim.errors import SimulatedDrop
from syncd.testing.myogo_sim.faults import Fault, FaultSet
from syncd.testing.server import serve_in_thread
from syncd.testing.woo_sim import WooStore, create_app
from tests.conftest import Sims, config_text

SEED = 20261124
FAULT_RATE = 0.30
#: fault kind -> share of the faulted requests
FAULT_MIX = {"error": 0.25, "rate_limit": 0.2, "drop": 0.2, "commit_timeout": 0.15,
             "latency": 0.2}
MYOGO_TIMEOUT = 3.0            # seconds; latency spikes above it become read timeouts
PERSON = {"first_name": "Sanna", "last_name": "Soak", "address_1": "Vikatie 3",
          "city": "Espoo", "postcode": "02100", "country": "FI"}

Json = dict[str, Any]


# ------------------------------------------------------------------ fault injection


class CountingFaultSet(FaultSet):
    """The myOGO simulator's fault set, counting the faults that fired, by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.fired: Counter[str] = Counter()

    def take(self, method: str, path: str) -> Fault | None:
        fault = super().take(method, path)
        if fault is not None:
            self.fired[fault.kind] += 1
        return fault


def chained_rates(rate: float, mix: dict[str, float]) -> list[tuple[str, float]]:
    """Per-fault rates for a first-match-wins chain so that ``rate`` of all requests fail,
    split as ``mix`` says (each later fault only sees the requests the earlier ones left)."""
    out = []
    taken = 0.0
    for kind, share in mix.items():
        out.append((kind, rate * share / (1.0 - taken)))
        taken += rate * share
    return out


def inject_myogo_faults(sim: MyogoSim, rate: float, seed: int, timeout: float) -> None:
    """The fault mix on every myOGO request (token requests included)."""
    faults = CountingFaultSet()
    sim.faults = faults
    rng = random.Random(seed)
    # one sure hit of each kind first, so a short soak sees every kind whatever the timing
    sim.add_fault("rate_limit", method="GET", path="/orders", retry_after=1, count=1)
    sim.add_fault("commit_timeout", method="POST", path="/orders$", seconds=timeout + 1, count=1)
    sim.add_fault("drop", method="GET", path="/stock", count=1)
    sim.add_fault("latency", method="GET", path="/products", seconds=2, count=1)
    sim.add_fault("error", method="GET", path="/orders", status=503, count=1)
    for kind, kind_rate in chained_rates(rate, FAULT_MIX):
        if kind == "error":
            for status in (500, 502, 503):
                sim.add_fault("error", status=status, rate=kind_rate / 3, seed=rng.random())
        elif kind == "rate_limit":
            sim.add_fault("rate_limit", retry_after=1, rate=kind_rate, seed=rng.random())
        elif kind == "commit_timeout":
            sim.add_fault("commit_timeout", seconds=timeout + 1, rate=kind_rate,
                          seed=rng.random())
        elif kind == "latency":
            for seconds in (1, 2, 3, 4, 5):
                sim.add_fault("latency", seconds=seconds, rate=kind_rate / 5,
                              seed=rng.random())
        else:
            sim.add_fault(kind, rate=kind_rate, seed=rng.random())


class WooFaults:
    """ASGI middleware: the same fault mix in front of the WooCommerce simulator.

    ``commit_timeout`` lets the simulator apply the request, then holds the connection for
    ``hold`` seconds and closes it without an answer (above the store client's 30 s timeout
    that is a real timeout; below, a drop after the write).
    """

    def __init__(self, app: Any, *, rate: float, seed: int, hold: float = 1.0) -> None:
        self.app = app
        self.rate = rate
        self.hold = hold
        self.enabled = True
        self.rng = random.Random(seed)
        self.fired: Counter[str] = Counter()
        self.requests = 0
        self.kinds = list(FAULT_MIX)
        self.weights = list(FAULT_MIX.values())

    def pick(self) -> str | None:
        if not self.enabled:
            return None
        self.requests += 1                  # requests while faults are on
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choices(self.kinds, self.weights)[0]
        self.fired[kind] += 1
        return kind

    async def __call__(self, scope: Json, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = self.pick()
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "latency":
            await asyncio.sleep(self.rng.uniform(1.0, 5.0))
            await self.app(scope, receive, send)
        elif kind == "error":
            status = self.rng.choice((500, 502, 503))
            await _answer(send, status, b'{"code":"internal_server_error","message":"x"}')
        elif kind == "rate_limit":
            await _answer(send, 429, b'{"code":"too_many_requests","message":"slow down"}',
                          [(b"retry-after", b"1")])
        elif kind == "drop":
            await _drop(send)
        else:  # commit_timeout
            async def swallow(message: Json) -> None:
                return None

            await self.app(scope, receive, swallow)
            await asyncio.sleep(self.hold)
            await _drop(send)


async def _answer(send: Any, status: int, body: bytes,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Any) -> None:
    """Close without answering (the myOGO simulator's trick: an unsendable status line)."""
    try:
        await send({"type": "http.response.start", "status": 99, "headers": []})
    except Exception:
        pass
    raise SimulatedDrop()


# ------------------------------------------------------------------ the world


@dataclass
class World:
    """Ground truth of what the shop, the merchant and the warehouse did."""

    rng: random.Random
    skus: list[str] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    shipped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    edits: int = 0
    stock_changes: int = 0


def seed_shop(woo: WooStore, myogo: MyogoSim, world: World, products: int) -> None:
    """Simple products plus one variable product; myOGO starts with stock for each."""
    for i in range(products):
        sku = f"S-{i}"
        woo.add_product(f"Soak item {i}", sku, price=f"{10 + i}.50", stock=0)
        world.skus.append(sku)
    parent = woo.add_product("Soak shirt", None, type="variable")
    for size in ("S", "M", "L"):
        woo.add_variation(parent, f"SHIRT-{size}", option=size, price="25.00", stock=0)
        world.skus.append(f"SHIRT-{size}")


def stock_all(myogo: MyogoSim, world: World) -> None:
    """Give every SKU that reached myOGO some stock (so orders become NEW, not pending)."""
    known = {p["code"] for p in myogo.products}
    for sku in world.skus:
        if sku in known and not myogo.stock.get(sku, {}).get("stock"):
            myogo.set_stock(sku, 1000 + world.rng.randint(0, 50))


def shopper(woo: WooStore, world: World, count: int) -> None:
    for _ in range(count):
        lines = [(sku, world.rng.randint(1, 2)) for sku in world.rng.sample(world.skus, 2)]
        world.orders.append(woo.add_order(lines, status="processing",
                                          billing={**PERSON, "email": "s@example.com"},
                                          shipping=PERSON))


def merchant(woo: WooStore, world: World) -> None:
    """Rename or re-price one product (the store dominates product data)."""
    record = woo.find_sku(world.rng.choice(world.skus))
    if record is None:
        return
    world.edits += 1
    if world.rng.random() < 0.5:
        # a variation has no name of its own (WooCommerce names it by its values): rename
        # its parent, as a merchant would
        target = record["parent_id"] or record["id"]
        name = woo.title(woo.products[target])
        woo.update_item(target, {"name": f"{name.split(' v')[0]} v{world.edits}"})
    else:
        woo.update_item(record["id"], {"regular_price": f"{world.rng.randint(5, 99)}.00"})


def warehouse(myogo: MyogoSim, world: World, ship: int, restock: int) -> None:
    """Change some stock levels and ship some NEW orders (a third in two parcels)."""
    known = myogo.stock
    for sku in world.rng.sample(world.skus, min(restock, len(world.skus))):
        if sku in known:
            myogo.set_stock(sku, world.rng.randint(900, 1100))
            world.stock_changes += 1
    waiting = sorted(o["reference"] for o in myogo.orders
                     if o["status"] == "new" and o["reference"] not in world.shipped)
    for reference in world.rng.sample(waiting, min(ship, len(waiting))):
        numbers = (f"JJ{reference}",) + ((f"JX{reference}",) if world.rng.random() < 0.33
                                         else ())
        myogo.collect(reference)
        myogo.ship(reference, ",".join(numbers), f"https://track.example/{reference}")
        world.shipped[reference] = numbers


# ------------------------------------------------------------------ measuring


def measure(sims: Sims, world: World) -> Counter[str]:
    """Duplicates and missing items per kind; all zero means the sides agree."""
    bad: Counter[str] = Counter()
    copies = Counter(o["reference"] for o in sims.myogo.orders)
    for order_id in world.orders:
        n = copies.get(f"WC-{order_id}", 0)
        bad["missing orders"] += n == 0
        bad["duplicate orders"] += n > 1
    products = Counter(p["code"] for p in sims.myogo.products)
    by_code = {p["code"]: p for p in sims.myogo.products}
    stock = sims.myogo.stock
    for sku in world.skus:
        bad["missing products"] += products[sku] == 0
        bad["duplicate products"] += products[sku] > 1
        record = sims.woo.find_sku(sku)
        mine = by_code.get(sku)
        if record is not None and mine is not None:
            stale = mine["name"] != sims.woo.title(record) or \
                Decimal(str(mine.get("salesPrice"))) != Decimal(record["price"])
            bad["stale products"] += stale
        if record is not None and sku in stock:
            bad["wrong stock"] += sims.woo.stock_of(sku) != stock[sku]["stockAvailable"]
    for reference, numbers in world.shipped.items():
        order_id = int(reference.removeprefix("WC-"))
        listed = Counter(t["tracking_number"] for t in sims.woo.trackings(order_id))
        bad["duplicate tracking"] += any(n > 1 for n in listed.values())
        bad["missing tracking"] += set(listed) != set(numbers)
        bad["not completed"] += sims.woo.order(order_id)["status"] != "completed"
        mails = sum(1 for m in sims.woo.customer_emails(order_id)
                    if any(n in m.body for n in numbers))
        bad["missing notifications"] += mails == 0
        bad["duplicate notifications"] += mails > 1
    return +bad


#: an error message that is a bare exception (``describe`` in syncd/jobs/base.py) instead
#: of a classified ConfigError/DataError/TransientError message
UNCLASSIFIED = re.compile(r"^[A-Za-z_.]*(Error|Exception|Timeout|Drop|Disconnect)\b[^ ]*: ")


# ------------------------------------------------------------------ the test


@pytest.fixture
def soak_sims() -> Iterator[tuple[Sims, WooFaults]]:
    myogo = MyogoSim()
    woo = WooStore()
    woo_faults = WooFaults(create_app(woo), rate=FAULT_RATE, seed=SEED)
    woo_faults.enabled = False
    with serve_in_thread(myogo.app) as m, serve_in_thread(woo_faults) as w:
        yield Sims(myogo, m.url, woo, w.url), woo_faults
    myogo.close()


async def cycle(engine: Engine) -> list[FlowResult]:
    """One cycle: the four flows side by side, as the scheduler would run them."""
    return list(await asyncio.gather(*(engine.run_flow("woo", f) for f in FLOWS)))


async def test_thirty_percent_faults_then_everything_converges(
    soak_sims: tuple[Sims, WooFaults], tmp_path: Path
) -> None:
    sims, woo_faults = soak_sims
    world = World(random.Random(SEED))
    seed_shop(sims.woo, sims.myogo, world, products=24)
    config = tmp_path / "config.toml"
    config.write_text(config_text(sims, tmp_path / "state.sqlite", timeout=MYOGO_TIMEOUT))
    cfg = load_config(config)
    db = StateDB.from_settings(cfg.daemon)
    db.migrate()
    async with Engine(cfg, db) as engine:
        await cycle(engine)                      # a clean start: products reach myOGO
        stock_all(sims.myogo, world)
        inject_myogo_faults(sims.myogo, FAULT_RATE, SEED, MYOGO_TIMEOUT)
        woo_faults.enabled = True
        before = sum(sims.myogo.request_counts().values())
        failed: list[str] = []
        started = time.monotonic()
        for _ in range(10):                      # bounded: 10 cycles or ~40 s of faults
            shopper(sims.woo, world, world.rng.randint(1, 4))
            merchant(sims.woo, world)
            warehouse(sims.myogo, world, ship=world.rng.randint(0, 3), restock=2)
            failed += [f"{r.flow}: {r.error}" for r in await cycle(engine) if not r.ok]
            if time.monotonic() - started > 40:
                break
        fired_myogo = sum(sims.myogo.faults.fired.values())  # type: ignore[attr-defined]
        during = sum(sims.myogo.request_counts().values()) - before
        myogo_kinds = set(sims.myogo.faults.fired)  # type: ignore[attr-defined]
        sims.myogo.clear_faults()
        woo_faults.enabled = False
        bad = measure(sims, world)
        for _ in range(12):                      # faults over: converge
            warehouse(sims.myogo, world, ship=len(world.orders), restock=0)
            results = await cycle(engine)
            bad = measure(sims, world)
            if not bad and all(r.ok for r in results) and \
                    len(world.shipped) == len(world.orders):
                break
        with db.session() as session:
            parked = [(f.flow, f.key, f.reason) for f in failures(session, "woo")]
    myogo_requests = sum(sims.myogo.request_counts().values())
    print(f"fault soak: orders={len(world.orders)} shipped={len(world.shipped)} "
          f"edits={world.edits} stock_changes={world.stock_changes} failed_runs={len(failed)} "
          f"myogo_faults={dict(sims.myogo.faults.fired)} woo_faults={dict(woo_faults.fired)} "
          f"woo_requests_while_faulty={woo_faults.requests} myogo_requests={myogo_requests} "
          f"myogo_requests_while_faulty={during} bad={dict(bad)}")
    assert bad == Counter(), bad
    assert len(world.shipped) == len(world.orders) > 10
    assert parked == []                  # a transient fault never parks an item as bad data
    assert [e for e in failed if UNCLASSIFIED.match(e.split(": ", 1)[1])] == []
    # the soak really was one: both sides failed often and in every way
    assert failed
    assert myogo_kinds == set(FAULT_MIX) and set(woo_faults.fired) == set(FAULT_MIX)
    assert fired_myogo >= 20 and sum(woo_faults.fired.values()) >= 20
