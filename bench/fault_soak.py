"""Fault soak against the real daemon process: 30 % of requests fail, then it converges.

    .venv/bin/python bench/fault_soak.py                     # 180 s of faults
    .venv/bin/python bench/fault_soak.py --seconds 60 --rate 0.5

The longer sibling of ``tests/test_fault_soak.py`` (same fault mix, same shopper, merchant
and warehouse), but the daemon is a real subprocess (``python -m syncd run``) on its own
scheduler, as systemd runs it. During ``--seconds`` both simulators fail ``--rate`` of
their requests: 5xx, 429 with Retry-After, dropped connections, writes stored but never
answered (on the store side held past the store client's 30 s timeout, ``--woo-hold``)
and latency spikes of 1-5 s. Then the faults stop and the harness waits until orders,
products, stock and tracking agree on both sides. Prints the figures; exits 1 if anything
is duplicated, missing or stale, or a transient fault parked an item as bad data.
"""

from __future__ import annotations

import argparse
import json
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

from syncd.config import load_config  # noqa: E402
from syncd.state.db import StateDB  # noqa: E402
from syncd.state.ops import failures  # noqa: E402
from syncd.testing.myogo_sim import MyogoSim  # noqa: E402
from syncd.testing.server import serve_in_thread  # noqa: E402
from syncd.testing.woo_sim import WooStore, create_app  # noqa: E402
from tests.conftest import Sims, config_text  # noqa: E402
from tests.daemon_proc import start_daemon, stop, wait_for  # noqa: E402
from tests.test_fault_soak import (  # noqa: E402
    WooFaults,
    World,
    inject_myogo_faults,
    measure,
    merchant,
    seed_shop,
    shopper,
    stock_all,
    warehouse,
)

MYOGO_TIMEOUT = 3.0


@dataclass
class Figures:
    orders: int = 0
    shipped: int = 0
    edits: int = 0
    stock_changes: int = 0
    myogo_requests_faulty: int = 0
    myogo_faults: Counter[str] = field(default_factory=Counter)
    woo_requests_faulty: int = 0
    woo_faults: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    failed_runs: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    parked: list[str] = field(default_factory=list)
    tracebacks: int = 0
    exit_code: int | None = None
    converge_seconds: float = 0.0
    wall_seconds: float = 0.0


def read_log(log: Path, figures: Figures) -> None:
    """Count the daemon's ``job_run`` events (JSON lines) per flow, and failed ones."""
    text = log.read_text(errors="replace")
    figures.tracebacks = text.count("Traceback")
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "job_run":
            flow = str(event.get("flow"))
            figures.runs[flow] += 1
            if not event.get("ok"):
                figures.failed_runs[flow] += 1


def run(seconds: float, rate: float, seed: int, products: int, woo_hold: float,
        converge_timeout: float, workdir: Path) -> Figures:
    t0 = time.monotonic()
    figures = Figures()
    world = World(random.Random(seed))
    myogo = MyogoSim()
    woo = WooStore()
    woo_faults = WooFaults(create_app(woo), rate=rate, seed=seed, hold=woo_hold)
    woo_faults.enabled = False
    seed_shop(woo, myogo, world, products=products)
    with serve_in_thread(myogo.app) as m, serve_in_thread(woo_faults) as w:
        sims = Sims(myogo, m.url, woo, w.url)
        config = workdir / "config.toml"
        config.write_text(config_text(sims, workdir / "state.sqlite", schedule="2s",
                                      timeout=MYOGO_TIMEOUT))
        log = workdir / "daemon.log"
        log.write_bytes(b"")
        proc = start_daemon(config, log)
        try:
            wait_for(lambda: {p["code"] for p in myogo.products} >= set(world.skus), 120,
                     "the catalogue in myOGO")
            stock_all(myogo, world)
            inject_myogo_faults(myogo, rate, seed, MYOGO_TIMEOUT)
            woo_faults.enabled = True
            before = sum(myogo.request_counts().values())
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                shopper(woo, world, world.rng.randint(0, 2))
                if world.rng.random() < 0.3:
                    merchant(woo, world)
                warehouse(myogo, world, ship=world.rng.randint(0, 2), restock=1)
                time.sleep(1.0)
            figures.myogo_requests_faulty = sum(myogo.request_counts().values()) - before
            figures.myogo_faults = Counter(myogo.faults.fired)  # type: ignore[attr-defined]
            myogo.clear_faults()
            woo_faults.enabled = False
            t_converge = time.monotonic()
            deadline = t_converge + converge_timeout
            while time.monotonic() < deadline:
                warehouse(myogo, world, ship=len(world.orders), restock=0)
                figures.bad = measure(sims, world)
                if not figures.bad and len(world.shipped) == len(world.orders):
                    break
                time.sleep(2.0)
            figures.converge_seconds = time.monotonic() - t_converge
        finally:
            figures.exit_code = stop(proc, timeout=60)
        figures.bad = measure(sims, world)
        read_log(log, figures)
        db = StateDB.from_settings(load_config(config).daemon)
        with db.session() as session:
            figures.parked = [f"{f.flow} {f.key}: {f.reason}" for f in failures(session)]
    myogo.close()
    figures.woo_requests_faulty = woo_faults.requests
    figures.woo_faults = Counter(woo_faults.fired)
    figures.orders, figures.shipped = len(world.orders), len(world.shipped)
    figures.edits, figures.stock_changes = world.edits, world.stock_changes
    figures.wall_seconds = time.monotonic() - t0
    return figures


def share(faults: Counter[str], requests: int) -> str:
    total = sum(faults.values())
    return f"{total} of {requests} ({100 * total / max(requests, 1):.0f} %) {dict(faults)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long faults last")
    parser.add_argument("--rate", type=float, default=0.30, help="share of requests failing")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--products", type=int, default=40)
    parser.add_argument("--woo-hold", type=float, default=31.0,
                        help="seconds a stored-but-unanswered store write holds the line")
    parser.add_argument("--converge-timeout", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ogo-soak-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        f = run(args.seconds, args.rate, args.seed, args.products, args.woo_hold,
                args.converge_timeout, workdir)
    print(f"fault soak (seed {args.seed}, {args.seconds:.0f} s of faults at "
          f"{100 * args.rate:.0f} %):")
    print(f"  orders / shipped         {f.orders} / {f.shipped}")
    print(f"  product edits            {f.edits}")
    print(f"  myOGO stock changes      {f.stock_changes}")
    print(f"  myOGO faults             {share(f.myogo_faults, f.myogo_requests_faulty)}")
    print(f"  store faults             {share(f.woo_faults, f.woo_requests_faulty)}")
    print("  flow runs (failed)       "
          + ", ".join(f"{k} {v} ({f.failed_runs[k]})" for k, v in sorted(f.runs.items())))
    print(f"  duplicated/missing/stale {dict(f.bad) or 0}")
    print(f"  parked by faults         {len(f.parked)}")
    print(f"  tracebacks in daemon log {f.tracebacks}")
    print(f"  SIGTERM exit code        {f.exit_code}")
    print(f"  converge after faults    {f.converge_seconds:.1f} s")
    print(f"  wall time                {f.wall_seconds:.1f} s")
    for line in f.parked[:10]:
        print(f"  parked: {line}")
    return 1 if f.bad or f.parked or f.tracebacks or f.exit_code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
