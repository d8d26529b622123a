"""WooCommerce REST JSON -> ``syncd.model`` records. Pure functions, no I/O."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd.cursor import parse_time
from syncd.model import Address, Order, OrderLine, OrderRef, Product

Row = dict[str, Any]
_TAGS = re.compile(r"<[^>]+>")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None  # "NaN"/"Infinity" are not prices


def plain(text: Any) -> str | None:
    """HTML product descriptions as plain text."""
    cleaned = _text(_TAGS.sub(" ", str(text or "")))
    return html.unescape(" ".join(cleaned.split())) if cleaned else None


def meta(row: Row, key: str | None) -> Any:
    if not key:
        return None
    for entry in row.get("meta_data") or ():
        if entry.get("key") == key:
            return entry.get("value")
    return None


def _ean(row: Row, ean_meta_key: str | None) -> str | None:
    return _text(meta(row, ean_meta_key) if ean_meta_key else row.get("global_unique_id"))


def to_product(row: Row, ean_meta_key: str | None) -> Product:
    """A simple product (a variable product's parent is never a SKU)."""
    images = row.get("images") or []
    return Product(
        store_id=str(row["id"]), sku=_text(row.get("sku")),
        name=html.unescape(row.get("name") or ""),  # WordPress stores titles entity-encoded
        ean=_ean(row, ean_meta_key), description=plain(row.get("description")),
        price=_decimal(row.get("price")),
        picture_url=_text(images[0].get("src")) if images else None,
        info_url=_text(row.get("permalink")),
        updated_at=parse_time(row.get("date_modified_gmt")),
    )


def to_variant(row: Row, parent: Row, ean_meta_key: str | None) -> Product:
    """One variation: its own SKU, name from the parent and its attribute options."""
    options = [str(a.get("option")) for a in row.get("attributes") or () if a.get("option")]
    name = html.unescape(
        row.get("name") or " - ".join([parent.get("name") or "", *options]).strip(" -"))
    image = row.get("image") or {}
    parent_images = parent.get("images") or []
    return Product(
        store_id=str(row["id"]), sku=_text(row.get("sku")), name=name,
        ean=_ean(row, ean_meta_key),
        description=plain(row.get("description")) or plain(parent.get("description")),
        price=_decimal(row.get("price")),
        picture_url=_text(image.get("src")) or (
            _text(parent_images[0].get("src")) if parent_images else None),
        info_url=_text(row.get("permalink")) or _text(parent.get("permalink")),
        parent_id=str(parent["id"]), updated_at=parse_time(row.get("date_modified_gmt")),
    )


def shipping_method(row: Row) -> str | None:
    """``method_id:instance_id`` of the first shipping line (e.g. ``flat_rate:3``)."""
    lines = row.get("shipping_lines") or []
    if not lines:
        return None
    method_id = _text(lines[0].get("method_id"))
    instance = _text(lines[0].get("instance_id"))
    if method_id is None:
        return None
    return f"{method_id}:{instance}" if instance and instance != "0" else method_id


def to_address(row: Row) -> Address:
    """Shipping address, each missing part taken from billing; email/phone from billing."""
    shipping = row.get("shipping") or {}
    billing = row.get("billing") or {}

    def pick(field: str) -> str | None:
        return _text(shipping.get(field)) or _text(billing.get(field))

    has_shipping = bool(_text(shipping.get("address_1")))
    source = shipping if has_shipping else billing
    name = " ".join(p for p in (_text(source.get("first_name")), _text(source.get("last_name")))
                    if p) or " ".join(p for p in (pick("first_name"), pick("last_name")) if p)
    return Address(
        name=name, address1=pick("address_1") or "", address2=pick("address_2"),
        city=pick("city") or "", zip=pick("postcode"),
        country_code=(pick("country") or "").upper(), company=pick("company"),
        phone=_text(billing.get("phone")) or _text(shipping.get("phone")),
        email=_text(billing.get("email")),
    )


def _vat(line: Row) -> Decimal | None:
    total, tax = _decimal(line.get("total")), _decimal(line.get("total_tax"))
    if not total or tax is None:
        return None
    return (tax / total * 100).quantize(Decimal("0.1"))


def to_line(line: Row) -> OrderLine:
    quantity = int(line.get("quantity") or 0)
    total, tax = _decimal(line.get("total")), _decimal(line.get("total_tax"))
    unit = ((total + (tax or 0)) / quantity).quantize(Decimal("0.01")) \
        if total is not None and quantity else None
    return OrderLine(sku=_text(line.get("sku")), quantity=quantity, name=_text(line.get("name")),
                     unit_price=unit, vat_percentage=_vat(line))


def pickup_point(row: Row, keys: Sequence[str]) -> str | None:
    for key in keys:
        value = _text(meta(row, key))
        if value:
            return value
    for line in row.get("shipping_lines") or ():
        for key in keys:
            value = _text(meta(line, key))
            if value:
                return value
    return None


def to_order(row: Row, pickup_keys: Sequence[str] = ()) -> Order:
    return Order(
        store_id=str(row["id"]), number=str(row.get("number") or row["id"]),
        address=to_address(row),
        lines=tuple(to_line(line) for line in row.get("line_items") or ()),
        shipping_method=shipping_method(row), pickup_point=pickup_point(row, pickup_keys),
        currency=_text(row.get("currency")), total=_decimal(row.get("total")),
        comment=_text(row.get("customer_note")),
        created_at=parse_time(row.get("date_created_gmt")),
        updated_at=parse_time(row.get("date_modified_gmt")),
    )


def to_order_ref(row: Row) -> OrderRef:
    return OrderRef(store_id=str(row["id"]), number=str(row.get("number") or row["id"]),
                    updated_at=parse_time(row.get("date_modified_gmt")))
