"""What a new user sees from the command line: machine output that parses, one clear line
instead of a traceback for a bad connector name or a busy HTTP port."""

from __future__ import annotations

import json
import socket
import tomllib
from pathlib import Path

from tests.conftest import Sims, config_text
from tests.daemon_proc import run_cli
from tests.test_flows import seed_catalogue


def test_sync_json_stdout_is_only_json_and_logs_go_to_stderr(sims: Sims,
                                                             config_path: Path) -> None:
    seed_catalogue(sims.woo)
    sims.myogo.add_fault("error", path="products", status=400)   # fails the run: a warning
    done = run_cli("sync", "products", "--config", str(config_path), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    [result] = json.loads(done.stdout)                # nothing but the JSON on stdout
    assert result["flow"] == "products" and result["ok"] is False
    assert '"job_run"' in done.stderr                 # the run's log line went to stderr


def test_new_connector_bad_names_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for bad in ("1abc", "My Store!", "woocommerce", ""):
        result = run_cli("new-connector", bad, "--dir", str(tmp_path))
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "connector name" in result.stderr
    assert list(tmp_path.iterdir()) == []
    again = run_cli("new-connector", "acme", "--dir", str(tmp_path))
    assert again.returncode == 0, again.stderr
    exists = run_cli("new-connector", "acme", "--dir", str(tmp_path))
    assert exists.returncode == 2 and "already exists" in exists.stderr
    assert "Traceback" not in exists.stderr


def test_new_connector_normalises_hyphens(tmp_path: Path) -> None:
    for name in ("x", "acme-store"):
        result = run_cli("new-connector", name, "--dir", str(tmp_path))
        assert result.returncode == 0, result.stdout + result.stderr
    root = tmp_path / "syncd-acme-store"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "syncd-acme-store"
    assert project["project"]["entry-points"]["syncd.connectors"] == {
        "acme_store": "syncd_acme_store:AcmeStoreConnector"}
    assert (root / "syncd_acme_store" / "connector.py").is_file()
    assert (tmp_path / "syncd-x" / "syncd_x" / "connector.py").is_file()


def test_busy_http_listen_port_exits_78_naming_the_key(sims: Sims, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.toml"
        config.write_text(config_text(sims, tmp_path / "state.sqlite", schedule="1h",
                                      extra_daemon=f'http_listen = "127.0.0.1:{port}"'))
        result = run_cli("run", "--config", str(config), timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 78, out
    assert "Traceback" not in out
    [line] = [line for line in result.stderr.splitlines() if "daemon.http_listen" in line]
    assert f"127.0.0.1:{port}" in line


def test_every_help_page_renders_and_keeps_config_section_names() -> None:
    top = run_cli("-h")
    assert top.returncode == 0 and "ogo-syncd demo" in top.stdout, top.stdout + top.stderr
    commands = ["run", "check", "sync", "status", "failures", "retry", "connectors", "sim",
                "demo", "new-connector", "version", "webhooks", "webhooks register"]
    for command in commands:
        page = run_cli(*command.split(), "--help", env={"COLUMNS": "200"})
        assert page.returncode == 0 and "Usage:" in page.stdout, (command, page)
    register = run_cli("webhooks", "register", "--help", env={"COLUMNS": "200"}).stdout
    assert "[myogo] webhook_key" in register      # not eaten as rich markup
