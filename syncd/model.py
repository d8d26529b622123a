"""Records exchanged between store connectors and the engine.

Connectors *adapt*: they turn store data into these records and back. The engine maps
them to myOGO payloads (``syncd.mapping``). Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def content_hash(self) -> str:
        """Stable hash of the record's content, used to skip unchanged items."""
        data = self.model_dump_json(exclude={"updated_at"})
        return hashlib.sha256(data.encode()).hexdigest()[:32]


class Product(Record):
    """One sellable SKU (a simple product or one variant of a variable product)."""

    store_id: str                      # the store's own id of this SKU (variant id for variants)
    sku: str | None                    # None or "" = cannot be synced (recorded as a failure)
    name: str
    ean: str | None = None
    description: str | None = None
    price: Decimal | None = None       # sales price incl. VAT, in ``currency``
    currency: str | None = None
    picture_url: str | None = None
    info_url: str | None = None
    parent_id: str | None = None       # set for variants
    # customs and purchasing data (myOGO keeps them per product)
    hs_code: str | None = None
    country_of_origin: str | None = None   # ISO 3166-1 alpha-2
    customs_description: str | None = None
    supplier: str | None = None
    supplier_code: str | None = None
    purchase_price: Decimal | None = None  # what the merchant pays the supplier
    updated_at: datetime | None = None


class Address(Record):
    name: str
    address1: str
    city: str
    country_code: str                  # ISO 3166-1 alpha-2
    zip: str | None = None
    address2: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None


class OrderLine(Record):
    sku: str | None
    quantity: int
    name: str | None = None
    unit_price: Decimal | None = None  # incl. VAT
    vat_percentage: Decimal | None = None


class Order(Record):
    """A *paid* store order, ready to be fulfilled."""

    store_id: str                      # the store's own order id (stable key)
    number: str                        # the human order number; myOGO reference = prefix + number
    address: Address
    lines: tuple[OrderLine, ...]
    shipping_method: str | None = None # the store's shipping method id/code, mapped by config
    pickup_point: str | None = None
    currency: str | None = None
    total: Decimal | None = None
    comment: str | None = None
    created_at: datetime | None = None
    paid_at: datetime | None = None    # when it was paid; ``orders_since`` compares this
    updated_at: datetime | None = None
    #: myOGO references another integration may already have sent this order under (e.g.
    #: OGOship's own store plugin): such an order is adopted, never sent again
    legacy_references: tuple[str, ...] = ()


class OrderRef(Record):
    """A reference to a store order, e.g. one that was cancelled in the store."""

    store_id: str
    number: str
    updated_at: datetime | None = None


class StockLevel(Record):
    sku: str
    quantity: int                      # 0 is a real value, never skipped


class Shipment(Record):
    """Tracking to write back to the store once myOGO marks the order SHIPPED."""

    store_order_id: str
    order_number: str
    tracking_numbers: tuple[str, ...]  # a set: myOGO may send "A,B"
    tracking_url: str | None = None
    carrier: str | None = None
    notify_customer: bool = True


class Unreadable(Record):
    """A store record the connector could not read (e.g. a quantity of "1.5").

    Connectors yield it in a page in place of the record, so the flow parks it with
    ``reason`` and the rest of the page flows. ``fingerprint`` is a hash of the raw record:
    the same unreadable content is parked once, a changed one is looked at again.
    """

    store_id: str
    reason: str
    fingerprint: str = ""

    @classmethod
    def of(cls, store_id: object, reason: str, raw: object) -> Unreadable:
        text = json.dumps(raw, sort_keys=True, default=str)
        return cls(store_id=str(store_id), reason=reason,
                   fingerprint=hashlib.sha256(text.encode()).hexdigest()[:32])


class ItemResult(Record):
    """Outcome for one item of a batch write (e.g. one SKU of ``set_stock``)."""

    key: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of items and the opaque cursor that resumes *after* this page.

    The engine saves ``cursor`` only after every item is done or recorded as a failure.
    ``cursor`` may be None when the connector has nothing better than the previous cursor.
    """

    items: Sequence[T]
    cursor: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
