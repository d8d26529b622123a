"""A real, throwaway PostgreSQL server for tests (Debian's binaries, no system service).

``pg_server`` (session scope) runs ``initdb`` into a fresh temporary directory, starts the
server on 127.0.0.1 on a free port with its unix socket in that directory, and stops and
deletes it at the end. ``pg_url`` gives each test its own empty database. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres`` user the Debian
package creates (or to a system user made for the purpose).

Without the binaries the tests skip, unless ``CI`` is set: CI must install PostgreSQL
(``.ci/run`` does), so there a missing server is a failure, not a silent skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "syncd"
RUN_AS_WHEN_ROOT = "postgres"
FALLBACK_SYSTEM_USER = "ogo-syncd-pgtest"


@dataclass
class PgServer:
    host: str
    port: int
    user: str
    password: str
    socket_dir: Path

    def url(self, database: str) -> str:
        return (f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/"
                f"{database}")

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL (TCP with a password, like production)."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             password=self.password, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL ``bin`` directory that has initdb and pg_ctl."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bin_dir = Path(initdb).parent
        if (bin_dir / "pg_ctl").exists():
            with contextlib.suppress(ValueError):
                found.append((float(bin_dir.parent.name), bin_dir))
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    """The unprivileged user to run the server as (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in (RUN_AS_WHEN_ROOT, FALLBACK_SYSTEM_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    FALLBACK_SYSTEM_USER], check=True, capture_output=True)
    return FALLBACK_SYSTEM_USER


def _cmd(user: str | None, *args: str) -> list[str]:
    return ["runuser", "-u", user, "--", *args] if user else list(args)


@contextlib.contextmanager
def running_postgres() -> Iterator[PgServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no /usr/lib/postgresql/*/bin/initdb")
    user = _run_as()
    base = Path(tempfile.mkdtemp(prefix="ogo-syncd-pg."))
    data, sock_dir = base / "data", base / "sock"
    password = secrets.token_hex(12)
    try:
        sock_dir.mkdir()
        (base / "pwfile").write_text(password + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (base, sock_dir, base / "pwfile"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            _cmd(user, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER,
                 f"--pwfile={base / 'pwfile'}", "--auth-local=trust",
                 "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync"),
            check=True, capture_output=True, timeout=120)
        port = _start(bin_dir, user, data, sock_dir, base / "server.log")
        try:
            yield PgServer("127.0.0.1", port, SUPERUSER, password, sock_dir)
        finally:
            subprocess.run(_cmd(user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                "-w", "stop"), capture_output=True, timeout=60)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(bin_dir: Path, user: str | None, data: Path, sock_dir: Path, log: Path) -> int:
    """Start the server on a free port (retried: the port may be taken in between)."""
    options = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=200 "
               f"-k {sock_dir}")
    last = ""
    for _ in range(3):
        port = _free_port()
        done = subprocess.run(
            _cmd(user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                 "-t", "60", "-o", f"{options} -p {port}", "start"),
            capture_output=True, text=True, timeout=90)
        if done.returncode == 0:
            return port
        last = done.stdout + done.stderr + (log.read_text() if log.exists() else "")
    raise RuntimeError(f"PostgreSQL did not start: {last[-2000:]}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if find_bin_dir() is None:
        reason = ("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); "
                  "apt-get install -y postgresql")
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL: {reason}")
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the test server for one test."""
    return pg_server.create_database(f"t_{secrets.token_hex(6)}")
