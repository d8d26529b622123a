"""The state database: engine, sessions, migrations and the one-daemon-per-database lock.

SQLite (WAL) by default, PostgreSQL by URL (``postgresql+psycopg://user:pass@host/db``,
psycopg 3). Migrations are alembic revisions shipped inside this package, run
programmatically, so they work from an installed wheel with no ``alembic.ini`` around;
the same revisions serve both databases.

SQLite: one daemon per file (an ``flock``). PostgreSQL: one embedded daemon per database
(a session advisory lock), or any number of fleet workers (``syncd.fleet``), which share
that advisory lock and split the work through procrastinate's job locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from syncd.errors import ConfigError, SyncdError
from syncd.state import owners as _owner_table  # noqa: F401  (registers store_owner)

if TYPE_CHECKING:
    from syncd.config import DaemonSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: plain ``postgresql://`` would pick psycopg2; psycopg 3 is the driver we ship for
_PG_DEFAULT_DRIVER = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


class AlreadyRunningError(SyncdError):
    """Another daemon already uses this state database (the CLI exits 75)."""


class StateDB:
    """One state database. ``session()`` for work, ``migrate()`` at start-up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._url = make_url(url)
        if self._url.drivername in _PG_DEFAULT_DRIVER:
            self._url = self._url.set(drivername=_PG_DEFAULT_DRIVER[self._url.drivername])
        self.is_sqlite = self._url.get_backend_name() == "sqlite"
        self.is_postgres = self._url.get_backend_name() == "postgresql"
        self.sqlite_path = _sqlite_file(self._url.database) if self.is_sqlite else None
        if self.sqlite_path is not None:
            _prepare_sqlite_file(self.sqlite_path)
        self.engine: Engine = self._create_engine()

    @classmethod
    def from_settings(cls, daemon: DaemonSettings) -> StateDB:
        return cls(daemon.state_db_url())

    def _create_engine(self) -> Engine:
        if not self.is_sqlite:
            # UTC sessions: raw SQL sees the same times the tables store.
            connect_args = ({"options": "-c timezone=UTC", "application_name": "ogo-syncd"}
                            if self.is_postgres else {})
            try:
                return create_engine(self._url, pool_pre_ping=True, connect_args=connect_args)
            except ModuleNotFoundError as exc:
                raise ConfigError(f"the database driver for {self._url.drivername} is not "
                                  f"installed ({exc.name}); for PostgreSQL: "
                                  "pip install 'psycopg[binary]'", key="daemon.state_db") from None
            except NoSuchModuleError:
                raise ConfigError(f"unsupported database {self._url.drivername!r}; expected "
                                  "sqlite:/// or postgresql+psycopg://", key="daemon.state_db"
                                  ) from None
        if self.sqlite_path is None:    # in-memory: one shared connection, or each has its own DB
            engine = create_engine(self._url, poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
        else:
            engine = create_engine(self._url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def describe(self) -> str:
        """The URL for status output, with any password masked."""
        return describe_url(self.url)

    def __repr__(self) -> str:
        return f"StateDB({self.describe()!r})"

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session; callers commit. Objects stay readable after commit and close."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ migrations

    def alembic_config(self) -> AlembicConfig:
        """An alembic config pointing at the packaged migrations (also for new revisions)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url",
                            self._url.render_as_string(hide_password=False).replace("%", "%%"))
        return cfg

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op (and quiet) when it is there.

        On SQLite the upgrade runs inside ``BEGIN IMMEDIATE``, on PostgreSQL under a
        transaction-scoped advisory lock (DDL is transactional there), so two processes
        starting at once migrate one after the other instead of both creating tables.
        """
        head = self.head_revision()
        if self.current_revision() == head:
            return
        cfg = self.alembic_config()
        try:
            with self.engine.connect() as conn:
                if self.is_sqlite:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif self.is_postgres:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": _MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
        except CommandError as exc:
            raise ConfigError(
                f"cannot migrate the state database {self.describe()}: {exc} "
                "(was it created by a newer ogo-syncd?)", key="daemon.state_db") from None

    # ------------------------------------------------------------ single daemon

    @contextlib.contextmanager
    def daemon_lock(self, *, shared: bool = False) -> Iterator[None]:
        """Held for the daemon's lifetime.

        SQLite: a second daemon on the same file refuses to start (``AlreadyRunningError``).
        PostgreSQL: a session advisory lock on a connection of its own: the embedded daemon
        (``ogo-syncd run``) takes it exclusively, fleet workers (``shared=True``) share it,
        so a second embedded daemon, or an embedded daemon beside workers, refuses to start
        instead of running every flow twice.
        """
        if self.is_sqlite and self.sqlite_path is not None:
            with _flock(self.sqlite_path.with_name(self.sqlite_path.name + ".lock"),
                        self.describe()):
                yield
        elif self.is_postgres:
            with self._pg_daemon_lock(shared):
                yield
        else:    # in-memory SQLite: nobody else can see it
            yield

    @contextlib.contextmanager
    def _pg_daemon_lock(self, shared: bool) -> Iterator[None]:
        fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        conn = self.engine.connect()
        try:
            got = conn.execute(text(f"SELECT {fn}(:key)"), {"key": _DAEMON_LOCK_KEY}).scalar()
            conn.commit()
            if not got:
                what = ("an embedded daemon (ogo-syncd run)" if shared
                        else "another daemon or fleet workers")
                raise AlreadyRunningError(
                    f"{what} already use the state database {self.describe()}; on "
                    "PostgreSQL run either one `ogo-syncd run` or any number of "
                    "`ogo-syncd worker` processes")
            yield
        finally:
            conn.close()    # closing the session releases the advisory lock


def advisory_key(name: str) -> int:
    """A stable 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


#: serialises concurrent ``migrate()`` calls on one PostgreSQL database
_MIGRATION_LOCK_KEY = advisory_key("ogo-syncd:migrate")
#: one embedded daemon, or fleet workers sharing it
_DAEMON_LOCK_KEY = advisory_key("ogo-syncd:daemon")


def describe_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(database: str | None) -> Path | None:
    """The database file, or None for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return Path(database).expanduser()


def _prepare_sqlite_file(path: Path) -> None:
    """Create the directory (private: the DB holds customer addresses) and a 0600 file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (``ogo-syncd status``) run beside the daemon's writer."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


@contextlib.contextmanager
def _flock(lock_path: Path, what: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_path`` holding our PID; released by the kernel on exit.

    The file is never deleted (deleting a lock file races with a process that just opened
    it); it is emptied on release so a stale PID is not reported.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = _read_pid(fd)
            raise AlreadyRunningError(
                f"another ogo-syncd (pid {holder or 'unknown'}) is already using the state "
                f"database {what}: {lock_path} is locked") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text_ = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text_) if text_.isdigit() else None
