"""Real WooCommerce 11 shops for the tests: boot once per session and order storage, reset per test.

``woo_shop(request, "hpos" | "posts")`` (call it from a session-scoped fixture) returns a
running ``WooShop``. All shops of a session share one extracted WordPress tree
(``tests/woocommerce/*.tar.xz``) and one ``mariadbd`` that listens only on a unix socket
(no TCP port at all); each storage has its own database, its own ``php -S`` server on
127.0.0.1 (kernel-picked port) and its own REST key. Right after a shop answers, its
database is dumped; ``WooShop.reset()`` loads that dump, so every test starts from the
freshly installed shop (IDs repeat across tests).

Every process started here is recorded by PID and stopped at the end of the session:
``php -S`` forks ``PHP_CLI_SERVER_WORKERS`` workers that outlive their parent, so their
PIDs are read from ``/proc`` after start and each is terminated by id. The work directory
(~280 MB) is deleted afterwards.

Without PHP (with mysqli), MariaDB or the archives the tests skip with the reason, unless
``CI=true``: then they fail, since CI must run them (``.ci/run`` installs the packages).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

FILES = Path(__file__).parent / "woocommerce"
ARCHIVES = (FILES / "wordpress-7.1.0.tar.xz", FILES / "woocommerce-11.0.1.tar.xz")
STORAGES = ("hpos", "posts")
PHP_WORKERS = 4
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
SOCKET_LIMIT = 107        # mariadbd refuses longer unix socket paths
WORKDIR_PREFIX = "ogo-woo."
API = "/wp-json/wc/v3"


class BootError(RuntimeError):
    """A step of the boot failed; the message carries the step's log tail."""


@dataclass
class WooShop:
    """One running shop: its URL, REST key and the database behind it."""

    storage: str
    url: str
    key: str
    secret: str
    database: str
    cluster: _Cluster
    dump: bytes = b""
    boot_s: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.url + API

    def reset(self) -> None:
        """Back to the state right after boot (one ``mariadb`` load of the dump)."""
        self.cluster.mysql(self.database, stdin=self.dump)

    def sql(self, statement: str) -> list[list[str]]:
        """Run SQL on the shop's database; rows as lists of text (for checks and setup)."""
        out = self.cluster.mysql(self.database, "-N", "-B", "-e", statement)
        return [line.split("\t") for line in out.decode().splitlines()]

    def client(self) -> httpx.Client:
        """A synchronous admin client (Basic auth with the shop's key) on the REST API."""
        return httpx.Client(base_url=self.api, auth=(self.key, self.secret), timeout=60)


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    children: list[int] = field(default_factory=list)


class _Cluster:
    """The session's WordPress tree and database server, and the shops using them."""

    def __init__(self) -> None:
        _remove_stale_workdirs()
        self.work = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self.work / "owner").write_text(str(os.getpid()))
        self.tree = self.work / "wordpress"
        self.logs = self.work / "logs"
        self.socket = self.work / "db" / "mysqld.sock"
        self.processes: list[_Process] = []
        self.shops: dict[str, WooShop] = {}
        self.steps: dict[str, float] = {}

    # -- processes ---------------------------------------------------------------------

    def _timed(self, step: str, started: float) -> None:
        self.steps[step] = self.steps.get(step, 0.0) + time.monotonic() - started

    def _run(self, log: str, *cmd: str, env: dict[str, str] | None = None,
             stdin: bytes | None = None, timeout: float = 120) -> bytes:
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout,
                                  env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BootError(f"{log}: {cmd[0]} did not finish in {timeout:.0f} s") from exc
        (self.logs / f"{log}.log").write_bytes(done.stdout + done.stderr)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
            raise BootError(f"{log}: {' '.join(cmd[:3])} exited {done.returncode}:\n{tail}")
        return done.stdout

    def mysql(self, database: str, *args: str, stdin: bytes | None = None) -> bytes:
        return self._run("mariadb", "mariadb", "--no-defaults", "-S", str(self.socket), "-uroot",
                         database, *args, stdin=stdin)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
               cwd: Path | None = None) -> _Process:
        log = (self.logs / f"{name}.log").open("ab")
        popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 env=env, cwd=cwd)
        log.close()
        process = _Process(name, popen)
        self.processes.append(process)
        return process

    # -- boot --------------------------------------------------------------------------

    def start(self) -> None:
        """Extract the archives and start mariadbd (once per session)."""
        if len(str(self.socket)) > SOCKET_LIMIT:
            raise BootError(f"socket path {self.socket} is longer than {SOCKET_LIMIT} bytes")
        self.logs.mkdir()
        (self.work / "db").mkdir()
        started = time.monotonic()
        staging = self.work / "plugin"
        staging.mkdir()
        # both archives at once (xz is single-threaded), the plugin moved in afterwards
        tars = [subprocess.Popen(["tar", "-xJf", str(archive), "-C", str(target)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for archive, target in zip(ARCHIVES, (self.work, staging), strict=True)]
        for tar in tars:
            output = tar.communicate(timeout=300)[0]
            if tar.returncode != 0:
                raise BootError(f"tar -xJf failed: {output.decode(errors='replace')[-2000:]}")
        (staging / "woocommerce").rename(self.tree / "wp-content" / "plugins" / "woocommerce")
        mu = self.tree / "wp-content" / "mu-plugins"
        mu.mkdir(exist_ok=True)
        shutil.copy(FILES / "test-env.php", mu)
        shutil.copy(FILES / "wp-config.php", self.tree)
        self._timed("extract", started)

        started = time.monotonic()
        data = self.work / "db" / "data"
        # --force: skip install-db's host name lookup (fails where /etc/hosts is missing)
        self._run("mariadb-install-db", "mariadb-install-db", "--no-defaults",
                  f"--datadir={data}", "--user=root", "--auth-root-authentication-method=normal",
                  "--skip-test-db", "--force", "--innodb-log-file-size=16M")
        db = self._spawn("mariadbd", [
            "mariadbd", "--no-defaults", "--user=root", f"--datadir={data}",
            f"--socket={self.socket}", "--skip-networking", "--skip-name-resolve",
            "--skip-log-bin", "--performance-schema=OFF", "--innodb-flush-log-at-trx-commit=2",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
            f"--pid-file={self.work / 'db' / 'mariadbd.pid'}",
        ])
        deadline = time.monotonic() + 30
        while subprocess.run(["mariadb-admin", "--no-defaults", "-S", str(self.socket), "-uroot",
                              "ping"], capture_output=True, check=False).returncode != 0:
            if db.popen.poll() is not None or time.monotonic() > deadline:
                raise BootError("mariadbd did not come up:\n" + self._tail("mariadbd"))
            time.sleep(0.05)
        self._timed("db", started)

    def _tail(self, log: str) -> str:
        path = self.logs / f"{log}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def boot_shop(self, storage: str) -> WooShop:
        """Install WordPress + WooCommerce into a new database and serve it."""
        started = time.monotonic()
        database = f"wp_{storage}"
        self.mysql("mysql", "-e", f"CREATE DATABASE {database} CHARACTER SET utf8mb4 "
                                  "COLLATE utf8mb4_unicode_520_ci")
        for attempt in range(3):
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            env = {**os.environ, "WOO_TEST_DB_NAME": database,
                   "WOO_TEST_DB_SOCKET": str(self.socket), "WOO_TEST_URL": url}
            setup = str(FILES / "wc-setup.php")
            t = time.monotonic()
            if attempt == 0:
                self._run(f"{storage}-install", "php", setup, str(self.tree), "install", env=env)
                self._run(f"{storage}-activate", "php", setup, str(self.tree), "activate",
                          env=env)
                out = self._run(f"{storage}-configure", "php", setup, str(self.tree),
                                "configure", storage, env=env)
                key, secret = _key_line(out)
                self._timed("wp-setup", t)
            t = time.monotonic()
            server = self._spawn(f"php-{storage}", [
                "php", "-S", f"127.0.0.1:{port}", "-t", str(self.tree), str(FILES / "router.php"),
            ], env={**env, "PHP_CLI_SERVER_WORKERS": str(PHP_WORKERS)})
            if _wait_ready(server, url, (key, secret)):
                server.children = _children(server.popen.pid)
                self._timed("server", t)
                break
            _stop(server)          # the port was taken in between: try another
        else:
            raise BootError(f"php -S for {storage} never answered:\n"
                            + self._tail(f"php-{storage}"))
        t = time.monotonic()
        shop = WooShop(storage, url, key, secret, database, self)
        shop.dump = self._run("dump", "mariadb-dump", "--no-defaults", "-S", str(self.socket),
                              "-uroot", "--single-transaction", "--add-drop-table", database)
        self._timed("dump", t)
        shop.boot_s = time.monotonic() - started
        self.shops[storage] = shop
        return shop

    # -- stop --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every recorded process by PID (php first, mariadbd last), delete the tree."""
        for process in reversed(self.processes):
            _stop(process)
        self.processes.clear()
        shutil.rmtree(self.work, ignore_errors=True)


def _remove_stale_workdirs() -> None:
    """Delete work directories of earlier sessions that were killed before their cleanup
    (``kill`` of the process group stops the servers with pytest, but nothing deletes the
    ~280 MB tree): only when the recorded owner is gone and no process names the tree."""
    for work in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        with contextlib.suppress(OSError, ValueError):
            owner = int((work / "owner").read_text())
            if owner == os.getpid() or _alive(owner) or _users(work):
                continue
            shutil.rmtree(work, ignore_errors=True)


def _users(work: Path) -> bool:
    """Whether any process has ``work`` on its command line (a server of that shop)."""
    needle = str(work).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    return True
    return False


def _key_line(out: bytes) -> tuple[str, str]:
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("ck_") and parts[1].startswith("cs_"):
            return parts[0], parts[1]
    raise BootError("wc-setup.php configure printed no REST key")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(server: _Process, url: str, auth: tuple[str, str]) -> bool:
    """Poll until the REST API answers 200 (the first request fills the opcache, ~1 s)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=30, auth=auth) as http:
        while time.monotonic() < deadline:
            if server.popen.poll() is not None:
                return False
            with contextlib.suppress(httpx.TransportError):
                if http.get(f"{url}{API}/products", params={"per_page": 1}).status_code == 200:
                    return True
            time.sleep(0.1)
    return False


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (php -S workers), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _stop(process: _Process) -> None:
    """TERM the process and its recorded children by PID; KILL what is left after 10 s."""
    for pid in (*process.children, process.popen.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.popen.wait(STOP_TIMEOUT_S)
    while any(_alive(p) for p in process.children) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in (*process.children, process.popen.pid):
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.popen.wait(5)


# -- the session's shops ---------------------------------------------------------------

_cluster: _Cluster | None = None
_failure: str | None = None


def missing_tools() -> list[str]:
    """What this machine lacks to boot a shop (empty = everything is there)."""
    missing = [f"{path.name} (tests/woocommerce/)" for path in ARCHIVES if not path.is_file()]
    php = shutil.which("php")
    if php is None:
        missing.append("php (apt-get install php-cli php-mysql)")
    elif subprocess.run([php, "-r", "exit(extension_loaded('mysqli') ? 0 : 1);"],
                        capture_output=True, check=False).returncode != 0:
        missing.append("PHP's mysqli extension (apt-get install php-mysql)")
    for tool, package in (("mariadbd", "mariadb-server-core"),
                          ("mariadb-install-db", "mariadb-server-core"),
                          ("mariadb", "mariadb-client"), ("mariadb-dump", "mariadb-client"),
                          ("mariadb-admin", "mariadb-client"), ("tar", "tar"), ("xz", "xz-utils")):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (apt-get install {package})")
    return missing


def require_tools() -> None:
    """Skip (fail with ``CI=true``) naming what is missing to boot a shop."""
    missing = missing_tools()
    if missing:
        reason = "a real WooCommerce shop needs " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a failure, not a skip)")
        pytest.skip(reason)


def woo_shop(request: pytest.FixtureRequest, storage: str) -> WooShop:
    """The session's shop with ``storage`` ("hpos" or "posts"), booted on first use."""
    global _cluster, _failure
    if _failure is not None:
        pytest.fail(_failure)
    if _cluster is not None and storage in _cluster.shops:
        return _cluster.shops[storage]
    require_tools()
    try:
        if _cluster is None:
            _cluster = _Cluster()
            request.config.add_cleanup(_stop_cluster)
            request.config.pluginmanager.register(_TimingReport(), "woocommerce-timings")
            _cluster.start()
        return _cluster.boot_shop(storage)
    except BootError as exc:
        _failure = f"the WooCommerce test shop ({storage}) did not start: {exc}"
        pytest.fail(_failure)


def _stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None


class _TimingReport:
    """Prints the boot figures at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if _cluster is None or not _cluster.shops:
            return
        steps = ", ".join(f"{name} {secs:.1f} s" for name, secs in _cluster.steps.items())
        shops = ", ".join(f"{s.storage} {s.boot_s:.1f} s" for s in _cluster.shops.values())
        terminalreporter.write_line(f"woocommerce: shops booted ({shops}); steps: {steps}")
