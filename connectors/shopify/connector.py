"""The Shopify connector (Admin GraphQL API; docs/connectors/shopify.md)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import httpx

from syncd.connector import Capability, StoreConnector, WebhookEvent
from syncd.cursor import utc_now
from syncd.errors import AuthError, ConfigError, DataError
from syncd.model import ItemResult, Order, OrderRef, Page, Product, Shipment, StockLevel

from . import queries, webhooks
from .client import Clock, ShopifyGraphQL, Sleep
from .cursor import WindowCursor
from .mapping import (
    line_items_to_lines,
    node_to_order,
    node_to_order_ref,
    numeric_id,
    search_value,
    variant_to_product,
)
from .settings import ShopifySettings

# Page caps keep each query's requested cost under Shopify's 1000-point single-query limit.
VARIANTS_PAGE_CAP = 90           # ~10 points per variant node (media, product, images)
PRODUCTS_PAGE_CAP = 50           # product ids per follow-up productVariants search
ORDERS_PAGE_CAP = 10             # ~85 points per order with 25 line items
LINES_PER_ORDER = 25             # more lines are fetched with OrderLines
SKUS_PER_LOOKUP = 50             # terms per "sku:A OR sku:B" search
MAX_QUANTITIES = 250             # Shopify input arrays hold at most 250 items
OPEN_FULFILLMENT = {"OPEN", "IN_PROGRESS"}
PAID_OPEN_UNFULFILLED = "financial_status:paid fulfillment_status:unfulfilled status:open"
REQUIRED_SCOPES = ("read_products", "read_orders")
FULFILMENT_SCOPES = (
    "write_merchant_managed_fulfillment_orders",
    "write_third_party_fulfillment_orders",
    "write_assigned_fulfillment_orders",
)


def _query(*parts: str) -> str:
    return " ".join(p for p in parts if p)


class ShopifyConnector(StoreConnector):
    """Reads variants and paid orders, writes stock and fulfilments, verifies webhooks."""

    name: ClassVar[str] = "shopify"
    Settings: ClassVar[type[ShopifySettings]] = ShopifySettings
    #: every capability but reading current stock levels (not implemented yet: the first
    #: stock run has no store levels to compare with)
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability) - {
        Capability.STOCK_LEVELS}

    settings: ShopifySettings

    def __init__(
        self,
        settings: ShopifySettings,
        http: httpx.AsyncClient,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(settings, http)
        self.gql = ShopifyGraphQL(http, settings, sleep=sleep, clock=clock)

    # -- check ---------------------------------------------------------------------------

    async def check(self) -> None:
        """Token works, scopes are granted, the stock location exists and is active."""
        location = self.settings.location_id
        data = await self.gql.execute(
            queries.CHECK,
            {"locationId": location or "gid://shopify/Location/0",
             "withLocation": location is not None},
        )
        granted = {s["handle"] for s in
                   (data.get("currentAppInstallation") or {}).get("accessScopes") or []}
        missing = [s for s in REQUIRED_SCOPES
                   if s not in granted and s.replace("read_", "write_") not in granted]
        if location is not None and "write_inventory" not in granted:
            missing.append("write_inventory")
        if not granted.intersection(FULFILMENT_SCOPES):
            missing.append(FULFILMENT_SCOPES[0])
        if missing:
            raise AuthError(f"the Shopify app lacks scopes: {', '.join(missing)}",
                            key="access_token")
        if location is not None:
            found = data.get("location")
            if not found:
                raise ConfigError(f"no location {location} in this shop", key="location_id")
            if not found.get("isActive"):
                raise ConfigError(f"location {found.get('name')!r} is not active",
                                  key="location_id")

    # -- products ------------------------------------------------------------------------

    async def changed_products(self, cursor: str | None) -> AsyncIterator[Page[Product]]:
        """Variants changed in the window, then variants of products changed in it.

        A variant's ``updatedAt`` does not move when only its product (title, media,
        description) changes, hence the second phase. A full read (no ``since``) skips it.
        """
        state = WindowCursor.load(cursor).opened(utc_now(), "variants")
        seen: set[str] = set()
        if state.phase == "variants":
            async for items, after_page in self._variant_pages(state, seen):
                state = after_page
                yield Page(items, state.dump())
        if state.phase == "products":
            async for items, after_page in self._product_pages(state, seen):
                state = after_page
                yield Page(items, state.dump())

    async def _variant_pages(
        self, state: WindowCursor, seen: set[str]
    ) -> AsyncIterator[tuple[list[Product], WindowCursor]]:
        query = state.search_filter() or None
        while True:
            data = await self.gql.execute(queries.CHANGED_VARIANTS, {
                "first": min(self.settings.page_size, VARIANTS_PAGE_CAP),
                "after": state.after, "query": query})
            currency = (data.get("shop") or {}).get("currencyCode")
            conn = data["productVariants"]
            items = [variant_to_product(node, currency) for node in conn["nodes"]]
            for item in items:
                seen.add(item.store_id)
                state = state.seen(item.updated_at)
            info = conn["pageInfo"]
            if info["hasNextPage"]:
                state = replace(state, after=info["endCursor"])
                yield items, state
                continue
            if state.since is None:
                state = state.closed()
            else:
                state = replace(state, phase="products", after=None)
            yield items, state
            return

    async def _product_pages(
        self, state: WindowCursor, seen: set[str]
    ) -> AsyncIterator[tuple[list[Product], WindowCursor]]:
        while True:
            data = await self.gql.execute(queries.CHANGED_PRODUCTS, {
                "first": min(self.settings.page_size, PRODUCTS_PAGE_CAP),
                "after": state.after, "query": state.search_filter() or None})
            conn = data["products"]
            ids = [numeric_id(node["id"]) for node in conn["nodes"]]
            items: list[Product] = []
            if ids:
                search = " OR ".join(f"product_id:{i}" for i in ids)
                async for product in self._variants_matching(search):
                    state = state.seen(product.updated_at)
                    if product.store_id not in seen:
                        seen.add(product.store_id)
                        items.append(product)
            info = conn["pageInfo"]
            if info["hasNextPage"]:
                state = replace(state, after=info["endCursor"])
                yield items, state
                continue
            yield items, state.closed()
            return

    async def _variants_matching(self, search: str) -> AsyncIterator[Product]:
        after: str | None = None
        while True:
            data = await self.gql.execute(queries.CHANGED_VARIANTS, {
                "first": min(self.settings.page_size, VARIANTS_PAGE_CAP),
                "after": after, "query": search})
            currency = (data.get("shop") or {}).get("currencyCode")
            conn = data["productVariants"]
            for node in conn["nodes"]:
                yield variant_to_product(node, currency)
            if not conn["pageInfo"]["hasNextPage"]:
                return
            after = conn["pageInfo"]["endCursor"]

    # -- orders --------------------------------------------------------------------------

    async def paid_orders(self, cursor: str | None) -> AsyncIterator[Page[Order]]:
        """Paid, unfulfilled, open orders updated in the window (oldest change first).

        Orders without any line that needs shipping (gift cards, digital goods) are left
        out: the warehouse has nothing to do for them.
        """
        state = WindowCursor.load(cursor).opened(utc_now(), "orders")
        while True:
            data = await self.gql.execute(queries.ORDERS, {
                "first": min(self.settings.page_size, ORDERS_PAGE_CAP),
                "after": state.after, "lines": LINES_PER_ORDER,
                "query": _query(PAID_OPEN_UNFULFILLED, state.search_filter())})
            conn = data["orders"]
            items: list[Order] = []
            for node in conn["nodes"]:
                line_nodes = list(node["lineItems"]["nodes"])
                if node["lineItems"]["pageInfo"]["hasNextPage"]:
                    line_nodes += await self._more_lines(
                        node["id"], node["lineItems"]["pageInfo"]["endCursor"])
                lines = line_items_to_lines(line_nodes)
                order = node_to_order(node, lines)
                state = state.seen(order.updated_at)
                if lines:
                    items.append(order)
            info = conn["pageInfo"]
            if info["hasNextPage"]:
                state = replace(state, after=info["endCursor"])
                yield Page(items, state.dump())
                continue
            yield Page(items, state.closed().dump())
            return

    async def _more_lines(self, order_id: str, after: str | None) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        while True:
            data = await self.gql.execute(queries.ORDER_LINES, {"id": order_id, "after": after})
            conn = (data.get("order") or {}).get("lineItems") or {}
            nodes += conn.get("nodes") or []
            if not (conn.get("pageInfo") or {}).get("hasNextPage"):
                return nodes
            after = conn["pageInfo"]["endCursor"]

    async def cancelled_orders(self, cursor: str | None) -> AsyncIterator[Page[OrderRef]]:
        """Orders cancelled (and so updated) in the window."""
        state = WindowCursor.load(cursor).opened(utc_now(), "cancelled")
        while True:
            data = await self.gql.execute(queries.CANCELLED_ORDERS, {
                "first": self.settings.page_size, "after": state.after,
                "query": _query("status:cancelled", state.search_filter())})
            conn = data["orders"]
            items = [node_to_order_ref(node) for node in conn["nodes"]]
            for item in items:
                state = state.seen(item.updated_at)
            info = conn["pageInfo"]
            if info["hasNextPage"]:
                state = replace(state, after=info["endCursor"])
                yield Page(items, state.dump())
                continue
            yield Page(items, state.closed().dump())
            return

    # -- stock ---------------------------------------------------------------------------

    async def set_stock(self, levels: Sequence[StockLevel]) -> Sequence[ItemResult]:
        """Set ``stock_quantity_name`` at ``location_id`` for each SKU (all its variants).

        One ``inventorySetQuantities`` per ``page_size`` (at most 250) inventory items, each
        with its own idempotency key (reused by the client's retries). Quantities the shop
        refuses (field index in ``userErrors``) fail alone; the rest of that batch is sent
        again.
        """
        location = self.settings.location_id
        if location is None:
            raise ConfigError("location_id is required to write stock", key="location_id")
        wanted: dict[str, int] = {}
        for level in levels:
            wanted[level.sku] = level.quantity
        items_by_sku = await self._inventory_items(list(wanted))
        errors: dict[str, str] = {}
        entries = [(sku, item) for sku in wanted for item in items_by_sku.get(sku, [])]
        batch = min(self.settings.page_size, MAX_QUANTITIES)
        for start in range(0, len(entries), batch):
            errors.update(await self._set_batch(entries[start:start + batch], wanted))
        results = []
        for level in levels:
            if level.sku not in items_by_sku:
                results.append(ItemResult(key=level.sku, ok=False, error="unknown SKU"))
            elif level.sku in errors:
                results.append(ItemResult(key=level.sku, ok=False, error=errors[level.sku]))
            else:
                results.append(ItemResult(key=level.sku, ok=True))
        return results

    async def _inventory_items(self, skus: list[str]) -> dict[str, list[str]]:
        """SKU -> inventory item ids (exact SKU match; a SKU may sit on several variants)."""
        found: dict[str, list[str]] = defaultdict(list)
        for start in range(0, len(skus), SKUS_PER_LOOKUP):
            batch = skus[start:start + SKUS_PER_LOOKUP]
            search = " OR ".join(f"sku:{search_value(s)}" for s in batch)
            after: str | None = None
            while True:
                # first = the batch size, not 250: Shopify charges by the requested size
                variables = {"first": len(batch), "after": after, "query": search}
                data = await self.gql.execute(queries.INVENTORY_ITEMS_BY_SKU, variables)
                conn = data["productVariants"]
                for node in conn["nodes"]:
                    sku = node.get("sku")
                    item = (node.get("inventoryItem") or {}).get("id")
                    if sku in batch and item and item not in found[sku]:
                        found[sku].append(item)
                if not conn["pageInfo"]["hasNextPage"]:
                    break
                after = conn["pageInfo"]["endCursor"]
        return dict(found)

    async def _set_batch(
        self, entries: list[tuple[str, str]], wanted: dict[str, int]
    ) -> dict[str, str]:
        """Send one batch; return SKU -> error for refused items (one resend without them)."""
        errors: dict[str, str] = {}
        for _round in range(2):
            if not entries:
                return errors
            user_errors = await self._send_quantities(entries, wanted)
            if not user_errors:
                return errors
            refused: set[int] = set()
            unplaced: list[str] = []
            for err in user_errors:
                index = _field_index(err.get("field"))
                message = str(err.get("message") or err.get("code") or "refused")
                if index is not None and 0 <= index < len(entries):
                    refused.add(index)
                    errors.setdefault(entries[index][0], message)
                else:
                    unplaced.append(message)
            if unplaced or not refused:
                for sku, _item in entries:
                    errors.setdefault(sku, "; ".join(unplaced) or "refused by Shopify")
                return errors
            bad_skus = {entries[i][0] for i in refused}
            entries = [e for e in entries if e[0] not in bad_skus]
        for sku, _item in entries:
            errors.setdefault(sku, "refused by Shopify twice")
        return errors

    async def _send_quantities(
        self, entries: list[tuple[str, str]], wanted: dict[str, int]
    ) -> list[dict[str, Any]]:
        variables = {
            "key": str(uuid.uuid4()),
            "input": {
                "name": self.settings.stock_quantity_name,
                "reason": "correction",
                "referenceDocumentUri": "logistics://ogoship/stock-sync",
                "quantities": [
                    {"inventoryItemId": item, "locationId": self.settings.location_id,
                     "quantity": wanted[sku], "changeFromQuantity": None}
                    for sku, item in entries
                ],
            },
        }
        data = await self.gql.execute(queries.SET_STOCK, variables)
        return list((data.get("inventorySetQuantities") or {}).get("userErrors") or [])

    # -- tracking ------------------------------------------------------------------------

    async def mark_shipped(self, shipment: Shipment) -> None:
        """Fulfil the order's open fulfillment orders with the tracking numbers.

        Idempotent: nothing is written when every tracking number is already on one of
        the order's fulfilments. An order someone already fulfilled by hand gets the
        tracking added to its fulfilment instead.
        """
        numbers = [n for n in dict.fromkeys(shipment.tracking_numbers) if n]
        if not numbers:
            raise DataError(f"order {shipment.order_number}: no tracking number to write")
        data = await self.gql.execute(queries.FULFILLMENT_STATE, {"id": shipment.store_order_id})
        order = data.get("order")
        if not order:
            raise DataError(f"order {shipment.order_number} ({shipment.store_order_id}) "
                            "is not in the shop")
        fulfilments = [f for f in order.get("fulfillments") or []
                       if f.get("status") not in ("CANCELLED", "ERROR", "FAILURE")]
        present = {t.get("number") for f in fulfilments for t in f.get("trackingInfo") or []}
        if all(n in present for n in numbers):
            return
        notify = self.settings.notify_customer and shipment.notify_customer
        open_orders = [
            fo for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []
            if fo.get("status") in OPEN_FULFILLMENT and _has_remaining(fo)
        ]
        if not open_orders:
            if not fulfilments:
                raise DataError(f"order {shipment.order_number}: nothing left to fulfil "
                                "and no fulfilment to add tracking to")
            await self._add_tracking(fulfilments[-1], present, numbers, shipment, notify)
            return
        by_location: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for fo in open_orders:
            location = ((fo.get("assignedLocation") or {}).get("location") or {}).get("id")
            by_location[location].append(fo)
        for group_index, group in enumerate(by_location.values()):
            fulfillment = {
                # no fulfillmentOrderLineItems: everything still remaining is fulfilled
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]} for fo in group],
                "trackingInfo": _tracking_input(numbers, shipment),
                "notifyCustomer": notify and group_index == 0,
            }
            result = await self.gql.execute(queries.FULFILLMENT_CREATE,
                                            {"fulfillment": fulfillment}, idempotent=False)
            _raise_user_errors(result.get("fulfillmentCreate"), shipment)

    async def _add_tracking(self, fulfilment: dict[str, Any], present: set[str | None],
                            numbers: list[str], shipment: Shipment, notify: bool) -> None:
        merged = [n for n in present if n] + [n for n in numbers if n not in present]
        result = await self.gql.execute(queries.TRACKING_UPDATE, {
            "id": fulfilment["id"], "notify": notify,
            "tracking": _tracking_input(merged, shipment)})
        _raise_user_errors(result.get("fulfillmentTrackingInfoUpdate"), shipment)

    # -- webhooks ------------------------------------------------------------------------

    async def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        """Verify ``X-Shopify-Hmac-Sha256`` (constant time, before parsing), map the topic."""
        secret = self.settings.webhook_secret
        return webhooks.parse(secret.get_secret_value() if secret else None, headers, body)


def _has_remaining(fulfillment_order: dict[str, Any]) -> bool:
    items = fulfillment_order.get("lineItems") or {}
    if (items.get("pageInfo") or {}).get("hasNextPage"):
        return True
    return any(int(li.get("remainingQuantity") or 0) > 0 for li in items.get("nodes") or [])


def _tracking_input(numbers: list[str], shipment: Shipment) -> dict[str, Any]:
    tracking: dict[str, Any] = {}
    if shipment.carrier:
        tracking["company"] = shipment.carrier
    if len(numbers) == 1:
        tracking["number"] = numbers[0]
        if shipment.tracking_url:
            tracking["url"] = shipment.tracking_url
    else:
        tracking["numbers"] = numbers
        if shipment.tracking_url:
            tracking["urls"] = [shipment.tracking_url] * len(numbers)
    return tracking


def _raise_user_errors(payload: dict[str, Any] | None, shipment: Shipment) -> None:
    errors = (payload or {}).get("userErrors") or []
    if errors:
        messages = "; ".join(str(e.get("message")) for e in errors)
        raise DataError(f"order {shipment.order_number}: Shopify refused the fulfilment: "
                        f"{messages}")


def _field_index(field: Any) -> int | None:
    """``["input", "quantities", "3", "inventoryItemId"]`` -> 3."""
    if not isinstance(field, list):
        return None
    for before, value in itertools.pairwise(field):
        if before == "quantities" and str(value).isdigit():
            return int(value)
    return None
