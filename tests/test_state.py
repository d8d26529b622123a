"""State database: migrations match the tables, data survives, one daemon per database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from syncd.config import DaemonSettings
from syncd.errors import ConfigError
from syncd.state.db import AlreadyRunningError, StateDB, describe_url
from syncd.state.tables import Cursor, JobRun, OrderLink

TABLES = {"cursor", "product_link", "order_link", "stock_level", "failure", "job_run",
          "store_owner"}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    state = StateDB(f"sqlite:///{tmp_path}/state/ogo-syncd.sqlite")
    yield state
    state.dispose()


def _diffs(db: StateDB, metadata: sa.MetaData) -> list[object]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def test_migrated_schema_equals_the_table_definitions(db: StateDB) -> None:
    db.migrate()
    assert _diffs(db, SQLModel.metadata) == []
    names = set(sa.inspect(db.engine).get_table_names())
    assert names == TABLES | {"alembic_version"}


def test_schema_comparison_sees_a_difference(db: StateDB) -> None:
    """The comparison above can fail: a column the migration lacks is reported."""
    db.migrate()
    metadata = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["cursor"].append_column(sa.Column("extra", sa.String(), nullable=True))
    diffs = _diffs(db, metadata)
    assert [d[0] for d in diffs if isinstance(d, tuple)] == ["add_column"]


def test_migrate_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.sqlite"
    first = StateDB(url)
    assert first.current_revision() is None
    first.migrate()
    assert first.current_revision() == first.head_revision() == "0003"
    with first.session() as session:
        session.add(Cursor(store="shop1", stream="orders", value="2024-01-01T00:00:00Z"))
        session.add(OrderLink(store="shop1", store_order_id="42", reference="WC-42",
                              status="sent", attempts=1))
        session.commit()
    first.migrate()
    command.upgrade(first.alembic_config(), "head")     # alembic itself, by URL, also a no-op
    first.dispose()

    second = StateDB(url)                               # a restart
    second.migrate()
    with second.session() as session:
        cursor = session.get(Cursor, ("shop1", "orders"))
        links = session.exec(select(OrderLink)).all()
    assert cursor is not None and cursor.value == "2024-01-01T00:00:00Z"
    assert [(link.reference, link.status, link.attempts) for link in links] == [
        ("WC-42", "sent", 1)]
    with second.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert versions == [("0003",)]
    second.dispose()


def test_downgrade_and_upgrade_round_trip(db: StateDB) -> None:
    db.migrate()
    command.downgrade(db.alembic_config(), "base")
    assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
    db.migrate()
    assert _diffs(db, SQLModel.metadata) == []


def test_unknown_revision_is_a_clear_error(db: StateDB) -> None:
    db.migrate()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'from-the-future'")
    with pytest.raises(ConfigError) as info:
        db.migrate()
    assert info.value.key == "daemon.state_db"
    assert "newer ogo-syncd" in info.value.message


def test_sqlite_file_setup_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.sqlite"
    db = StateDB(f"sqlite:///{path}")
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    db.migrate()
    with db.session() as session:
        conn = session.connection()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_session_objects_stay_readable_after_commit(db: StateDB) -> None:
    db.migrate()
    with db.session() as session:
        run = JobRun(store="shop1", job="orders", started_at=datetime(2024, 5, 1, tzinfo=UTC))
        session.add(run)
        session.commit()
    assert run.id == 1 and run.store == "shop1"         # no DetachedInstanceError
    with db.session() as session:
        again = session.get(JobRun, 1)
    assert again is not None and again.started_at == datetime(2024, 5, 1, tzinfo=UTC)


def test_uncommitted_work_is_rolled_back(db: StateDB) -> None:
    db.migrate()
    with pytest.raises(RuntimeError), db.session() as session:
        session.add(Cursor(store="s", stream="orders", value="x"))
        session.flush()
        raise RuntimeError("boom")
    with db.session() as session:
        assert session.exec(select(Cursor)).all() == []


def test_in_memory_database_is_shared_between_sessions() -> None:
    db = StateDB("sqlite://")
    db.migrate()
    with db.session() as session:
        session.add(Cursor(store="s", stream="stock", value="v"))
        session.commit()
    with db.session() as session:
        row = session.get(Cursor, ("s", "stock"))
    assert row is not None and row.value == "v"
    with db.daemon_lock():                              # nothing to lock, but it works
        pass


def test_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = StateDB.from_settings(DaemonSettings(state_db=str(tmp_path / "x" / "s.sqlite")))
    assert db.url == f"sqlite:///{tmp_path}/x/s.sqlite"
    assert (tmp_path / "x" / "s.sqlite").exists()
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "sd"))
    default = StateDB.from_settings(DaemonSettings())
    assert default.sqlite_path == tmp_path / "sd" / "ogo-syncd.sqlite"
    assert default.sqlite_path.exists()


def test_describe_masks_the_password(tmp_path: Path) -> None:
    assert describe_url("postgresql+psycopg://ogo:s3cret@db.local:5432/ogo") == (
        "postgresql+psycopg://ogo:***@db.local:5432/ogo")
    assert StateDB(f"sqlite:///{tmp_path}/a.sqlite").describe() == (
        f"sqlite:///{tmp_path}/a.sqlite")


def test_missing_database_driver_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        StateDB("nosuchdb+nodriver://u:pw@host/db")
    assert info.value.key == "daemon.state_db" and "pw" not in str(info.value)


# ---------------------------------------------------------------- one daemon per database

HOLDER = textwrap.dedent("""
    import sys
    from syncd.state.db import StateDB
    db = StateDB(sys.argv[1])
    with db.daemon_lock():
        print("locked", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    sys.stdin.readline()
""")


@pytest.fixture
def holder(db: StateDB) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the daemon lock on ``db`` until told to release it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, db.url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def _lock_file(db: StateDB) -> Path:
    assert db.sqlite_path is not None
    return db.sqlite_path.with_name(db.sqlite_path.name + ".lock")


def test_second_daemon_refused_while_first_holds_the_lock(
        db: StateDB, holder: subprocess.Popen[str]) -> None:
    lock_file = _lock_file(db)
    assert lock_file.read_text().strip() == str(holder.pid)
    with pytest.raises(AlreadyRunningError) as info, db.daemon_lock():
        pytest.fail("a second daemon got the lock")
    assert f"pid {holder.pid}" in str(info.value)
    assert str(lock_file) in str(info.value)

    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "released"   # released, process still alive
    assert holder.poll() is None
    with db.daemon_lock():
        assert lock_file.read_text().strip() == str(os.getpid())
    assert lock_file.read_text() == ""                       # no stale pid after release


def test_lock_released_when_the_holder_dies(db: StateDB, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(AlreadyRunningError):
        with db.daemon_lock():
            pass
    holder.send_signal(signal.SIGKILL)                         # a crashed daemon
    holder.wait(timeout=10)
    with db.daemon_lock():
        assert _lock_file(db).read_text().strip() == str(os.getpid())


def test_lock_is_exclusive_within_one_process_too(db: StateDB) -> None:
    with db.daemon_lock():
        other = StateDB(db.url)
        with pytest.raises(AlreadyRunningError, match=f"pid {os.getpid()}"):
            with other.daemon_lock():
                pass
        other.dispose()
