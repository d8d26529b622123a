"""How near real time do webhooks make the daemon? Seconds from a change to its effect.

    .venv/bin/python bench/webhook_latency.py [--repetitions 20]

Runs the real daemon (a subprocess, default schedule: orders 2m, tracking 10m) with its
HTTP surface, against the myOGO simulator (webhooks registered through
``ogo-syncd webhooks register``) and the WooCommerce simulator (a signed ``order.updated``
delivery per paid order). Measures, per repetition:

* tracking: ``sim.ship(order)`` -> the tracking number is in the WooCommerce order;
* orders: the store order is paid and its webhook posted -> the order is in myOGO.

Prints median / p95 / max and compares them with polling alone, where a change waits for
the next run: on average half the interval, at worst the whole interval. Target: < 5 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import serve_in_thread
from syncd.testing.woo_sim import KEY, SECRET, WooStore, create_app, deliver_pending

PYTHON = [sys.executable, "-m", "syncd"]
MYOGO_KEY = "bench-myogo-key"
WOO_HOOK_SECRET = "bench-woo-secret"
TARGET_SECONDS = 5.0
PERSON = {"first_name": "Maija", "last_name": "Meikäläinen", "address_1": "Testikatu 1",
          "city": "Helsinki", "postcode": "00100", "country": "FI", "phone": "+358401234567"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             poll: float = 0.005) -> float:
    """Poll until ``condition`` holds; return the monotonic time it was first seen true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def place_order(woo: WooStore, sku: str, *, paid: bool) -> int:
    return woo.add_order([(sku, 1)], status="processing" if paid else "pending",
                         billing={**PERSON, "email": "maija@example.com"}, shipping=PERSON)


def config_text(myogo_url: str, woo_url: str, state_db: Path, port: int,
                orders_interval: str, tracking_interval: str) -> str:
    return textwrap.dedent(f"""\
        [daemon]
        state_db = "{state_db}"
        log_format = "json"
        log_level = "info"
        http_listen = "127.0.0.1:{port}"

        [myogo]
        api_url = "{myogo_url}/api/v1"
        token_url = "{myogo_url}/OAuth/Token"
        merchant_id = "demo"
        secret_token = "demo"
        webhook_key = "{MYOGO_KEY}"
        rate_limit = 1000

        [[stores]]
        name = "woo"
        connector = "woocommerce"
        reference_prefix = "WC-"
        shipping_map = {{ "flat_rate:1" = "POSTI" }}

        [stores.schedule]
        products = "15m"
        orders = "{orders_interval}"
        stock = "10m"
        tracking = "{tracking_interval}"

        [stores.options]
        url = "{woo_url}"
        consumer_key = "{KEY}"
        consumer_secret = "{SECRET}"
        webhook_secret = "{WOO_HOOK_SECRET}"
        allow_http = true
        """)


def seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def summary(name: str, samples: list[float], interval: float) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return (f"{name:<9} n={len(ordered):<3} median {median:7.3f} s   p95 {p95:7.3f} s   "
            f"max {ordered[-1]:7.3f} s   | polling every {interval:.0f} s: mean wait "
            f"{interval / 2:.0f} s ({interval / 2 / median:,.0f}x the webhook median), "
            f"worst {interval:.0f} s   | target < {TARGET_SECONDS:.0f} s: "
            f"{'met' if ordered[-1] < TARGET_SECONDS else 'MISSED'} (max)")


def run(repetitions: int, orders_interval: str, tracking_interval: str) -> int:
    myogo, woo = MyogoSim(), WooStore()
    skus = [f"BENCH-{n:03d}" for n in range(repetitions)]
    for sku in skus:
        woo.add_product(f"Bench {sku}", sku, stock=100)
    to_ship = [place_order(woo, sku, paid=True) for sku in skus]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp, \
            serve_in_thread(myogo.app) as m, serve_in_thread(create_app(woo)) as w:
        config = Path(tmp) / "config.toml"
        config.write_text(config_text(m.url, w.url, Path(tmp) / "state.sqlite", port,
                                      orders_interval, tracking_interval))
        log_path = Path(tmp) / "daemon.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen([*PYTHON, "run", "--config", str(config)], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=os.environ.copy())
        try:
            # start-up runs: the catalogue and the orders reach myOGO, tracking has run
            wait_for(lambda: len(myogo.orders) == repetitions, 120, "start-up order run",
                     poll=0.1)
            wait_for(lambda: log_path.read_text().count('"flow": "tracking"') >= 1, 120,
                     "start-up tracking run", poll=0.1)
            for sku in skus:
                myogo.set_stock(sku, 100)
            registered = subprocess.run([*PYTHON, "webhooks", "register", "--url", base,
                                         "--config", str(config)],
                                        capture_output=True, text=True, timeout=60)
            if registered.returncode != 0:
                raise RuntimeError(registered.stdout + registered.stderr)
            myogo.wait_for_deliveries()           # the stock changes above, delivered
            time.sleep(1.0)                       # ... and their stock runs finished

            tracking: list[float] = []
            for n, order_id in enumerate(to_ship):
                number = f"JJFIBENCH{n:05d}"
                start = time.monotonic()
                myogo.ship(f"WC-{order_id}", number, f"https://track.example/{number}")
                seen = wait_for(lambda oid=order_id: bool(woo.trackings(oid)), 60,
                                f"tracking of {order_id}")
                tracking.append(seen - start)

            woo.add_webhook(f"{base}/webhooks/store/woo", WOO_HOOK_SECRET)
            orders: list[float] = []
            for sku in skus:
                order_id = place_order(woo, sku, paid=False)
                start = time.monotonic()
                woo.pay(order_id)
                if deliver_pending(woo) != [202]:
                    raise RuntimeError("the daemon did not accept the store webhook")
                seen = wait_for(lambda oid=order_id: bool(
                    myogo.orders_by_reference(f"WC-{oid}")), 60, f"order {order_id}")
                orders.append(seen - start)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            myogo.close()
    print(f"webhook latency over {repetitions} repetitions (real daemon, simulators on "
          f"127.0.0.1; daemon exit {code})")
    print(summary("tracking", tracking, seconds(tracking_interval)))
    print(summary("orders", orders, seconds(orders_interval)))
    worst = max(max(tracking), max(orders))
    return 0 if worst < TARGET_SECONDS and code == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--orders-interval", default="2m",
                        help="the polling baseline for orders (default: the daemon's 2m)")
    parser.add_argument("--tracking-interval", default="10m",
                        help="the polling baseline for tracking (default: the daemon's 10m)")
    args = parser.parse_args(argv)
    return run(args.repetitions, args.orders_interval, args.tracking_interval)


if __name__ == "__main__":
    raise SystemExit(main())
