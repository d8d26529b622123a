"""Many stores on one daemon: requests per minute, CPU per cycle, memory; sizing figures.

    python bench/many_stores.py [--stores 50] [--products 20] [--interval 60]
                                [--window 120] [--orders-per-minute 30] [--pg]
                                [--fleet --workers 3]
    python bench/many_stores.py --small   # smoke check: 5 stores, 10 products, 20 s window

Runs the real daemon (``python -m syncd run``) against simulators
served from a separate process (the myOGO simulator and one WooCommerce simulator per
store behind one port), so the daemon's CPU is measured alone (``/proc/<pid>/stat``).

Phases: the initial sync (every product and the seeded orders reach myOGO), then a steady
window of ``--window`` seconds in which shoppers keep placing paid orders and the warehouse
keeps shipping them. Printed: wall time and daemon CPU of each phase, requests per minute
to myOGO and to the stores (by route), flow runs, and CPU per store per cycle; those are
the figures ``docs/scaling.md`` sizes from. ``--pg`` puts the state in a throwaway
PostgreSQL server (tests/pg_server.py). ``--fleet --workers N`` (implies ``--pg``) measures
twice in one invocation, on fresh simulators and databases: first the baseline, one
embedded daemon (``run``) on PostgreSQL, then N fleet workers (``worker``) with the same
config; it prints the fleet's runs/min, myOGO and store requests/min and CPU as ratios to
the baseline (equal work = no double work) and how the runs and CPU split over the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEY, SECRET = "ck_test", "cs_test"          # syncd.testing.woo_sim KEY/SECRET
PERSON = {"first_name": "Ville", "last_name": "Varasto", "address_1": "Hyllytie 2",
          "city": "Tampere", "postcode": "33100", "country": "FI"}
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the simulator process


def serve_sims(stores: int, products: int, orders: int) -> None:
    """Child process: myOGO sim + ``stores`` Woo sims behind one port; prints the URLs."""
    import asyncio

    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from syncd.testing.myogo_sim import MyogoSim
    from syncd.testing.server import ServerThread
    from syncd.testing.woo_sim import WooStore, create_app

    rng = random.Random(7)
    myogo = MyogoSim()
    woos = [WooStore() for _ in range(stores)]
    apps = [create_app(w) for w in woos]
    shipped = 0
    for i, woo in enumerate(woos):
        skus = [f"S{i:03d}-P{j}" for j in range(products)]
        for sku in skus:
            woo.add_product(f"Item {sku}", sku, stock=0)
        myogo.seed_products([{"code": sku, "name": f"Item {sku}", "languageCode": "fi",
                              "stock": 100_000} for sku in skus])
        for _ in range(orders):
            _order(woo, rng, i, products)

    def counts() -> dict[str, Any]:
        woo_counts: Counter[str] = Counter()
        for woo in woos:
            with woo.lock:
                woo_counts.update(woo.requests)
        return {"myogo": myogo.request_counts(), "woo": dict(woo_counts),
                "myogo_orders": len(myogo.orders), "myogo_products": len(myogo.products),
                "shipped": shipped, "cpu": _cpu_seconds(os.getpid())}

    async def control(request: Request) -> JSONResponse:
        nonlocal shipped
        what = request.path_params["what"]
        if what == "counts":
            return JSONResponse(counts())
        if what == "shop":               # one paid order in a random store
            i = rng.randrange(stores)
            _order(woos[i], rng, i, products)
            return JSONResponse({"store": i})
        if what == "ship":               # collect and ship every order still new
            waiting = [o["reference"] for o in myogo.orders if o["status"] == "new"]
            for reference in waiting:
                myogo.collect(reference)
                myogo.ship(reference, f"JJ{reference}", f"https://track.example/{reference}")
            shipped += len(waiting)
            return JSONResponse({"shipped": len(waiting)})
        return JSONResponse({"error": "unknown"}, status_code=404)

    from starlette.applications import Starlette
    from starlette.routing import Route

    control_app = Starlette(routes=[Route("/_bench/{what}", control, methods=["GET", "POST"])])

    async def mux(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """``/s{i}/...`` goes to store i's simulator, ``/_bench/...`` to the control API."""
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/s") and "/" in path[1:]:
            head, rest = path[2:].split("/", 1)
            if head.isdigit() and int(head) < stores:
                inner = dict(scope, path="/" + rest, raw_path=("/" + rest).encode())
                await apps[int(head)](inner, receive, send)
                return
        await control_app(scope, receive, send)

    m = ServerThread(myogo.app).start()
    w = ServerThread(mux).start()
    print(json.dumps({"myogo": m.url, "woo": w.url}), flush=True)
    try:
        asyncio.run(asyncio.Event().wait())   # until terminated
    finally:
        w.stop()
        m.stop()


def _order(woo: Any, rng: random.Random, store: int, products: int) -> int:
    sku = f"S{store:03d}-P{rng.randrange(products)}"
    return int(woo.add_order([(sku, rng.randint(1, 3))], status="processing",
                             billing={**PERSON, "email": "v@example.com"}, shipping=PERSON))


# ---------------------------------------------------------------- the benchmark


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK     # utime + stime


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def config_text(args: argparse.Namespace, urls: dict[str, str], state_db: str) -> str:
    interval = f"{args.interval}s"
    head = textwrap.dedent(f"""\
        [daemon]
        state_db = "{state_db}"
        log_format = "json"
        log_level = "warning"
        write_concurrency = 4

        [myogo]
        api_url = "{urls['myogo']}/api/v1"
        token_url = "{urls['myogo']}/OAuth/Token"
        merchant_id = "demo"
        secret_token = "demo"
        rate_limit = {args.rate_limit}
        concurrency = 8
        """)
    stores = [textwrap.dedent(f"""
        [[stores]]
        name = "s{i:03d}"
        connector = "woocommerce"
        reference_prefix = "S{i:03d}-"
        shipping_map = {{ "flat_rate:1" = "POSTI" }}
        [stores.schedule]
        products = "{interval}"
        orders = "{interval}"
        stock = "{interval}"
        tracking = "{interval}"
        [stores.options]
        url = "{urls['woo']}/s{i}"
        consumer_key = "{KEY}"
        consumer_secret = "{SECRET}"
        allow_http = true
        """) for i in range(args.stores)]
    return head + "".join(stores)


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


@contextmanager
def _state_db(args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    if not args.pg:
        yield f"sqlite:///{tmp}/state.sqlite"
        return
    from tests.pg_server import running_postgres

    with running_postgres() as server:
        yield server.create_database("bench")


def _job_runs(state_db: str, since: float) -> tuple[int, int, float]:
    """Finished runs since ``since`` (epoch s): count, failed, mean duration (s)."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from syncd.state.db import StateDB
    from syncd.state.tables import JobRun

    db = StateDB(state_db)
    start = datetime.fromtimestamp(since, UTC)
    try:
        with db.session() as session:
            runs = [r for r in session.exec(select(JobRun).where(JobRun.started_at >= start))
                    if r.finished_at is not None]
    finally:
        db.dispose()
    failed = sum(1 for r in runs if not r.ok)
    mean = (sum((r.finished_at - r.started_at).total_seconds() for r in runs  # type: ignore[operator]
                if r.finished_at) / len(runs)) if runs else 0.0
    return len(runs), failed, mean


#: what ``--small`` changes: a run of about a minute that still exercises every phase
SMALL = {"stores": 5, "products": 10, "interval": 10, "window": 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--products", type=int, default=20, help="per store")
    parser.add_argument("--orders", type=int, default=2, help="paid orders per store at start")
    parser.add_argument("--interval", type=int, default=60, help="seconds, every flow")
    parser.add_argument("--window", type=int, default=120, help="steady window, seconds")
    parser.add_argument("--orders-per-minute", type=float, default=30.0)
    parser.add_argument("--rate-limit", type=float, default=20.0, help="myOGO req/s cap")
    parser.add_argument("--pg", action="store_true", help="state in a throwaway PostgreSQL")
    parser.add_argument("--fleet", action="store_true",
                        help="baseline one daemon, then --workers fleet workers (PostgreSQL)")
    parser.add_argument("--workers", type=int, default=3, help="fleet workers (with --fleet)")
    parser.add_argument("--serve-sims", nargs=3, type=int, metavar=("STORES", "PRODUCTS",
                                                                    "ORDERS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--small", action="store_true",
                        help=f"smoke check: {', '.join(f'--{k} {v}' for k, v in SMALL.items())} "
                             "(options given explicitly win)")
    args = parser.parse_args()
    if args.small:
        for name, value in SMALL.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.serve_sims:
        serve_sims(*args.serve_sims)
        return
    if not args.fleet:
        run(args, "run", 1)
        return
    args.pg = True
    base = run(args, "run", 1)
    fleet = run(args, "worker", args.workers)
    compare(base, fleet, args.workers, args.stores * 4 * 60 / args.interval)


def compare(base: dict[str, Any], fleet: dict[str, Any], workers: int,
            scheduled_per_min: float) -> None:
    """The fleet's figures as ratios to the one-daemon baseline of the same invocation."""
    print(f"== fleet of {workers} workers / one daemon (same invocation, fresh sims and DB); "
          f"the schedule asks for {scheduled_per_min:.0f} runs/min")
    for key, what in (("runs_per_min", "flow runs/min"), ("myogo_per_min", "myOGO req/min"),
                      ("woo_per_min", "store req/min"), ("cpu_per_min", "CPU s/min (all)")):
        print(f"    {what:18s} {fleet[key]:8.1f} / {base[key]:8.1f} = "
              f"{fleet[key] / max(base[key], 1e-9):.2f}")
    cpu = fleet["cpu_each"]
    print(f"    CPU split over workers: {[f'{100 * c / max(sum(cpu), 1e-9):.0f}%' for c in cpu]}")
    runs = fleet["runs_each"]
    print(f"    runs split over workers: {[f'{100 * r / max(sum(runs), 1):.0f}%' for r in runs]}")


def run(args: argparse.Namespace, command: str, processes: int) -> dict[str, Any]:
    state = "postgresql" if args.pg else "sqlite"
    print(f"== many stores: stores={args.stores} products/store={args.products} "
          f"interval={args.interval}s window={args.window}s "
          f"orders/min={args.orders_per_minute} state={state} "
          f"processes={processes} x ogo-syncd {command}")
    print(f"machine: nproc={os.cpu_count()} load={os.getloadavg()[0]:.2f} "
          f"python={sys.version.split()[0]}", flush=True)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sims = subprocess.Popen(
            [sys.executable, __file__, "--serve-sims", str(args.stores), str(args.products),
             str(args.orders)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        stack.callback(lambda: (sims.terminate(), sims.wait(10)))
        assert sims.stdout is not None
        urls = json.loads(sims.stdout.readline())
        control = stack.enter_context(httpx.Client(base_url=urls["woo"], timeout=30))

        def counts() -> dict[str, Any]:
            return dict(control.get("/_bench/counts").json())

        state_db = stack.enter_context(_state_db(args, tmp))
        config = tmp / "config.toml"
        config.write_text(config_text(args, urls, state_db))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0_epoch, t0 = time.time(), time.monotonic()
        daemons = []
        for r in range(processes):
            log = (tmp / f"daemon{r}.log").open("wb")
            proc = subprocess.Popen([sys.executable, "-m", "syncd", command, "--config",
                                     str(config)], stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=ROOT)
            stack.callback(lambda p=proc: (p.terminate(), p.wait(60)))
            daemons.append(proc)
        want_products = args.stores * args.products
        want_orders = args.stores * args.orders
        _wait(lambda: (c := counts())["myogo_products"] >= want_products
              and c["myogo_orders"] >= want_orders and _all_ran(state_db, args, t0_epoch),
              max(600, args.stores * 4 * 2 + 300), "the initial sync")
        initial_s = time.monotonic() - t0
        cpu_initial = [_cpu_seconds(p.pid) for p in daemons]
        print(f"initial sync: {initial_s:.1f} s wall (every store's four flows ran at least "
              f"once; start-up staggers jobs 1 s apart), daemon CPU "
              f"{sum(cpu_initial):.1f} s", flush=True)

        before, cpu0 = counts(), [_cpu_seconds(p.pid) for p in daemons]
        w0_epoch, w0 = time.time(), time.monotonic()
        next_order = next_ship = w0
        placed = 0
        while time.monotonic() - w0 < args.window:
            now = time.monotonic()
            if args.orders_per_minute > 0 and now >= next_order:
                control.post("/_bench/shop")
                placed += 1
                next_order = now + 60 / args.orders_per_minute
            if now >= next_ship:
                control.post("/_bench/ship")
                next_ship = now + 10
            time.sleep(0.05)
        minutes = (time.monotonic() - w0) / 60
        after, cpu1 = counts(), [_cpu_seconds(p.pid) for p in daemons]
        rss = [_rss_mib(p.pid) for p in daemons]
        runs, failed, mean = _job_runs(state_db, w0_epoch)
        report(args, minutes, before, after, cpu0, cpu1, rss, runs, failed, mean, placed)
        per_worker = _runs_per_worker(state_db, w0_epoch, [p.pid for p in daemons])
        if command == "worker":
            print(f"runs per worker: {per_worker}")
            print(f"fleet jobs: {_fleet_jobs(state_db)}")
        return {"runs_per_min": runs / minutes,
                "myogo_per_min": sum(_diff(after["myogo"], before["myogo"]).values()) / minutes,
                "woo_per_min": sum(_diff(after["woo"], before["woo"]).values()) / minutes,
                "cpu_per_min": (sum(cpu1) - sum(cpu0)) / minutes,
                "cpu_each": [b - a for a, b in zip(cpu0, cpu1, strict=True)],
                "runs_each": per_worker}


def _fleet_jobs(state_db: str) -> dict[str, Any]:
    """procrastinate's view: jobs by status and trigger, slots deferred twice, requeued."""
    from syncd.state.db import StateDB

    db = StateDB(state_db)
    try:
        with db.engine.connect() as conn:
            by = conn.exec_driver_sql(
                "SELECT status::text || '/' || coalesce(args->>'trigger', '?'), count(*)"
                " FROM procrastinate_jobs GROUP BY 1").all()
            twice = conn.exec_driver_sql(
                "SELECT count(*) FROM (SELECT lock, args->>'timestamp' FROM procrastinate_jobs"
                " WHERE args ? 'timestamp' GROUP BY 1, 2 HAVING count(*) > 1) d").scalar()
            requeued = conn.exec_driver_sql(
                "SELECT count(*) FROM procrastinate_jobs WHERE attempts > 1").scalar()
    finally:
        db.dispose()
    return {"jobs": dict(by), "slots_deferred_twice": twice, "requeued": requeued}


def _runs_per_worker(state_db: str, since: float, pids: list[int]) -> list[int]:
    """Runs since ``since`` per process, from ``job_run.worker`` (host:pid#id)."""
    from datetime import UTC, datetime

    from sqlmodel import select

    from syncd.state.db import StateDB
    from syncd.state.tables import JobRun

    db = StateDB(state_db)
    try:
        with db.session() as session:
            workers = [r.worker for r in session.exec(select(JobRun).where(
                JobRun.started_at >= datetime.fromtimestamp(since, UTC)))]
    finally:
        db.dispose()
    return [sum(1 for w in workers if w and w.split("#")[0].endswith(f":{pid}"))
            for pid in pids]


def _all_ran(state_db: str, args: argparse.Namespace, since: float) -> bool:
    runs, _failed, _mean = _job_runs(state_db, since)
    return runs >= args.stores * 4


def report(args: argparse.Namespace, minutes: float, before: dict[str, Any],
           after: dict[str, Any], cpu0: list[float], cpu1: list[float], rss: list[float],
           runs: int, failed: int, mean: float, placed: int) -> None:
    myogo = _diff(after["myogo"], before["myogo"])
    woo = _diff(after["woo"], before["woo"])
    cpu = sum(cpu1) - sum(cpu0)
    cycles = args.window / args.interval
    per_store_cycle_ms = 1000 * cpu / max(cycles, 1e-9) / args.stores
    print(f"steady window: {minutes * 60:.0f} s, {placed} orders placed, "
          f"{after['shipped'] - before['shipped']} shipped")
    print(f"flow runs: {runs} ({runs / minutes:.0f}/min), failed {failed}, "
          f"mean duration {mean * 1000:.0f} ms")
    print(f"myOGO requests: {sum(myogo.values()) / minutes:.0f}/min "
          f"({sum(myogo.values()) / minutes / 60:.2f}/s)")
    for route, n in sorted(myogo.items(), key=lambda kv: -kv[1]):
        print(f"    {n / minutes:8.1f}/min  {route}")
    print(f"store requests (all {args.stores} stores): {sum(woo.values()) / minutes:.0f}/min, "
          f"{sum(woo.values()) / minutes / args.stores:.1f}/min per store")
    for route, n in sorted(woo.items(), key=lambda kv: -kv[1]):
        print(f"    {n / minutes:8.1f}/min  {route}")
    print(f"daemon CPU: {cpu / minutes:.2f} s per minute "
          f"({100 * cpu / minutes / 60:.1f}% of one core) over {len(cpu0)} process(es); "
          f"per process {[round((b - a) / minutes, 2) for a, b in zip(cpu0, cpu1, strict=True)]}"
          f" s/min")
    print(f"CPU per store per cycle (4 flows): {per_store_cycle_ms:.1f} ms  "
          f"-> one core carries ~{60_000 / max(per_store_cycle_ms, 1e-9) * args.interval / 60:.0f}"
          f" stores at a {args.interval} s interval")
    print(f"daemon RSS: {', '.join(f'{r:.0f} MiB' for r in rss)}")
    print(f"simulator process CPU: {(after['cpu'] - before['cpu']) / minutes:.2f} s per minute")


if __name__ == "__main__":
    main()
