"""WooCommerce REST JSON -> ``syncd.model`` records. Pure functions, no I/O.

A field of the wrong shape (``line_items`` as an object, a quantity of "1.5") raises
``DataError`` naming it; the connector turns that into an ``Unreadable`` record.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from syncd.cursor import parse_time
from syncd.errors import DataError
from syncd.mapping import gtin_problem
from syncd.model import Address, Order, OrderLine, OrderRef, Product

Row = dict[str, Any]
_TAGS = re.compile(r"<[^>]+>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")

#: product/variation meta keys of OGOship's own WooCommerce plugin
#: ("ogoship-nettivarasto-api-for-woocommerce"); a variation's value wins over its parent's
OGOSHIP_META = {
    "ean": "_nettivarasto_eancode",
    "hs_code": "_nettivarasto_hscode",
    "country_of_origin": "_nettivarasto_countryoforigin",
    "customs_description": "_nettivarasto_customsdescription",
    "supplier": "_nettivarasto_supplier_name",
    "supplier_code": "_nettivarasto_supplier_code",
    "purchase_price": "_nettivarasto_purchase_price",
}
NO_EXPORT_KEY = "_nettivarasto_no_export"


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


def records(row: Row, field: str, what: str) -> list[Row]:
    """A list-of-objects field (``line_items``, ``meta_data``); anything else is refused."""
    value = row.get(field)
    if value is None or value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        kind = "an object" if isinstance(value, dict) else f"a {type(value).__name__}"
        if isinstance(value, list):
            kind = "a list with entries that are not objects"
        raise DataError(f"{what}: {field} is {kind}, not a list of objects; a plug-in may "
                        "have rewritten it")
    return value


def _what(row: Row) -> str:
    kind = "order" if "line_items" in row else "product"
    return f"WooCommerce {kind} {row.get('id')}"


def meta(row: Row, key: str | None) -> Any:
    if not key:
        return None
    for entry in records(row, "meta_data", _what(row)):
        if entry.get("key") == key:
            return entry.get("value")
    return None


def product_name(value: Any) -> str:
    """A product title as plain text: HTML tags dropped, entities decoded (WordPress stores
    titles entity-encoded). A title that is only markup (``<p><br></p>``) becomes empty, which
    the engine refuses as a missing name."""
    text = _HTML_TAG.sub(" ", str(value or ""))
    return " ".join(html.unescape(text).split())


def not_exported(row: Row, parent: Row | None = None) -> bool:
    """OGOship's per-product "do not export" box (``_nettivarasto_no_export`` = yes)."""
    value = meta(row, NO_EXPORT_KEY)
    if value in (None, "") and parent is not None:
        value = meta(parent, NO_EXPORT_KEY)
    return str(value or "").strip().lower() == "yes"


def _own_or_parent(row: Row, parent: Row | None, key: str) -> str | None:
    value = _text(meta(row, key))
    if value is None and parent is not None:
        value = _text(meta(parent, key))
    return value


def _ean(row: Row, parent: Row | None, ean_meta_key: str | None,
         notes: list[str] | None) -> str | None:
    """The EAN/GTIN: the configured meta key, else core ``global_unique_id``, else OGOship's
    ``_nettivarasto_eancode``. One that is not a valid GTIN-8/12/13/14 is left out and the
    reason goes to ``notes`` (myOGO would keep a wrong barcode for good)."""
    if ean_meta_key:
        raw = _own_or_parent(row, parent, ean_meta_key)
    else:
        raw = _text(row.get("global_unique_id")) or _own_or_parent(
            row, parent, OGOSHIP_META["ean"])
    if raw is None:
        return None
    problem = gtin_problem(raw)
    if problem is None:
        return raw
    if notes is not None:
        notes.append(f"EAN {raw!r} left out: {problem}")
    return None


def _customs(row: Row, parent: Row | None) -> dict[str, Any]:
    """OGOship's customs and purchasing meta (variation value, else parent)."""
    found = {field: _own_or_parent(row, parent, key) for field, key in OGOSHIP_META.items()
             if field not in ("ean", "purchase_price")}
    origin = found.get("country_of_origin")
    found["country_of_origin"] = origin.upper() if origin else None
    found["purchase_price"] = _decimal(
        _own_or_parent(row, parent, OGOSHIP_META["purchase_price"]))
    return found


def _first_src(images: Any) -> str | None:
    if isinstance(images, list) and images and isinstance(images[0], dict):
        return _text(images[0].get("src"))
    return None


def to_product(row: Row, ean_meta_key: str | None, notes: list[str] | None = None) -> Product:
    """A simple product (a variable product's parent is never a SKU)."""
    return Product(
        store_id=str(row["id"]), sku=_text(row.get("sku")),
        name=product_name(row.get("name")),
        ean=_ean(row, None, ean_meta_key, notes), description=plain(row.get("description")),
        price=_decimal(row.get("price")),
        picture_url=_first_src(row.get("images")),
        info_url=_text(row.get("permalink")),
        **_customs(row, None),
        updated_at=parse_time(row.get("date_modified_gmt")),
    )


def to_variant(row: Row, parent: Row, ean_meta_key: str | None,
               notes: list[str] | None = None) -> Product:
    """One variation: its own SKU, named "Parent - M, Blue" like WooCommerce's post title.

    The variations endpoint names a variation by its attribute values only ("M, Blue"), so
    the name is built from the parent's name and the variation's options. A parent whose
    name is empty (or only markup) gives an empty name, which the engine refuses.
    """
    options = [str(a.get("option")) for a in row.get("attributes") or ()
               if isinstance(a, dict) and a.get("option")]
    values = product_name(", ".join(options) or row.get("name"))
    name = product_name(parent.get("name"))
    if name and values:
        name = f"{name} - {values}"
    image = row.get("image") if isinstance(row.get("image"), dict) else {}
    return Product(
        store_id=str(row["id"]), sku=_text(row.get("sku")), name=name,
        ean=_ean(row, parent, ean_meta_key, notes),
        description=plain(row.get("description")) or plain(parent.get("description")),
        price=_decimal(row.get("price")),
        picture_url=_text(image.get("src")) or _first_src(parent.get("images")),
        info_url=_text(row.get("permalink")) or _text(parent.get("permalink")),
        parent_id=str(parent["id"]), **_customs(row, parent),
        updated_at=parse_time(row.get("date_modified_gmt")),
    )


def shipping_method(row: Row) -> str | None:
    """``method_id:instance_id`` of the first shipping line (e.g. ``flat_rate:3``)."""
    lines = records(row, "shipping_lines", _what(row))
    if not lines:
        return None
    method_id = _text(lines[0].get("method_id"))
    instance = _text(lines[0].get("instance_id"))
    if method_id is None:
        return None
    return f"{method_id}:{instance}" if instance and instance != "0" else method_id


def _side(row: Row, field: str) -> Row:
    value = row.get(field)
    if value is None or value == "" or value == []:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{_what(row)}: {field} address is a {type(value).__name__}, "
                        "not an object")
    return value


def _complete(address: Row) -> bool:
    return all(_text(address.get(f)) for f in ("address_1", "city", "country"))


def to_address(row: Row) -> Address:
    """The shipping address as a whole, or the billing address as a whole when the shipping
    one is incomplete (no street, city or country): parts of two addresses are never mixed.
    The name falls back to the other side; email from billing, phone from either."""
    shipping = _side(row, "shipping")
    billing = _side(row, "billing")
    if _complete(shipping) or (not _complete(billing) and _text(shipping.get("address_1"))):
        source, other = shipping, billing
    else:
        source, other = billing, shipping

    def name_of(side: Row) -> str:
        return " ".join(p for p in (_text(side.get("first_name")), _text(side.get("last_name")))
                        if p)

    return Address(
        name=name_of(source) or name_of(other),
        address1=_text(source.get("address_1")) or "", address2=_text(source.get("address_2")),
        city=_text(source.get("city")) or "", zip=_text(source.get("postcode")),
        country_code=(_text(source.get("country")) or "").upper(),
        company=_text(source.get("company")),
        phone=_text(source.get("phone")) or _text(other.get("phone")),
        email=_text(billing.get("email")),
    )


def _vat(line: Row) -> Decimal | None:
    total, tax = _decimal(line.get("total")), _decimal(line.get("total_tax"))
    if not total or tax is None:
        return None
    return (tax / total * 100).quantize(Decimal("0.1"))


def _quantity(value: Any, where: str) -> int:
    """A whole quantity; "1.5" is refused, never rounded (the warehouse would ship 1)."""
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DataError(f"{where}: quantity {value!r} is not a number") from None
    if isinstance(value, bool) or not number.is_finite() \
            or number != number.to_integral_value():
        raise DataError(f"{where}: quantity {value} is not a whole number; ogo-syncd does "
                        "not round quantities")
    return int(number)


def to_line(line: Row, where: str = "line") -> OrderLine:
    quantity = _quantity(line.get("quantity"), where)
    total, tax = _decimal(line.get("total")), _decimal(line.get("total_tax"))
    unit = ((total + (tax or 0)) / quantity).quantize(Decimal("0.01")) \
        if total is not None and quantity else None
    return OrderLine(sku=_text(line.get("sku")), quantity=quantity, name=_text(line.get("name")),
                     unit_price=unit, vat_percentage=_vat(line))


def _pickup_id(value: Any) -> str | None:
    """A pickup-point id: plain text, or the ``id`` (or ``code``) of an object some shipping
    plug-ins store (never the object's Python text)."""
    if isinstance(value, dict):
        for key in ("id", "pickup_point_id", "code"):
            if _text(value.get(key)) and not isinstance(value.get(key), dict | list):
                return _text(value.get(key))
        return None
    if isinstance(value, list):
        return _pickup_id(value[0]) if value else None
    return _text(value)


def pickup_point(row: Row, keys: Sequence[str]) -> str | None:
    for key in keys:
        value = _pickup_id(meta(row, key))
        if value:
            return value
    for line in records(row, "shipping_lines", _what(row)):
        for key in keys:
            value = _pickup_id(meta(line, key))
            if value:
                return value
    return None


def line_items(row: Row) -> list[Row]:
    return records(row, "line_items", _what(row))


def to_order(row: Row, pickup_keys: Sequence[str] = (),
             skip: frozenset[int] = frozenset()) -> Order:
    """A paid order; lines of products in ``skip`` (virtual/downloadable: nothing to ship)
    are left out."""
    number = str(row.get("number") or row["id"])
    lines = [(i, line) for i, line in enumerate(line_items(row), start=1)
             if not ({_int(line.get("product_id")), _int(line.get("variation_id"))} & skip)]
    return Order(
        store_id=str(row["id"]), number=number,
        address=to_address(row),
        lines=tuple(to_line(line, f"order {number} line {i} ({_text(line.get('sku'))})")
                    for i, line in lines),
        shipping_method=shipping_method(row), pickup_point=pickup_point(row, pickup_keys),
        currency=_text(row.get("currency")), total=_decimal(row.get("total")),
        comment=_text(row.get("customer_note")),
        created_at=parse_time(row.get("date_created_gmt")),
        paid_at=parse_time(row.get("date_paid_gmt")),
        updated_at=parse_time(row.get("date_modified_gmt")),
        legacy_references=plugin_references(row),
    )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def line_product_ids(row: Row) -> set[tuple[int, int]]:
    """``(product_id, variation_id)`` of each line (variation 0 for simple products)."""
    return {(_int(line.get("product_id")), _int(line.get("variation_id")))
            for line in line_items(row)}


def plugin_references(row: Row) -> tuple[str, ...]:
    """The reference OGOship's WooCommerce plugin sends: ``{id}-{order_key minus wc_order_}``."""
    key = row.get("order_key")
    if not isinstance(key, str) or not key.strip():
        return ()
    return (f"{row['id']}-{key.strip().removeprefix('wc_order_')}",)


def to_order_ref(row: Row) -> OrderRef:
    return OrderRef(store_id=str(row["id"]), number=str(row.get("number") or row["id"]),
                    updated_at=parse_time(row.get("date_modified_gmt")))
