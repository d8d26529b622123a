"""syncd.web over real HTTP: uvicorn started in the test's loop by serve_web on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx
import pytest

from syncd.metrics import Metrics
from syncd.web import (
    SIGNATURE_HEADER,
    WebServer,
    build_app,
    infer_event_type,
    parse_listen,
    serve_web,
)

KEY = "whk-test-key-0123456789"
MAX_BODY = 2_000
ORDER = json.dumps({"reference": "WOO-1001", "status": "shipped",
                    "trackingNumber": "JJFI123"}).encode()
STOCK = json.dumps([{"productCode": "SKU-1", "stockAvailable": 4}]).encode()


def sign(body: bytes, key: str = KEY) -> str:
    """Independent of syncd.web: Base64(HMAC-SHA256(key, raw body))."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Daemon:
    """Stands in for the daemon's callbacks and records what reached it."""

    key: str | None = KEY
    ready: bool = False
    myogo_events: list[tuple[str, bytes]] = field(default_factory=list)
    store_calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    fail_myogo: bool = False

    async def on_myogo_event(self, event: str, body: bytes) -> None:
        if self.fail_myogo:
            raise RuntimeError("handler broke")
        self.myogo_events.append((event, body))

    async def on_store_webhook(self, store: str, headers: Mapping[str, str],
                               body: bytes) -> int:
        if store == "explodes":
            raise RuntimeError("connector bug")
        if store != "shop1":
            return 404
        if headers.get("x-test-signature") != "good":
            return 401
        self.store_calls.append((store, dict(headers), body))
        return 202


@dataclass
class Surface:
    daemon: Daemon
    metrics: Metrics
    server: WebServer
    http: httpx.AsyncClient
    tasks: set[asyncio.Task[None]]

    async def settle(self) -> None:
        """Wait for background webhook deliveries, then give the loop one more turn."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.sleep(0.01)


@pytest.fixture
async def surface() -> AsyncIterator[Surface]:
    daemon = Daemon()
    metrics = Metrics()
    app = build_app(
        health=lambda: {"status": "alive", "stores": 1},
        ready=lambda: (daemon.ready, {"ready": daemon.ready, "db": "ok"}),
        myogo_webhook_key=lambda: daemon.key,
        on_myogo_event=daemon.on_myogo_event,
        on_store_webhook=daemon.on_store_webhook,
        registry=metrics.registry,
        max_body=MAX_BODY,
        metrics=metrics,
        store_names=lambda: {"shop1", "explodes", "disabled"},
    )
    server = await serve_web(app, "127.0.0.1:0")
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        yield Surface(daemon, metrics, server, http, app.state.webhook_tasks)
    await server.stop()


async def test_signed_myogo_webhook_reaches_the_daemon(surface: Surface) -> None:
    r = await surface.http.post("/webhooks/myogo", content=ORDER,
                                headers={SIGNATURE_HEADER: sign(ORDER)})
    assert r.status_code == 200
    assert r.json() == {"accepted": True, "type": "OrderShipped"}
    await surface.settle()
    assert surface.daemon.myogo_events == [("OrderShipped", ORDER)]


async def test_event_type_from_query_header_or_body(surface: Surface) -> None:
    body = b'{"something": "else"}'
    await surface.http.post("/webhooks/myogo?type=ProductStockLevelChanged", content=body,
                            headers={SIGNATURE_HEADER: sign(body)})
    await surface.http.post("/webhooks/myogo", content=body,
                            headers={SIGNATURE_HEADER: sign(body),
                                     "X-Ogo-Syncd-Event": "OrderShipped"})
    await surface.http.post("/webhooks/myogo", content=STOCK,
                            headers={SIGNATURE_HEADER: sign(STOCK)})
    await surface.http.post("/webhooks/myogo", content=body,
                            headers={SIGNATURE_HEADER: sign(body)})
    bad = await surface.http.post("/webhooks/myogo?type=a%20b", content=body,
                                  headers={SIGNATURE_HEADER: sign(body)})
    assert bad.status_code == 400
    await surface.settle()
    assert sorted(surface.daemon.myogo_events) == sorted([
        ("ProductStockLevelChanged", body), ("OrderShipped", body),
        ("ProductStockLevelChanged", STOCK), ("unknown", body)])


@pytest.mark.parametrize("case", ["tampered", "wrong_key", "missing", "garbage"])
async def test_bad_signatures_are_refused_and_nothing_happens(surface: Surface,
                                                              case: str) -> None:
    headers = {
        "tampered": {SIGNATURE_HEADER: sign(ORDER)},
        "wrong_key": {SIGNATURE_HEADER: sign(ORDER, key="another-key")},
        "missing": {},
        "garbage": {SIGNATURE_HEADER: "ä-not-ascii".encode()},
    }[case]
    body = ORDER.replace(b"JJFI123", b"EVIL999") if case == "tampered" else ORDER
    r = await surface.http.post("/webhooks/myogo", content=body, headers=headers)
    assert r.status_code == 401
    await surface.settle()
    assert surface.daemon.myogo_events == []
    assert 'ogo_syncd_webhooks_received_total{result="unauthorized",source="myogo"} 1.0' \
        in (await surface.http.get("/metrics")).text


async def test_oversize_bodies_get_413(surface: Surface) -> None:
    big = b"x" * (MAX_BODY + 1)
    r = await surface.http.post("/webhooks/myogo", content=big,
                                headers={SIGNATURE_HEADER: sign(big)})
    assert r.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:   # no Content-Length: caught while reading
        for _ in range(3):
            yield b"y" * 1000

    r = await surface.http.post("/webhooks/myogo", content=chunked(),
                                headers={SIGNATURE_HEADER: sign(b"y" * 3000)})
    assert r.status_code == 413
    r = await surface.http.post("/webhooks/store/shop1", content=big,
                                headers={"X-Test-Signature": "good"})
    assert r.status_code == 413
    exact = b"z" * MAX_BODY                          # the limit itself is allowed
    r = await surface.http.post("/webhooks/myogo", content=exact,
                                headers={SIGNATURE_HEADER: sign(exact)})
    assert r.status_code == 200
    await surface.settle()
    assert surface.daemon.myogo_events == [("unknown", exact)]
    assert surface.daemon.store_calls == []


async def test_myogo_webhooks_disabled_without_a_key(surface: Surface) -> None:
    surface.daemon.key = None
    r = await surface.http.post("/webhooks/myogo", content=ORDER,
                                headers={SIGNATURE_HEADER: sign(ORDER)})
    assert r.status_code == 404
    await surface.settle()
    assert surface.daemon.myogo_events == []


async def test_failing_handler_still_answers_200(surface: Surface) -> None:
    surface.daemon.fail_myogo = True
    r = await surface.http.post("/webhooks/myogo", content=ORDER,
                                headers={SIGNATURE_HEADER: sign(ORDER)})
    assert r.status_code == 200
    await surface.settle()
    assert surface.tasks == set()
    # the server is still serving
    assert (await surface.http.get("/healthz")).status_code == 200


async def test_store_webhook_routing(surface: Surface) -> None:
    ok = await surface.http.post("/webhooks/store/shop1", content=b'{"id": 7}',
                                 headers={"X-Test-Signature": "good"})
    assert ok.status_code == 202
    bad = await surface.http.post("/webhooks/store/shop1", content=b'{"id": 8}',
                                  headers={"X-Test-Signature": "forged"})
    assert bad.status_code == 401
    unknown = await surface.http.post("/webhooks/store/nope", content=b"{}")
    assert unknown.status_code == 404
    text = (await surface.http.get("/metrics")).text   # no label value from the URL
    assert 'source="nope"' not in text
    assert 'ogo_syncd_webhooks_received_total{result="unknown_store",source="unknown"} 1.0' \
        in text.splitlines()
    broken = await surface.http.post("/webhooks/store/explodes", content=b"{}")
    assert broken.status_code == 500
    assert [(s, h["x-test-signature"], b) for s, h, b in surface.daemon.store_calls] == [
        ("shop1", "good", b'{"id": 7}')]
    assert (await surface.http.get("/webhooks/store/shop1")).status_code == 405


async def test_health_and_readiness(surface: Surface) -> None:
    health = await surface.http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "alive", "stores": 1}
    not_ready = await surface.http.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json() == {"ready": False, "db": "ok"}
    surface.daemon.ready = True
    ready = await surface.http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "db": "ok"}


async def test_metrics_show_recorded_values(surface: Surface) -> None:
    m = surface.metrics
    m.record_job_run("shop1", "orders", ok=True, duration=1.5, synced=3, failed=1,
                     finished_at=1_700_000_000)
    m.record_job_run("shop1", "orders", ok=False, duration=0.2)
    m.record_api_error("myogo", "transient")
    m.record_api_retry("store", "429")
    m.set_cursor_lag("shop1", "stock", 42.0)
    r = await surface.http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = set(r.text.splitlines())
    for expected in [
        'ogo_syncd_job_runs_total{flow="orders",result="ok",store="shop1"} 1.0',
        'ogo_syncd_job_runs_total{flow="orders",result="failed",store="shop1"} 1.0',
        'ogo_syncd_job_duration_seconds_count{flow="orders",store="shop1"} 2.0',
        'ogo_syncd_job_duration_seconds_sum{flow="orders",store="shop1"} 1.7',
        'ogo_syncd_items_synced_total{flow="orders",store="shop1"} 3.0',
        'ogo_syncd_items_failed_total{flow="orders",store="shop1"} 1.0',
        'ogo_syncd_api_errors_total{kind="transient",side="myogo"} 1.0',
        'ogo_syncd_api_retries_total{kind="429",side="store"} 1.0',
        'ogo_syncd_cursor_lag_seconds{flow="stock",store="shop1"} 42.0',
        'ogo_syncd_last_success_timestamp_seconds{flow="orders",store="shop1"} 1.7e+09',
    ]:
        assert expected in lines, expected


async def test_record_flow_result_maps_counts() -> None:
    @dataclass
    class Result:
        store: str = "shop2"
        flow: str = "orders"
        ok: bool = True
        duration: float = 0.5
        counts: dict[str, int] = field(default_factory=lambda: {
            "seen": 10, "sent": 2, "adopted": 1, "unchanged": 5, "failed": 2, "parked": 4})

    m = Metrics()
    m.record_flow_result(Result())
    text = m.render().decode()
    assert 'ogo_syncd_items_synced_total{flow="orders",store="shop2"} 3.0' in text
    assert 'ogo_syncd_items_failed_total{flow="orders",store="shop2"} 2.0' in text
    with pytest.raises(ValueError, match="side"):
        m.record_api_error("warehouse", "x")


async def test_stop_closes_the_port_and_busy_port_raises() -> None:
    app = build_app(health=dict, ready=lambda: (True, {}), myogo_webhook_key=lambda: None,
                    on_myogo_event=_never, on_store_webhook=_never_store,
                    registry=Metrics().registry)
    server = await serve_web(app, "127.0.0.1:0")
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        await serve_web(app, f"127.0.0.1:{port}")
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.url}/healthz")).json() == {}
        await server.stop()
        assert server.task.done()
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{server.url}/healthz")


async def _never(event: str, body: bytes) -> None:
    raise AssertionError("not expected")


async def _never_store(store: str, headers: Mapping[str, str], body: bytes) -> int:
    raise AssertionError("not expected")


def test_parse_listen_and_infer() -> None:
    assert parse_listen("127.0.0.1:8080") == parse_listen("8080")
    assert (parse_listen(":9000").host, parse_listen(":9000").port) == ("0.0.0.0", 9000)
    assert (parse_listen("[::1]:81").host, parse_listen("[::1]:81").port) == ("::1", 81)
    assert parse_listen("unix:/run/x.sock").path == "/run/x.sock"
    for bad in ("host", "1.2.3.4:http", "unix:relative", "1.2.3.4:70000"):
        with pytest.raises(ValueError):
            parse_listen(bad)
    assert infer_event_type(b"not json") == "unknown"
    assert infer_event_type(b"[]") == "unknown"
    assert infer_event_type(b'{"TrackingNumber": "x"}') == "OrderShipped"
