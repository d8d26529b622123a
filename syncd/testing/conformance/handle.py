"""What a connector author provides to the conformance kit: a handle on a test store.

The kit (``syncd.testing.conformance``) seeds the store through the handle, runs the
connector, and inspects the store through the handle again. A handle talks to the store
*directly* (its simulator's Python API, or the real store's admin API), never through the
connector under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from syncd.connector import ConnectorSettings, StoreConnector


@dataclass(frozen=True)
class SeedVariant:
    sku: str | None
    name: str
    price: str = "10.00"               # decimal string, major units
    ean: str | None = None
    stock: int = 0


@dataclass(frozen=True)
class SeedProduct:
    """A product to create; ``variants`` empty = a simple product with ``sku``."""

    name: str
    sku: str | None = None
    price: str = "10.00"
    ean: str | None = None
    description: str | None = None
    stock: int = 0
    variants: Sequence[SeedVariant] = ()


@dataclass(frozen=True)
class SeedAddress:
    name: str = "Maija Meikäläinen"
    address1: str = "Testikatu 1"
    city: str = "Helsinki"
    zip: str = "00100"
    country_code: str = "FI"
    email: str = "maija@example.com"
    phone: str = "+358401234567"


@dataclass(frozen=True)
class SeedOrder:
    lines: Sequence[tuple[str, int]]   # (sku, quantity)
    paid: bool = True
    address: SeedAddress = field(default_factory=SeedAddress)
    shipping_method: str | None = None # a store shipping-method code the handle understands


@dataclass(frozen=True)
class Fulfilment:
    """A shipment/fulfilment record as the store holds it."""

    tracking_numbers: tuple[str, ...]
    tracking_url: str | None = None


@runtime_checkable
class StoreHandle(Protocol):
    """Seeds and inspects one test store. All methods are async."""

    #: a shipping-method code valid for ``SeedOrder.shipping_method`` in this store
    shipping_method: str

    async def reset(self) -> None:
        """Empty the store (products, orders, fulfilments)."""

    async def add_product(self, product: SeedProduct) -> list[str]:
        """Create a product; return the store ids of its sellable SKUs (variants)."""

    async def update_product_name(self, store_id: str, name: str) -> None:
        """Rename one sellable SKU (bumps its modified time)."""

    async def add_order(self, order: SeedOrder) -> str:
        """Create an order (paid or not); return its store id."""

    async def pay_order(self, store_id: str) -> None:
        """Mark an unpaid order paid."""

    async def cancel_order(self, store_id: str) -> None:
        """Cancel an order in the store."""

    async def stock_of(self, sku: str) -> int | None:
        """The stock the store holds for ``sku`` (None if it does not track it)."""

    async def fulfilments(self, store_id: str) -> list[Fulfilment]:
        """Fulfilments/shipment-tracking records of an order, as stored."""

    async def customer_notifications(self, store_id: str) -> int:
        """How many shipped/tracking notifications the customer got for an order."""

    async def is_shipped(self, store_id: str) -> bool:
        """Whether the order is in the store's shipped/completed state."""

    def connector(self, **overrides: object) -> StoreConnector:
        """A connector pointed at this store; ``overrides`` replace settings fields."""

    def bad_credentials_settings(self) -> ConnectorSettings:
        """Settings for this store with credentials the store will refuse."""
