"""Vendure JSON -> ``syncd.model`` records. Pure functions, no I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urljoin

from syncd.cursor import parse_time
from syncd.model import Address, Order, OrderLine, OrderRef, Product

_CENTS = Decimal("0.01")


def money(minor: int | None) -> Decimal | None:
    """Vendure stores money as integers in minor units (1999 = 19.99)."""
    if minor is None:
        return None
    return (Decimal(minor) / 100).quantize(_CENTS)


def _text(value: Any) -> str | None:
    """Strip strings; empty becomes None (Vendure stores "" for unset address fields)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _absolute(url: str | None, base_url: str) -> str | None:
    """Asset previews are relative unless the AssetServerPlugin is given an absolute prefix."""
    if not url:
        return None
    return urljoin(base_url, url)


def to_product(variant: dict[str, Any], ean_field: str | None, base_url: str) -> Product:
    product = variant.get("product") or {}
    asset = variant.get("featuredAsset") or product.get("featuredAsset") or {}
    custom = variant.get("customFields") or {}
    return Product(
        store_id=str(variant["id"]),
        sku=_text(variant.get("sku")),
        name=variant.get("name") or "",
        ean=_text(custom.get(ean_field)) if ean_field else None,
        description=_text(product.get("description")),
        price=money(variant.get("priceWithTax")),
        currency=variant.get("currencyCode"),
        picture_url=_absolute(asset.get("preview"), base_url),
        parent_id=str(product["id"]) if product.get("id") is not None else None,
        updated_at=parse_time(variant.get("updatedAt")),
    )


def to_order(order: dict[str, Any]) -> Order:
    address = order.get("shippingAddress") or {}
    customer = order.get("customer") or {}
    shipping_lines = order.get("shippingLines") or []
    method = (shipping_lines[0].get("shippingMethod") or {}) if shipping_lines else {}
    lines = tuple(
        OrderLine(
            sku=_text((line.get("productVariant") or {}).get("sku")),
            quantity=int(line["quantity"]),
            name=(line.get("productVariant") or {}).get("name"),
            unit_price=money(line.get("unitPriceWithTax")),
            vat_percentage=(
                Decimal(str(line["taxRate"])) if line.get("taxRate") is not None else None
            ),
        )
        for line in order.get("lines") or ()
        if int(line.get("quantity") or 0) > 0
    )
    return Order(
        store_id=str(order["id"]),
        number=str(order["code"]),
        address=Address(
            name=_text(address.get("fullName")) or "",
            address1=_text(address.get("streetLine1")) or "",
            address2=_text(address.get("streetLine2")),
            city=_text(address.get("city")) or "",
            zip=_text(address.get("postalCode")),
            country_code=(_text(address.get("countryCode")) or "").upper(),
            company=_text(address.get("company")),
            phone=_text(address.get("phoneNumber")) or _text(customer.get("phoneNumber")),
            email=_text(customer.get("emailAddress")),
        ),
        lines=lines,
        shipping_method=_text(method.get("code")),
        currency=order.get("currencyCode"),
        total=money(order.get("totalWithTax")),
        created_at=parse_time(order.get("orderPlacedAt")),
        updated_at=parse_time(order.get("updatedAt")),
    )


def to_order_ref(order: dict[str, Any]) -> OrderRef:
    return OrderRef(
        store_id=str(order["id"]),
        number=str(order["code"]),
        updated_at=parse_time(order.get("updatedAt")),
    )
