"""Webhooks make the daemon near real time: a real daemon process with a 1 h schedule (so
only a webhook can explain an effect), its HTTP surface on a free port, the myOGO simulator
delivering signed callbacks to it and the WooCommerce simulator posting signed deliveries.

Badly signed deliveries to either endpoint get 401 and change nothing; the same changes
then arrive through correctly signed webhooks, which shows the refusal was the signature.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from syncd.testing.myogo_sim import SIGNATURE_HEADER, sign_webhook
from syncd.testing.woo_sim import deliver_pending, signed_delivery
from tests.conftest import Sims, config_text
from tests.daemon_proc import run_cli, start_daemon, stop, wait_for
from tests.test_flows import place_order, seed_catalogue

MYOGO_KEY = "myogo-hook-key-5150"
WOO_HOOK_SECRET = "woo-hook-secret-5150"
FLOWS = {"products", "orders", "stock", "tracking"}
#: generous: a state to reach, never a timing assertion
SETTLE = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(sims: Sims, tmp_path: Path, port: int, *, options: str = "",
                 extra_store: str = "") -> Path:
    """The shared test config with a 1 h schedule, the HTTP surface and webhook keys."""
    path = tmp_path / "config.toml"
    path.write_text(config_text(
        sims, tmp_path / "state.sqlite", schedule="1h",
        extra_daemon=f'http_listen = "127.0.0.1:{port}"',
        extra_myogo=f'webhook_key = "{MYOGO_KEY}"', extra_store=extra_store) + options)
    return path


def job_runs(log: Path) -> list[dict[str, object]]:
    """The daemon's ``job_run`` events (one per flow run), from its JSON log."""
    return [event for event in (json.loads(line) for line in log.read_text().splitlines()
                                if line.startswith("{") and '"job_run"' in line)
            if event.get("event") == "job_run"]


def initial_runs_done(log: Path) -> bool:
    """The start-up runs (next_run_time = start) of all four flows have finished."""
    return {str(e["flow"]) for e in job_runs(log)} >= FLOWS


def test_webhooks_trigger_flows_at_once_and_bad_signatures_change_nothing(
    sims: Sims, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(sims, tmp_path, port,
                          options=f'webhook_secret = "{WOO_HOOK_SECRET}"\n')
    seed_catalogue(sims.woo)
    first = place_order(sims.woo, [("SKU-1", 1)])
    second = place_order(sims.woo, [("SKU-1", 1)])
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: initial_runs_done(log), SETTLE, "the start-up runs of all flows")
        # one start-up run per flow and none until an hour later: only webhooks remain
        assert sorted(str(e["flow"]) for e in job_runs(log)) == sorted(FLOWS)
        assert {o["reference"] for o in sims.myogo.orders} == {f"WC-{first}", f"WC-{second}"}
        sims.myogo.set_stock("SKU-1", 10)       # the orders can be served now
        sims.myogo.ship(f"WC-{first}", "JJFI5150001", "https://track.example/JJFI5150001")
        late = place_order(sims.woo, [("SKU-2", 1)])   # paid after the start-up runs
        runs_before = len(job_runs(log))

        # -- badly signed deliveries: 401 and nothing happens ---------------------------
        shipped = next(o for o in sims.myogo.orders if o["reference"] == f"WC-{first}")
        body = json.dumps(shipped).encode()
        with httpx.Client(base_url=base, timeout=10) as http:
            refused = [
                http.post("/webhooks/myogo", content=body,
                          headers={SIGNATURE_HEADER: sign_webhook("not-the-key", body)}),
                http.post("/webhooks/myogo", content=body),               # unsigned
                http.post("/webhooks/myogo?type=OrderShipped", content=body + b" ",
                          headers={SIGNATURE_HEADER: sign_webhook(MYOGO_KEY, body)}),
            ]
            headers, payload = signed_delivery(sims.woo.order(late), "not-the-secret",
                                               "order.updated")
            refused.append(http.post("/webhooks/store/woo", content=payload, headers=headers))
            headers, payload = signed_delivery(sims.woo.order(late), WOO_HOOK_SECRET,
                                               "order.updated")
            refused.append(http.post("/webhooks/store/woo", content=payload + b" ",
                                     headers=headers))
        assert [r.status_code for r in refused] == [401] * 5
        time.sleep(2.0)   # time for a (wrongly) triggered run to show; not a timing assertion
        assert len(job_runs(log)) == runs_before, "a refused webhook ran a flow"
        assert sims.woo.trackings(first) == []
        assert sims.myogo.orders_by_reference(f"WC-{late}") == []
        text = log.read_text()
        assert text.count('"myogo_webhook_refused"') == 3
        assert text.count('"store_webhook_refused"') == 2

        # -- myOGO webhooks: registered through the CLI, delivered by the simulator -------
        registered = run_cli("webhooks", "register", "--url", base, "--config", str(config))
        assert registered.returncode == 0, registered.stdout + registered.stderr
        hooks = sims.myogo.webhooks
        assert sorted(h["type"] for h in hooks) == ["OrderShipped", "ProductStockLevelChanged"]
        assert all(h["url"].startswith(f"{base}/webhooks/myogo") for h in hooks)
        sims.myogo.ship(f"WC-{second}", "JJFI5150002", "https://track.example/JJFI5150002")
        wait_for(lambda: [t["tracking_number"] for t in sims.woo.trackings(second)]
                 == ["JJFI5150002"], SETTLE, "the tracking in the store")
        # the triggered tracking run also brings the order shipped before registration
        wait_for(lambda: [t["tracking_number"] for t in sims.woo.trackings(first)]
                 == ["JJFI5150001"], SETTLE, "the earlier tracking in the store")
        assert sims.woo.order(second)["status"] == "completed"
        sims.myogo.set_stock("SKU-2", 17)
        wait_for(lambda: sims.woo.stock_of("SKU-2") == 17, SETTLE, "the stock in the store")
        deliveries = sims.myogo.wait_for_deliveries()
        assert {d["type"] for d in deliveries} >= {"OrderShipped", "ProductStockLevelChanged"}
        assert {d["status"] for d in deliveries} == {200}

        # -- a WooCommerce webhook: the order is paid, the delivery triggers the orders run
        sims.woo.add_webhook(f"{base}/webhooks/store/woo", WOO_HOOK_SECRET)
        unpaid = place_order(sims.woo, [("SKU-S", 2)], paid=False)
        assert deliver_pending(sims.woo) == []          # a pending order fires nothing
        sims.woo.pay(unpaid)
        assert deliver_pending(sims.woo) == [202]
        wait_for(lambda: len(sims.myogo.orders_by_reference(f"WC-{unpaid}")) == 1, SETTLE,
                 "the paid order in myOGO")
        # the run reads every paid order since its cursor, the one refused earlier too
        wait_for(lambda: len(sims.myogo.orders_by_reference(f"WC-{late}")) == 1, SETTLE,
                 "the earlier paid order in myOGO")
        [sent] = sims.myogo.orders_by_reference(f"WC-{unpaid}")
        assert [(line["code"], line["quantity"]) for line in sent["orderLines"]] == \
            [("SKU-S", 2)]
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()[-3000:]


def test_store_level_webhook_secret_as_documented_verifies_deliveries(
    sims: Sims, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(sims, tmp_path, port,
                          extra_store=f'webhook_secret = "{WOO_HOOK_SECRET}"')
    seed_catalogue(sims.woo)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: initial_runs_done(log), SETTLE, "the start-up runs of all flows")
        order = place_order(sims.woo, [("SKU-1", 1)])
        headers, body = signed_delivery(sims.woo.order(order), WOO_HOOK_SECRET,
                                        "order.updated")
        answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/store/woo", content=body,
                            headers=headers, timeout=10)
        assert answer.status_code == 202
        wait_for(lambda: len(sims.myogo.orders_by_reference(f"WC-{order}")) == 1, SETTLE,
                 "the paid order in myOGO")
    finally:
        assert stop(proc) == 0
