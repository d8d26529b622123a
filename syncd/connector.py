"""The store connector interface and the entry-point registry.

A connector adapts one kind of store: it talks to the store's API and returns
``syncd.model`` records. It never sees the state database or myOGO. Connectors are found
through the entry-point group ``syncd.connectors`` (built-ins use the same group), so a
third-party connector is ``pip install``-ed and selected by name in the config.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict

from syncd.errors import ConfigError
from syncd.model import (
    ItemResult,
    Order,
    OrderRef,
    Page,
    Product,
    Shipment,
    StockLevel,
    Unreadable,
)

ENTRY_POINT_GROUP = "syncd.connectors"


class Capability(StrEnum):
    PRODUCTS = "products"            # changed_products
    ORDERS = "orders"                # paid_orders
    STOCK = "stock"                  # set_stock
    STOCK_LEVELS = "stock_levels"    # stock_levels (read the store's current stock)
    TRACKING = "tracking"            # mark_shipped
    CANCELLATIONS = "cancellations"  # cancelled_orders
    WEBHOOKS = "webhooks"            # parse_webhook


class ConnectorSettings(BaseModel):
    """Base for a connector's ``Settings``: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class WebhookEvent(BaseModel):
    """What a verified store webhook asks the engine to do (a trigger to re-poll)."""

    kind: str                         # "order_paid" | "order_cancelled" | "product_changed"
    store_id: str | None = None


class StoreConnector(abc.ABC):
    """Base class of every store connector.

    Cursors are opaque strings owned by the connector. ``Page.cursor`` resumes *after*
    that page; ``None`` passed in means "from the beginning". Connectors should apply a
    small look-back overlap to time-based cursors; the engine's state tables make the
    overlap free. A record the connector cannot read (a field of the wrong type, a
    quantity of "1.5") is yielded as ``Unreadable`` with the reason, never raised: the
    flow parks it and the rest of the page flows.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[ConnectorSettings]]
    capabilities: ClassVar[frozenset[Capability]]

    def __init__(self, settings: ConnectorSettings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def check(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Verify credentials and permissions; raise ``ConfigError`` with a clear hint."""

    def changed_products(
        self, cursor: str | None
    ) -> AsyncIterator[Page[Product | Unreadable]]:
        raise NotImplementedError(f"{self.name} does not read products")

    def paid_orders(self, cursor: str | None) -> AsyncIterator[Page[Order | Unreadable]]:
        raise NotImplementedError(f"{self.name} does not read orders")

    def cancelled_orders(self, cursor: str | None) -> AsyncIterator[Page[OrderRef]]:
        raise NotImplementedError(f"{self.name} does not read cancellations")

    async def set_stock(self, levels: Sequence[StockLevel]) -> Sequence[ItemResult]:
        """Write stock levels; one ``ItemResult`` per level (unknown SKU is a result)."""
        raise NotImplementedError(f"{self.name} does not write stock")

    async def stock_levels(self, skus: Sequence[str]) -> Mapping[str, int | None]:
        """The store's current stock of these SKUs, for the first-run guard and dry runs.

        An int is the tracked quantity; ``None`` means the store sells the SKU without
        tracking a quantity (so writing 0 would stop its sales). SKUs the store does not
        have are left out.
        """
        raise NotImplementedError(f"{self.name} does not read stock levels")

    async def mark_shipped(self, shipment: Shipment) -> None:
        """Record tracking and mark the order shipped. Must be idempotent: check first."""
        raise NotImplementedError(f"{self.name} does not write tracking")

    async def parse_webhook(
        self, headers: Mapping[str, str], body: bytes
    ) -> WebhookEvent | None:
        """Verify the store's signature and say what changed; raise ``ValueError`` if bad."""
        raise NotImplementedError(f"{self.name} does not take webhooks")

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release anything the connector holds (the http client is closed by the engine)."""


def installed_connectors() -> dict[str, type[StoreConnector]]:
    """All connectors registered under the ``syncd.connectors`` entry-point group."""
    found: dict[str, type[StoreConnector]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls: Any = ep.load()
        except Exception:  # a broken plug-in must not hide the others
            continue
        if isinstance(cls, type) and issubclass(cls, StoreConnector):
            found[ep.name] = cls
    return found


def load_connector(name: str) -> type[StoreConnector]:
    """The connector class registered as ``name``; ``ConfigError`` naming the choices if none."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)))
        raise ConfigError(f"unknown connector {name!r}; installed: {known or 'none'}")
    cls = matches[0].load()
    if not (isinstance(cls, type) and issubclass(cls, StoreConnector)):
        raise ConfigError(f"entry point {name!r} does not name a StoreConnector subclass")
    return cls
