"""PostgreSQL state and several daemons sharing it, against a real PostgreSQL server.

The same migrations as SQLite; leases per (store, flow) so two daemons on one database
never run the same flow at once; store names claimed per merchant; and two real daemon
processes, one SIGKILLed over and over mid-flow while the other keeps going, losing and
duplicating nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from syncd.config import load_config
from syncd.engine import Engine
from syncd.errors import ConfigError
from syncd.state.db import StateDB
from syncd.state.lease import (
    LEASE_SECONDS_ENV,
    RESERVE_SHARE_ENV,
    LeaseManager,
    claim_stores,
    release,
    renew,
    try_acquire,
)
from syncd.state.tables import JobRun
from tests.conftest import Sims, config_text
from tests.daemon_proc import start_daemon, stop, wait_for
from tests.pg_server import pg_server, pg_url
from tests.test_crash import SKUS, Tally, converged, shop, warehouse

FIXTURES = (pg_server, pg_url)      # imported so pytest finds them here

KILLS = int(os.environ.get("OGO_SYNCD_PG_KILLS", "8"))
SEED = int(os.environ.get("OGO_SYNCD_SEED", "20261124"))
TEST_LEASE_SECONDS = 3


@pytest.fixture
def db(pg_url: str) -> StateDB:
    state = StateDB(pg_url)
    state.migrate()
    yield state  # type: ignore[misc]
    state.dispose()


def pg_config(sims: Sims, tmp_path: Path, url: str, **kwargs: object) -> Path:
    """The conftest config, its ``state_db`` pointing at PostgreSQL."""
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, Path("PLACEHOLDER"), **kwargs)  # type: ignore[arg-type]
                    .replace('state_db = "PLACEHOLDER"', f'state_db = "{url}"'))
    return path


# ---------------------------------------------------------------- schema and migrations


def test_migrations_on_postgres_match_the_tables_with_aware_timestamps(pg_url: str) -> None:
    db = StateDB(pg_url.replace("postgresql+psycopg://", "postgresql://"))  # psycopg 3 anyway
    assert db.engine.dialect.driver == "psycopg" and db.is_postgres
    assert db.current_revision() is None
    db.migrate()
    assert db.current_revision() == db.head_revision()
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                 SQLModel.metadata)
        kinds = dict(conn.execute(sa.text(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type LIKE 'timestamp%'")).all())
    assert diffs == []
    assert kinds["order_link.updated_at"] == "timestamp with time zone"
    assert kinds["lease.expires_at"] == "timestamp with time zone"
    assert set(kinds.values()) == {"timestamp with time zone"}

    helsinki = timezone(timedelta(hours=2))
    with db.session() as session:
        session.add(JobRun(store="s", job="orders",
                           started_at=datetime(2026, 1, 2, 12, 0, tzinfo=helsinki)))
        session.commit()
    with db.session() as session:
        row = session.exec(select(JobRun)).one()
    assert row.started_at == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert row.started_at.utcoffset() == timedelta(0)

    command.downgrade(db.alembic_config(), "base")
    assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
    db.migrate()
    assert db.current_revision() == db.head_revision()
    db.dispose()


def test_daemons_starting_together_migrate_once(pg_url: str) -> None:
    dbs = [StateDB(pg_url) for _ in range(4)]
    barrier = threading.Barrier(len(dbs))
    errors: list[BaseException] = []

    def start(db: StateDB) -> None:
        barrier.wait()
        try:
            db.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with dbs[0].engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert versions == [(dbs[0].head_revision(),)]
    for db in dbs:
        db.dispose()


# ---------------------------------------------------------------- leases


def test_simultaneous_first_acquire_has_exactly_one_winner(db: StateDB) -> None:
    holders = [f"replica-{i}" for i in range(6)]
    for round_ in range(15):
        barrier = threading.Barrier(len(holders))
        winners: list[str] = []

        def race(holder: str, flow: str, barrier: threading.Barrier,
                 winners: list[str]) -> None:
            barrier.wait()
            if try_acquire(db, "shop", flow, "merchant:m", holder, 30):
                winners.append(holder)

        threads = [threading.Thread(target=race, args=(h, f"flow{round_}", barrier, winners))
                   for h in holders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(winners) == 1, f"round {round_}: {winners}"


def test_two_concurrent_acquirers_never_both_hold_the_lease(db: StateDB) -> None:
    inside = 0
    most_inside = 0
    guard = threading.Lock()
    got: Counter[str] = Counter()
    deadline = time.monotonic() + 4

    def worker(holder: str) -> None:
        nonlocal inside, most_inside
        while time.monotonic() < deadline:
            if not try_acquire(db, "shop", "orders", "merchant:m", holder, 30):
                continue
            with guard:
                inside += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.002)               # "the run"
            with guard:
                inside -= 1
            got[holder] += 1
            release(db, "shop", "orders", holder)

    threads = [threading.Thread(target=worker, args=(f"r{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    print(f"lease contention: acquisitions={dict(got)} most_inside={most_inside}")
    assert most_inside == 1
    assert set(got) == {"r0", "r1"} and sum(got.values()) >= 20


def test_an_expired_lease_is_taken_over_and_its_old_holder_knows(db: StateDB) -> None:
    assert try_acquire(db, "shop", "stock", "merchant:m", "dead", 1)
    assert not try_acquire(db, "shop", "stock", "merchant:m", "alive", 30)
    assert try_acquire(db, "shop", "stock", "merchant:m", "dead", 1)     # re-entrant
    wait_for(lambda: try_acquire(db, "shop", "stock", "merchant:m", "alive", 30), 10,
             "the expired lease to be taken over")
    assert not renew(db, "shop", "stock", "dead", 1)
    release(db, "shop", "stock", "dead")                                   # not its lease now
    assert renew(db, "shop", "stock", "alive", 30)
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT holder, scope FROM lease").all()
    assert rows == [("alive", "merchant:m")]


async def test_a_run_whose_lease_was_taken_is_told_to_stop(db: StateDB) -> None:
    manager = LeaseManager(db=db, scope="merchant:m", ttl=1.0, holder="me")
    shutdown = asyncio.Event()
    async with manager.hold("shop", "tracking", shutdown) as lease:
        assert lease.held and not lease.stopping.is_set()
        with db.engine.begin() as conn:     # another replica took it (e.g. we stalled)
            conn.exec_driver_sql("UPDATE lease SET holder = 'thief'")
        await asyncio.wait_for(lease.stopping.wait(), 10)
        assert lease.lost and not shutdown.is_set()
    with db.engine.connect() as conn:       # our release left the thief's lease alone
        assert conn.exec_driver_sql("SELECT holder FROM lease").all() == [("thief",)]
    async with manager.hold("shop", "orders", shutdown) as lease:
        shutdown.set()                      # daemon shutdown reaches the run too
        await asyncio.wait_for(lease.stopping.wait(), 5)
        assert not lease.lost


def test_store_names_belong_to_one_merchant_per_database(db: StateDB) -> None:
    claim_stores(db, "merchant:a", ["woo", "shopify"])
    claim_stores(db, "merchant:a", ["woo"])                 # again: fine
    with pytest.raises(ConfigError) as info:
        claim_stores(db, "merchant:b", ["other", "woo"])
    assert "'woo'" in info.value.message and "another merchant" in info.value.message
    assert info.value.key == "stores.name"
    with db.engine.connect() as conn:                       # the refused claim left nothing
        owners = dict(conn.exec_driver_sql("SELECT store, scope FROM store_owner").all())
    assert owners == {"woo": "merchant:a", "shopify": "merchant:a"}


async def test_engine_skips_a_flow_whose_lease_is_held_elsewhere(
    sims: Sims, tmp_path: Path, db: StateDB
) -> None:
    sims.woo.add_product("Mug", "SKU-1", stock=3)
    config = load_config(pg_config(sims, tmp_path, db.url))
    assert try_acquire(db, "woo", "products", "merchant:demo", "other-replica", 60)
    async with Engine(config, db) as engine:
        skipped = await engine.run_flow("woo", "products")
        assert (skipped.ok, dict(skipped.counts)) == (True, {"skipped_lease": 1})
        assert sims.myogo.products == []
        dry = await engine.run_flow("woo", "products", dry_run=True)   # writes nothing: no lease
        assert dry.ok and dry.plan
        release(db, "woo", "products", "other-replica")
        done = await engine.run_flow("woo", "products")
    assert done.ok and done.counts["skipped_lease"] == 0
    assert [p["code"] for p in sims.myogo.products] == ["SKU-1"]
    with db.session() as session:
        runs = [(r.job, r.ok) for r in session.exec(select(JobRun))]
    assert runs == [("products", True)]                     # the skipped run left no trace
    with db.engine.connect() as conn:       # released, kept as a reservation for half of 1m
        leases = conn.exec_driver_sql(
            "SELECT holder, released_at IS NOT NULL, expires_at - acquired_at FROM lease").all()
        assert conn.exec_driver_sql("SELECT scope FROM store_owner").all() == [
            ("merchant:demo",)]
    assert leases == [(engine.leases.holder, True, timedelta(seconds=30))]
    assert not try_acquire(db, "woo", "products", "merchant:demo", "other-replica", 60)


def test_a_finished_run_reserves_its_flow_for_half_an_interval(db: StateDB) -> None:
    """Every replica ticks once per interval: without the reservation each would run it."""
    assert try_acquire(db, "shop", "orders", "merchant:m", "a", 30)
    release(db, "shop", "orders", "a", reserve=1.5)
    assert not try_acquire(db, "shop", "orders", "merchant:m", "b", 30)   # ran just now
    assert try_acquire(db, "shop", "orders", "merchant:m", "a", 30)       # its own next tick
    release(db, "shop", "orders", "a", reserve=1.5)
    wait_for(lambda: try_acquire(db, "shop", "orders", "merchant:m", "b", 30), 10,
             "the reservation to lapse")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT holder, released_at FROM lease").all() == [
            ("b", None)]


# ---------------------------------------------------------------- two real daemons


def _started(log: Path) -> int:
    return log.read_text().count('"event": "daemon_started"') if log.exists() else 0


def _runs(log: Path) -> Counter[str]:
    """Flow runs a replica did (skipped runs log nothing), per flow."""
    runs: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"event": "job_run"' in line:
            runs[json.loads(line)["flow"]] += 1
    return runs


def _holds_lease(db: StateDB, pid: int) -> bool:
    with db.engine.connect() as conn:
        holders = conn.exec_driver_sql("SELECT holder FROM lease").scalars().all()
    return any(h.split(":")[1] == str(pid) for h in holders)


def _wait_quietly(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)


def _overlaps(db: StateDB) -> list[tuple[str, str]]:
    """Finished runs of one (store, flow) that overlap in time: two runners at once."""
    with db.session() as session:
        rows = list(session.exec(select(JobRun).where(JobRun.finished_at.is_not(None))  # type: ignore[union-attr]
                                 .order_by(JobRun.store, JobRun.job, JobRun.started_at)))
    bad = []
    for before, after in itertools.pairwise(rows):
        if (before.store, before.job) == (after.store, after.job) and (
                before.finished_at is not None and before.finished_at > after.started_at):
            bad.append((before.job, f"{before.started_at}..{before.finished_at} vs "
                                    f"{after.started_at}"))
    return bad


def test_two_daemons_share_one_database_while_one_is_killed_over_and_over(
    sims: Sims, tmp_path: Path, db: StateDB
) -> None:
    rng = random.Random(SEED)
    for sku in SKUS:
        sims.woo.add_product(f"Item {sku}", sku, stock=0)
    sims.myogo.seed_products([{"code": sku, "name": f"Item {sku}", "languageCode": "fi",
                               "stock": 100_000} for sku in SKUS])
    sims.myogo.add_fault("commit_timeout", method="POST", path="/orders$", rate=0.1,
                         seconds=3, seed=SEED)
    sims.myogo.add_fault("latency", seconds=0.1, seed=SEED)     # runs long enough to hit
    config = pg_config(sims, tmp_path, db.url, schedule="1s", timeout=1.5)
    # Short leases so a killed replica's runs are taken over within seconds, and no
    # after-run reservation so the replica that gets killed competes for every run (with
    # it, a flow stays with the surviving replica and the kills would rarely land in runs).
    env = {LEASE_SECONDS_ENV: str(TEST_LEASE_SECONDS), RESERVE_SHARE_ENV: "0"}
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    tally = Tally()
    steady = start_daemon(config, log_a, env)
    victim = start_daemon(config, log_b, env)                # both start at once
    kills = in_run = 0
    try:
        for _ in range(KILLS):
            shop(sims.woo, rng, tally, rng.randint(1, 4))
            warehouse(sims.myogo, rng, tally, rng.randint(0, 3))
            if victim.poll() is not None:
                before = _started(log_b)
                victim = start_daemon(config, log_b, env)
                wait_for(lambda b=before: _started(log_b) > b, 60, "replica B to start")
            else:
                wait_for(lambda: _started(log_b) > 0, 60, "replica B to start")
            # Kill while B holds a lease (= is inside a run) when it gets one soon.
            _wait_quietly(lambda pid=victim.pid: _holds_lease(db, pid), 8)
            in_run += _holds_lease(db, victim.pid)
            victim.kill()
            victim.wait()
            kills += 1
            assert steady.poll() is None, log_a.read_text()[-2000:]
        warehouse(sims.myogo, rng, tally, len(tally.orders))
        sims.myogo.clear_faults()
        victim = start_daemon(config, log_b, env)            # both replicas converge together

        def settle() -> bool:
            warehouse(sims.myogo, rng, tally, len(tally.orders))
            return converged(sims, tally)
        wait_for(settle, 120, "every order in myOGO and every shipment in the store")
    finally:
        codes = (stop(steady), stop(victim) if victim.poll() is None else 0)
    assert codes == (0, 0), log_a.read_text()[-2000:]

    duplicates = [o for o in tally.orders
                  if len(sims.myogo.orders_by_reference(f"WC-{o}")) != 1]
    bad_tracking, bad_mail = [], []
    for reference, numbers in tally.shipped.items():
        order_id = int(reference.removeprefix("WC-"))
        listed = [t["tracking_number"] for t in sims.woo.trackings(order_id)]
        if sorted(listed) != sorted(numbers.split(",")):
            bad_tracking.append((reference, listed))
        mails = [m for m in sims.woo.customer_emails(order_id)
                 if any(n in m.body for n in numbers.split(","))]
        if len(mails) != 1:
            bad_mail.append((reference, len(mails)))
    runs_a, runs_b = _runs(log_a), _runs(log_b)
    with db.session() as session:
        killed_mid_run = len(session.exec(
            select(JobRun).where(JobRun.finished_at.is_(None))).all())  # type: ignore[union-attr]
    overlaps = _overlaps(db)
    text = log_a.read_text() + log_b.read_text()
    lost = len(re.findall(r'"event": "lease_lost"', text))
    print(f"two replicas on PostgreSQL: kills={kills} orders={len(tally.orders)} "
          f"shipped={len(tally.shipped)} kills_holding_a_lease={in_run} "
          f"runs_a={sum(runs_a.values())} "
          f"runs_b={sum(runs_b.values())} killed_mid_run={killed_mid_run} "
          f"overlapping_runs={len(overlaps)} leases_lost={lost} "
          f"duplicate_orders={len(duplicates)} bad_tracking={len(bad_tracking)} "
          f"bad_notifications={len(bad_mail)}")
    assert kills == KILLS
    assert duplicates == [] and bad_tracking == [] and bad_mail == []
    assert overlaps == [] and lost == 0          # never two runners of one flow at once
    assert sum(runs_a.values()) > 0 and sum(runs_b.values()) > 0   # both did work
    assert in_run >= KILLS // 2 and killed_mid_run >= 1   # the kills landed inside runs
    assert len(tally.shipped) >= KILLS // 2
    assert "Traceback" not in text
    assert "already" not in text                 # the second daemon was not refused
