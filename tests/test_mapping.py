"""Pure mapping: store records -> myOGO payloads, and the cursor rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.cursor import as_time, format_time, next_cursor, parse_time
from syncd.errors import DataError
from syncd.mapping import (
    clean_text,
    order_payload,
    order_reference,
    product_payload,
    shipping_code,
    split_tracking,
)
from syncd.model import Address, Order, OrderLine, Product


@dataclass
class StoreSettings:
    reference_prefix: str = "WC-"
    language: str = "fi"
    currency: str = "EUR"
    default_shipping_code: str = ""
    shipping_map: dict[str, str] = field(default_factory=lambda: {"flat_rate:1": "POSTI"})


STORE = StoreSettings()
ADDRESS = Address(name="Maija", address1="Testikatu 1", city="Helsinki", country_code="fi",
                  zip="00100", email="m@example.com")


def order(**changes: object) -> Order:
    base: dict[str, object] = dict(
        store_id="17", number="1017", address=ADDRESS,
        lines=(OrderLine(sku="SKU-1", quantity=2, unit_price=Decimal("9.90")),),
        shipping_method="flat_rate:1", total=Decimal("19.80"), currency="EUR")
    base.update(changes)
    return Order.model_validate(base)


def test_order_payload_maps_every_field() -> None:
    payload = order_payload(order(), STORE)
    assert payload == {
        "reference": "WC-1017",
        "shippingCode": "POSTI",
        "orderLines": [{"code": "SKU-1", "quantity": 2, "unitPrice": 9.9}],
        "customer": {"name": "Maija", "address1": "Testikatu 1", "city": "Helsinki",
                     "zip": "00100", "countryCode": "FI", "email": "m@example.com"},
        "priceTotal": 19.8,
        "priceCurrency": "EUR",
    }


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"address": ADDRESS.model_copy(update={"country_code": "XX"})}, "'XX' is not an ISO"),
        ({"address": ADDRESS.model_copy(update={"country_code": "Finland"})}, "not an ISO"),
        ({"address": ADDRESS.model_copy(update={"name": " \u200b "})}, "customer name is missing"),
        ({"address": ADDRESS.model_copy(update={"city": ""})}, "city is missing"),
        ({"lines": ()}, "has no lines"),
        ({"lines": (OrderLine(sku=None, quantity=1),)}, "line 1 SKU is missing"),
        ({"lines": (OrderLine(sku="A", quantity=0),)}, "quantity 0 is not between"),
        ({"lines": (OrderLine(sku="A", quantity=-3),)}, "quantity -3"),
        ({"lines": (OrderLine(sku="A", quantity=10**9),)}, "quantity 1000000000"),
        ({"number": "  "}, "order number is missing"),
    ],
)
def test_bad_orders_are_refused_with_a_reason(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(DataError) as info:
        order_payload(order(**changes), STORE)
    assert fragment in str(info.value)


def test_unmapped_shipping_method_uses_the_default_or_nothing() -> None:
    assert shipping_code("local_pickup:3", STORE) is None
    assert shipping_code("local_pickup:3", StoreSettings(default_shipping_code="DEF")) == "DEF"
    assert shipping_code(None, StoreSettings(default_shipping_code="DEF")) == "DEF"


def test_product_payload_and_missing_sku() -> None:
    product = Product(store_id="5", sku=" SKU-5\u200b", name="Mug", ean="6400000000000",
                      price=Decimal("12.5"), description="<p>Nice</p>")
    assert product_payload(product, STORE) == {
        "code": "SKU-5", "name": "Mug", "languageCode": "fi", "description": "<p>Nice</p>",
        "eanCode": "6400000000000", "salesPrice": 12.5, "currencyCode": "EUR"}
    with pytest.raises(DataError, match="SKU is missing"):
        product_payload(product.model_copy(update={"sku": ""}), STORE)
    with pytest.raises(DataError, match="longer than 100"):
        product_payload(product.model_copy(update={"sku": "X" * 101}), STORE)
    with pytest.raises(DataError, match="negative price"):
        product_payload(product.model_copy(update={"price": Decimal("-1")}), STORE)


def test_tracking_numbers_are_a_set() -> None:
    assert split_tracking("B, A,B,,") == ("A", "B")
    assert split_tracking(None) == ()


@given(st.text())
def test_clean_text_never_keeps_invisible_characters(text: str) -> None:
    cleaned = clean_text(text)
    if cleaned is not None:
        assert cleaned == cleaned.strip()
        assert not any(ch in cleaned for ch in "\x00\x07\u200b\u200e\ufeff\u202e")


@given(st.text(min_size=1).filter(lambda s: clean_text(s) is not None), st.text(max_size=5))
def test_reference_is_prefix_plus_cleaned_number(number: str, prefix: str) -> None:
    assert order_reference(prefix, number) == prefix + (clean_text(number) or "")


@given(
    st.lists(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                          timezones=st.just(UTC)), max_size=20),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                 timezones=st.just(UTC)),
    st.one_of(st.none(), st.datetimes(min_value=datetime(2020, 1, 1),
                                      max_value=datetime(2030, 1, 1), timezones=st.just(UTC))),
)
def test_cursor_never_passes_signpost_nor_goes_back(
    seen: list[datetime], signpost: datetime, previous: datetime | None
) -> None:
    overlap = timedelta(minutes=2)
    new = next_cursor(max(seen) if seen else None, signpost, previous, overlap)
    if not seen:
        assert new == previous
        return
    assert new is not None
    if previous is not None:
        assert new >= previous
    if previous is None or new != previous:
        assert new <= signpost - overlap
        assert new <= max(seen)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-01-01T00:00:00.0000000", datetime(2019, 1, 1, tzinfo=UTC)),
        ("2018-10-20T11:11:11+01:00", datetime(2018, 10, 20, 10, 11, 11, tzinfo=UTC)),
        ("2026-11-24T10:00:00.1234567Z", datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-24 10:00:00", datetime(2026, 11, 24, 10, tzinfo=UTC)),
    ],
)
def test_times_parse_leniently_naive_is_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert as_time(parsed) == expected
    assert parse_time(format_time(expected)) == expected


def test_scan_cursor_keeps_the_window_when_items_moved_during_the_scan() -> None:
    from syncd.cursor import scan_cursor

    signpost = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    previous = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    quiet = scan_cursor(datetime(2026, 11, 24, 11, 30, tzinfo=UTC), signpost, previous)
    assert quiet == datetime(2026, 11, 24, 11, 30, tzinfo=UTC)
    moved = scan_cursor(signpost + timedelta(seconds=1), signpost, previous)
    assert moved == previous
