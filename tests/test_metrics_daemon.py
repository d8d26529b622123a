"""/metrics of a real daemon process after runs against a faulty myOGO simulator: the
documented API error, retry and cursor-lag metrics carry values, and store webhooks to
names that are not configured add no label values."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import httpx
from prometheus_client import generate_latest
from sqlmodel import select

from syncd.engine import Engine
from syncd.metrics import Metrics
from syncd.state.tables import JobRun
from syncd.testing.server import free_port
from tests.conftest import Sims, config_text
from tests.daemon_proc import start_daemon, stop, wait_for
from tests.test_flows import seed_catalogue
from tests.test_webhooks_e2e import FLOWS, SETTLE, initial_runs_done


def samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in the text exposition."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(\{{[^}}]*\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_metrics_show_api_errors_retries_and_cursor_lag(sims: Sims, tmp_path: Path) -> None:
    seed_catalogue(sims.woo)
    # two 503s on the first product write (retried), then one 400 (parked, an API error)
    sims.myogo.add_fault("error", method="POST", path="products", status=503, count=2)
    sims.myogo.add_fault("error", method="POST", path="products", status=400, count=1)
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(config_text(sims, tmp_path / "state.sqlite", schedule="1h",
                                  extra_daemon=f'http_listen = "127.0.0.1:{port}"'))
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: initial_runs_done(log), SETTLE, "the start-up runs of all flows")
        base = f"http://127.0.0.1:{port}"
        for name in ("no-such-store", "x" * 200, "ünïcode"):
            refused = httpx.post(f"{base}/webhooks/store/{name}", content=b"{}")
            assert refused.status_code == 404
        text = httpx.get(f"{base}/metrics").text
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]

    retries = samples(text, "ogo_syncd_api_retries_total")
    assert sum(v for k, v in retries.items() if 'side="myogo"' in k) == 2, retries
    assert retries.get('{kind="5xx",side="myogo"}') == 2, retries
    errors = samples(text, "ogo_syncd_api_errors_total")
    assert errors.get('{kind="validation",side="myogo"}') == 1, errors
    lag = samples(text, "ogo_syncd_cursor_lag_seconds")
    for flow in FLOWS:
        assert lag[f'{{flow="{flow}",store="woo"}}'] > 0, lag
    webhooks = samples(text, "ogo_syncd_webhooks_received_total")
    assert set(webhooks) == {'{result="unknown_store",source="unknown"}'}, webhooks
    assert webhooks['{result="unknown_store",source="unknown"}'] == 3


async def test_cursor_lag_resumes_from_the_state_db_after_a_restart(sims: Sims,
                                                                     engine: Engine) -> None:
    seed_catalogue(sims.woo)
    sims.myogo.add_fault("error", method="GET", path="stock", status=400)
    assert (await engine.run_flow("woo", "products")).ok
    assert not (await engine.run_flow("woo", "stock")).ok
    with engine.db.session() as session:
        [started] = session.exec(select(JobRun.started_at).where(
            JobRun.job == "products", JobRun.ok == True)).all()  # noqa: E712
    metrics = Metrics()                   # a new process: nothing in memory
    metrics.attach(engine)
    then = started.replace(tzinfo=UTC).timestamp() + 3600
    metrics.refresh(now=then)
    lag = samples(generate_latest(metrics.registry).decode(), "ogo_syncd_cursor_lag_seconds")
    assert lag == {'{flow="products",store="woo"}': 3600.0}   # stock never completed a run
