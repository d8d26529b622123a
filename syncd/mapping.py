"""Pure mapping between ``syncd.model`` records and myOGO payloads (no I/O).

Every rule that can refuse an item lives here and raises ``DataError`` with a message a
merchant can act on; the flows record that message as the item's failure.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Any, Protocol

from syncd.countries import ISO_COUNTRIES
from syncd.errors import DataError
from syncd.model import Order, Product

# C0/C1 controls except tab/newline, zero-width / bidi formatting characters, and lone
# surrogates (valid in JSON text, but not encodable as UTF-8 on the way to myOGO).
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
    r"\ud800-\udfff]"
)
MAX_PRICE = Decimal("1000000000")
MAX_CODE_LENGTH = 100
MAX_QUANTITY = 100_000


class StoreMappingSettings(Protocol):
    """The parts of a store's config the mapping needs (``syncd.config.StoreConfig``)."""

    reference_prefix: str
    language: str
    currency: str
    default_shipping_code: str
    shipping_map: dict[str, str]


def clean_text(value: str | None) -> str | None:
    """NFC-normalise, drop control and zero-width characters, trim; empty -> None."""
    if value is None:
        return None
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", value)).strip()
    return text or None


def _required(value: str | None, what: str) -> str:
    text = clean_text(value)
    if not text:
        raise DataError(f"{what} is missing")
    return text


def check_sku(sku: str | None, what: str = "SKU") -> str:
    """A usable myOGO product code: present, printable, not absurdly long."""
    code = clean_text(sku)
    if not code:
        raise DataError(f"{what} is missing: give the product a SKU in the store")
    if len(code) > MAX_CODE_LENGTH:
        raise DataError(f"{what} {code[:20]!r}... is longer than {MAX_CODE_LENGTH} characters")
    return code


GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_problem(code: str) -> str | None:
    """Why ``code`` is not a GTIN-8/12/13/14 (EAN/UPC) with a right check digit, or None."""
    digits = code.strip()
    if not digits.isascii() or not digits.isdigit():
        return "a GTIN has digits only"
    if len(digits) not in GTIN_LENGTHS:
        return f"a GTIN has 8, 12, 13 or 14 digits, not {len(digits)}"
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    expected = (10 - total % 10) % 10
    if check != expected:
        return f"the check digit is {check}, it should be {expected}"
    return None


def _country(value: str | None, what: str) -> str | None:
    code = (clean_text(value) or "").upper()
    if not code:
        return None
    if code not in ISO_COUNTRIES:
        raise DataError(f"{what} {value!r} is not an ISO 3166 two-letter code")
    return code


def _money(value: Decimal | None) -> float | None:
    if value is None:
        return None
    if not value.is_finite() or value >= MAX_PRICE:
        raise DataError(f"price {value} is out of range")
    if value < 0:
        raise DataError(f"negative price {value}")
    return float(value.quantize(Decimal("0.01")))


def order_reference(prefix: str, number: str) -> str:
    """The deterministic myOGO reference of a store order (unique per merchant)."""
    return f"{prefix}{_required(number, 'order number')}"


def product_payload(product: Product, store: StoreMappingSettings) -> dict[str, Any]:
    """The myOGO ``Product`` body (camelCase) for a store product."""
    payload: dict[str, Any] = {
        "code": check_sku(product.sku),
        "name": _required(product.name, f"name of product {product.sku}"),
        "languageCode": store.language,
        "description": clean_text(product.description),
        "eanCode": clean_text(product.ean),
        "salesPrice": _money(product.price),
        "currencyCode": (product.currency or store.currency) if product.price is not None else None,
        "pictureUrl": clean_text(product.picture_url),
        "infoUrl": clean_text(product.info_url),
        "hsCode": clean_text(product.hs_code),
        "countryOfOrigin": _country(product.country_of_origin,
                                    f"product {product.sku}: country of origin"),
        "customsDescription": clean_text(product.customs_description),
        "supplier": clean_text(product.supplier),
        "supplierCode": clean_text(product.supplier_code),
        "supplyPrice": _money(product.purchase_price),
    }
    return {k: v for k, v in payload.items() if v is not None}


def shipping_code(method: str | None, store: StoreMappingSettings) -> str | None:
    """Store shipping method -> myOGO ShippingCode via the store's map, else the default."""
    if method and method in store.shipping_map:
        return store.shipping_map[method]
    return store.default_shipping_code or None


def order_payload(order: Order, store: StoreMappingSettings) -> dict[str, Any]:
    """The myOGO ``Order`` body (camelCase) for a paid store order."""
    addr = order.address
    country = (clean_text(addr.country_code) or "").upper()
    if country not in ISO_COUNTRIES:
        raise DataError(
            f"order {order.number}: country code {addr.country_code!r} is not an ISO 3166 "
            "two-letter code"
        )
    if not order.lines:
        raise DataError(f"order {order.number} has no lines")
    lines = []
    for i, line in enumerate(order.lines, start=1):
        code = check_sku(line.sku, f"order {order.number} line {i} SKU")
        if line.quantity <= 0 or line.quantity > MAX_QUANTITY:
            raise DataError(
                f"order {order.number} line {i} ({code}): quantity {line.quantity} is not "
                f"between 1 and {MAX_QUANTITY}"
            )
        entry: dict[str, Any] = {"code": code, "quantity": line.quantity}
        if line.unit_price is not None:
            entry["unitPrice"] = _money(line.unit_price)
        if line.vat_percentage is not None:
            entry["vatPercentage"] = float(line.vat_percentage)
        lines.append(entry)
    customer = {
        "name": _required(addr.name, f"order {order.number}: customer name"),
        "company": clean_text(addr.company),
        "address1": _required(addr.address1, f"order {order.number}: street address"),
        "address2": clean_text(addr.address2),
        "city": _required(addr.city, f"order {order.number}: city"),
        "zip": clean_text(addr.zip),
        "countryCode": country,
        "phone": clean_text(addr.phone),
        "email": clean_text(addr.email),
    }
    payload: dict[str, Any] = {
        "reference": order_reference(store.reference_prefix, order.number),
        "shippingCode": shipping_code(order.shipping_method, store),
        "pickUpPointCode": clean_text(order.pickup_point),
        "orderLines": lines,
        "customer": {k: v for k, v in customer.items() if v is not None},
        "comments": clean_text(order.comment),
        "priceTotal": _money(order.total),
        "priceCurrency": (order.currency or store.currency) if order.total is not None else None,
    }
    return {k: v for k, v in payload.items() if v is not None}


def split_tracking(value: str | None) -> tuple[str, ...]:
    """myOGO's ``trackingNumber`` as a sorted set (it may hold "A,B")."""
    if not value:
        return ()
    return tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))
