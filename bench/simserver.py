"""One simulator in its own process, for the benchmarks (``SimProcess`` in ``bench/_common.py``).

    python bench/simserver.py myogo [--latency 0.02] [--clock-behind-minutes 30]
    python bench/simserver.py woo --products 10000 [--orders 1000] [--behind-minutes 30]
    python bench/simserver.py shopify --products 10000 [--unmetered]

Serving the simulators from a separate process keeps their CPU (uvicorn, JSON, the sims'
own O(N) scans) and their memory out of the daemon process being measured: the machine
has 2 cores, so the engine gets one and the simulator the other. The process prints one
JSON line ``{"url": ...}`` when it is ready and serves until it is terminated.

The WooCommerce simulator and the Shopify fake have no HTTP control API, so a small ASGI
wrapper adds ``/_bench/*`` routes (request counts, stock totals) in front of them. The
myOGO simulator has its own ``/_sim`` control API (faults, request counts, reset).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from syncd.testing.server import free_port  # noqa: E402

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Control = Callable[[str, dict[str, Any]], Any]

PERSON = {"first_name": "Maija", "last_name": "Meikäläinen", "address_1": "Testikatu 1",
          "city": "Helsinki", "postcode": "00100", "country": "FI", "phone": "+358401234567"}
#: products per distinct ``date_modified`` second in the seeded WooCommerce catalogue (fewer
#: than a page, so keyset paging re-reads at most this many rows per page)
PER_SECOND = 10


async def _json(send: Send, payload: Any, status: int = 200) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def with_control(app: App, control: Control) -> App:
    """``app`` plus ``/_bench/<name>`` routes answered by ``control(name, query)``."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_bench/"):
            query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&")
                         if "=" in p)
            try:
                result = control(scope["path"].removeprefix("/_bench/"), query)
            except KeyError as exc:
                await _json(send, {"error": f"unknown control {exc}"}, 404)
                return
            await _json(send, result)
            return
        await app(scope, receive, send)

    return wrapped


# -- myOGO ---------------------------------------------------------------------------------

def myogo_app(args: argparse.Namespace) -> App:
    from syncd.testing.myogo_sim import MyogoSim
    from syncd.testing.myogo_sim.clock import SimClock

    clock = None
    if args.clock_behind_minutes:
        # Frozen 30 minutes back: every change the sim stamps is older than the daemon's
        # 2-minute cursor look-back, which is what a quiet half hour looks like.
        clock = SimClock(start=datetime.now(UTC) - timedelta(minutes=args.clock_behind_minutes))
    sim = MyogoSim(clock=clock)
    if args.latency:
        sim.add_fault("latency", rate=1.0, seconds=args.latency)
    return sim.app  # type: ignore[no-any-return]


# -- WooCommerce ---------------------------------------------------------------------------

def woo_app(args: argparse.Namespace) -> App:
    from syncd.testing.woo_sim import WooStore, create_app

    store = WooStore()
    # The sim checks SKU uniqueness with a scan of the whole catalogue on every add (O(N^2)
    # to seed); the seeded SKUs are unique by construction, so skip it for seeding only.
    store._sku_taken = lambda sku: False  # type: ignore[method-assign]
    # Spread the catalogue over distinct seconds (PER_SECOND products each), ending
    # ``behind_minutes`` before now, like a catalogue edited over time.
    spread = timedelta(seconds=args.products // PER_SECOND + 1)
    store.advance(-timedelta(minutes=args.behind_minutes) - spread)
    for i in range(args.products):
        if i and i % PER_SECOND == 0:
            store.advance(timedelta(seconds=1))
        store.add_product(f"Product {i}", f"SKU-{i:06d}", price=f"{10 + i % 90}.50",
                          stock=1, description=f"Benchmark product number {i}.")
    store.clock_offset = -timedelta(minutes=args.behind_minutes)
    skus = [f"SKU-{i:06d}" for i in range(min(args.products, 50))]
    for i in range(args.orders):
        store.add_order([(skus[i % len(skus)], 1 + i % 3)], status="processing",
                        billing={**PERSON, "email": "maija@example.com"}, shipping=PERSON)

    def control(name: str, query: dict[str, str]) -> Any:
        with store.lock:
            if name == "requests":
                return dict(store.requests)
            if name == "clear":
                store.requests.clear()
                store.request_log.clear()
                return {}
            if name == "stock_total":
                return {"total": sum(int(r["stock_quantity"] or 0)
                                     for r in store.products.values()),
                        "managed": sum(1 for r in store.products.values()
                                       if r["manage_stock"])}
        raise KeyError(name)

    return with_control(create_app(store), control)


# -- Shopify -------------------------------------------------------------------------------

def shopify_app(args: argparse.Namespace) -> App:
    from syncd.testing.shopify_fake.app import ShopifyFake

    # Unmetered = a bucket that never empties, to measure the connector rather than the
    # cost budget (the budget is computed from the reported costs instead).
    fake = ShopifyFake(bucket_size=1e12, restore_rate=1e12) if args.unmetered \
        else ShopifyFake()
    for i in range(args.products):
        fake.add_product(f"Product {i}", sku=f"SKU-{i:06d}", stock=0)
    costs = {"requested": 0.0, "actual": 0.0}

    def control(name: str, query: dict[str, str]) -> Any:
        if name == "requests":
            return {**dict(fake.calls), "_cost": dict(costs)}
        if name == "clear":
            fake.calls.clear()
            fake.requests.clear()
            costs.update(requested=0.0, actual=0.0)
            return {}
        if name == "info":
            return {"location": fake.location_id, "token": fake.token}
        if name == "stock_total":
            location = fake.location_id.rsplit("/", 1)[-1]
            return {"total": sum(level["available"] for (_, loc), level
                                 in fake.state.levels.items() if str(loc) == location)}
        raise KeyError(name)

    async def metered(scope: Scope, receive: Receive, send: Send) -> None:
        """Add up ``extensions.cost`` of every answer (what Shopify's bucket would charge)."""
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    try:
                        cost = json.loads(b"".join(chunks)).get("extensions", {}).get("cost", {})
                    except (ValueError, AttributeError):
                        cost = {}
                    costs["requested"] += float(cost.get("requestedQueryCost") or 0)
                    costs["actual"] += float(cost.get("actualQueryCost") or 0)
            await send(message)

        await fake.app(scope, receive, capture)

    return with_control(metered, control)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("myogo", "woo", "shopify"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="myOGO: seconds added to every API request")
    parser.add_argument("--clock-behind-minutes", type=float, default=0.0,
                        help="myOGO: freeze the sim clock this far in the past")
    parser.add_argument("--products", type=int, default=0)
    parser.add_argument("--orders", type=int, default=0, help="woo: paid orders to seed")
    parser.add_argument("--behind-minutes", type=float, default=30.0,
                        help="woo: the shop clock runs this far behind")
    parser.add_argument("--unmetered", action="store_true",
                        help="shopify: a cost bucket that never empties")
    args = parser.parse_args()
    app = {"myogo": myogo_app, "woo": woo_app, "shopify": shopify_app}[args.kind](args)
    port = args.port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", access_log=False, http="h11",
                            backlog=4096, limit_concurrency=None)
    server = uvicorn.Server(config)
    print(json.dumps({"url": f"http://127.0.0.1:{port}", "kind": args.kind}), flush=True)
    server.run()


if __name__ == "__main__":
    main()
