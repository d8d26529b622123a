"""State of the fake shop and the rules its mutations follow (no GraphQL here)."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

OPEN_STATUSES = {"OPEN", "IN_PROGRESS"}
STOCK_NAMES = {"available", "on_hand"}
REASONS = {"correction", "cycle_count_available", "damaged", "movement_created",
           "movement_updated", "movement_received", "movement_canceled", "other", "promotion",
           "quality_control", "received", "reservation_created", "reservation_deleted",
           "reservation_updated", "restock", "safety_stock", "shrinkage"}


class FakeClock:
    """Wall time plus an offset tests can move forward (``advance``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        """Shopify stores times to the second."""
        moment = datetime.now(UTC) + timedelta(seconds=self.offset)
        return moment.replace(microsecond=0)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def number_of(global_id: str) -> int | None:
    tail = str(global_id).rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


@dataclass
class Location:
    id: int
    name: str
    is_active: bool = True


@dataclass
class Variant:
    id: int
    product_id: int
    inventory_item_id: int
    sku: str | None
    title: str
    price: Decimal
    barcode: str | None
    updated_at: datetime
    image_url: str | None = None
    requires_shipping: bool = True


@dataclass
class Product:
    id: int
    title: str
    description_html: str
    updated_at: datetime
    image_url: str | None = None
    status: str = "ACTIVE"
    variant_ids: list[int] = field(default_factory=list)

    @property
    def description(self) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", self.description_html)).strip()


@dataclass
class LineItem:
    id: int
    variant_id: int | None
    sku: str | None
    name: str
    quantity: int
    price: Decimal
    requires_shipping: bool = True
    removed: int = 0

    @property
    def current_quantity(self) -> int:
        return self.quantity - self.removed


@dataclass
class FulfillmentOrderLine:
    id: int
    line_item_id: int
    remaining: int


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    location_id: int
    status: str = "OPEN"
    lines: list[FulfillmentOrderLine] = field(default_factory=list)


@dataclass
class Tracking:
    number: str
    company: str | None = None
    url: str | None = None


@dataclass
class Fulfillment:
    id: int
    order_id: int
    location_id: int
    tracking: list[Tracking]
    quantities: dict[int, int] = field(default_factory=dict)  # line item id -> quantity
    status: str = "SUCCESS"
    created_at: datetime | None = None


@dataclass
class Order:
    id: int
    number: int
    email: str | None
    phone: str | None
    financial_status: str             # "paid" | "pending" | ...
    created_at: datetime
    updated_at: datetime
    shipping_address: dict[str, str | None] | None
    shipping_code: str | None
    shipping_title: str | None
    lines: list[LineItem]
    note: str | None = None
    cancelled_at: datetime | None = None
    closed: bool = False
    fulfillment_order_ids: list[int] = field(default_factory=list)
    fulfillment_ids: list[int] = field(default_factory=list)
    notifications: int = 0

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def total(self) -> Decimal:
        return sum((li.price * li.current_quantity for li in self.lines), Decimal("0"))


@dataclass
class AdjustmentGroup:
    id: int
    reason: str
    name: str
    changes: list[tuple[int, int, int, int]]  # (inventory item, location, delta, after)


class UserErrors(Exception):
    """A mutation refused its input: ``errors`` become the payload's ``userErrors``."""

    def __init__(self, errors: list[dict[str, object]]) -> None:
        super().__init__("; ".join(str(e["message"]) for e in errors))
        self.errors = errors


@dataclass
class ShopState:
    """Everything the fake shop holds; ids count up from 1 per kind."""

    name: str = "Fake Shop"
    currency: str = "EUR"
    products: dict[int, Product] = field(default_factory=dict)
    variants: dict[int, Variant] = field(default_factory=dict)
    locations: dict[int, Location] = field(default_factory=dict)
    levels: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    fulfillment_orders: dict[int, FulfillmentOrder] = field(default_factory=dict)
    fulfillments: dict[int, Fulfillment] = field(default_factory=dict)
    adjustments: list[AdjustmentGroup] = field(default_factory=list)
    _next: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        self._next[kind] = self._next.get(kind, 0) + 1
        start = {"Order": 5000, "Product": 100, "ProductVariant": 200}.get(kind, 0)
        return start + self._next[kind]

    # -- orders ---------------------------------------------------------------------------

    def line_item(self, line_id: int) -> LineItem | None:
        for order in self.orders.values():
            for line in order.lines:
                if line.id == line_id:
                    return line
        return None

    def fulfillment_status(self, order: Order) -> str:
        """``displayFulfillmentStatus``: how much of what must ship has shipped."""
        total = sum(li.current_quantity for li in order.lines if li.requires_shipping)
        shipped = sum(sum(self.fulfillments[f].quantities.values())
                      for f in order.fulfillment_ids
                      if self.fulfillments[f].status == "SUCCESS")
        if total > 0 and shipped >= total:
            return "FULFILLED"
        return "PARTIALLY_FULFILLED" if shipped else "UNFULFILLED"

    def search_fulfillment_status(self, order: Order) -> set[str]:
        status = self.fulfillment_status(order)
        if status == "FULFILLED":
            return {"fulfilled", "shipped"}
        if status == "PARTIALLY_FULFILLED":
            return {"partial", "unshipped"}
        return {"unfulfilled", "unshipped"}

    def order_status(self, order: Order) -> set[str]:
        if order.cancelled_at is not None:
            return {"cancelled"}
        return {"closed"} if order.closed else {"open", "not_closed"}
