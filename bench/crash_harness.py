"""Crash harness: SIGKILL the real daemon hundreds of times; nothing may be lost or doubled.

    .venv/bin/python bench/crash_harness.py                  # 1,000 orders, 200 kills
    .venv/bin/python bench/crash_harness.py --kills 20 --orders 100

The daemon runs as a real subprocess (``python -m syncd run``) against the myOGO and
WooCommerce simulators served over HTTP from this process, exactly as
``tests/test_crash.py`` does, at a larger scale. The shopper places paid orders and the
warehouse ships them while the daemon is killed at seeded random moments and restarted;
myOGO also stores some order POSTs without answering them (commit-then-timeout). Every order
is shipped in the end, so ``--orders`` orders make as many shipments. A last daemon then
converges and the harness counts, per order: copies in myOGO, tracking numbers and customer
notifications in the store. It prints the figures and exits 1 if anything is duplicated or
missing. A benchmark that prints figures, not a timed test.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``tests`` importable
    sys.path.insert(0, str(ROOT))

from syncd.testing.myogo_sim import MyogoSim  # noqa: E402
from syncd.testing.server import serve_in_thread  # noqa: E402
from syncd.testing.woo_sim import WooStore, create_app  # noqa: E402
from tests.conftest import Sims, config_text  # noqa: E402
from tests.daemon_proc import start_daemon, stop  # noqa: E402

SKUS = [f"K-{i}" for i in range(20)]
PERSON = {"first_name": "Ville", "last_name": "Varasto", "address_1": "Hyllytie 2",
          "city": "Tampere", "postcode": "33100", "country": "FI"}


@dataclass
class Tally:
    """What the shopper and the warehouse did: the ground truth the result is checked on."""

    orders: list[int] = field(default_factory=list)           # Woo order ids, all paid
    shipped: dict[str, tuple[str, ...]] = field(default_factory=dict)  # reference -> numbers


@dataclass
class Figures:
    kills: int = 0
    orders: int = 0
    shipments: int = 0
    parcels: int = 0
    shipped_while_killing: int = 0
    duplicate_orders: int = 0
    missing_orders: int = 0
    duplicate_tracking: int = 0
    missing_tracking: int = 0
    not_completed: int = 0
    duplicate_notifications: int = 0
    missing_notifications: int = 0
    tracebacks: int = 0
    converge_seconds: float = 0.0
    wall_seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return (self.duplicate_orders + self.missing_orders + self.duplicate_tracking
                + self.missing_tracking + self.not_completed + self.duplicate_notifications
                + self.missing_notifications)


def shop(woo: WooStore, rng: random.Random, tally: Tally, count: int) -> None:
    """Place ``count`` paid orders of one or two lines."""
    for _ in range(count):
        lines = [(sku, rng.randint(1, 3)) for sku in rng.sample(SKUS, rng.randint(1, 2))]
        tally.orders.append(woo.add_order(lines, status="processing",
                                          billing={**PERSON, "email": "v@example.com"},
                                          shipping=PERSON))


def warehouse(myogo: MyogoSim, rng: random.Random, tally: Tally, count: int) -> None:
    """Collect and ship up to ``count`` orders that reached myOGO (30 % in two parcels)."""
    waiting = [o["reference"] for o in myogo.orders
               if o["status"] == "new" and o["reference"] not in tally.shipped]
    for reference in rng.sample(waiting, min(count, len(waiting))):
        numbers = (f"JJ{reference}",) + ((f"JX{reference}",) if rng.random() < 0.3 else ())
        myogo.collect(reference)
        myogo.ship(reference, ",".join(numbers), f"https://track.example/{reference}")
        tally.shipped[reference] = numbers


def measure(sims: Sims, tally: Tally, figures: Figures) -> None:
    """Fill the duplicate/missing counts from one snapshot of both simulators."""
    copies = Counter(o["reference"] for o in sims.myogo.orders)
    f = figures
    f.duplicate_orders = f.missing_orders = f.duplicate_tracking = f.missing_tracking = 0
    f.not_completed = f.duplicate_notifications = f.missing_notifications = 0
    f.examples.clear()
    for order_id in tally.orders:
        n = copies.get(f"WC-{order_id}", 0)
        if n == 0:
            f.missing_orders += 1
        elif n > 1:
            f.duplicate_orders += 1
            f.examples.append(f"WC-{order_id} is {n} times in myOGO")
    for reference, numbers in tally.shipped.items():
        order_id = int(reference.removeprefix("WC-"))
        listed = Counter(t["tracking_number"] for t in sims.woo.trackings(order_id))
        if any(listed[n] > 1 for n in numbers) or set(listed) - set(numbers):
            f.duplicate_tracking += 1
            f.examples.append(f"{reference} tracking {dict(listed)}")
        if any(listed[n] == 0 for n in numbers):
            f.missing_tracking += 1
        if sims.woo.order(order_id)["status"] != "completed":
            f.not_completed += 1
        mails = sum(1 for m in sims.woo.customer_emails(order_id)
                    if any(n in m.body for n in numbers))
        if mails == 0:
            f.missing_notifications += 1
        elif mails > 1:
            f.duplicate_notifications += 1
            f.examples.append(f"{reference}: {mails} customer notifications")


def run(kills: int, orders: int, seed: int, min_up: float, max_up: float,
        commit_timeout_rate: float, tracking_api: bool, workdir: Path,
        converge_timeout: float) -> Figures:
    t0 = time.monotonic()
    rng = random.Random(seed)
    myogo = MyogoSim()
    woo = WooStore(shipment_tracking=tracking_api)
    figures = Figures()
    tally = Tally()
    for sku in SKUS:
        woo.add_product(f"Item {sku}", sku, stock=0)
    myogo.seed_products([{"code": sku, "name": f"Item {sku}", "languageCode": "fi",
                          "stock": 10_000_000} for sku in SKUS])
    if commit_timeout_rate > 0:
        myogo.add_fault("commit_timeout", method="POST", path="/orders$",
                        rate=commit_timeout_rate, seconds=3, seed=seed)
    with serve_in_thread(myogo.app) as m, serve_in_thread(create_app(woo)) as w:
        sims = Sims(myogo, m.url, woo, w.url)
        config = workdir / "config.toml"
        config.write_text(config_text(sims, workdir / "state.sqlite", schedule="1s",
                                      timeout=1.5))
        log = workdir / "daemon.log"
        log.write_bytes(b"")
        for round_no in range(kills):
            shop(woo, rng, tally, orders * (round_no + 1) // kills - len(tally.orders))
            warehouse(myogo, rng, tally, rng.randint(0, 2 * orders // kills + 1))
            proc = start_daemon(config, log)
            time.sleep(rng.uniform(min_up, max_up))
            proc.kill()
            proc.wait()
            figures.kills += 1
            if (round_no + 1) % 20 == 0:
                print(f"  {round_no + 1} kills, {len(tally.orders)} orders placed, "
                      f"{len(myogo.orders)} in myOGO, {len(tally.shipped)} shipped "
                      f"({time.monotonic() - t0:.0f} s)", flush=True)
        figures.shipped_while_killing = len(tally.shipped)
        myogo.clear_faults()
        t_converge = time.monotonic()
        proc = start_daemon(config, log)
        try:
            deadline = time.monotonic() + converge_timeout
            while time.monotonic() < deadline:
                warehouse(myogo, rng, tally, len(tally.orders))
                if len(tally.shipped) == len(tally.orders):
                    measure(sims, tally, figures)
                    if figures.bad == 0 or figures.duplicate_orders \
                            or figures.duplicate_tracking or figures.duplicate_notifications:
                        break  # converged, or already wrong in a way waiting cannot fix
                time.sleep(1.0)
        finally:
            code = stop(proc, timeout=60)
        figures.converge_seconds = time.monotonic() - t_converge
        measure(sims, tally, figures)
        if code != 0:
            figures.examples.append(f"last daemon exited {code} on SIGTERM")
        figures.tracebacks = log.read_text(errors="replace").count("Traceback")
    myogo.close()
    figures.orders = len(tally.orders)
    figures.shipments = len(tally.shipped)
    figures.parcels = sum(len(n) for n in tally.shipped.values())
    figures.wall_seconds = time.monotonic() - t0
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--min-up", type=float, default=0.3,
                        help="shortest daemon life before SIGKILL, seconds")
    parser.add_argument("--max-up", type=float, default=3.0,
                        help="longest daemon life before SIGKILL, seconds")
    parser.add_argument("--commit-timeout-rate", type=float, default=0.1,
                        help="share of order POSTs myOGO stores without answering")
    parser.add_argument("--no-tracking-api", action="store_true",
                        help="the shop lacks the Shipment Tracking extension (tracking in "
                             "order meta, customer told by a note)")
    parser.add_argument("--converge-timeout", type=float, default=600.0)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep config, state DB and daemon log here")
    args = parser.parse_args(argv)
    if args.kills < 1 or args.orders < 1 or not 0 < args.min_up <= args.max_up:
        parser.error("need --kills >= 1, --orders >= 1 and 0 < --min-up <= --max-up")
    with tempfile.TemporaryDirectory(prefix="ogo-crash-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        f = run(args.kills, args.orders, args.seed, args.min_up, args.max_up,
                args.commit_timeout_rate, not args.no_tracking_api, workdir,
                args.converge_timeout)
    print(f"crash harness (seed {args.seed}, tracking API "
          f"{'off' if args.no_tracking_api else 'on'}):")
    print(f"  kills                    {f.kills}")
    print(f"  orders (paid)            {f.orders}")
    print(f"  shipments                {f.shipments} ({f.parcels} parcels; "
          f"{f.shipped_while_killing} shipped while killing)")
    print(f"  duplicate orders (myOGO) {f.duplicate_orders}")
    print(f"  missing orders (myOGO)   {f.missing_orders}")
    print(f"  duplicate tracking       {f.duplicate_tracking}")
    print(f"  missing tracking         {f.missing_tracking}")
    print(f"  orders not completed     {f.not_completed}")
    print(f"  duplicate notifications  {f.duplicate_notifications}")
    print(f"  missing notifications    {f.missing_notifications}")
    print(f"  tracebacks in daemon log {f.tracebacks}")
    print(f"  converge after kills     {f.converge_seconds:.1f} s")
    print(f"  wall time                {f.wall_seconds:.1f} s")
    for line in f.examples[:10]:
        print(f"  e.g. {line}")
    return 1 if f.bad or f.tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
