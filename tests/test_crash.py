"""SIGKILL the real daemon at random moments and restart it; nothing may be lost or doubled.

The shopper keeps placing paid orders and the warehouse keeps shipping them while the
daemon is killed over and over (seeded, so a failure can be replayed). myOGO also drops the
answer to some order POSTs after storing them (commit-then-timeout). At the end a last
daemon converges and every order must be in myOGO exactly once and every shipment in the
store exactly once. ``bench/crash_harness.py`` runs the same with 1,000 orders and 200 kills.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.woo_sim import WooStore
from tests.conftest import Sims, config_text
from tests.daemon_proc import start_daemon, stop, wait_for

KILLS = int(os.environ.get("OGO_SYNCD_KILLS", "50"))
SEED = int(os.environ.get("OGO_SYNCD_SEED", "20261124"))
SKUS = [f"K-{i}" for i in range(10)]
PERSON = {"first_name": "Ville", "last_name": "Varasto", "address_1": "Hyllytie 2",
          "city": "Tampere", "postcode": "33100", "country": "FI"}


@dataclass
class Tally:
    orders: list[int] = field(default_factory=list)        # Woo order ids, all paid
    shipped: dict[str, str] = field(default_factory=dict)  # reference -> tracking numbers


def shop(woo: WooStore, rng: random.Random, tally: Tally, count: int) -> None:
    for _ in range(count):
        lines = [(rng.choice(SKUS), rng.randint(1, 3))]
        tally.orders.append(woo.add_order(lines, status="processing",
                                          billing={**PERSON, "email": "v@example.com"},
                                          shipping=PERSON))


def warehouse(myogo: MyogoSim, rng: random.Random, tally: Tally, count: int) -> None:
    """Collect and ship some orders that reached myOGO (some with two parcels)."""
    waiting = [o["reference"] for o in myogo.orders if o["status"] == "new"]
    for reference in rng.sample(waiting, min(count, len(waiting))):
        numbers = f"JJ{reference}" + (f",JX{reference}" if rng.random() < 0.3 else "")
        myogo.collect(reference)
        myogo.ship(reference, numbers, f"https://track.example/{reference}")
        tally.shipped[reference] = numbers


def converged(sims: Sims, tally: Tally) -> bool:
    for order_id in tally.orders:
        if not sims.myogo.orders_by_reference(f"WC-{order_id}"):
            return False
    for reference, numbers in tally.shipped.items():
        order_id = int(reference.removeprefix("WC-"))
        have = {t["tracking_number"] for t in sims.woo.trackings(order_id)}
        if have != set(numbers.split(",")) or sims.woo.order(order_id)["status"] != "completed":
            return False
    return True


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    sims: Sims, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    for sku in SKUS:
        sims.woo.add_product(f"Item {sku}", sku, stock=0)
    sims.myogo.seed_products([{"code": sku, "name": f"Item {sku}", "languageCode": "fi",
                               "stock": 100_000} for sku in SKUS])
    # Some order POSTs are stored by myOGO but their answer never arrives.
    sims.myogo.add_fault("commit_timeout", method="POST", path="/orders$", rate=0.1,
                         seconds=3, seed=SEED)
    config = tmp_path / "config.toml"
    config.write_text(config_text(sims, tmp_path / "state.sqlite", schedule="1s",
                                  timeout=1.5))
    log = tmp_path / "daemon.log"
    tally = Tally()
    kills = 0
    for _ in range(KILLS):
        shop(sims.woo, rng, tally, rng.randint(1, 4))
        warehouse(sims.myogo, rng, tally, rng.randint(0, 3))
        proc = start_daemon(config, log)
        time.sleep(rng.uniform(0.2, 2.0))
        proc.kill()
        proc.wait()
        kills += 1
    warehouse(sims.myogo, rng, tally, len(tally.orders))
    sims.myogo.clear_faults()
    proc = start_daemon(config, log)
    try:
        def settle() -> bool:
            warehouse(sims.myogo, rng, tally, len(tally.orders))
            return converged(sims, tally)
        wait_for(settle, 180, "every order in myOGO and every shipment in the store")
    finally:
        assert stop(proc) == 0

    duplicates = [o for o in tally.orders
                  if len(sims.myogo.orders_by_reference(f"WC-{o}")) != 1]
    doubled_tracking = []
    doubled_mail = []
    for reference, numbers in tally.shipped.items():
        order_id = int(reference.removeprefix("WC-"))
        listed = [t["tracking_number"] for t in sims.woo.trackings(order_id)]
        if sorted(listed) != sorted(numbers.split(",")):
            doubled_tracking.append((reference, listed))
        mails = [m for m in sims.woo.customer_emails(order_id)
                 if any(n in m.body for n in numbers.split(","))]
        if len(mails) != 1:
            doubled_mail.append((reference, len(mails)))
    text = log.read_text()
    print(f"crash harness: kills={kills} orders={len(tally.orders)} "
          f"shipped={len(tally.shipped)} duplicate_orders={len(duplicates)} "
          f"bad_tracking={len(doubled_tracking)} bad_notifications={len(doubled_mail)}")
    assert kills == KILLS
    assert duplicates == []
    assert doubled_tracking == []
    assert doubled_mail == []
    assert len(tally.shipped) > KILLS // 2  # the warehouse really shipped during the kills
    assert "Traceback" not in text
