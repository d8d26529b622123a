"""The store clients' retry seam against a real HTTP server that injects failures.

The server answers each request from a script (a status with headers, or a dropped
connection) and counts what it received, so every test asserts on how many requests
really reached the server: retried where safe, never a second non-idempotent write whose
answer was lost. Waits go to a recorder instead of the clock.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from connectors.shopify import queries
from connectors.shopify.client import ShopifyGraphQL
from connectors.shopify.settings import ShopifySettings
from connectors.vendure.client import VendureClient
from connectors.vendure.settings import VendureSettings
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.settings import WooCommerceSettings
from syncd.errors import TransientError, UnknownOutcomeError
from syncd.http_retry import RetryPolicy, parse_retry_after, send_with_retries

DROP = "drop"
Action = int | tuple[int, dict[str, str]] | str


@dataclass
class Script:
    """What the server does: the next action per request; then ``ok`` answers."""

    actions: list[Action] = field(default_factory=list)
    ok: Any = None                     # JSON of a 200 answer
    log: list[tuple[str, str, bytes]] = field(default_factory=list)
    skip: bytes | None = None          # requests whose body holds this are answered, not logged
    skip_answer: tuple[dict[str, str], Any] = ({}, None)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self, method: str | None = None) -> int:
        return sum(1 for m, _, _ in self.log if method in (None, m))


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if script.skip is not None and script.skip in body:
                self._answer(200, *script.skip_answer)
                return
            with script.lock:
                script.log.append((self.command, self.path, body))
                action = script.actions.pop(0) if script.actions else 200
            if action == DROP:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)   # no answer at all
                return
            status, headers = action if isinstance(action, tuple) else (int(action), {})
            self._answer(status, headers, script.ok if status == 200 else {"code": "down"})

        do_GET = do_POST = do_PUT = _serve

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


class Waits(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


POLICY = RetryPolicy(attempts=4, initial=0.5, max_wait=10.0)


# -- the seam ------------------------------------------------------------------------------

async def test_a_read_is_retried_after_503_429_and_a_dropped_connection(
        server: tuple[str, Script], http: httpx.AsyncClient) -> None:
    url, script = server
    script.actions = [503, (429, {"Retry-After": "3"}), DROP]
    script.ok = {"fine": True}
    waits = Waits()
    response = await send_with_retries(lambda: http.get(f"{url}/things"), what="GET /things",
                                       idempotent=True, policy=POLICY, sleep=waits)
    assert response.status_code == 200 and response.json() == {"fine": True}
    assert script.requests("GET") == 4
    assert len(waits) == 3 and waits[1] == 3.0                  # Retry-After obeyed
    assert 0.5 <= waits[0] <= 1.0 and 2.0 <= waits[2] <= 2.5    # backoff with jitter


async def test_a_write_is_retried_only_when_it_was_refused(
        server: tuple[str, Script], http: httpx.AsyncClient) -> None:
    url, script = server
    waits = Waits()

    def post() -> Any:
        return send_with_retries(lambda: http.post(f"{url}/notes", json={"n": 1}),
                                 what="POST /notes", idempotent=False, policy=POLICY,
                                 sleep=waits)

    script.actions = [429, (503, {"Retry-After": "1"})]       # refused: nothing was done
    assert (await post()).status_code == 200
    assert script.requests("POST") == 3 and waits[1] == 1.0
    script.actions = [500]                                    # may have been done: not again
    assert (await post()).status_code == 500
    assert script.requests("POST") == 4
    script.actions = [DROP]                                   # sent, no answer: not again
    with pytest.raises(UnknownOutcomeError, match="the write may have happened"):
        await post()
    assert script.requests("POST") == 5


async def test_retries_end_with_the_last_answer_or_a_transient_error(
        server: tuple[str, Script], http: httpx.AsyncClient) -> None:
    url, script = server
    script.actions = [(503, {"Retry-After": "600"})] * POLICY.attempts
    waits = Waits()
    response = await send_with_retries(lambda: http.get(url), what="GET /", idempotent=True,
                                       policy=POLICY, sleep=waits)
    assert response.status_code == 503 and script.requests() == POLICY.attempts
    assert waits == [POLICY.max_wait] * (POLICY.attempts - 1)  # Retry-After capped
    script.actions = [DROP] * POLICY.attempts
    with pytest.raises(TransientError, match="no answer") as info:
        await send_with_retries(lambda: http.get(url), what="GET /", idempotent=True,
                                policy=POLICY, sleep=waits)
    assert not isinstance(info.value, UnknownOutcomeError)
    assert script.requests() == 2 * POLICY.attempts
    with socket.socket() as sock:                             # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(TransientError, match="cannot connect"):   # even a POST: never sent
        await send_with_retries(lambda: http.post(closed), what="POST /", idempotent=False,
                                policy=POLICY, sleep=waits)


def test_retry_after_as_seconds_or_a_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=lambda: now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# -- the store clients use it -----------------------------------------------------------------

async def test_woocommerce_retries_reads_and_absolute_stock_but_not_a_note(
        server: tuple[str, Script], http: httpx.AsyncClient) -> None:
    url, script = server
    settings = WooCommerceSettings(url=url, consumer_key="ck_x", consumer_secret="cs_x",
                                   allow_http=True)
    waits = Waits()
    client = WooClient(settings, http, retry=POLICY, sleep=waits)
    script.ok = []
    script.actions = [503, (429, {"Retry-After": "2"}), DROP]
    assert await client.get("/products") == []
    assert script.requests("GET") == 4 and waits[1] == 2.0
    script.ok = {"update": []}
    script.actions = [DROP]
    await client.send("POST", "/products/batch", {"update": []}, idempotent=True)
    assert script.requests("POST") == 2
    script.actions = [DROP]
    with pytest.raises(UnknownOutcomeError):
        await client.send("POST", "/orders/1/notes", {"note": "shipped"})
    assert script.requests("POST") == 3
    query_auth = WooClient(settings.model_copy(update={"auth": "query"}), http,
                           retry=POLICY, sleep=waits)
    script.actions = [DROP] * POLICY.attempts
    with pytest.raises(TransientError) as info:
        await query_auth.get("/products")
    assert "cs_x" not in str(info.value)          # the keys are in the URL, never the message
    assert script.requests("GET") == 4 + POLICY.attempts


async def test_vendure_retries_queries_but_not_a_fulfilment(
        server: tuple[str, Script], http: httpx.AsyncClient) -> None:
    url, script = server
    settings = VendureSettings(url=f"{url}/admin-api", allow_http=True, username="admin",
                               password="secret")
    script.skip = b"mutation Login"
    script.skip_answer = ({"vendure-auth-token": "t1"},
                          {"data": {"login": {"id": "1", "identifier": "admin"}}})
    waits = Waits()
    client = VendureClient(settings, http, retry=POLICY, sleep=waits)
    script.ok = {"data": {"me": {"id": "1"}}}
    script.actions = [(503, {"Retry-After": "2"}), DROP]
    assert await client.request("query Me { me { id } }") == {"me": {"id": "1"}}
    assert script.requests() == 3 and waits[0] == 2.0
    script.actions = [DROP]
    await client.request("mutation SetStock { x }", mutation=True, idempotent=True)
    assert script.requests() == 5
    script.actions = [DROP]
    with pytest.raises(UnknownOutcomeError):
        await client.request("mutation AddFulfillment { x }", mutation=True)
    assert script.requests() == 6


async def test_shopify_retries_through_the_seam(
        server: tuple[str, Script], http: httpx.AsyncClient) -> None:
    url, script = server
    settings = ShopifySettings(shop=url, access_token="shpat_x", allow_http=True,
                               location_id="gid://shopify/Location/1")
    waits = Waits()
    gql = ShopifyGraphQL(http, settings, sleep=waits, max_attempts=4)
    script.ok = {"data": {"shop": {"id": "1"}}}
    script.actions = [503, (429, {"Retry-After": "2"}), DROP]
    assert await gql.execute(queries.CHECK, {"locationId": "x", "withLocation": False}) == {
        "shop": {"id": "1"}}
    assert script.requests() == 4 and waits[1] == 2.0 and gql.throttled == 1
    create = "mutation FulfillmentCreate($f: Int) { x }"
    for action in (503, DROP):                      # a fulfilment is never sent twice
        script.actions = [action]
        with pytest.raises(UnknownOutcomeError):
            await gql.execute(create, {}, idempotent=False)
    assert script.requests() == 6
