"""Initial product sync: WooCommerce -> myOGO with 20 ms of latency on every myOGO request.

    .venv/bin/python bench/initial_sync.py            # 10,000 products (figures)
    .venv/bin/python bench/initial_sync.py --small    # 500 products, smoke check (~1 min)

The daemon's engine runs in this process; the myOGO simulator and the WooCommerce
simulator each run in their own process (``bench/simserver.py``), so the wall and CPU
times are the daemon's (the simulators' CPU time is printed beside it: on a 2-core machine they
compete with the daemon for the cores). The myOGO sim delays every API request (token included) by
``--latency`` seconds (fault kind "latency", rate 1.0): it sleeps without blocking, so
concurrent requests overlap as they would against a distant API.

Runs, each from an empty myOGO account and a fresh state DB:

1. rate limit raised (never binds): ``write_concurrency`` 1 (the baseline) and 8 (default).
   Target: speedup >= 6x, and within 1.3x of the limit N x latency / concurrency, where N
   is the number of myOGO requests the sim counted. Beside them, a bare httpx client
   POSTing the same number of products with one window of 8: what this machine allows
   right now, so a loaded machine shows as a slow bare client, not as a slow daemon.
2. the default settings (the adaptive rate limit starting at ``rate_limit`` = 20 req/s)
   against the same 20 req/s fixed (floor = ceiling = 20), concurrency 8, on
   ``--default-limit-products`` products.
3. the same two against a myOGO that enforces a hidden limit (``--hidden-limit`` req/s,
   429 with Retry-After: 1 above it): how much faster learning the limit is than the fixed
   default, and how many requests were refused on the way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

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
FIXED_DEFAULT = (DEFAULT_RATE, DEFAULT_RATE)      # floor = ceiling = rate: the old fixed limit


@dataclass
class Run:
    label: str
    products: int
    concurrency: int
    rate_limit: float | None          # None = the default
    bounds: tuple[float, float] | None = None     # (floor, ceiling); None = the defaults
    hidden_limit: float | None = None             # the sim's own limit (429 above it)
    wall: float = 0.0
    cpu: float = 0.0
    requests: int = 0
    throttled: int = 0
    latency: float = 0.0
    sim_cpu: float = 0.0              # the myOGO and WooCommerce simulators' CPU seconds

    @property
    def rate(self) -> float:
        return self.rate_limit if self.rate_limit is not None else DEFAULT_RATE

    @property
    def fixed(self) -> bool:
        return self.bounds is not None and self.bounds[0] == self.bounds[1]

    @property
    def latency_limit(self) -> float:
        """N x latency / concurrency: the best any client could do at this concurrency."""
        return self.requests * self.latency / self.concurrency

    @property
    def rate_limit_floor(self) -> float:
        """A fixed token bucket (burst = rate) lets N requests through no faster than this."""
        return max(0.0, self.requests - self.rate) / self.rate if self.fixed else 0.0

    @property
    def limit(self) -> float:
        return max(self.latency_limit, self.rate_limit_floor)


async def sync_once(run: Run, myogo_url: str, woo_url: str) -> dict[str, int]:
    with engine_for(myogo_url, woo_url, concurrency=run.concurrency,
                    rate_limit=run.rate_limit, rate_bounds=run.bounds) as (config, db):
        async with Engine(config, db) as engine:
            cpu0, t0 = time.process_time(), time.perf_counter()
            counts = await run_flow(engine, "products")
            run.wall = time.perf_counter() - t0
            run.cpu = time.process_time() - cpu0
    return counts


def prepare(myogo: SimProcess, latency: float, hidden_limit: float | None) -> None:
    myogo.reset()
    myogo.add_fault(kind="latency", rate=1.0, seconds=latency)
    if hidden_limit is not None:
        myogo.configure(hiddenRateLimit=hidden_limit)


def measure(run: Run, myogo: SimProcess, woo: SimProcess, latency: float) -> None:
    prepare(myogo, latency, run.hidden_limit)
    sim_cpu0 = myogo.cpu_seconds() + woo.cpu_seconds()
    counts = asyncio.run(sync_once(run, myogo.url, woo.url))
    run.sim_cpu = myogo.cpu_seconds() + woo.cpu_seconds() - sim_cpu0
    by_route = myogo.requests()
    run.requests = sum(by_route.values())
    run.throttled = myogo.throttled()
    run.latency = latency
    posted = by_route.get("POST /api/v1/products", 0)
    if counts.get("written") != run.products or not (
            posted - run.throttled <= run.products <= posted):
        raise SystemExit(f"{run.label}: expected {run.products} products written, got "
                         f"{counts} and {posted} POSTs ({by_route}, {run.throttled} refused)")
    print(f"  {run.label:<40} wall {run.wall:8.2f} s  cpu {run.cpu:7.2f} s  "
          f"sims cpu {run.sim_cpu:6.2f} s  myOGO requests {run.requests:6d}"
          + (f" ({run.throttled} refused 429)" if run.hidden_limit is not None else "")
          + f"  limit {run.limit:7.2f} s  wall/limit {run.wall / run.limit:4.2f}", flush=True)


async def bare_posts(url: str, count: int, concurrency: int) -> float:
    """A bare httpx client POSTing ``count`` products with one window of ``concurrency``:
    no mapping, no state DB, no retries; the wall time this machine allows right now."""
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency + 2)) as http:
        token = (await http.post("/OAuth/Token", data={
            "grant_type": "password", "username": "demo", "password": "demo",
            "client_id": "123456", "client_secret": "abcdef"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        window = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with window:
                (await http.post("/api/v1/products", headers=headers, json={
                    "code": f"BARE-{i}", "name": f"Bare {i}", "languageCode": "fi"})
                 ).raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - t0


def report(title: str, base: Run, fast: Run, bare: float) -> None:
    speedup = base.wall / fast.wall
    bare_limit = fast.products * fast.latency / fast.concurrency
    print(f"  -> {title}: speedup {speedup:.2f}x at concurrency {fast.concurrency} "
          f"(ideal {fast.concurrency}x); concurrency {fast.concurrency} takes "
          f"{fast.wall / fast.limit:.2f}x its limit {fast.limit:.2f} s "
          f"(N={fast.requests} x {fast.latency * 1000:.0f} ms / {fast.concurrency})")
    print(f"     bare httpx client, {fast.products} POSTs, window {fast.concurrency}: "
          f"{bare:.2f} s = {bare / bare_limit:.2f}x its limit (the machine's floor now); "
          f"the daemon takes {fast.wall / bare:.2f}x the bare client")
    print(f"     engine CPU per product: {base.cpu / base.products * 1000:.2f} ms (c=1), "
          f"{fast.cpu / fast.products * 1000:.2f} ms (c={fast.concurrency})", flush=True)


def compare(title: str, fixed: Run, adaptive: Run) -> None:
    print(f"  -> {title}: adaptive {fixed.wall / adaptive.wall:.2f}x faster than fixed "
          f"{DEFAULT_RATE:g} req/s ({adaptive.wall:.2f} s vs {fixed.wall:.2f} s"
          + (f"; {adaptive.throttled} vs {fixed.throttled} requests refused"
             if adaptive.hidden_limit is not None else "") + ")", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="smoke check (~1 min)")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--default-limit-products", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--hidden-limit", type=float, default=50.0,
                        help="req/s the simulated myOGO admits in section 3")
    args = parser.parse_args()
    n = args.products or (500 if args.small else 10_000)
    n_default = args.default_limit_products or (200 if args.small else 2_000)
    banner("initial product sync, WooCommerce sim -> myOGO sim "
           f"({args.latency * 1000:.0f} ms per myOGO request)")
    quiet_logs()
    print("simulators: each in its own process (bench/simserver.py), HTTP on 127.0.0.1; "
          "the engine runs in this process\n")

    raised = [Run("rate limit raised, concurrency 1", n, 1, UNLIMITED_RATE),
              Run(f"rate limit raised, concurrency {DEFAULT_CONCURRENCY}", n,
                  DEFAULT_CONCURRENCY, UNLIMITED_RATE)]
    c = DEFAULT_CONCURRENCY
    defaults = [Run(f"fixed {DEFAULT_RATE:g} req/s, concurrency {c}", n_default, c, None,
                    FIXED_DEFAULT),
                Run(f"adaptive from {DEFAULT_RATE:g} req/s (default), c {c}", n_default, c,
                    None)]
    hidden = [Run(f"hidden {args.hidden_limit:g}/s: fixed {DEFAULT_RATE:g} req/s", n_default,
                  c, None, FIXED_DEFAULT, args.hidden_limit),
              Run(f"hidden {args.hidden_limit:g}/s: adaptive (default)", n_default, c, None,
                  None, args.hidden_limit)]
    with sim("myogo") as myogo:
        print(f"{n} products, rate limit raised to {UNLIMITED_RATE:g} req/s:")
        with sim("woo", "--products", str(n)) as woo:
            for run in raised:
                measure(run, myogo, woo, args.latency)
        prepare(myogo, args.latency, None)
        bare = asyncio.run(bare_posts(myogo.url, n, DEFAULT_CONCURRENCY))
        report("rate limit raised", *raised, bare)
        with sim("woo", "--products", str(n_default)) as woo:
            print(f"\n{n_default} products, default settings vs the fixed "
                  f"{DEFAULT_RATE:g} req/s of before:")
            for run in defaults:
                measure(run, myogo, woo, args.latency)
            compare("no limit on myOGO's side", *defaults)
            print(f"\n{n_default} products, myOGO refusing more than "
                  f"{args.hidden_limit:g} req/s with 429:")
            for run in hidden:
                measure(run, myogo, woo, args.latency)
            compare(f"hidden limit {args.hidden_limit:g} req/s", *hidden)
    fast = raised[1]
    speedup = raised[0].wall / fast.wall
    print("\ntargets (rate limit raised): "
          f"speedup >= 6x: {'met' if speedup >= 6 else 'MISSED'} ({speedup:.2f}x); "
          f"within 1.3x of the limit: {'met' if fast.wall <= 1.3 * fast.limit else 'MISSED'} "
          f"({fast.wall / fast.limit:.2f}x; the bare client: "
          f"{bare / (n * args.latency / DEFAULT_CONCURRENCY):.2f}x)")


if __name__ == "__main__":
    main()
