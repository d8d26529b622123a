"""Fleet mode against a real PostgreSQL: workers share the work through procrastinate.

Thirty WooCommerce simulators (three merchants, one config file each) and the myOGO
simulator over real HTTP; three ``ogo-syncd worker`` processes, one of them SIGKILLed
over and over mid-run. Asserted on state: every order in myOGO once, every shipment in
its store once with one customer mail, no (store, flow) ever run twice at once (from
``job_run``), the runs spread over the workers, a killed worker's job requeued and run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from procrastinate.jobs import Status
from sqlmodel import select

from syncd.errors import ConfigError
from syncd.fleet.configs import load_configs
from syncd.fleet.queue import (
    QUEUE,
    TASK,
    Deferrer,
    Scheduled,
    apply_schema,
    defer_run,
    delete_old_jobs,
    make_app,
    requeue_if_stalled,
)
from syncd.state.db import StateDB
from syncd.state.tables import JobRun
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import ServerThread
from syncd.testing.woo_sim import KEY, SECRET, WooStore, create_app, signed_delivery
from tests.conftest import Sims, config_text
from tests.daemon_proc import EXE, run_cli, stop, wait_for
from tests.pg_server import pg_server, pg_url
from tests.test_flows import place_order, seed_catalogue
from tests.test_webhooks_e2e import WOO_HOOK_SECRET, free_port

FIXTURES = (pg_server, pg_url)      # imported so pytest finds them here

STORES = 30
MERCHANTS = 3
WORKERS = 3
KILLS = int(os.environ.get("OGO_SYNCD_FLEET_KILLS", "5"))
SEED = int(os.environ.get("OGO_SYNCD_SEED", "20261202"))
SKUS = [f"K-{i}" for i in range(5)]
PERSON = {"first_name": "Ville", "last_name": "Varasto", "address_1": "Hyllytie 2",
          "city": "Tampere", "postcode": "33100", "country": "FI"}


# ---------------------------------------------------------------- thirty stores, one port


@dataclass
class Fleet:
    myogo: MyogoSim
    myogo_url: str
    woos: list[WooStore]
    woo_url: str                     # store i answers under {woo_url}/s{i}

    def prefix(self, i: int) -> str:
        return f"S{i:02d}-"


def _mux(apps: list[Any]) -> Any:
    """``/s{i}/...`` goes to store i's simulator."""
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/s"):
            head, _, rest = scope["path"][2:].partition("/")
            if head.isdigit() and int(head) < len(apps):
                inner = dict(scope, path="/" + rest, raw_path=("/" + rest).encode())
                await apps[int(head)](inner, receive, send)
                return
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
    return app


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    myogo = MyogoSim(merchants={f"m{k}": f"secret{k}" for k in range(MERCHANTS)})
    myogo.seed_products([{"code": sku, "name": f"Item {sku}", "languageCode": "fi",
                          "stock": 100_000} for sku in SKUS])
    woos = [WooStore() for _ in range(STORES)]
    for woo in woos:
        for sku in SKUS:
            woo.add_product(f"Item {sku}", sku, stock=0)
    m = ServerThread(myogo.app).start()
    w = ServerThread(_mux([create_app(woo) for woo in woos])).start()
    try:
        yield Fleet(myogo, m.url, woos, w.url)
    finally:
        w.stop()
        m.stop()
        myogo.close()


def write_configs(fleet: Fleet, directory: Path, url: str, *, interval: str = "2s",
                  extra_daemon: str = "") -> Path:
    """One config file per merchant, ``STORES / MERCHANTS`` stores each."""
    directory.mkdir(exist_ok=True)
    per = STORES // MERCHANTS
    for k in range(MERCHANTS):
        head = textwrap.dedent(f"""\
            [daemon]
            state_db = "{url}"
            log_format = "json"
            log_level = "info"
            write_concurrency = 4
            shutdown_grace_seconds = 20
            worker_timeout_seconds = 10
            {extra_daemon}

            [myogo]
            api_url = "{fleet.myogo_url}/api/v1"
            token_url = "{fleet.myogo_url}/OAuth/Token"
            merchant_id = "m{k}"
            secret_token = "secret{k}"
            timeout = 1.5
            rate_limit = 1000
            """)
        stores = [textwrap.dedent(f"""
            [[stores]]
            name = "s{i:02d}"
            connector = "woocommerce"
            reference_prefix = "{fleet.prefix(i)}"
            language = "fi"
            currency = "EUR"
            shipping_map = {{ "flat_rate:1" = "POSTI" }}
            [stores.schedule]
            products = "1h"
            orders = "{interval}"
            stock = "off"
            tracking = "{interval}"
            [stores.options]
            url = "{fleet.woo_url}/s{i}"
            consumer_key = "{KEY}"
            consumer_secret = "{SECRET}"
            allow_http = true
            page_size = 20
            """) for i in range(k * per, (k + 1) * per)]
        (directory / f"merchant{k}.toml").write_text(head + "".join(stores))
    return directory


@dataclass
class Tally:
    orders: list[tuple[int, int]] = field(default_factory=list)   # (store, Woo order id)
    shipped: dict[str, str] = field(default_factory=dict)          # reference -> numbers


def shop(fleet: Fleet, rng: random.Random, tally: Tally, count: int) -> None:
    for _ in range(count):
        i = rng.randrange(STORES)
        order_id = fleet.woos[i].add_order(
            [(rng.choice(SKUS), rng.randint(1, 3))], status="processing",
            billing={**PERSON, "email": "v@example.com"}, shipping=PERSON)
        tally.orders.append((i, order_id))


def warehouse(fleet: Fleet, rng: random.Random, tally: Tally, count: int) -> None:
    waiting = [o["reference"] for o in fleet.myogo.orders if o["status"] == "new"]
    for reference in rng.sample(waiting, min(count, len(waiting))):
        numbers = f"JJ{reference}" + (f",JX{reference}" if rng.random() < 0.3 else "")
        fleet.myogo.collect(reference)
        fleet.myogo.ship(reference, numbers, f"https://track.example/{reference}")
        tally.shipped[reference] = numbers


def _split(fleet: Fleet, reference: str) -> tuple[WooStore, int]:
    store, _, order_id = reference.partition("-")
    return fleet.woos[int(store[1:])], int(order_id)


def converged(fleet: Fleet, tally: Tally) -> bool:
    for i, order_id in tally.orders:
        if not fleet.myogo.orders_by_reference(f"{fleet.prefix(i)}{order_id}"):
            return False
    for reference, numbers in tally.shipped.items():
        woo, order_id = _split(fleet, reference)
        have = {t["tracking_number"] for t in woo.trackings(order_id)}
        if have != set(numbers.split(",")) or woo.order(order_id)["status"] != "completed":
            return False
    return True


# ---------------------------------------------------------------- worker processes


def start_worker(configs: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*EXE, "worker", "--config", str(configs)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _started(log: Path) -> int:
    return log.read_text().count('"event": "worker_started"') if log.exists() else 0


def _running_on(db: StateDB, pid: int) -> bool:
    """A flow of worker ``pid`` is mid-run (its job_run row is open)."""
    with db.engine.connect() as conn:
        return bool(conn.exec_driver_sql(
            "SELECT count(*) FROM job_run WHERE finished_at IS NULL AND worker LIKE %s",
            (f"%:{pid}#%",)).scalar())


def _orphaned(db: StateDB) -> int:
    """Jobs still ``doing`` on a worker that no longer heartbeats (a SIGKILLed one)."""
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql(
            "SELECT count(*) FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w"
            " ON w.id = j.worker_id WHERE j.status = 'doing'"
            " AND (w.id IS NULL OR w.last_heartbeat < now() - interval '7 seconds')").scalar())


def _overlaps(db: StateDB) -> list[str]:
    """Finished runs of one (store, flow) that overlap in time: two runners at once."""
    with db.session() as session:
        rows = list(session.exec(select(JobRun).where(JobRun.finished_at.is_not(None))  # type: ignore[union-attr]
                                 .order_by(JobRun.store, JobRun.job, JobRun.started_at)))
    bad = []
    for before, after in itertools.pairwise(rows):
        if (before.store, before.job) == (after.store, after.job) and (
                before.finished_at is not None and before.finished_at > after.started_at):
            bad.append(f"{before.store}/{before.job}: {before.started_at}..{before.finished_at}"
                       f" ({before.worker}) vs {after.started_at} ({after.worker})")
    return bad


def _now(db: StateDB) -> Any:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT now()").scalar()


def _runs_per_slot(db: StateDB, slot_of: dict[int, int], since: Any = None) -> Counter[int]:
    """Runs per worker slot (a restarted worker keeps its slot), from ``job_run.worker``."""
    with db.session() as session:
        query = select(JobRun)
        if since is not None:
            query = query.where(JobRun.started_at >= since)
        runs = list(session.exec(query))
    out: Counter[int] = Counter()
    for run in runs:
        assert run.worker is not None and re.fullmatch(r".+:\d+#\d+", run.worker), run.worker
        out[slot_of[int(run.worker.split(":")[-1].split("#")[0])]] += 1
    return out


def test_three_workers_share_thirty_stores_while_one_is_killed_over_and_over(
    fleet: Fleet, tmp_path: Path, pg_url: str
) -> None:
    rng = random.Random(SEED)
    fleet.myogo.add_fault("commit_timeout", method="POST", path="/orders$", rate=0.1,
                          seconds=3, seed=SEED)
    fleet.myogo.add_fault("latency", seconds=0.05, seed=SEED)  # runs long enough to hit
    configs = write_configs(fleet, tmp_path / "configs", pg_url)
    db = StateDB(pg_url)
    logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
    workers = [start_worker(configs, log) for log in logs]
    slot_of: dict[int, int] = {p.pid: n for n, p in enumerate(workers)}   # pid -> worker slot
    tally = Tally()
    kills = in_run = 0
    try:
        for log in logs:
            wait_for(lambda log=log: _started(log) > 0, 90, f"{log.name} to start")
        steady_from = _now(db)          # all three up: how do they split the work?
        for _ in range(5):
            shop(fleet, rng, tally, rng.randint(3, 8))
            warehouse(fleet, rng, tally, rng.randint(1, 5))
            time.sleep(2)
        steady = _runs_per_slot(db, slot_of, since=steady_from)
        for _ in range(KILLS):
            shop(fleet, rng, tally, rng.randint(3, 8))
            warehouse(fleet, rng, tally, rng.randint(1, 5))
            victim = workers[-1]
            if victim.poll() is not None:
                before = _started(logs[-1])
                victim = workers[-1] = start_worker(configs, logs[-1])
                slot_of[victim.pid] = WORKERS - 1
                wait_for(lambda b=before: _started(logs[-1]) > b, 90, "the victim to start")
            # Kill it while one of its flows is mid-run when it gets one soon.
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and not _running_on(db, victim.pid):
                time.sleep(0.02)
            in_run += _running_on(db, victim.pid)
            victim.kill()
            victim.wait()
            kills += 1
            time.sleep(rng.uniform(0.5, 2.5))
            assert all(w.poll() is None for w in workers[:-1]), logs[0].read_text()[-2000:]
        victim = workers[-1] = start_worker(configs, logs[-1])
        slot_of[victim.pid] = WORKERS - 1
        warehouse(fleet, rng, tally, len(tally.orders))
        fleet.myogo.clear_faults()

        def settle() -> bool:
            warehouse(fleet, rng, tally, len(tally.orders))
            return converged(fleet, tally)
        wait_for(settle, 120, "every order in myOGO and every shipment in its store")

        wait_for(lambda: _orphaned(db) == 0, 60, "the killed worker's last jobs to be requeued")
        status = run_cli("status", "--json", "--config", str(configs))
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)["fleet"]
        table = run_cli("status", "--config", str(configs), env={"COLUMNS": "200"})
        assert table.returncode == 0, table.stderr
        assert "fleet workers" in table.stdout and f":{workers[0].pid}#" in table.stdout
    finally:
        codes = [stop(w, 60) if w.poll() is None else 0 for w in workers]
    text = "".join(log.read_text() for log in logs)
    assert codes == [0] * WORKERS, text[-3000:]      # SIGTERM drains and exits 0

    duplicates = [(i, o) for i, o in tally.orders
                  if len(fleet.myogo.orders_by_reference(f"{fleet.prefix(i)}{o}")) != 1]
    bad_tracking, bad_mail = [], []
    for reference, numbers in tally.shipped.items():
        woo, order_id = _split(fleet, reference)
        listed = [t["tracking_number"] for t in woo.trackings(order_id)]
        if sorted(listed) != sorted(numbers.split(",")):
            bad_tracking.append((reference, listed))
        mails = [m for m in woo.customer_emails(order_id)
                 if any(n in m.body for n in numbers.split(","))]
        if len(mails) != 1:
            bad_mail.append((reference, len(mails)))
    per_slot = _runs_per_slot(db, slot_of)
    with db.session() as session:
        runs = list(session.exec(select(JobRun)))
    killed_mid_run = sum(1 for r in runs if r.finished_at is None)
    with db.engine.connect() as conn:
        requeued = conn.exec_driver_sql(
            "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s AND attempts > 1"
            " AND status = 'succeeded'", (QUEUE,)).scalar()
        left = dict(conn.exec_driver_sql(
            "SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name = %s"
            " GROUP BY 1", (QUEUE,)).all())
    overlaps = _overlaps(db)
    db.dispose()
    total = sum(per_slot.values())
    requeue_events = text.count('"event": "fleet_job_requeued"')
    print(f"fleet: workers={WORKERS} stores={STORES} kills={kills} kills_mid_run={in_run} "
          f"orders={len(tally.orders)} shipped={len(tally.shipped)} runs={total} "
          f"per_worker={dict(sorted(per_slot.items()))} "
          f"steady_per_worker={dict(sorted(steady.items()))} "
          f"requeue_events={requeue_events} killed_mid_run={killed_mid_run} "
          f"requeued_and_run={requeued} jobs={left} overlapping_runs={len(overlaps)} "
          f"duplicate_orders={len(duplicates)} bad_tracking={len(bad_tracking)} "
          f"bad_notifications={len(bad_mail)}")
    assert kills == KILLS
    assert duplicates == [] and bad_tracking == [] and bad_mail == []
    assert overlaps == []                        # never two runners of one flow at once
    # A fair share while all three live; over the whole test every worker worked (the
    # victim less: it spent much of the time dead or starting).
    assert len(steady) == WORKERS and max(steady.values()) <= sum(steady.values()) / 2
    assert len(per_slot) == WORKERS
    assert in_run >= KILLS // 2 and killed_mid_run >= 1     # the kills landed inside runs
    # A dead worker's job was taken back: requeued and run by another worker, or closed
    # (failed) when a run of that flow was already waiting to do the work.
    assert requeued + left.get("failed", 0) >= 1 and requeue_events >= 1
    assert "doing" not in left and "aborted" not in left   # SIGTERM let the runs finish
    assert len(tally.shipped) >= KILLS
    # status: the three live workers alive (a killed one may linger as not alive until
    # pruned); the two never killed named by host:pid, with their recent runs
    assert sum(w["alive"] for w in shown["workers"]) >= WORKERS
    for proc in workers[:-1]:
        [row] = [w for w in shown["workers"] if f":{proc.pid}#" in w["name"]]
        assert row["alive"] and row["runs_10m"] > 0
    assert "Traceback" not in text and "worker_declared_dead" not in text


# ---------------------------------------------------------------- the parts


def test_every_worker_defers_but_each_slot_makes_one_job_and_one_waits_at_most(
    pg_url: str,
) -> None:
    db = StateDB(pg_url)
    db.migrate()
    assert apply_schema(db) and not apply_schema(db)       # applied once, then present

    async def go() -> tuple[list[int], int | None, int | None]:
        apps = [make_app(db) for _ in range(3)]
        for app in apps:
            await app.open_async()
        try:
            scheduled = [Scheduled("shop", "orders", 60.0), Scheduled("shop", "stock", 60.0)]
            deferrers = [Deferrer(app, scheduled) for app in apps]
            now = time.time()
            await asyncio.gather(*(d.tick(now) for d in deferrers))
            await asyncio.gather(*(d.tick(now) for d in deferrers))   # same slot again
            counts = [d.deferred for d in deferrers]
            webhook = await defer_run(apps[0], "shop", "orders", trigger="webhook")
            other = await defer_run(apps[1], "shop", "tracking", trigger="webhook")
            jobs = await apps[0].job_manager.list_jobs_async()
            for job in jobs:                   # all done; then clean up old jobs
                await apps[0].job_manager.finish_job_by_id_async(
                    job.id, status=Status.SUCCEEDED, delete_job=False)
            await delete_old_jobs(apps[0], hours=0)
            return counts, webhook, other
        finally:
            for app in apps:
                await app.close_async()

    counts, webhook, other = asyncio.run(go())
    with db.engine.connect() as conn:
        jobs = conn.exec_driver_sql(
            "SELECT lock, queueing_lock, args->>'trigger', status::text FROM procrastinate_jobs"
            " ORDER BY lock").all()
    db.dispose()
    assert sum(counts) == 2                      # one job per (store, flow) and slot
    assert webhook is None                       # one is waiting already: it will do
    assert other is not None
    # The webhook's job was cleaned up; the schedule's stay while their periodic-defer row
    # points at them (procrastinate's foreign key).
    assert jobs == [("shop:orders", "shop:orders", "schedule", "succeeded"),
                    ("shop:stock", "shop:stock", "schedule", "succeeded")]


def test_slots_spread_flows_over_the_interval_and_advance_once_per_interval() -> None:
    items = [Scheduled(f"s{i}", "orders", 120.0) for i in range(40)]
    phases = {item.phase for item in items}
    assert len(phases) > 20 and all(0 <= p < 120 for p in phases)
    item = items[0]
    t = 1_700_000_000.0
    slots = sorted({item.slot(t + dt) for dt in range(0, 600)})
    assert len(slots) in (5, 6) and all((s - item.phase) % 120 == 0 for s in slots)
    assert {b - a for a, b in itertools.pairwise(slots)} == {120}   # one slot per interval
    assert slots[0] <= t < slots[0] + 120 and slots[-1] <= t + 599


def test_config_directory_store_names_must_be_unique_across_files(tmp_path: Path) -> None:
    fleet = Fleet(MyogoSim(), "http://127.0.0.1:9", [], "http://127.0.0.1:9")
    configs = write_configs(fleet, tmp_path / "configs", "postgresql://u@127.0.0.1/db")
    assert [len(c.stores) for c in load_configs(configs)] == [STORES // MERCHANTS] * MERCHANTS
    clash = (configs / "merchant2.toml").read_text().replace('name = "s20"', 'name = "s05"')
    (configs / "merchant2.toml").write_text(clash)
    with pytest.raises(ConfigError) as info:
        load_configs(configs)
    assert info.value.key == "stores.name"
    assert "'s05'" in info.value.message and "merchant0.toml" in info.value.message
    assert "merchant2.toml" in info.value.message
    done = run_cli("worker", "--config", str(configs))
    assert done.returncode == 78 and "config error: stores.name:" in done.stderr

    (configs / "merchant2.toml").write_text(clash.replace('"s05"', '"s20"').replace(
        "postgresql://u@127.0.0.1/db", "postgresql://u@127.0.0.1/other"))
    done = run_cli("worker", "--config", str(configs))
    assert done.returncode == 78 and "config error: daemon.state_db:" in done.stderr

    for path in configs.glob("*.toml"):
        path.write_text(path.read_text().replace(
            "postgresql://u@127.0.0.1/other", "postgresql://u@127.0.0.1/db").replace(
            "postgresql://u@127.0.0.1/db", str(tmp_path / "state.sqlite")))
    done = run_cli("worker", "--config", str(configs))
    assert done.returncode == 78 and "config error: daemon.state_db:" in done.stderr
    assert "PostgreSQL" in done.stderr
    done = run_cli("run", "--config", str(configs))
    assert done.returncode == 78 and "ogo-syncd worker" in done.stderr


def test_a_webhook_to_a_worker_queues_the_flow_as_a_job(
    sims: Sims, tmp_path: Path, pg_url: str
) -> None:
    """In fleet mode a delivery defers the matching job (any worker may run it) instead of
    running the flow in the process that received it."""
    port = free_port()
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, Path("PLACEHOLDER"), schedule="1h")
                    .replace('state_db = "PLACEHOLDER"', f'state_db = "{pg_url}"')
                    + f'webhook_secret = "{WOO_HOOK_SECRET}"\n')
    seed_catalogue(sims.woo)
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([*EXE, "worker", "--config", str(path), "--http-listen",
                                 f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    db = StateDB(pg_url)
    try:
        wait_for(lambda: _started(log) > 0, 90, "the worker to start")
        wait_for(lambda: _job_rows(db, "orders") == [("schedule", "succeeded")], 60,
                 "the start-up orders run")
        order = place_order(sims.woo, [("SKU-1", 1)])     # the next run is an hour away
        headers, body = signed_delivery(sims.woo.order(order), WOO_HOOK_SECRET,
                                        "order.updated")
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/store/woo", content=body,
                            headers=headers, timeout=10)
        assert answer.status_code == 202
        wait_for(lambda: len(sims.myogo.orders_by_reference(f"WC-{order}")) == 1, 60,
                 "the order in myOGO")
        wait_for(lambda: _job_rows(db, "orders") == [("schedule", "succeeded"),
                                                     ("webhook", "succeeded")], 30,
                 "the webhook's job to finish")
    finally:
        code = stop(proc)
        db.dispose()
    assert code == 0, log.read_text()[-2000:]


def _job_rows(db: StateDB, flow: str) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(  # type: ignore[misc]
            "SELECT args->>'trigger', status::text FROM procrastinate_jobs"
            " WHERE args->>'flow' = %s ORDER BY id", (flow,)).all()]


def test_migrate_applies_our_schema_and_procrastinates_once(
    sims: Sims, tmp_path: Path, pg_url: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, Path("PLACEHOLDER"))
                    .replace('state_db = "PLACEHOLDER"', f'state_db = "{pg_url}"'))
    first = run_cli("migrate", "--config", str(path))
    second = run_cli("migrate", "--config", str(path))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "fleet queue (procrastinate) created" in first.stdout
    assert "fleet queue (procrastinate) present" in second.stdout
    assert "***@" in first.stdout and "postgresql" in first.stdout      # password masked
    db = StateDB(pg_url)
    try:
        assert db.current_revision() == db.head_revision()
        with db.engine.connect() as conn:
            tables = set(conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").scalars())
    finally:
        db.dispose()
    assert {"procrastinate_jobs", "procrastinate_workers", "procrastinate_periodic_defers",
            "job_run", "order_link"} <= tables and "lease" not in tables



def test_a_stalled_job_is_requeued_once_and_a_live_workers_job_never(pg_url: str) -> None:
    """Every worker sweeps for stalled jobs: a job another worker already requeued (and
    that may be running again on a live worker) must not be requeued a second time."""
    db = StateDB(pg_url)
    db.migrate()
    apply_schema(db)

    async def go() -> list[Any]:
        app = make_app(db)
        await app.open_async()
        try:
            manager = app.job_manager
            dead, alive = await manager.register_worker(), await manager.register_worker()
            await defer_run(app, "shop", "orders", trigger="webhook")
            first = await manager.fetch_job(queues=[QUEUE], worker_id=dead)
            await defer_run(app, "shop", "stock", trigger="webhook")
            other = await manager.fetch_job(queues=[QUEUE], worker_id=alive)
            await app.connector.execute_query_async(   # the dead one went silent
                query="UPDATE procrastinate_workers SET last_heartbeat = now() - "
                      "interval '1 minute' WHERE id = %(id)s", id=dead)
            stalled = [j.id for j in await manager.get_stalled_jobs(
                task_name=TASK, seconds_since_heartbeat=10)]
            once = await asyncio.to_thread(requeue_if_stalled, db, first.id, 10)
            again = await asyncio.to_thread(requeue_if_stalled, db, first.id, 10)   # stale list
            rerun = await manager.fetch_job(queues=[QUEUE], worker_id=alive)
            late = await asyncio.to_thread(requeue_if_stalled, db, first.id, 10)    # running now
            live = await asyncio.to_thread(requeue_if_stalled, db, other.id, 10)
            # a stalled job whose flow already has a run waiting is closed instead
            await app.connector.execute_query_async(
                query="UPDATE procrastinate_jobs SET worker_id = %(id)s WHERE id = %(job)s",
                id=dead, job=other.id)
            await defer_run(app, "shop", "stock", trigger="webhook")
            closed = await asyncio.to_thread(requeue_if_stalled, db, other.id, 10)
            return [stalled == [first.id], once, again, rerun.id == first.id, late, live,
                    closed]
        finally:
            await app.close_async()

    outcome = asyncio.run(go())
    with db.engine.connect() as conn:
        statuses = conn.exec_driver_sql(
            "SELECT lock, status::text FROM procrastinate_jobs ORDER BY id").all()
    db.dispose()
    assert outcome == [True, "requeued", None, True, None, None, "closed"]
    assert statuses == [("shop:orders", "doing"), ("shop:stock", "failed"),
                        ("shop:stock", "todo")]
