"""Steady state: a no-change cycle of all four flows over a synced catalogue and order book.

    .venv/bin/python bench/steady_state.py            # 10,000 products, 1,000 orders
    .venv/bin/python bench/steady_state.py --small    # 1,000 products, 100 orders (< 60 s)

The WooCommerce store holds the products and open paid orders; the daemon syncs them
(the *initial cycle*: products, orders, stock, tracking), settles once more, and then runs
the measured *no-change cycle*. For each flow it prints the requests made (both sides,
from the simulators' own counters), how many were writes, and the engine's CPU time
(``time.process_time`` of this process; the simulators run in their own processes).
Baseline: the CPU time of the initial cycle, which did the same four flows with data.
Target: <= 4 requests per flow and 0 writes in the no-change cycle.

Reaching the steady state (as ``tests/test_flows.py::test_no_change_cycle_is_cheap_and_
writes_nothing`` does): cursors keep a 2-minute look-back (``syncd.cursor.next_cursor``),
so changes younger than that are read again. Both simulators' clocks run 30 minutes behind
the daemon's (the shop's via ``WooStore.advance``, myOGO's frozen 30 minutes back), which
is what a catalogue nobody touched for 30 minutes looks like. The first cycle's stock push
bumps the products' modified times once, hence one settling cycle before the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    UNLIMITED_RATE,
    SimProcess,
    banner,
    engine_for,
    quiet_logs,
    run_flow,
    sim,
    writes,
)

from syncd.engine import Engine

FLOWS = ("products", "orders", "stock", "tracking")
CycleFigures = dict[str, tuple[int, int, int, float, dict[str, int]]]


async def cycle(engine: Engine, myogo: SimProcess, woo: SimProcess) -> CycleFigures:
    """Run the four flows once; per flow (myOGO requests, store requests, writes, CPU s)."""
    figures: CycleFigures = {}
    for flow in FLOWS:
        myogo.clear_requests()
        woo.clear_requests()
        cpu0 = time.process_time()
        # The catalogue is new in myOGO (stock 0): the first stock run needs --force.
        counts = await run_flow(engine, flow, force=True)
        cpu = time.process_time() - cpu0
        m, w = myogo.requests(), woo.requests()
        m.pop("POST /OAuth/Token", None)   # the token, once per daemon start: not per flow
        figures[flow] = (sum(m.values()), sum(w.values()), writes(m) + writes(w), cpu, counts)
    return figures


def show(title: str, figures: CycleFigures) -> float:
    print(title)
    total_cpu = 0.0
    for flow, (m, w, wr, cpu, counts) in figures.items():
        total_cpu += cpu
        shown = {k: v for k, v in counts.items() if v}
        print(f"  {flow:<9} requests myOGO {m:6d}  store {w:6d}  (total {m + w:6d})  "
              f"writes {wr:6d}  cpu {cpu:7.3f} s  counts {shown}")
    print(f"  cycle CPU {total_cpu:.3f} s", flush=True)
    return total_cpu


async def scenario(myogo: SimProcess, woo: SimProcess, products: int,
                   orders: int) -> tuple[float, float, CycleFigures]:
    with engine_for(myogo.url, woo.url, rate_limit=UNLIMITED_RATE) as (config, db):
        async with Engine(config, db) as engine:
            first = await cycle(engine, myogo, woo)
            initial_cpu = show("initial cycle (the baseline):", first)
            synced = first["products"][4].get("written", 0)
            sent = first["orders"][4].get("sent", 0)
            if synced != products or sent != orders:
                raise SystemExit(f"initial cycle synced {synced} products and {sent} orders, "
                                 f"expected {products} and {orders}")
            show("settling cycle:", await cycle(engine, myogo, woo))
            quiet = await cycle(engine, myogo, woo)
            quiet_cpu = show("no-change cycle (measured):", quiet)
    return initial_cpu, quiet_cpu, quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke check (< 60 s)")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--orders", type=int, default=None)
    args = parser.parse_args()
    products = args.products or (1_000 if args.small else 10_000)
    orders = args.orders if args.orders is not None else (100 if args.small else 1_000)
    banner(f"steady state: no-change cycle over {products} products and {orders} open orders")
    quiet_logs()
    print("simulators: each in its own process, clocks 30 min behind the daemon; "
          "no latency; rate limit raised\n")
    with sim("myogo", "--clock-behind-minutes", "30") as myogo, \
            sim("woo", "--products", str(products), "--orders", str(orders),
                "--behind-minutes", "30") as woo:
        initial_cpu, quiet_cpu, quiet = asyncio.run(scenario(myogo, woo, products, orders))
    worst = max(m + w for m, w, _, _, _ in quiet.values())
    total_writes = sum(wr for _, _, wr, _, _ in quiet.values())
    print(f"\nno-change cycle CPU {quiet_cpu * 1000:.1f} ms vs initial cycle "
          f"{initial_cpu * 1000:.0f} ms: ratio {quiet_cpu / initial_cpu:.5f} "
          f"({initial_cpu / quiet_cpu:.0f}x less)")
    print(f"targets: <= 4 requests per flow: {'met' if worst <= 4 else 'MISSED'} "
          f"(worst flow {worst}); 0 writes: {'met' if total_writes == 0 else 'MISSED'} "
          f"({total_writes})")


if __name__ == "__main__":
    main()
