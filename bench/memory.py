"""Peak memory of a first product sync: 10,000 vs 100,000 products.

    .venv/bin/python bench/memory.py            # 10,000 and 100,000 products
    .venv/bin/python bench/memory.py --small    # 1,000 and 5,000 products (< 60 s)

Each size runs in a fresh daemon subprocess (this script with ``--child``) that builds the
engine, syncs every product from the WooCommerce simulator to the myOGO simulator and
prints its own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). The simulators
run in processes of their own, started fresh per size, so their memory (they keep every
record and request log) is not counted. Baseline: the same subprocess with 0 products
(imports, config, state DB, clients) and the 10,000-product run. Target: < 150 MB at
100,000 products and roughly flat in N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import UNLIMITED_RATE, banner, engine_for, quiet_logs, run_flow, sim

from syncd.engine import Engine


def rss_now_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def child_sync(myogo_url: str, woo_url: str, products: int) -> dict[str, float]:
    with engine_for(myogo_url, woo_url, rate_limit=UNLIMITED_RATE) as (config, db):
        async with Engine(config, db) as engine:
            ready_kb = rss_now_kb()
            t0 = time.perf_counter()
            counts = await run_flow(engine, "products") if products else {}
            wall = time.perf_counter() - t0
    if counts.get("written", 0) != products:
        raise SystemExit(f"expected {products} products written, got {counts}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"products": products, "peak_kb": peak_kb, "ready_kb": ready_kb,
            "end_kb": rss_now_kb(), "wall": wall}


def run_child(products: int) -> dict[str, float]:
    """Fresh simulators and a fresh daemon process for one size."""
    with sim("myogo") as myogo, sim("woo", "--products", str(products)) as woo:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(products), myogo.url, woo.url],
            check=True, capture_output=True, text=True).stdout
        result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        posted = myogo.requests().get("POST /api/v1/products", 0)
    if posted != products:
        raise SystemExit(f"myOGO received {posted} product POSTs, expected {products}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke check (< 60 s)")
    parser.add_argument("--sizes", type=int, nargs=2, default=None, metavar=("SMALL", "LARGE"))
    parser.add_argument("--child", nargs=3, metavar=("N", "MYOGO_URL", "WOO_URL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        quiet_logs()
        n, myogo_url, woo_url = args.child
        print(json.dumps(asyncio.run(child_sync(myogo_url, woo_url, int(n)))))
        return
    small, large = args.sizes or ((1_000, 5_000) if args.small else (10_000, 100_000))
    banner(f"peak RSS of a first product sync: {small} vs {large} products")
    print("each size: fresh simulators (own processes) and a fresh daemon subprocess; "
          "rate limit raised, concurrency 8, no latency\n")
    results = []
    for n in (0, small, large):
        r = run_child(n)
        results.append(r)
        print(f"  {int(r['products']):7d} products: peak RSS {r['peak_kb'] / 1024:7.1f} MB  "
              f"(after set-up {r['ready_kb'] / 1024:6.1f} MB, at the end "
              f"{r['end_kb'] / 1024:6.1f} MB)  sync wall {r['wall']:7.1f} s", flush=True)
    base, low, high = results
    ratio = high["peak_kb"] / low["peak_kb"]
    growth = (high["peak_kb"] - low["peak_kb"]) / (large - small) * 1024
    print(f"\npeak RSS ratio {large} / {small} products: {ratio:.2f}x for {large // small}x "
          f"the products; growth {growth:.0f} bytes per extra product; "
          f"{(low['peak_kb'] - base['peak_kb']) / 1024:.1f} MB above the idle daemon at {small}")
    mb = high["peak_kb"] / 1024
    print(f"targets: < 150 MB at {large}: {'met' if mb < 150 else 'MISSED'} ({mb:.1f} MB); "
          f"roughly flat: {'met' if ratio < 1.25 else 'MISSED'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
