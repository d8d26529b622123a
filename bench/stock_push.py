"""Stock push of 10,000 levels through each connector's batch path, against one per request.

    .venv/bin/python bench/stock_push.py            # 10,000 levels
    .venv/bin/python bench/stock_push.py --small    # 1,000 levels (< 60 s)

The connector's ``set_stock`` is called the way the stock flow calls it (chunks of
``syncd.jobs.stock.BATCH`` levels, one after the other), in this process; the store
simulators run in their own processes. Baseline: the same levels with the connector's
``page_size`` set to 1, i.e. one level per write request. Printed per run: requests made
(from the simulator's counter), wall time, levels/s and the connector's CPU time
(``time.process_time`` of this process: the rest of the wall time is the store
simulator working or the network); every run checks that each level was
accepted and that the store's stock total is what was pushed.

- WooCommerce: ``page_size`` drives both the SKU lookup (``GET /products?sku=a,b,..``) and
  the batch write (``POST /products/batch``); so the baseline is 2 requests per level.
- Shopify: ``page_size`` drives the ``inventorySetQuantities`` batch; the SKU lookups are
  fixed at 50 SKUs per search (``SKUS_PER_LOOKUP``) whatever the page size. The fake's
  cost bucket is unmetered here (the connector is measured, not the budget); the query
  cost the fake reported is added up and turned into the time Shopify's standard budget
  (bucket 2,000 points, 100 points/s restore) would need at least.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import KEY, SECRET, SimProcess, banner, sim

from connectors.shopify import ShopifyConnector
from connectors.woocommerce import WooCommerceConnector, WooCommerceSettings
from connectors.woocommerce.connector import BATCH_LIMIT
from syncd.jobs.stock import BATCH
from syncd.model import StockLevel

#: standard plan (docs/connectors/shopify.md, limits)
SHOPIFY_BUCKET, SHOPIFY_RESTORE = 2_000.0, 100.0


def levels_for(n: int, seed: int) -> list[StockLevel]:
    rng = random.Random(seed)
    return [StockLevel(sku=f"SKU-{i:06d}", quantity=rng.randint(1, 500)) for i in range(n)]


async def push(connector: Any, levels: Sequence[StockLevel]) -> tuple[float, float, int]:
    """Push like the stock flow does; return (wall s, this process's CPU s, levels accepted)."""
    ok = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for start in range(0, len(levels), BATCH):
        results = await connector.set_stock(levels[start:start + BATCH])
        ok += sum(1 for r in results if r.ok)
    return time.perf_counter() - t0, time.process_time() - cpu0, ok


def measure(store: SimProcess, label: str, build: Callable[[httpx.AsyncClient], Any],
            levels: list[StockLevel]) -> dict[str, float]:
    store.clear_requests()

    async def go() -> tuple[float, float, int]:
        async with httpx.AsyncClient(timeout=60) as http:
            return await push(build(http), levels)

    wall, cpu, ok = asyncio.run(go())
    raw = store.control("requests")
    requests = sum(v for k, v in raw.items() if not k.startswith("_"))
    total = store.control("stock_total")["total"]
    expected = sum(level.quantity for level in levels)
    if ok != len(levels) or total != expected:
        raise SystemExit(f"{label}: {ok}/{len(levels)} accepted, store total {total} "
                         f"(expected {expected}); requests {raw}")
    cost = raw.get("_cost", {}).get("actual", 0.0)
    print(f"  {label:<44} requests {requests:6d}  wall {wall:8.2f} s  "
          f"{len(levels) / wall:6.0f} levels/s  connector CPU {cpu:6.2f} s"
          + (f"  query cost {cost:8.0f} points (>= {budget_time(cost):6.0f} s on the "
             "standard budget)" if cost else ""), flush=True)
    return {"requests": requests, "wall": wall, "cpu": cpu, "cost": cost}


def budget_time(points: float) -> float:
    return max(0.0, points - SHOPIFY_BUCKET) / SHOPIFY_RESTORE


def ratio_line(batch: dict[str, float], single: dict[str, float]) -> str:
    return (f"  -> batch vs one per request: {single['requests'] / batch['requests']:.0f}x "
            f"fewer requests, {single['wall'] / batch['wall']:.1f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke check (< 60 s)")
    parser.add_argument("--levels", type=int, default=None)
    args = parser.parse_args()
    n = args.levels or (1_000 if args.small else 10_000)
    banner(f"stock push of {n} levels through each connector")
    print(f"set_stock in chunks of {BATCH} (the stock flow's BATCH); store simulators in "
          "their own processes\n")

    print(f"WooCommerce (simulator, {n} simple products):")
    with sim("woo", "--products", str(n)) as woo:
        def woo_connector(page_size: int) -> Callable[[httpx.AsyncClient], Any]:
            settings = WooCommerceSettings(url=woo.url, consumer_key=KEY,
                                           consumer_secret=SECRET, allow_http=True,
                                           page_size=page_size)
            return lambda http: WooCommerceConnector(settings, http)

        woo_batch = measure(woo, f"batch (page_size {BATCH_LIMIT}, the default)",
                            woo_connector(BATCH_LIMIT), levels_for(n, 1))
        woo_single = measure(woo, "one per request (page_size 1)", woo_connector(1),
                             levels_for(n, 2))
    print(ratio_line(woo_batch, woo_single))

    print(f"\nShopify (fake, {n} single-variant products, cost bucket unmetered):")
    with sim("shopify", "--products", str(n), "--unmetered") as shop:
        info = shop.control("info")

        def shopify_connector(page_size: int) -> Callable[[httpx.AsyncClient], Any]:
            settings = ShopifyConnector.Settings.model_validate({
                "shop": shop.url, "access_token": info["token"],
                "location_id": info["location"], "allow_http": True, "page_size": page_size})
            return lambda http: ShopifyConnector(settings, http)

        default_size = ShopifyConnector.Settings.model_fields["page_size"].default
        shop_batch = measure(shop, f"batch (page_size {default_size}, the default)",
                             shopify_connector(default_size), levels_for(n, 3))
        shop_max = measure(shop, "batch (page_size 250, the maximum)",
                           shopify_connector(250), levels_for(n, 4))
        shop_single = measure(shop, "one per request (page_size 1)", shopify_connector(1),
                              levels_for(n, 5))
    print(ratio_line(shop_batch, shop_single))
    print(ratio_line(shop_max, shop_single).replace("batch", "batch 250"))
    print(f"     standard Shopify budget: batch >= {budget_time(shop_batch['cost']):.0f} s, "
          f"one per request >= {budget_time(shop_single['cost']):.0f} s "
          f"({shop_single['cost'] / max(shop_batch['cost'], 1):.1f}x the points)")


if __name__ == "__main__":
    main()
