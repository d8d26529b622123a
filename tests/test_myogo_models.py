"""Pure parts of the myOGO client: payload models, signatures, limits, paging, helpers.

Nothing here needs the simulator; the one misbehaving-server case (a server that ignores
``page``) cannot be expressed by the simulator, so it uses ``httpx.MockTransport``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from syncd.errors import AuthError, DataError, TransientError, UnknownOutcomeError
from syncd.myogo import (
    Customer,
    MyogoClient,
    MyogoSettings,
    OrderLine,
    OrderRequest,
    OrderResponse,
    ProductResponse,
    ReturnResponse,
    StockResponse,
    WebHook,
    WebHookResponse,
    encode_code,
    sign_webhook,
    verify_webhook,
)
from syncd.myogo.client import api_message, parse_retry_after
from syncd.myogo.errors import (
    MyogoAuthError,
    MyogoNotFoundError,
    MyogoPagingError,
    MyogoTransientError,
    MyogoUnknownOutcomeError,
    MyogoValidationError,
)
from syncd.myogo.limits import RateLimiter
from syncd.myogo.paging import iter_pages

# ----------------------------------------------------------------------------- models


def test_order_response_parses_any_key_casing_and_normalises_status() -> None:
    order = OrderResponse.model_validate({
        "Reference": "R-1", "STATUS": "Shipped", "TrackingNumber": "JJFI1, JJFI2 ,",
        "EditTime": "2019-01-01T10:00:00.1234567", "OrderLines": [{"Code": "SKU", "Quantity": 2}],
        "customer": {"Address1": "Street 1", "countrycode": "FI"}, "unknownField": 1,
    })
    assert order.reference == "R-1"
    assert order.status == "shipped"
    assert order.tracking_numbers == ["JJFI1", "JJFI2"]
    assert order.edit_time == datetime(2019, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert order.order_lines[0].code == "SKU" and order.order_lines[0].quantity == 2
    assert order.customer is not None and order.customer.country_code == "FI"
    assert order.customer.address1 == "Street 1"


def test_times_with_offset_are_converted_and_naive_times_are_utc() -> None:
    stock = StockResponse.model_validate(
        {"productCode": "A", "modified": "2024-05-01T12:00:00+02:00"})
    assert stock.modified == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    product = ProductResponse.model_validate({"code": "A", "editTime": "2024-05-01T12:00:00"})
    assert product.edit_time is not None and product.edit_time.utcoffset() == timedelta(0)


def test_order_request_serialises_camel_case_without_nulls() -> None:
    order = OrderRequest(
        reference="R-1", status="NEW", pick_up_point_code="PP1",
        order_lines=[OrderLine(code="A", quantity=1, unit_price=9.9)],
        customer=Customer(name="N", address1="S", city="C", country_code="FI"),
    )
    assert order.to_wire() == {
        "reference": "R-1", "status": "new", "pickUpPointCode": "PP1",
        "orderLines": [{"code": "A", "quantity": 1, "unitPrice": 9.9}],
        "customer": {"name": "N", "address1": "S", "city": "C", "countryCode": "FI"},
    }
    # the mapping layer builds payload dicts with wire names; they validate as-is
    again = OrderRequest.model_validate(order.to_wire())
    assert again == order


def test_webhook_key_is_hidden_in_repr_but_sent_on_the_wire() -> None:
    hook = WebHook(url="https://example.test/hook", key="s3cret-key", type=1,
                   custom_headers={"X-A": "b"})
    assert "s3cret-key" not in repr(hook) and "s3cret-key" not in str(hook)
    assert hook.to_wire() == {"url": "https://example.test/hook", "key": "s3cret-key",
                              "type": "OrderShipped", "customHeaders": {"X-A": "b"}}
    assert WebHookResponse.model_validate({"Id": "g", "Type": 2}).type == "ProductStockLevelChanged"


def test_return_response_keeps_unknown_fields() -> None:
    item = ReturnResponse.model_validate({"Reference": "RET-1", "Reason": "x", "lines": [1]})
    assert item.reference == "RET-1"
    assert item.reason == "x" and item.model_extra == {"lines": [1]}


def test_error_classes_are_the_shared_syncd_classes() -> None:
    assert issubclass(MyogoValidationError, DataError)
    assert issubclass(MyogoNotFoundError, DataError)
    assert issubclass(MyogoAuthError, AuthError)
    assert issubclass(MyogoTransientError, TransientError)
    assert issubclass(MyogoUnknownOutcomeError, UnknownOutcomeError)
    err = MyogoValidationError("POST /orders: HTTP 400: bad", status=400, api_message="bad")
    assert (err.status, err.api_message, str(err)) == (400, "bad", "POST /orders: HTTP 400: bad")


# ----------------------------------------------------------------------------- signatures

# RFC 4231 test case 2
RFC_KEY, RFC_BODY = "Jefe", b"what do ya want for nothing?"
RFC_MAC = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_sign_webhook_matches_the_rfc_4231_vector() -> None:
    assert sign_webhook(RFC_KEY, RFC_BODY) == base64.b64encode(bytes.fromhex(RFC_MAC)).decode()


def test_verify_webhook_accepts_good_and_rejects_tampered_wrong_key_and_junk() -> None:
    signature = sign_webhook("hook-key", b'{"reference":"R-1"}')
    assert verify_webhook("hook-key", b'{"reference":"R-1"}', signature) is True
    assert verify_webhook("hook-key", b'{"reference":"R-2"}', signature) is False
    assert verify_webhook("other-key", b'{"reference":"R-1"}', signature) is False
    assert verify_webhook("hook-key", b'{"reference":"R-1"}', None) is False
    assert verify_webhook("hook-key", b'{"reference":"R-1"}', "ä" + signature) is False


# ----------------------------------------------------------------------------- limits


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_rate_limiter_allows_a_burst_then_paces_at_the_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(2.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        await limiter.acquire()
    # burst of 2, then 4 more at 0.5 s each
    assert fake.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5])
    assert fake.now - 1000.0 == pytest.approx(2.0)


async def test_rate_limiter_does_not_spin_on_float_rounding() -> None:
    """At a large clock value 0.2 s * 5/s may refill to 0.999…; one sleep must still do."""
    fake = FakeTime()
    fake.now = 10_000.0
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(12):
        await limiter.acquire()
    assert len(fake.sleeps) == 7
    assert sum(fake.sleeps) == pytest.approx(1.4)


# ----------------------------------------------------------------------------- paging


async def test_iter_pages_stops_on_short_page_and_on_empty_page() -> None:
    data = list(range(7))
    calls: list[int] = []

    async def fetch(page: int) -> list[int]:
        calls.append(page)
        return data[(page - 1) * 3: page * 3]

    pages = [p async for p in iter_pages(fetch, 3)]
    assert pages == [[0, 1, 2], [3, 4, 5], [6]] and calls == [1, 2, 3]

    data = list(range(6))
    calls.clear()
    pages = [p async for p in iter_pages(fetch, 3)]
    assert pages == [[0, 1, 2], [3, 4, 5]] and calls == [1, 2, 3]


async def test_iter_pages_detects_a_repeating_page_and_caps_pages() -> None:
    calls: list[int] = []

    async def same(page: int) -> list[int]:
        calls.append(page)
        return [1, 2, 3]

    with pytest.raises(MyogoPagingError, match="repeats"):
        _ = [p async for p in iter_pages(same, 3)]
    assert calls == [1, 2]

    async def endless(page: int) -> list[int]:
        return [page, page, page]

    with pytest.raises(MyogoPagingError, match="more than 4 pages"):
        _ = [p async for p in iter_pages(endless, 3, max_pages=4)]


async def test_client_stops_when_the_server_ignores_page() -> None:
    """A server that answers every page with the same full page (simulator cannot do it)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params.get("page", ""))
        return httpx.Response(200, json=[{"productCode": f"P{i}", "stockAvailable": i}
                                         for i in range(2)])

    settings = MyogoSettings(api_url="http://myogo.test/api/v1", api_key="k", page_size=2)
    async with MyogoClient(settings, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(MyogoPagingError):
            async for _ in client.iter_stock():
                pass
        assert seen == ["1", "2"]
        assert client.stats.errors_by_kind == {"paging": 1}


# ----------------------------------------------------------------------------- helpers


def test_encode_code_is_unpadded_base64url() -> None:
    assert encode_code("SKU/1+2?") == "U0tVLzErMj8"
    assert encode_code("ÄÖ-å") == base64.urlsafe_b64encode("ÄÖ-å".encode()).decode().rstrip("=")
    assert "=" not in encode_code("a")


def test_parse_retry_after_seconds_date_and_junk() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:10 GMT", lambda: now) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(("body", "expected"), [
    ({"statusCode": 400, "statusDescription": "Bad Request", "message": "Customer.Name: required"},
     "Customer.Name: required"),
    ({"title": "One or more validation errors occurred.",
      "errors": {"Reference": ["The Reference field is required."]}},
     "One or more validation errors occurred.: Reference: The Reference field is required."),
    ({"Customer.CountryCode": ["too long"]}, "Customer.CountryCode: too long"),
])
def test_api_message_understands_the_error_shapes(body: object, expected: str) -> None:
    assert api_message(httpx.Response(400, json=body)) == expected


def test_api_message_falls_back_to_text() -> None:
    assert api_message(httpx.Response(400, text="plain failure")) == "plain failure"
    assert api_message(httpx.Response(400, text="")) is None
