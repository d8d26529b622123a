"""PostgreSQL state against a real PostgreSQL server.

The same migrations as SQLite; store names claimed per merchant; one embedded daemon per
database (a second one, or one beside fleet workers, refuses to start). Several workers
sharing the work: tests/test_fleet.py.
"""

from __future__ import annotations

import threading
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
from syncd.state.owners import claim_stores
from syncd.state.tables import JobRun
from tests.conftest import Sims, config_text
from tests.daemon_proc import EXE, start_daemon, stop, wait_for
from tests.pg_server import pg_server, pg_url

FIXTURES = (pg_server, pg_url)      # imported so pytest finds them here


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


# ---------------------------------------------------------------- one embedded daemon


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


async def test_engine_runs_a_flow_on_postgres(sims: Sims, tmp_path: Path, db: StateDB) -> None:
    sims.woo.add_product("Mug", "SKU-1", stock=3)
    config = load_config(pg_config(sims, tmp_path, db.url))
    async with Engine(config, db) as engine:
        done = await engine.run_flow("woo", "products")
    assert done.ok
    assert [p["code"] for p in sims.myogo.products] == ["SKU-1"]
    with db.session() as session:
        runs = [(r.job, r.ok, r.worker) for r in session.exec(select(JobRun))]
    assert runs == [("products", True, None)]


def test_one_embedded_daemon_per_database_and_not_beside_workers(
    sims: Sims, tmp_path: Path, db: StateDB
) -> None:
    """Without leases, two `run` daemons on one database would run every flow twice."""
    import subprocess

    config = pg_config(sims, tmp_path, db.url, schedule="1h")
    first = start_daemon(config, tmp_path / "a.log")
    try:
        wait_for(lambda: '"daemon_started"' in (tmp_path / "a.log").read_text(), 60,
                 "the first daemon to start")
        for command in ("run", "worker"):
            second = subprocess.run([*EXE, command, "--config", str(config)],
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode == 75, second.stderr
            assert "already use the state database" in second.stderr
            assert "postgresql+psycopg://syncd:***@" in second.stderr    # password masked
    finally:
        assert stop(first) == 0
    with db.engine.begin() as conn:           # lock released with the daemon's connection
        key = conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        assert key.scalar() == 0
