"""Initial product sync: WooCommerce -> myOGO with 20 ms of latency on every myOGO request.

    .venv/bin/python bench/initial_sync.py            # 10,000 products (figures)
    .venv/bin/python bench/initial_sync.py --small    # 500 products, smoke check (< 60 s)

The daemon's engine runs in this process; the myOGO simulator and the WooCommerce
simulator each run in their own process (``bench/simserver.py``), so the wall and CPU
times are the daemon's (the simulators' CPU time is printed beside it: on a 2-core machine they
compete with the daemon for the cores). The myOGO sim delays every API request (token included) by
``--latency`` seconds (fault kind "latency", rate 1.0): it sleeps without blocking, so
concurrent requests overlap as they would against a distant API.

Runs, each from an empty myOGO account and a fresh state DB:

1. rate limit raised (never binds): ``write_concurrency`` 1 (the baseline) and 8 (default).
   Target: speedup >= 6x, and within 1.3x of the limit N x latency / concurrency, where N
   is the number of myOGO requests the sim counted.
2. the default rate limit (MyogoSettings.rate_limit = 20 req/s, a deliberate protection of
   an API whose limits are unknown), at concurrency 1 and 8, on ``--default-limit-products``
   products (fewer: at 20 req/s the result is N/20 s whatever the concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
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
)

from syncd.engine import Engine
from syncd.myogo.settings import MyogoSettings

DEFAULT_RATE = MyogoSettings.model_fields["rate_limit"].default
DEFAULT_CONCURRENCY = 8


@dataclass
class Run:
    label: str
    products: int
    concurrency: int
    rate_limit: float | None          # None = the default
    wall: float = 0.0
    cpu: float = 0.0
    requests: int = 0
    latency: float = 0.0
    sim_cpu: float = 0.0              # the myOGO and WooCommerce simulators' CPU seconds

    @property
    def rate(self) -> float:
        return self.rate_limit if self.rate_limit is not None else DEFAULT_RATE

    @property
    def latency_limit(self) -> float:
        """N x latency / concurrency: the best any client could do at this concurrency."""
        return self.requests * self.latency / self.concurrency

    @property
    def rate_limit_floor(self) -> float:
        """The token bucket (burst = rate) lets N requests through no faster than this."""
        return max(0.0, self.requests - self.rate) / self.rate

    @property
    def limit(self) -> float:
        return max(self.latency_limit, self.rate_limit_floor)


async def sync_once(run: Run, myogo_url: str, woo_url: str) -> dict[str, int]:
    with engine_for(myogo_url, woo_url, concurrency=run.concurrency,
                    rate_limit=run.rate_limit) as (config, db):
        async with Engine(config, db) as engine:
            cpu0, t0 = time.process_time(), time.perf_counter()
            counts = await run_flow(engine, "products")
            run.wall = time.perf_counter() - t0
            run.cpu = time.process_time() - cpu0
    return counts


def measure(run: Run, myogo: SimProcess, woo: SimProcess, latency: float) -> None:
    myogo.reset()
    myogo.add_fault(kind="latency", rate=1.0, seconds=latency)
    sim_cpu0 = myogo.cpu_seconds() + woo.cpu_seconds()
    counts = asyncio.run(sync_once(run, myogo.url, woo.url))
    run.sim_cpu = myogo.cpu_seconds() + woo.cpu_seconds() - sim_cpu0
    by_route = myogo.requests()
    run.requests = sum(by_route.values())
    run.latency = latency
    posted = by_route.get("POST /api/v1/products", 0)
    if counts.get("written") != run.products or posted != run.products:
        raise SystemExit(f"{run.label}: expected {run.products} products written, got "
                         f"{counts} and {posted} POSTs ({by_route})")
    print(f"  {run.label:<34} wall {run.wall:8.2f} s  cpu {run.cpu:7.2f} s  "
          f"sims cpu {run.sim_cpu:6.2f} s  "
          f"myOGO requests {run.requests:6d}  limit {run.limit:7.2f} s "
          f"(latency {run.latency_limit:.2f} s, rate {run.rate_limit_floor:.2f} s)  "
          f"wall/limit {run.wall / run.limit:4.2f}", flush=True)


def report(title: str, base: Run, fast: Run) -> None:
    speedup = base.wall / fast.wall
    print(f"  -> {title}: speedup {speedup:.2f}x at concurrency {fast.concurrency} "
          f"(ideal {fast.concurrency}x); concurrency {fast.concurrency} takes "
          f"{fast.wall / fast.limit:.2f}x its limit {fast.limit:.2f} s "
          f"(N={fast.requests} x {fast.latency * 1000:.0f} ms / {fast.concurrency}"
          + (f", or N / {fast.rate:g} req/s" if fast.rate_limit_floor > fast.latency_limit
             else "") + ")")
    print(f"     engine CPU per product: {base.cpu / base.products * 1000:.2f} ms (c=1), "
          f"{fast.cpu / fast.products * 1000:.2f} ms (c={fast.concurrency})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke check (< 60 s)")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--default-limit-products", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    n = args.products or (500 if args.small else 10_000)
    n_default = args.default_limit_products or (100 if args.small else 2_000)
    banner("initial product sync, WooCommerce sim -> myOGO sim "
           f"({args.latency * 1000:.0f} ms per myOGO request)")
    quiet_logs()
    print("simulators: each in its own process (bench/simserver.py), HTTP on 127.0.0.1; "
          "the engine runs in this process\n")

    raised = [Run("rate limit raised, concurrency 1", n, 1, UNLIMITED_RATE),
              Run(f"rate limit raised, concurrency {DEFAULT_CONCURRENCY}", n,
                  DEFAULT_CONCURRENCY, UNLIMITED_RATE)]
    limited = [Run(f"default {DEFAULT_RATE:g} req/s, concurrency 1", n_default, 1, None),
               Run(f"default {DEFAULT_RATE:g} req/s, concurrency {DEFAULT_CONCURRENCY}",
                   n_default, DEFAULT_CONCURRENCY, None)]
    with sim("myogo") as myogo:
        print(f"{n} products, rate limit raised to {UNLIMITED_RATE:g} req/s:")
        with sim("woo", "--products", str(n)) as woo:
            for run in raised:
                measure(run, myogo, woo, args.latency)
        report("rate limit raised", *raised)
        print(f"\n{n_default} products, default rate limit {DEFAULT_RATE:g} req/s:")
        with sim("woo", "--products", str(n_default)) as woo:
            for run in limited:
                measure(run, myogo, woo, args.latency)
        report("default rate limit", *limited)
        print(f"     at the default limit {n} products would take >= "
              f"{(raised[1].requests - DEFAULT_RATE) / DEFAULT_RATE:.0f} s "
              f"({raised[1].requests} requests / {DEFAULT_RATE:g} req/s) at any concurrency")
    fast = raised[1]
    speedup = raised[0].wall / fast.wall
    print("\ntargets (rate limit raised): "
          f"speedup >= 6x: {'met' if speedup >= 6 else 'MISSED'} ({speedup:.2f}x); "
          f"within 1.3x of the limit: {'met' if fast.wall <= 1.3 * fast.limit else 'MISSED'} "
          f"({fast.wall / fast.limit:.2f}x)")


if __name__ == "__main__":
    main()
