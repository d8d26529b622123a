"""Pure mapping from Admin GraphQL nodes to ``syncd.model`` records (no I/O)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from syncd.cursor import parse_time
from syncd.model import Address, Order, OrderLine, OrderRef, Product

DEFAULT_VARIANT_TITLE = "Default Title"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _image_url(media: dict[str, Any] | None) -> str | None:
    preview = (media or {}).get("preview") or {}
    return ((preview.get("image") or {}).get("url")) or None


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def variant_to_product(node: dict[str, Any], currency: str | None) -> Product:
    """One ``ProductVariant`` node -> one sellable SKU.

    The name is "Product - Variant" unless the variant is Shopify's placeholder
    "Default Title" (a product without options). The picture is the variant's own image,
    else the product's featured image; the description is the product's plain text, else
    its HTML.
    """
    product = node.get("product") or {}
    title = _text(product.get("title")) or ""
    variant_title = _text(node.get("title"))
    name = title
    if variant_title and variant_title != DEFAULT_VARIANT_TITLE:
        name = f"{title} - {variant_title}" if title else variant_title
    media_nodes = (node.get("media") or {}).get("nodes") or []
    picture = _image_url(media_nodes[0]) if media_nodes else None
    picture = picture or _image_url(product.get("featuredMedia"))
    times = [t for t in (parse_time(node.get("updatedAt")), parse_time(product.get("updatedAt")))
             if t is not None]
    return Product(
        store_id=str(node["id"]),
        sku=_text(node.get("sku")),
        name=name,
        ean=_text(node.get("barcode")),
        description=_text(product.get("description")) or _text(product.get("descriptionHtml")),
        price=_decimal(node.get("price")),
        currency=currency,
        picture_url=picture,
        parent_id=None if product.get("hasOnlyDefaultVariant") else _text(product.get("id")),
        updated_at=max(times) if times else None,
    )


def line_items_to_lines(nodes: list[dict[str, Any]]) -> list[OrderLine]:
    """Lines the warehouse must ship: removed (quantity 0) and non-shipping lines are dropped."""
    lines: list[OrderLine] = []
    for node in nodes:
        quantity = int(node.get("currentQuantity") or 0)
        if quantity <= 0 or node.get("requiresShipping") is False:
            continue
        price = ((node.get("originalUnitPriceSet") or {}).get("shopMoney") or {}).get("amount")
        lines.append(
            OrderLine(
                sku=_text(node.get("sku")),
                quantity=quantity,
                name=_text(node.get("name")),
                unit_price=_decimal(price),
            )
        )
    return lines


def order_address(node: dict[str, Any]) -> Address:
    """The shipping address; missing parts stay empty so the engine parks the order clearly."""
    ship = node.get("shippingAddress") or {}
    name = _text(ship.get("name")) or " ".join(
        p for p in (_text(ship.get("firstName")), _text(ship.get("lastName"))) if p
    )
    return Address(
        name=name,
        address1=_text(ship.get("address1")) or "",
        address2=_text(ship.get("address2")),
        city=_text(ship.get("city")) or "",
        zip=_text(ship.get("zip")),
        country_code=_text(ship.get("countryCodeV2")) or "",
        company=_text(ship.get("company")),
        phone=_text(ship.get("phone")) or _text(node.get("phone")),
        email=_text(node.get("email")),
    )


def order_number(name: str) -> str:
    """``#1001`` -> ``1001`` (Shopify's order name carries the shop's prefix/suffix)."""
    return name.strip().lstrip("#").strip()


def node_to_order(node: dict[str, Any], lines: list[OrderLine]) -> Order:
    shipping = node.get("shippingLine") or {}
    total = (node.get("totalPriceSet") or {}).get("shopMoney") or {}
    return Order(
        store_id=str(node["id"]),
        number=order_number(str(node.get("name") or "")),
        address=order_address(node),
        lines=tuple(lines),
        shipping_method=_text(shipping.get("code")) or _text(shipping.get("title")),
        currency=_text(total.get("currencyCode")),
        total=_decimal(total.get("amount")),
        comment=_text(node.get("note")),
        created_at=parse_time(node.get("createdAt")),
        updated_at=parse_time(node.get("updatedAt")),
    )


def node_to_order_ref(node: dict[str, Any]) -> OrderRef:
    return OrderRef(
        store_id=str(node["id"]),
        number=order_number(str(node.get("name") or "")),
        updated_at=parse_time(node.get("updatedAt")),
    )


def numeric_id(gid: str) -> str:
    """``gid://shopify/Product/123`` -> ``123`` (search syntax takes bare numbers)."""
    return gid.rsplit("/", 1)[-1]


def search_value(value: str) -> str:
    """Quote a value for Shopify search syntax."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
