"""The Vendure store connector, on the standard Admin GraphQL API (Vendure 2.x/3.x)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from connectors.vendure import queries
from connectors.vendure.client import VendureClient, raise_error_result
from connectors.vendure.keyset import Fetch, keyset_pages
from connectors.vendure.mapping import to_order, to_order_ref, to_product
from connectors.vendure.settings import VendureSettings
from syncd.connector import Capability, StoreConnector
from syncd.errors import ConfigError, DataError
from syncd.model import ItemResult, Order, OrderRef, Page, Product, Shipment, StockLevel

#: Vendure permission names the connector's administrator role needs, per capability.
#: A tuple lists alternatives (the broad *Catalog permission or the narrow *Product one).
REQUIRED_PERMISSIONS: dict[Capability, tuple[str, ...]] = {
    Capability.PRODUCTS: ("ReadCatalog", "ReadProduct"),
    Capability.ORDERS: ("ReadOrder",),
    Capability.CANCELLATIONS: ("ReadOrder",),
    Capability.STOCK: ("UpdateCatalog", "UpdateProduct"),
    Capability.TRACKING: ("UpdateOrder",),
}
CANCELLED = "Cancelled"
OPEN_FULFILMENT_STATES = ("Created", "Pending")
SKU_CHUNK = 100


def split_codes(tracking_code: str | None) -> set[str]:
    """Tracking numbers are a set; the connector stores several joined by ","."""
    return {part.strip() for part in (tracking_code or "").split(",") if part.strip()}


class VendureConnector(StoreConnector):
    """Reads variants and paid/cancelled orders, writes stock and fulfilments with tracking."""

    name: ClassVar[str] = "vendure"
    Settings: ClassVar[type[VendureSettings]] = VendureSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.PRODUCTS, Capability.ORDERS, Capability.STOCK, Capability.STOCK_LEVELS,
        Capability.TRACKING, Capability.CANCELLATIONS,
    })
    settings: VendureSettings

    def __init__(self, settings: VendureSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self.client = VendureClient(settings, http)

    # -- check ---------------------------------------------------------------------------

    async def check(self) -> None:
        """Log in, confirm the channel token and the role's permissions, probe the EAN field."""
        data = await self.client.request(queries.WHO_AM_I)
        channel = data.get("activeChannel") or {}
        token = self.settings.channel_token
        if token and channel.get("token") != token:
            # Vendure silently falls back to the default channel for an unknown token.
            raise ConfigError("no Vendure channel has this token", key="channel_token")
        granted: set[str] = set()
        for entry in (data.get("me") or {}).get("channels") or ():
            if entry.get("token") == channel.get("token"):
                granted.update(entry.get("permissions") or ())
        if "SuperAdmin" not in granted:
            missing = sorted(
                " or ".join(options)
                for capability, options in REQUIRED_PERMISSIONS.items()
                if capability in self.capabilities and not granted.intersection(options)
            )
            if missing:
                raise ConfigError(
                    f"the Vendure administrator {self.settings.username!r} lacks "
                    f"permissions on channel {channel.get('code')!r}: {', '.join(missing)}"
                )
        if self.settings.ean_custom_field:
            await self._variants({}, {"id": "ASC"}, 1)  # ConfigError if the field is unknown

    # -- reading -------------------------------------------------------------------------

    def _horizon(self) -> datetime | None:
        """Latest change time a saved cursor may pass: the server's clock minus settling."""
        now = self.client.server_time
        if now is None or not self.settings.settle_seconds:
            return None  # 0 = trust every row read (the HTTP Date is whole seconds only)
        return now - timedelta(seconds=self.settings.settle_seconds)

    async def _variants(
        self, filter_: dict[str, Any], sort: dict[str, str], take: int
    ) -> list[dict[str, Any]]:
        document = queries.variant_list(self.settings.ean_custom_field)
        options = {"filter": filter_, "sort": sort, "take": take}
        data = await self.client.request(document, {"options": options})
        return list((data.get("productVariants") or {}).get("items") or [])

    def _order_fetch(self, document: str, state: str) -> Fetch:
        async def fetch(
            filter_: dict[str, Any], sort: dict[str, str], take: int
        ) -> list[dict[str, Any]]:
            options = {"filter": {**filter_, "state": {"eq": state}}, "sort": sort, "take": take}
            data = await self.client.request(document, {"options": options})
            return list((data.get("orders") or {}).get("items") or [])

        return fetch

    async def changed_products(self, cursor: str | None) -> AsyncIterator[Page[Product]]:
        """Variants by ``updatedAt`` (a product's own ``updatedAt`` ignores its variants)."""
        ean, base = self.settings.ean_custom_field, self.settings.url
        async for rows, next_cursor in keyset_pages(
            self._variants, "updatedAt", cursor, self.settings.page_size, self._horizon
        ):
            yield Page([to_product(row, ean, base) for row in rows], next_cursor)

    async def paid_orders(self, cursor: str | None) -> AsyncIterator[Page[Order]]:
        """Orders in ``paid_state`` by ``orderPlacedAt``.

        Not by ``updatedAt``: Vendure does not bump an order's ``updatedAt`` when a payment
        moves it to PaymentSettled (seen on Vendure 3.7), so a poll between "arranging
        payment" and "paid" would lose the order. ``orderPlacedAt`` is set once, at payment.
        """
        fetch = self._order_fetch(queries.ORDER_LIST, self.settings.paid_state)
        async for rows, next_cursor in keyset_pages(
            fetch, "orderPlacedAt", cursor, self.settings.page_size, self._horizon
        ):
            yield Page([to_order(row) for row in rows], next_cursor)

    async def cancelled_orders(self, cursor: str | None) -> AsyncIterator[Page[OrderRef]]:
        """Cancelled orders by ``updatedAt`` (cancelling does bump it)."""
        fetch = self._order_fetch(queries.ORDER_REF_LIST, CANCELLED)
        async for rows, next_cursor in keyset_pages(
            fetch, "updatedAt", cursor, self.settings.page_size, self._horizon
        ):
            yield Page([to_order_ref(row) for row in rows], next_cursor)

    # -- stock ---------------------------------------------------------------------------

    async def set_stock(self, levels: Sequence[StockLevel]) -> Sequence[ItemResult]:
        """Write absolute on-hand stock; every SKU gets one result, unknown SKUs included."""
        wanted = {level.sku: level.quantity for level in levels}  # the last level per SKU wins
        variant_ids = await self._variant_ids_by_sku(list(wanted))
        errors: dict[str, str] = {}
        updates = [
            (sku, self._stock_input(variant_id, wanted[sku]))
            for sku, ids in variant_ids.items()
            for variant_id in ids
        ]
        for start in range(0, len(updates), self.settings.page_size):
            batch = updates[start:start + self.settings.page_size]
            try:
                await self._update_variants([item for _, item in batch])
            except DataError:
                # One refused variant fails the whole batch: isolate it by writing singly.
                for sku, item in batch:
                    try:
                        await self._update_variants([item])
                    except DataError as exc:
                        errors[sku] = str(exc)
        results = []
        for sku in wanted:
            if sku not in variant_ids:
                results.append(ItemResult(key=sku, ok=False, error="unknown SKU"))
            else:
                results.append(ItemResult(key=sku, ok=sku not in errors, error=errors.get(sku)))
        return results

    async def stock_levels(self, skus: Sequence[str]) -> Mapping[str, int | None]:
        """``stockOnHand`` (what ``set_stock`` writes) at ``stock_location_id``, else in all;
        None when the variant does not track inventory. A SKU on several variants: the
        first one."""
        levels: dict[str, int | None] = {}
        wanted = list(dict.fromkeys(skus))
        for start in range(0, len(wanted), SKU_CHUNK):
            chunk = wanted[start:start + SKU_CHUNK]
            options = {"filter": {"sku": {"in": chunk}}, "take": 1000}
            data = await self.client.request(queries.VARIANT_STOCK_BY_SKU, {"options": options})
            for row in (data.get("productVariants") or {}).get("items") or ():
                sku = row.get("sku")
                if sku in chunk and sku not in levels:
                    levels[sku] = self._on_hand(row)
        return levels

    def _on_hand(self, row: Mapping[str, Any]) -> int | None:
        if row.get("trackInventory") == "FALSE":
            return None
        location = self.settings.stock_location_id
        if location:
            on_hand = sum(int(level.get("stockOnHand") or 0)
                          for level in row.get("stockLevels") or ()
                          if str(level.get("stockLocationId")) == str(location))
        else:
            on_hand = int(row.get("stockOnHand") or 0)
        return max(0, on_hand)

    def _stock_input(self, variant_id: str, quantity: int) -> dict[str, Any]:
        if self.settings.stock_location_id:
            return {"id": variant_id, "stockLevels": [
                {"stockLocationId": self.settings.stock_location_id, "stockOnHand": quantity}
            ]}
        return {"id": variant_id, "stockOnHand": quantity}

    async def _update_variants(self, inputs: list[dict[str, Any]]) -> None:
        await self.client.request(queries.UPDATE_VARIANTS, {"input": inputs}, mutation=True,
                                  idempotent=True)   # absolute levels: safe to send twice

    async def _variant_ids_by_sku(self, skus: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for start in range(0, len(skus), SKU_CHUNK):
            chunk = skus[start:start + SKU_CHUNK]
            options = {"filter": {"sku": {"in": chunk}}, "take": 1000}
            data = await self.client.request(queries.VARIANTS_BY_SKU, {"options": options})
            for row in (data.get("productVariants") or {}).get("items") or ():
                if row.get("sku") in chunk:  # exact match; the filter is exact already
                    found.setdefault(row["sku"], []).append(str(row["id"]))
        return found

    # -- tracking ------------------------------------------------------------------------

    async def mark_shipped(self, shipment: Shipment) -> None:
        """Add one fulfilment with the tracking numbers and ship it; a no-op when present.

        Safe to repeat: tracking numbers already on a live fulfilment are not added again,
        and a fulfilment left ``Pending`` by an interrupted earlier call is shipped now.
        """
        data = await self.client.request(
            queries.ORDER_FULFILMENTS, {"id": shipment.store_order_id}
        )
        order = data.get("order")
        if not order:
            raise DataError(f"Vendure order {shipment.store_order_id} not found")
        wanted = [code.strip() for code in shipment.tracking_numbers if code.strip()]
        live = [f for f in order.get("fulfillments") or () if f.get("state") != CANCELLED]
        recorded = set().union(*(split_codes(f.get("trackingCode")) for f in live))
        if (wanted and set(wanted) <= recorded) or (not wanted and live):
            for fulfilment in live:
                codes = split_codes(fulfilment.get("trackingCode"))
                if (not wanted or codes & set(wanted)) and (
                    fulfilment.get("state") in OPEN_FULFILMENT_STATES
                ):
                    await self._ship(fulfilment["id"], order["code"])
            return
        if order.get("state") == CANCELLED:
            raise DataError(f"Vendure order {order['code']} is cancelled; not marked shipped")
        lines = self._unfulfilled_lines(order, live)
        if not lines:
            raise DataError(
                f"Vendure order {order['code']} is already fulfilled (tracking "
                f"{', '.join(sorted(recorded)) or 'none'}); cannot add tracking "
                f"{', '.join(code for code in wanted if code not in recorded)}"
            )
        new_codes = [code for code in wanted if code not in recorded]
        result = await self.client.request(queries.ADD_FULFILMENT, {"input": {
            "lines": lines,
            "handler": {"code": self.settings.fulfillment_handler, "arguments": [
                {"name": "method", "value": self._method(shipment)},
                {"name": "trackingCode", "value": ",".join(new_codes)},
            ]},
        }}, mutation=True)
        fulfilment = raise_error_result(
            result.get("addFulfillmentToOrder"), f"fulfilment of order {order['code']}"
        )
        if fulfilment.get("state") in OPEN_FULFILMENT_STATES:
            await self._ship(fulfilment["id"], order["code"])

    def _method(self, shipment: Shipment) -> str:
        method = self.settings.fulfillment_method
        return f"{method} ({shipment.carrier})" if shipment.carrier else method

    @staticmethod
    def _unfulfilled_lines(
        order: dict[str, Any], live: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        done: dict[str, int] = {}
        for fulfilment in live:
            for line in fulfilment.get("lines") or ():
                key = str(line["orderLineId"])
                done[key] = done.get(key, 0) + int(line["quantity"])
        lines = []
        for line in order.get("lines") or ():
            left = int(line["quantity"]) - done.get(str(line["id"]), 0)
            if left > 0:
                lines.append({"orderLineId": line["id"], "quantity": left})
        return lines

    async def _ship(self, fulfilment_id: str, order_code: str) -> None:
        result = await self.client.request(
            queries.TRANSITION_FULFILMENT, {"id": fulfilment_id, "state": "Shipped"},
            mutation=True,
        )
        raise_error_result(
            result.get("transitionFulfillmentToState"),
            f"shipping fulfilment {fulfilment_id} of order {order_code}",
        )
