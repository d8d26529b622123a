"""The daemon as a real process: scheduling, SIGTERM, the single-instance lock, systemd
notify, exit codes."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlmodel import select

from syncd.config import load_config
from syncd.state.db import StateDB
from syncd.state.tables import JobRun, OrderLink
from tests.conftest import Sims, config_text
from tests.daemon_proc import run_cli, start_daemon, stop, wait_for
from tests.test_flows import place_order, seed_catalogue


def write_config(sims: Sims, tmp_path: Path, **kwargs: object) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, tmp_path / "state.sqlite", **kwargs))  # type: ignore[arg-type]
    return path


def test_daemon_syncs_on_schedule_and_stops_cleanly_on_sigterm(
    sims: Sims, tmp_path: Path
) -> None:
    seed_catalogue(sims.woo)
    config = write_config(sims, tmp_path, schedule="1s")
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: len(sims.myogo.products) == 4, 60, "products in myOGO")
        order_id = place_order(sims.woo, [("SKU-1", 1)])
        wait_for(lambda: len(sims.myogo.orders_by_reference(f"WC-{order_id}")) == 1, 60,
                 "the paid order in myOGO")
        sims.myogo.set_stock("SKU-2", 17)
        wait_for(lambda: sims.woo.stock_of("SKU-2") == 17, 60, "stock in the store")
        wait_for(lambda: '"flow": "tracking"' in log.read_text(), 60, "a tracking run")
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert '"event": "daemon_stopped"' in text
    db = StateDB.from_settings(load_config(config).daemon)
    with db.session() as session:
        runs = list(session.exec(select(JobRun)))
        assert {r.job for r in runs} == {"products", "orders", "stock", "tracking"}
        assert all(r.finished_at is not None for r in runs)   # in-flight runs finished
        assert session.get(OrderLink, ("woo", str(order_id))).status == "sent"
    # JSON lines for journald: every line parses.
    import json
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)


def test_second_daemon_on_the_same_state_db_refuses_to_start(
    sims: Sims, tmp_path: Path
) -> None:
    config = write_config(sims, tmp_path, schedule="1m")
    proc = start_daemon(config, tmp_path / "first.log")
    try:
        wait_for(lambda: "daemon_started" in (tmp_path / "first.log").read_text(), 60,
                 "the first daemon to start")
        second = run_cli("run", "--config", str(config), timeout=60)
        assert second.returncode == 75
        assert "already" in second.stderr and "state.sqlite" in second.stderr
        assert proc.poll() is None  # the first one is unharmed
    finally:
        assert stop(proc) == 0


def test_notify_socket_gets_ready_then_watchdog_then_stopping(
    sims: Sims, tmp_path: Path
) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    config = write_config(sims, tmp_path, schedule="1m")
    proc = start_daemon(config, tmp_path / "daemon.log",
                        env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    messages: list[str] = []
    try:
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
    finally:
        assert stop(proc) == 0
    sock.settimeout(5)
    try:
        while not any("STOPPING=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
    finally:
        sock.close()
    ready = next(i for i, m in enumerate(messages) if "READY=1" in m)
    watchdog = next(i for i, m in enumerate(messages) if "WATCHDOG=1" in m)
    stopping = next(i for i, m in enumerate(messages) if "STOPPING=1" in m)
    assert ready < stopping and watchdog < stopping
    assert any(m.startswith("STATUS=") for m in messages)


def test_config_errors_exit_78_naming_the_key(sims: Sims, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(config_text(sims, tmp_path / "s.sqlite").replace(
        'orders = "1m"', 'orders = "soon"'))
    for command in ("check", "run"):
        result = run_cli(command, "--config", str(bad))
        assert result.returncode == 78, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "stores[0].schedule.orders" in line
    missing = run_cli("check", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 78


def test_check_connect_reports_refused_credentials(sims: Sims, tmp_path: Path) -> None:
    good = write_config(sims, tmp_path)
    result = run_cli("check", "--config", str(good), "--connect")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok myogo" in result.stdout and "ok store woo" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('secret_token = "demo"',
                                            'secret_token = "wrong-secret-123"'))
    result = run_cli("check", "--config", str(bad), "--connect")
    assert result.returncode == 78
    assert "FAILED myogo" in result.stdout
    assert "wrong-secret-123" not in result.stdout + result.stderr


def test_sigterm_lets_in_flight_writes_finish_and_records_them(
    sims: Sims, tmp_path: Path
) -> None:
    for i in range(40):
        sims.woo.add_product(f"Slow {i}", f"SLOW-{i}", stock=1)
    # Every product write takes a while, so SIGTERM lands in the middle of the run.
    sims.myogo.add_fault("latency", method="POST", path="/products", rate=1.0, seconds=0.5)
    config = write_config(sims, tmp_path, schedule="1m")
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: len(sims.myogo.products) >= 2, 60, "the first product writes")
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()[-2000:]
    assert "CancelledError" not in log.read_text()
    in_myogo = {p["code"] for p in sims.myogo.products}
    assert 0 < len(in_myogo) < 40          # it really stopped part-way
    db = StateDB.from_settings(load_config(config).daemon)
    from syncd.state.tables import ProductLink
    with db.session() as session:
        linked = {link.sku for link in session.exec(select(ProductLink))
                  if link.status == "synced"}
        runs = list(session.exec(select(JobRun).where(JobRun.job == "products")))
    assert linked == in_myogo              # every write that happened is recorded
    assert runs and all(r.finished_at is not None for r in runs)
