"""A real Vendure server for the tests: install once, boot once per session, stop at the end.

Used by ``tests/test_vendure.py`` and ``tests/test_conformance_vendure.py`` through
``vendure_server(request)``. The server (``tests/vendure/server.js``) keeps its data in
memory (sql.js), so every session starts from an empty store. ``npm ci`` runs only when
``node_modules`` is missing or older than ``package-lock.json``. The install and boot times
are printed in pytest's terminal summary.

Without ``node`` the tests are skipped, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

STORE_DIR = Path(__file__).parent / "vendure"
BOOT_TIMEOUT_S = 90.0
INSTALL_TIMEOUT_S = 300.0


@dataclass
class VendureServer:
    admin_url: str
    shop_url: str
    process: subprocess.Popen[str]
    install_s: float | None            # None = node_modules was already up to date
    boot_s: float
    stderr: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


_server: VendureServer | None = None
_failure: str | None = None


def vendure_server(request: pytest.FixtureRequest) -> VendureServer:
    """The session's server, started on first use (call from a session-scoped fixture)."""
    global _server, _failure
    if _server is not None:
        return _server
    if _failure is not None:
        pytest.fail(_failure)
    _require_node()
    config = request.config
    try:
        install_s = _install_if_needed()
        _server = _boot(install_s)
    except _BootError as exc:
        _failure = str(exc)
        pytest.fail(_failure)
    config.add_cleanup(_server.stop)
    config.pluginmanager.register(_TimingReport(_server), "vendure-timings")
    return _server


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not found: the Vendure tests need Node.js 20+ and npm"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


class _BootError(Exception):
    pass


def _install_if_needed() -> float | None:
    """``npm ci`` under a lock (several pytest runs may share this checkout)."""
    lock_path = Path(tempfile.gettempdir()) / (
        "ogo-syncd-vendure-" + hashlib.sha256(str(STORE_DIR).encode()).hexdigest()[:12] + ".lock"
    )
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _node_modules_fresh():
            return None
        started = time.monotonic()
        try:
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"], cwd=STORE_DIR, capture_output=True,
                text=True, timeout=INSTALL_TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise _BootError(f"npm ci did not finish in {INSTALL_TIMEOUT_S:.0f} s") from exc
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-3000:]
            raise _BootError(f"npm ci failed (exit {done.returncode}) in {STORE_DIR}:\n{tail}")
        return time.monotonic() - started


def _node_modules_fresh() -> bool:
    marker = STORE_DIR / "node_modules" / ".package-lock.json"
    lock = STORE_DIR / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _boot(install_s: float | None) -> VendureServer:
    port = _free_port()
    started = time.monotonic()
    process = subprocess.Popen(
        ["node", "server.js"], cwd=STORE_DIR, env={**os.environ, "PORT": str(port)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    stderr: list[str] = []
    threading.Thread(target=_drain, args=(process.stderr, stderr), daemon=True).start()
    ready = threading.Event()
    threading.Thread(target=_watch_stdout, args=(process.stdout, ready), daemon=True).start()
    deadline = started + BOOT_TIMEOUT_S
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            why = ("exited with " + str(process.returncode) if process.poll() is not None
                   else f"printed no READY line within {BOOT_TIMEOUT_S:.0f} s")
            if process.poll() is None:
                process.kill()
                process.wait(5)
            raise _BootError(f"Vendure server {why}; stderr:\n" + "".join(stderr)[-4000:])
    base = f"http://127.0.0.1:{port}"
    return VendureServer(
        admin_url=f"{base}/admin-api", shop_url=f"{base}/shop-api", process=process,
        install_s=install_s, boot_s=time.monotonic() - started, stderr=stderr,
    )


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)
        del sink[:-200]  # keep the tail only


def _watch_stdout(stream: Any, ready: threading.Event) -> None:
    for line in stream:
        if line.startswith("READY"):
            ready.set()
    # keep reading until the process ends so its stdout pipe never fills up


class _TimingReport:
    """Prints the install and boot figures at the end of the run."""

    def __init__(self, server: VendureServer) -> None:
        self.server = server

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        install = (f"npm ci {self.server.install_s:.1f} s" if self.server.install_s is not None
                   else "npm ci skipped (node_modules up to date)")
        terminalreporter.write_line(
            f"vendure: {install}; server boot {self.server.boot_s:.1f} s "
            f"(to READY, {self.server.admin_url})"
        )
