"""The command line as a user runs it: connectors, sim, sync, status, failures, retry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from syncd.testing.server import free_port
from tests.conftest import Sims
from tests.daemon_proc import run_cli, wait_for
from tests.test_flows import seed_catalogue


def test_connectors_lists_the_built_ins_with_capabilities() -> None:
    result = run_cli("connectors", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert set(found["woocommerce"]) >= {"products", "orders", "stock", "tracking",
                                         "cancellations"}
    assert "webhooks" in found["shopify"]
    assert set(found["vendure"]) >= {"products", "orders", "stock", "tracking"}


def test_sim_serves_tokens_with_rotation_and_validates_orders(tmp_path: Path) -> None:
    port = free_port()
    out = (tmp_path / "sim.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "sim", "--port", str(port)],
                            stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: base in (tmp_path / "sim.log").read_text(), 30, "the sim's banner")
        banner = (tmp_path / "sim.log").read_text()
        assert "123456" in banner and "demo" in banner
        form = {"grant_type": "password", "client_id": "123456", "client_secret": "abcdef",
                "username": "demo", "password": "demo", "scope": "read:order write:order"}
        first = httpx.post(f"{base}/OAuth/Token", data=form).json()
        assert first["access_token"] and first["refresh_token"]
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                   "client_id": "123456", "client_secret": "abcdef"}
        second = httpx.post(f"{base}/OAuth/Token", data=refresh)
        assert second.status_code == 200
        assert second.json()["refresh_token"] != first["refresh_token"]
        again = httpx.post(f"{base}/OAuth/Token", data=refresh)
        assert again.status_code == 400
        order = {"reference": "R-1", "orderLines": [{"code": "X", "quantity": 1}],
                 "customer": {"address1": "Katu 1", "city": "Oulu", "countryCode": "FI"}}
        refused = httpx.post(f"{base}/api/v1/orders", json=order, headers={
            "Authorization": f"Bearer {second.json()['access_token']}"})
        assert refused.status_code == 400
        assert "Customer.Name" in refused.json()["message"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        out.close()


def test_sync_status_failures_and_retry(sims: Sims, config_path: Path) -> None:
    ids = seed_catalogue(sims.woo)
    cfg = str(config_path)
    dry = run_cli("sync", "all", "--config", cfg, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would products: write SKU-1 (Mug) to myOGO" in dry.stdout
    assert sims.myogo.products == []

    done = run_cli("sync", "all", "--config", cfg, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["flow"]: r for r in json.loads(done.stdout)}
    assert results["products"]["counts"]["written"] == 4
    assert len(sims.myogo.products) == 4

    status = json.loads(run_cli("status", "--config", cfg, "--json").stdout)
    rows = {r["flow"]: r for r in status}
    assert rows["products"]["result"] == "ok" and rows["products"]["failed"] == 1
    assert rows["orders"]["result"] == "ok" and rows["orders"]["pending"] == 0

    failures = json.loads(run_cli("failures", "--config", cfg, "--json").stdout)
    assert [(f["flow"], f["key"]) for f in failures] == [("products", str(ids["no-sku"]))]
    assert "SKU is missing" in failures[0]["reason"]

    cleared = run_cli("retry", "--config", cfg, "--flow", "products")
    assert "cleared 1 failure" in cleared.stdout
    assert json.loads(run_cli("failures", "--config", cfg, "--json").stdout) == []
    # Still no SKU: the re-read parks it again, with its reason.
    run_cli("sync", "products", "--config", cfg)
    again = json.loads(run_cli("failures", "--config", cfg, "--json").stdout)
    assert [f["key"] for f in again] == [str(ids["no-sku"])]


def test_unknown_store_and_flow_are_clear_errors(config_path: Path) -> None:
    bad_flow = run_cli("sync", "everything", "--config", str(config_path))
    assert bad_flow.returncode == 2 and "unknown flow 'everything'" in bad_flow.stderr
    bad_store = run_cli("sync", "stock", "--store", "nope", "--config", str(config_path))
    assert bad_store.returncode == 78 and "no enabled store named 'nope'" in bad_store.stderr
