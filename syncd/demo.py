"""`ogo-syncd demo`: the whole picture on localhost, with nothing to configure.

Starts the myOGO simulator and a WooCommerce store simulator on free local ports, writes a
temporary config, and runs the real daemon (the real WooCommerce connector, the real myOGO
client, a real SQLite state DB) with short intervals. A shopper places paid orders in the
store; the warehouse collects and ships them in myOGO and receives stock. The screen shows
what flows each way.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import tempfile
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from syncd import flows
from syncd.config import load_config
from syncd.daemon import Daemon
from syncd.jobs.base import FlowResult
from syncd.logging import configure_logging
from syncd.state.db import StateDB
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import ServerThread
from syncd.testing.woo_sim import KEY, SECRET, WooStore, create_app

CATALOGUE = [
    ("Coffee mug", "MUG-01", "12.50"),
    ("Tote bag", "BAG-02", "19.00"),
    ("Notebook", "NOTE-03", "7.90"),
    ("Water bottle", "BOTTLE-04", "24.00"),
]
VARIANTS = [("S", "TEE-S"), ("M", "TEE-M"), ("L", "TEE-L")]
CUSTOMERS = [
    ("Aino", "Virtanen", "Mannerheimintie 1", "Helsinki", "00100", "FI"),
    ("Erik", "Lindqvist", "Drottninggatan 5", "Stockholm", "11151", "SE"),
    ("Kari", "Tamm", "Narva mnt 7", "Tallinn", "10117", "EE"),
]
CONFIG = """\
[daemon]
state_db = "{state}"
log_format = "json"
log_level = "warning"
write_concurrency = 8
shutdown_grace_seconds = 10

[myogo]
api_url = "{myogo}/api/v1"
token_url = "{myogo}/OAuth/Token"
merchant_id = "demo"
secret_token = "demo"
rate_limit = 200

[[stores]]
name = "demo-shop"
connector = "woocommerce"
reference_prefix = "DEMO-"
language = "en"
currency = "EUR"
shipping_map = {{ "flat_rate:1" = "POSTI" }}

[stores.schedule]
products = "{interval}s"
orders = "{interval}s"
stock = "{interval}s"
tracking = "{interval}s"

[stores.options]
url = "{woo}"
consumer_key = "{key}"
consumer_secret = "{secret}"
allow_http = true
"""


@dataclass
class DemoWorld:
    myogo: MyogoSim
    woo: WooStore
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    orders: list[int] = field(default_factory=list)
    shipped: dict[str, str] = field(default_factory=dict)
    flow_counts: Counter[str] = field(default_factory=Counter)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=8))

    def seed_store(self) -> None:
        for name, sku, price in CATALOGUE:
            self.woo.add_product(name, sku, price=price, stock=0)
        tee = self.woo.add_product("T-shirt", None, type="variable")
        for size, sku in VARIANTS:
            self.woo.add_variation(tee, sku, option=size, price="15.00", stock=0)

    def skus_in_myogo(self) -> list[str]:
        return sorted(p["code"] for p in self.myogo.products)

    def shopper(self) -> None:
        """Place one or two paid orders for products myOGO already knows."""
        known = self.skus_in_myogo()
        if not known:
            return
        for _ in range(self.rng.randint(1, 2)):
            first, last, street, city, zip_code, country = self.rng.choice(CUSTOMERS)
            person = {"first_name": first, "last_name": last, "address_1": street,
                      "city": city, "postcode": zip_code, "country": country}
            lines = [(sku, self.rng.randint(1, 2))
                     for sku in self.rng.sample(known, self.rng.randint(1, 2))]
            order_id = self.woo.add_order(lines, status="processing", shipping=person,
                                          billing={**person, "email": f"{first}@example.com"})
            self.orders.append(order_id)
            self.events.append(f"shopper  paid order #{order_id} in the store")

    def warehouse(self, ship_all: bool = False) -> None:
        """Receive stock for new products, collect new orders, ship collected ones."""
        stock = self.myogo.stock
        for code in self.skus_in_myogo():
            if code not in stock or not stock[code].get("stock"):
                qty = self.rng.randint(20, 60)
                self.myogo.set_stock(code, qty)
                self.events.append(f"warehouse received {qty} x {code}")
        for order in self.myogo.orders:
            reference, status = order["reference"], order["status"]
            if status == "collecting":
                number = f"JJFI{self.rng.randint(10**9, 10**10 - 1)}"
                self.myogo.ship(reference, number, f"https://tracking.example/{number}")
                self.shipped[reference] = number
                self.events.append(f"warehouse shipped {reference}, tracking {number}")
            elif status == "new" and (ship_all or self.rng.random() < 0.7):
                self.myogo.collect(reference)
                self.events.append(f"warehouse collecting {reference}")

    def on_result(self, result: FlowResult) -> None:
        moved = sum(result.counts[k] for k in ("written", "sent", "adopted", "shipped"))
        self.flow_counts[result.flow] += moved
        arrow = flows.get(result.flow).direction
        if moved:
            self.events.append(f"ogo-syncd {result.flow:<8} {arrow}: {moved} written")
        if not result.ok:
            self.events.append(f"ogo-syncd {result.flow} FAILED: {result.error}")

    # -- what the picture shows -------------------------------------------------------
    def figures(self) -> dict[str, tuple[int, int]]:
        """flow -> (done, expected), read from both simulators."""
        store_skus = [s for _, s, _ in CATALOGUE] + [s for _, s in VARIANTS]
        in_myogo = set(self.skus_in_myogo())
        sent = sum(1 for o in self.orders if len(self.myogo.orders_by_reference(f"DEMO-{o}")) == 1)
        stock = self.myogo.stock
        stocked = [c for c in in_myogo if c in stock]
        in_sync = sum(1 for c in stocked
                      if self.woo.stock_of(c) == stock[c].get("stockAvailable"))
        tracked = sum(1 for ref, number in self.shipped.items()
                      if any(t["tracking_number"] == number
                             for t in self.woo.trackings(int(ref.removeprefix("DEMO-")))))
        return {
            "products": (len(in_myogo & set(store_skus)), len(store_skus)),
            "orders": (sent, len(self.orders)),
            "stock": (in_sync, len(stocked)),
            "tracking": (tracked, len(self.shipped)),
        }

    def converged(self) -> bool:
        figures = self.figures()
        return all(done == expected for done, expected in figures.values()) and bool(
            self.shipped)

    def render(self, cycle: int, cycles: int | None) -> Group:
        table = Table(title=f"ogo-syncd demo: cycle {cycle}" + (f"/{cycles}" if cycles else ""),
                      show_lines=False)
        table.add_column("flow")
        table.add_column("direction")
        table.add_column("in step", justify="right")
        table.add_column("written by ogo-syncd", justify="right")
        for flow, (done, expected) in self.figures().items():
            style = "green" if done == expected else "yellow"
            table.add_row(flow, flows.get(flow).direction, Text(f"{done}/{expected}", style=style),
                          str(self.flow_counts[flow]))
        return Group(table, Text("\n".join(self.events) or "starting...", style="dim"))


async def run_demo(*, cycles: int | None, interval: float, console: Console) -> int:
    """Run the demo; returns the exit code (0 when every flow moved data)."""
    configure_logging("json", "error", stream=sys.stderr)   # stdout is the live view
    world = DemoWorld(MyogoSim(), WooStore())
    world.seed_store()
    myogo_server = ServerThread(world.myogo.app).start()
    woo_server = ServerThread(create_app(world.woo)).start()
    workdir = Path(tempfile.mkdtemp(prefix="ogo-syncd-demo-"))
    config_path = workdir / "config.toml"
    config_path.write_text(CONFIG.format(
        state=workdir / "state.sqlite", myogo=myogo_server.url, woo=woo_server.url,
        interval=max(1, round(interval)), key=KEY, secret=SECRET))
    console.print(f"myOGO simulator  {myogo_server.url}  (client 123456/abcdef, merchant demo)")
    console.print(f"WooCommerce sim  {woo_server.url}/wp-json/wc/v3  (key {KEY})")
    console.print(f"config           {config_path}\n")
    config = load_config(config_path)
    daemon = Daemon(config, StateDB.from_settings(config.daemon))
    daemon_task = asyncio.create_task(daemon.run())
    try:
        ready = asyncio.create_task(daemon.ready.wait())
        await asyncio.wait({daemon_task, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if daemon.engine is not None:
            daemon.engine.on_result.append(world.on_result)
        cycle = 0
        live = console.is_terminal
        with Live(world.render(0, cycles), console=console,
                  auto_refresh=False) if live else contextlib.nullcontext() as screen:
            while cycles is None or cycle < cycles:
                if daemon_task.done():
                    break
                cycle += 1
                await asyncio.sleep(interval)
                world.shopper()
                world.warehouse()
                if screen is not None:
                    screen.update(world.render(cycle, cycles), refresh=True)
                else:
                    console.print(world.render(cycle, cycles))
            # Let the last orders go through the whole loop before the summary.
            for _ in range(int(60 / interval)):
                if world.converged() or daemon_task.done():
                    break
                world.warehouse(ship_all=True)
                await asyncio.sleep(interval)
                if screen is not None:
                    screen.update(world.render(cycle, cycles), refresh=True)
    finally:
        interrupted = daemon.stop_event.is_set()   # Ctrl-C (SIGINT) or SIGTERM
        daemon.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(daemon_task, 30)
        myogo_server.stop()
        woo_server.stop()
        world.myogo.close()
    return _summary(world, console, interrupted=interrupted)


#: exit status after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2)
EXIT_INTERRUPTED = 130


def _summary(world: DemoWorld, console: Console, *, interrupted: bool = False) -> int:
    """The final table; 0 when every flow moved data and caught up.

    After Ctrl-C the last items may still be on their way: a flow that has not moved data
    yet shows "not yet" (not "no"), and the exit status is 130, as for any Ctrl-C.
    """
    figures = world.figures()
    title = "ogo-syncd demo summary" + (" (interrupted: items still on their way are not "
                                        "in step yet)" if interrupted else "")
    table = Table(title=title)
    for column in ("flow", "in step", "written by ogo-syncd", "flowing"):
        table.add_column(column)
    ok = True
    for flow, (done, expected) in figures.items():
        moved = world.flow_counts[flow] > 0
        flowing = moved and done == expected and expected > 0
        ok = ok and flowing
        if interrupted:
            cell = "[green]yes[/]" if moved else "[yellow]not yet[/]"
        else:
            cell = "[green]yes[/]" if flowing else "[red]no[/]"
        table.add_row(flow, f"{done}/{expected}", str(world.flow_counts[flow]), cell)
    console.print(table)
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if ok else 1


__all__: list[Any] = ["run_demo"]
