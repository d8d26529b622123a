"""The myOGO client against the real simulator: in-process (ASGITransport) and over HTTP.

Back-off sleeps are replaced by a recorder (no real waiting); token expiry is driven by a
fake client clock together with the simulator's clock. Counts come from the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from syncd.myogo import (
    SIGNATURE_HEADER,
    Customer,
    MyogoClient,
    MyogoSettings,
    ObjectMetadata,
    OrderLine,
    OrderRequest,
    ProductRequest,
    ReturnLine,
    ReturnRequest,
    StockUpdateProduct,
    StockUpdateRequest,
    WebHook,
    sign_webhook,
    verify_webhook,
)
from syncd.myogo.auth import REFRESH_MARGIN
from syncd.myogo.errors import (
    MyogoAuthError,
    MyogoNotFoundError,
    MyogoTransientError,
    MyogoUnknownOutcomeError,
    MyogoValidationError,
)
from syncd.myogo.limits import RateLimiter
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import ServerThread, free_port, serve_in_thread

ACCESS_TTL = 5400
API_KEY = "test-api-key-1"

# ----------------------------------------------------------------------------- fixtures


class FakeTime:
    """The client's token clock plus a back-off sleep recorder (sleeping moves the clock)."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def sim() -> Iterator[MyogoSim]:
    simulator = MyogoSim(api_keys={API_KEY: "demo"})
    yield simulator
    simulator.close()


@pytest.fixture(scope="module")
def server(sim: MyogoSim) -> Iterator[ServerThread]:
    with serve_in_thread(sim.app) as srv:
        yield srv


@pytest.fixture(autouse=True)
def clean_sim(sim: MyogoSim) -> None:
    sim.reset()
    sim.clear_faults()
    sim.reset_counts()


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def make_settings(base_url: str, **overrides: Any) -> MyogoSettings:
    values: dict[str, Any] = {
        "api_url": f"{base_url}/api/v1", "token_url": f"{base_url}/OAuth/Token",
        "merchant_id": "demo", "secret_token": "demo", "rate_limit": 1000.0,
        "timeout": 5.0, "retry_attempts": 3, "retry_max_seconds": 60.0,
    }
    values.update(overrides)
    return MyogoSettings(**values)


def in_process(sim: MyogoSim, fake: FakeTime, **overrides: Any) -> MyogoClient:
    return MyogoClient(make_settings("http://myogo.sim", **overrides),
                       transport=httpx.ASGITransport(app=sim.app),
                       sleep=fake.sleep, clock=fake.clock)


@pytest.fixture
async def client(sim: MyogoSim, fake: FakeTime) -> AsyncIterator[MyogoClient]:
    async with in_process(sim, fake) as c:
        yield c


@pytest.fixture
async def http_client(sim: MyogoSim, server: ServerThread,
                      fake: FakeTime) -> AsyncIterator[MyogoClient]:
    async with MyogoClient(make_settings(server.url), sleep=fake.sleep,
                           clock=fake.clock) as c:
        yield c


def hits(sim: MyogoSim, route: str) -> int:
    """Requests the simulator saw for ``"METHOD /path"`` (case-insensitive key match)."""
    wanted = route.lower()
    return sum(n for key, n in sim.request_counts().items() if key.lower() == wanted)


def token_hits(sim: MyogoSim) -> int:
    return hits(sim, "POST /OAuth/Token")


def seed(sim: MyogoSim, *codes: str, stock: int = 100) -> None:
    sim.seed_products([{"code": c, "name": f"Product {c}", "languageCode": "en", "stock": stock}
                       for c in codes])


def sim_product(sim: MyogoSim, code: str) -> dict[str, Any] | None:
    return next((p for p in sim.products if p["code"] == code), None)


def order(reference: str, *codes: str, **extra: Any) -> OrderRequest:
    return OrderRequest(
        reference=reference, shipping_code=extra.pop("shipping_code", None),
        order_lines=[OrderLine(code=c, quantity=1, unit_price=10.0) for c in codes],
        customer=Customer(name="Maija Meikäläinen", address1="Katu 1", city="Helsinki",
                          zip="00100", country_code="FI", email="m@example.test"),
        **extra,
    )


# ----------------------------------------------------------------------------- auth


async def test_one_password_grant_serves_many_requests(sim: MyogoSim,
                                                       client: MyogoClient) -> None:
    for _ in range(3):
        assert await client.find_order("NOPE") is None
    assert token_hits(sim) == 1
    assert hits(sim, "GET /api/v1/orders") == 3
    assert client.stats.token_grants == {"password": 1}


async def test_concurrent_first_requests_make_exactly_one_token_request(
        sim: MyogoSim, http_client: MyogoClient) -> None:
    seed(sim, "A")
    results = await asyncio.gather(*(http_client.find_product("A") for _ in range(20)))
    assert all(r is not None and r.code == "A" for r in results)
    assert token_hits(sim) == 1
    assert hits(sim, "GET /api/v1/products") == 20


async def test_token_expired_on_the_server_is_renewed_and_the_request_replayed(
        sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    assert await client.find_product("A") is not None
    sim.clock.advance(ACCESS_TTL + 1)  # only the server sees time pass
    assert await client.find_product("A") is not None
    assert hits(sim, "GET /api/v1/products") == 3  # ok, 401, replay
    assert token_hits(sim) == 2
    assert client.stats.token_grants == {"password": 1, "refresh_token": 1}
    assert client.stats.reauths == 1
    assert client.stats.responses_by_status[401] == 0  # the replay hid the 401 from callers


async def test_token_is_refreshed_before_expiry_and_refresh_tokens_rotate(
        sim: MyogoSim, client: MyogoClient, fake: FakeTime) -> None:
    await client.find_order("X")
    for _ in range(3):
        step = ACCESS_TTL - REFRESH_MARGIN + 1
        fake.now += step
        sim.clock.advance(step)
        await client.find_order("X")
    # each refresh used the refresh token rotated by the previous one (else: password again)
    assert client.stats.token_grants == {"password": 1, "refresh_token": 3}
    assert client.stats.reauths == 0
    assert hits(sim, "GET /api/v1/orders") == 4  # never a 401


async def test_refused_refresh_token_falls_back_to_the_password_grant(
        sim: MyogoSim, client: MyogoClient, fake: FakeTime) -> None:
    await client.find_order("X")
    step = 15 * 24 * 3600  # past the refresh token's two weeks
    fake.now += step
    sim.clock.advance(step)
    assert await client.find_order("X") is None
    assert client.stats.token_grants == {"password": 2, "refresh_token": 1}
    assert token_hits(sim) == 3
    assert hits(sim, "GET /api/v1/orders") == 2


async def test_wrong_credentials_raise_auth_error_without_leaking_them(
        sim: MyogoSim, fake: FakeTime) -> None:
    async with in_process(sim, fake, secret_token="wrong-secret-xyz") as client:
        with pytest.raises(MyogoAuthError) as info:
            await client.find_order("X")
    text = str(info.value) + repr(info.value)
    assert "wrong-secret-xyz" not in text and "abcdef" not in text
    assert "merchant_id" in text  # the hint names what to check
    assert info.value.status == 400
    assert token_hits(sim) == 1  # not retried: refused credentials are not transient
    assert hits(sim, "GET /api/v1/orders") == 0


async def test_missing_credentials_fail_before_any_request(sim: MyogoSim,
                                                           fake: FakeTime) -> None:
    async with in_process(sim, fake, merchant_id=None, secret_token=None) as client:
        with pytest.raises(MyogoAuthError, match="merchant_id"):
            await client.find_order("X")
    assert sum(sim.request_counts().values()) == 0


async def test_a_second_401_raises_auth_error(sim: MyogoSim, client: MyogoClient) -> None:
    sim.add_fault("error", path="/orders", status=401, count=2)
    with pytest.raises(MyogoAuthError) as info:
        await client.find_order("X")
    assert info.value.status == 401 and "scopes" in str(info.value)
    assert hits(sim, "GET /api/v1/orders") == 2  # first try + exactly one replay
    assert client.stats.reauths == 1
    assert client.stats.errors_by_kind == {"auth": 1}


async def test_403_is_an_auth_error_and_not_replayed(sim: MyogoSim, client: MyogoClient) -> None:
    sim.add_fault("error", path="/products", status=403, count=1)
    with pytest.raises(MyogoAuthError):
        await client.find_product("A")
    assert hits(sim, "GET /api/v1/products") == 1


async def test_api_key_header_needs_no_token(sim: MyogoSim, fake: FakeTime) -> None:
    seed(sim, "A")
    async with in_process(sim, fake, api_key=API_KEY) as client:
        assert (await client.find_product("A")) is not None
        assert client.stats.token_requests == 0
    async with in_process(sim, fake, api_key="not-a-key") as client:
        with pytest.raises(MyogoAuthError) as info:
            await client.find_product("A")
        assert "not-a-key" not in str(info.value)
    assert token_hits(sim) == 0
    assert hits(sim, "GET /api/v1/products") == 2  # the refused key is not replayed


async def test_token_never_appears_in_reprs_or_logs(sim: MyogoSim, client: MyogoClient,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    sim.add_fault("error", path="/orders", status=401, count=2)
    with pytest.raises(MyogoAuthError) as info:
        await client.find_order("X")
    assert client.tokens is not None and client.tokens._token is not None
    secrets = [client.tokens._token.access, client.tokens._token.refresh or "<none>", "abcdef"]
    shown = " ".join([repr(client), repr(client.tokens), repr(client._auth),
                      str(info.value), repr(info.value), *capsys.readouterr()])
    assert not [s for s in secrets if s in shown]


# ----------------------------------------------------------------------------- paging


async def test_products_page_until_a_short_page(sim: MyogoSim, client: MyogoClient) -> None:
    sim.seed_products([{"code": f"SKU-{i:04d}", "name": f"P{i}", "languageCode": "en"}
                       for i in range(1001)])
    pages = [page async for page in client.iter_products()]
    assert [len(p) for p in pages] == [250, 250, 250, 250, 1]
    assert len({p.code for page in pages for p in page}) == 1001
    assert hits(sim, "GET /api/v1/products") == 5


async def test_modified_after_returns_only_later_changes(sim: MyogoSim,
                                                         client: MyogoClient) -> None:
    seed(sim, "A", "B", "C")
    await client.create_order(order("R-1", "A"))
    cursor = sim.clock.now()
    sim.clock.advance(5)
    await client.create_order(order("R-2", "B"))
    sim.set_stock("C", 7)
    orders = [o async for page in client.iter_orders(modified_after=cursor) for o in page]
    assert [o.reference for o in orders] == ["R-2"]
    stock = [s async for page in client.iter_stock(modified_after=cursor) for s in page]
    assert {s.product_code for s in stock} >= {"C"} and "A" not in {s.product_code for s in stock}
    level = [s async for page in client.iter_stock(product_code="C") for s in page]
    assert [(s.product_code, s.stock, s.stock_available) for s in level] == [("C", 7, 7)]
    unknown = [s async for page in client.iter_stock(product_code="NOPE") for s in page]
    assert unknown == []
    sim.configure(stock_unknown_code="404")  # the swagger lists a 404 for stock
    unknown = [s async for page in client.iter_stock(product_code="NOPE") for s in page]
    assert unknown == []
    assert client.stats.responses_by_status[404] == 1


# ----------------------------------------------------------------------------- orders


async def test_order_lifecycle(sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A", "B")
    created = await client.create_order(order("R-100", "A", comments="first"))
    assert created.reference == "R-100" and created.status == "new" and created.id
    assert [o["reference"] for o in sim.orders] == ["R-100"]

    found = await client.find_order("R-100")
    assert found is not None and found.id == created.id

    updated = await client.update_order("R-100", order("R-100", "B", comments="second"))
    assert [line.code for line in updated.order_lines] == ["B"]
    assert sim.orders_by_reference("R-100")[0]["comments"] == "second"

    cancelled = await client.cancel_order("R-100")
    assert cancelled.status == "cancelled"
    assert sim.orders_by_reference("R-100")[0]["status"] == "cancelled"


async def test_update_after_collecting_is_a_validation_error(sim: MyogoSim,
                                                             client: MyogoClient) -> None:
    seed(sim, "A")
    await client.create_order(order("R-1", "A"))
    sim.collect("R-1")
    with pytest.raises(MyogoValidationError) as info:
        await client.cancel_order("R-1")
    assert info.value.status == 400 and "collecting" in (info.value.api_message or "")
    assert sim.orders_by_reference("R-1")[0]["status"] == "collecting"
    assert hits(sim, "PUT /api/v1/orders/{reference}") == 1  # 400 is never retried


async def test_shipped_order_carries_tracking(sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    await client.create_order(order("R-1", "A"))
    sim.collect("R-1")
    sim.ship("R-1", "JJFI1,JJFI2", "https://track.example/JJFI1")
    found = await client.find_order("R-1")
    assert found is not None and found.status == "shipped"
    assert found.tracking_numbers == ["JJFI1", "JJFI2"]
    assert found.tracking_url == "https://track.example/JJFI1"


async def test_unknown_order_is_not_found(sim: MyogoSim, client: MyogoClient) -> None:
    with pytest.raises(MyogoNotFoundError) as info:
        await client.update_order("NOPE", order("NOPE", "A"))
    assert info.value.status == 404 and "NOPE" in (info.value.api_message or "")
    assert client.stats.errors_by_kind == {"not_found": 1}


async def test_invalid_and_duplicate_orders_are_validation_errors(
        sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    bad = order("R-BAD", "A")
    bad.customer = Customer(name="N", address1="S", city="C", country_code="FIN")
    with pytest.raises(MyogoValidationError) as info:
        await client.create_order(bad)
    assert info.value.api_message and "countrycode" in info.value.api_message.lower()
    assert sim.orders_by_reference("R-BAD") == []

    await client.create_order(order("R-1", "A"))
    with pytest.raises(MyogoValidationError, match="same reference"):
        await client.create_order(order("R-1", "A"))
    assert len(sim.orders_by_reference("R-1")) == 1
    assert hits(sim, "POST /api/v1/orders") == 3
    assert client.stats.errors_by_kind == {"validation": 2}


# ----------------------------------------------------------------------------- products


async def test_product_create_update_by_base64url_code_and_rename(
        sim: MyogoSim, client: MyogoClient) -> None:
    code = "SKU/1+2 ä?"
    created = await client.create_product(ProductRequest(code=code, name="Old", language_code="fi"))
    assert created.code == code and created.id
    updated = await client.update_product(code, ProductRequest(code=code, name="New",
                                                               language_code="fi"))
    assert updated.name == "New" and (sim_product(sim, code) or {}).get("name") == "New"

    renamed = await client.update_product(code, ProductRequest(code="SKU-2", name="New",
                                                               language_code="fi"))
    assert renamed.code == "SKU-2"
    assert sim_product(sim, code) is None and sim_product(sim, "SKU-2") is not None
    assert (await client.find_product("SKU-2")) is not None
    assert await client.find_product(code) is None

    with pytest.raises(MyogoNotFoundError):
        await client.update_product("GONE", ProductRequest(code="GONE", name="x",
                                                           language_code="fi"))


# ----------------------------------------------------------------------------- retries


async def test_5xx_is_retried_then_succeeds(sim: MyogoSim, client: MyogoClient,
                                            fake: FakeTime) -> None:
    sim.add_fault("error", method="GET", path="/orders", status=503, count=2)
    assert await client.find_order("X") is None
    assert hits(sim, "GET /api/v1/orders") == 3
    assert client.stats.retries == 2 and len(fake.sleeps) == 2
    # exponential from 0.5 s, plus jitter below 0.5 s
    assert 0.5 <= fake.sleeps[0] <= 1.0 and 1.0 <= fake.sleeps[1] <= 1.5


async def test_5xx_gives_up_after_the_attempt_budget(sim: MyogoSim, client: MyogoClient) -> None:
    sim.add_fault("error", method="GET", path="/orders", status=500)
    with pytest.raises(MyogoTransientError) as info:
        await client.find_order("X")
    assert info.value.status == 500
    assert hits(sim, "GET /api/v1/orders") == 3  # settings.retry_attempts
    assert client.stats.errors_by_kind == {"transient": 1}


async def test_429_honours_retry_after(sim: MyogoSim, client: MyogoClient,
                                       fake: FakeTime) -> None:
    sim.add_fault("rate_limit", path="/orders", count=1, retry_after=7)
    assert await client.find_order("X") is None
    assert fake.sleeps == [7.0]
    assert hits(sim, "GET /api/v1/orders") == 2


async def test_429_without_retry_after_backs_off_exponentially(
        sim: MyogoSim, client: MyogoClient, fake: FakeTime) -> None:
    sim.add_fault("rate_limit", path="/orders", count=2)
    assert await client.find_order("X") is None
    assert len(fake.sleeps) == 2
    assert 0.5 <= fake.sleeps[0] <= 1.0 and 1.0 <= fake.sleeps[1] <= 1.5


async def test_retry_after_beyond_the_time_budget_gives_up_at_once(
        sim: MyogoSim, fake: FakeTime) -> None:
    sim.add_fault("rate_limit", path="/orders", retry_after=300)
    async with in_process(sim, fake, retry_max_seconds=60) as client:
        with pytest.raises(MyogoTransientError) as info:
            await client.find_order("X")
    assert info.value.status == 429
    assert fake.sleeps == []
    assert hits(sim, "GET /api/v1/orders") == 1


async def test_post_with_503_is_retried_and_creates_one_order(
        sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    sim.add_fault("error", method="POST", path="/orders", status=503, count=1)
    created = await client.create_order(order("R-1", "A"))
    assert created.reference == "R-1"
    assert len(sim.orders_by_reference("R-1")) == 1
    assert hits(sim, "POST /api/v1/orders") == 2


async def test_post_with_500_is_an_unknown_outcome_and_not_retried(
        sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    sim.add_fault("error", method="POST", path="/orders", status=500, count=1)
    with pytest.raises(MyogoUnknownOutcomeError) as info:
        await client.create_order(order("R-1", "A"))
    assert info.value.status == 500
    assert hits(sim, "POST /api/v1/orders") == 1


@pytest.mark.parametrize("over_http", [False, True])
async def test_dropped_get_is_retried(sim: MyogoSim, server: ServerThread, fake: FakeTime,
                                      over_http: bool) -> None:
    sim.add_fault("drop", method="GET", path="/orders", count=1)
    base = server.url if over_http else "http://myogo.sim"
    transport = None if over_http else httpx.ASGITransport(app=sim.app)
    async with MyogoClient(make_settings(base), transport=transport, sleep=fake.sleep,
                           clock=fake.clock) as client:
        assert await client.find_order("X") is None
    assert hits(sim, "GET /api/v1/orders") == 2
    assert len(fake.sleeps) == 1


@pytest.mark.parametrize("over_http", [False, True])
async def test_dropped_post_is_an_unknown_outcome(sim: MyogoSim, server: ServerThread,
                                                  fake: FakeTime, over_http: bool) -> None:
    seed(sim, "A")
    sim.add_fault("drop", method="POST", path="/orders", count=1)
    base = server.url if over_http else "http://myogo.sim"
    transport = None if over_http else httpx.ASGITransport(app=sim.app)
    async with MyogoClient(make_settings(base), transport=transport, sleep=fake.sleep,
                           clock=fake.clock) as client:
        with pytest.raises(MyogoUnknownOutcomeError):
            await client.create_order(order("R-1", "A"))
        assert client.stats.errors_by_kind == {"unknown_outcome": 1}
    assert hits(sim, "POST /api/v1/orders") == 1
    assert fake.sleeps == []


async def test_commit_timeout_post_is_unknown_and_the_sim_holds_one_order(
        sim: MyogoSim, server: ServerThread, fake: FakeTime) -> None:
    seed(sim, "A")
    sim.add_fault("commit_timeout", method="POST", path="/orders", count=1, seconds=1.5)
    async with MyogoClient(make_settings(server.url, timeout=0.3), sleep=fake.sleep,
                           clock=fake.clock) as client:
        with pytest.raises(MyogoUnknownOutcomeError):
            await client.create_order(order("R-1", "A"))
        assert len(sim.orders_by_reference("R-1")) == 1
        # the caller resolves it by reference, as the orders flow does
        found = await client.find_order("R-1")
        assert found is not None and found.reference == "R-1"
    assert hits(sim, "POST /api/v1/orders") == 1
    assert len(sim.orders_by_reference("R-1")) == 1


async def test_read_timeouts_on_get_are_retried_then_given_up(
        sim: MyogoSim, server: ServerThread, fake: FakeTime) -> None:
    sim.add_fault("latency", method="GET", path="/orders", seconds=0.6)
    async with MyogoClient(make_settings(server.url, timeout=0.2, retry_attempts=2),
                           sleep=fake.sleep, clock=fake.clock) as client:
        with pytest.raises(MyogoTransientError, match="ReadTimeout"):
            await client.find_order("X")
    assert hits(sim, "GET /api/v1/orders") == 2


async def test_latency_within_the_timeout_is_just_slow(sim: MyogoSim, server: ServerThread,
                                                       fake: FakeTime) -> None:
    sim.add_fault("latency", path="/orders", seconds=0.2, count=1)
    async with MyogoClient(make_settings(server.url, timeout=5), sleep=fake.sleep,
                           clock=fake.clock) as client:
        assert await client.find_order("X") is None
    assert hits(sim, "GET /api/v1/orders") == 1 and fake.sleeps == []


async def test_connection_refused_is_retried_for_any_method(fake: FakeTime) -> None:
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    async with MyogoClient(make_settings(base, api_key=API_KEY), sleep=fake.sleep,
                           clock=fake.clock) as client:
        with pytest.raises(MyogoTransientError, match="ConnectError"):
            await client.find_order("X")
        assert client.stats.requests == 3
        with pytest.raises(MyogoTransientError, match="ConnectError"):  # nothing was sent
            await client.create_order(order("R-1", "A"))
        assert client.stats.requests == 6
        assert client.stats.errors_by_kind == {"transient": 2}


async def test_unreachable_token_endpoint_is_transient(fake: FakeTime) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    async with MyogoClient(make_settings(base), sleep=fake.sleep, clock=fake.clock) as client:
        with pytest.raises(MyogoTransientError):
            await client.create_order(order("R-1", "A"))
        assert client.stats.token_requests == 3 and client.stats.requests == 0


# ----------------------------------------------------------------------------- limits


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps the real ASGI transport and records the most requests in flight at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


async def test_concurrency_limit_bounds_requests_in_flight(sim: MyogoSim,
                                                           fake: FakeTime) -> None:
    sim.add_fault("latency", method="GET", path="/orders", seconds=0.05)
    transport = CountingTransport(httpx.ASGITransport(app=sim.app))
    settings = make_settings("http://myogo.sim", concurrency=2)
    async with MyogoClient(settings, transport=transport, sleep=fake.sleep,
                           clock=fake.clock) as client:
        await client.find_order("warm-up")  # the token request is outside the limit
        transport.peak = 0
        await asyncio.gather(*(client.find_order(f"R-{i}") for i in range(8)))
    assert transport.peak == 2
    assert hits(sim, "GET /api/v1/orders") == 9


async def test_rate_limit_paces_requests(sim: MyogoSim, client: MyogoClient) -> None:
    paced = FakeTime()
    client.rate_limiter = RateLimiter(5.0, clock=paced.clock, sleep=paced.sleep)
    await asyncio.gather(*(client.find_order(f"R-{i}") for i in range(12)))
    assert len(paced.sleeps) == 7  # burst of 5, then one per 0.2 s
    assert sum(paced.sleeps) == pytest.approx(1.4)
    assert hits(sim, "GET /api/v1/orders") == 12


# ----------------------------------------------------------------------------- other groups


async def test_webhook_crud_and_null_list(sim: MyogoSim, client: MyogoClient) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as raw:
        answer = await raw.get("http://myogo.sim/api/v1/webhooks", headers={"X-OgoKey": API_KEY})
    assert answer.status_code == 200 and answer.text == "null"  # the case under test
    assert await client.list_webhooks() == []
    hook = await client.create_webhook(WebHook(url="https://shop.example/hook", key="k1",
                                               type="OrderShipped",
                                               custom_headers={"X-Shop": "1"}))
    assert hook.id and hook.type == "OrderShipped"
    assert [h.id for h in await client.list_webhooks()] == [hook.id]
    got = await client.get_webhook(hook.id)
    assert got is not None and got.url == "https://shop.example/hook"
    got.url = "https://shop.example/hook2"
    updated = await client.update_webhook(got)
    assert updated.url == "https://shop.example/hook2"
    assert [h["url"] for h in sim.webhooks] == ["https://shop.example/hook2"]
    await client.delete_webhook(hook.id)
    assert sim.webhooks == [] and await client.get_webhook(hook.id) is None
    with pytest.raises(MyogoValidationError, match=r"(?i)url"):
        await client.create_webhook(WebHook(url="ftp://x", key="k", type="OrderShipped"))


class Receiver:
    """A real HTTP endpoint that records raw webhook bodies and headers."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append((body, headers))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_webhook_delivery_signature_verifies(sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    receiver = Receiver()
    with serve_in_thread(receiver) as hook_server:
        await client.create_webhook(WebHook(url=f"{hook_server.url}/hook", key="hook-secret",
                                            type="ProductStockLevelChanged"))
        sim.set_stock("A", 3)
        for _ in range(500):  # delivery runs on the simulator's thread
            if receiver.received:
                break
            await asyncio.sleep(0.01)
    assert len(receiver.received) == 1
    body, headers = receiver.received[0]
    signature = headers[SIGNATURE_HEADER.lower()]
    assert verify_webhook("hook-secret", body, signature) is True
    assert signature == sign_webhook("hook-secret", body)
    assert b"3" in body
    assert verify_webhook("hook-secret", body.replace(b"3", b"4"), signature) is False
    assert verify_webhook("wrong-secret", body, signature) is False


async def test_stock_updates(sim: MyogoSim, client: MyogoClient) -> None:
    created = await client.create_stock_update(StockUpdateRequest(
        reference="PO-1", supplier="Supplier Oy", receive_date=sim.clock.now() + timedelta(days=3),
        products=[StockUpdateProduct(code="A", expected_quantity=10, country_of_origin="FI")]))
    assert created.reference == "PO-1" and created.status == "new" and created.auto_reference
    listed = [u async for page in client.iter_stock_updates(reference="PO-1") for u in page]
    assert [(u.reference, u.products[0].expected_quantity) for u in listed] == [("PO-1", 10)]
    with pytest.raises(MyogoValidationError):
        await client.create_stock_update(StockUpdateRequest(
            reference="PO-1", supplier="S", receive_date=sim.clock.now()))


async def test_returns(sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    await client.create_order(order("R-1", "A"))
    created = await client.create_return(ReturnRequest(
        reference="RET-1", order_reference="R-1", return_lines=[ReturnLine(code="A", quantity=1)],
        reason="too small"))
    assert created.reference == "RET-1" and created.status == "new" and created.id
    listed = [r async for page in client.iter_returns() for r in page]
    assert [r.reference for r in listed] == ["RET-1"]
    cancelled = await client.update_return("RET-1", ReturnRequest(status="cancelled"))
    assert cancelled.status == "cancelled"
    with pytest.raises(MyogoNotFoundError):
        await client.update_return("RET-404", ReturnRequest(status="cancelled"))


async def test_metadata(sim: MyogoSim, client: MyogoClient) -> None:
    seed(sim, "A")
    created = await client.create_order(order("R-1", "A"))
    assert created.id
    stored = await client.update_metadata(ObjectMetadata(id=created.id,
                                                         metadata={"shopOrderId": "1001"}))
    assert stored.metadata == {"shopOrderId": "1001"}
    got = await client.get_metadata(created.id)
    assert got is not None and got.metadata == {"shopOrderId": "1001"}
    await client.delete_metadata(created.id)
    got = await client.get_metadata(created.id)
    assert got is not None and got.metadata == {}
    assert await client.get_metadata("00000000-0000-0000-0000-000000000000") is None
