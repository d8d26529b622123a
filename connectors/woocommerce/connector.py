"""The WooCommerce store connector, on the REST API v3 (WooCommerce 5.8+)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import structlog

from connectors.woocommerce import webhooks
from connectors.woocommerce.client import TRACKING_API, WooApiError, WooClient
from connectors.woocommerce.client import _json as response_json
from connectors.woocommerce.client import _total_pages as total_pages
from connectors.woocommerce.cursor import Row, keyset_pages
from connectors.woocommerce.mapping import (
    line_items,
    line_product_ids,
    meta,
    not_exported,
    to_order,
    to_order_ref,
    to_product,
    to_variant,
)
from connectors.woocommerce.settings import WooCommerceSettings
from syncd.connector import Capability, StoreConnector, WebhookEvent
from syncd.errors import ConfigError, DataError, TransientError
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

BATCH_LIMIT = 100     # WooCommerce's default woocommerce_rest_batch_items_limit
NOT_SELLABLE = ("grouped", "external")
#: what a mapping function may raise on a record of the wrong shape besides ``DataError``
SHAPE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, ArithmeticError)
log = structlog.get_logger("syncd.woocommerce")


def _read(what: str, row: Any, read: Callable[[], Any]) -> Any:
    """``read()``, or an ``Unreadable`` naming the reason when the record cannot be read."""
    store_id = row.get("id") if isinstance(row, dict) else None
    try:
        return read()
    except DataError as exc:
        return Unreadable.of(store_id, str(exc), row)
    except SHAPE_ERRORS as exc:
        return Unreadable.of(store_id, f"WooCommerce {what} {store_id} could not be read "
                             f"({type(exc).__name__}: {exc})", row)


class WooCommerceConnector(StoreConnector):
    """Reads products/variations and paid/cancelled orders, writes stock and tracking."""

    name: ClassVar[str] = "woocommerce"
    Settings: ClassVar[type[WooCommerceSettings]] = WooCommerceSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.PRODUCTS, Capability.ORDERS, Capability.STOCK, Capability.TRACKING,
        Capability.CANCELLATIONS, Capability.WEBHOOKS, Capability.STOCK_LEVELS,
    })
    settings: WooCommerceSettings

    def __init__(self, settings: WooCommerceSettings, http: httpx.AsyncClient) -> None:
        super().__init__(settings, http)
        self.client = WooClient(settings, http)
        self._tracking_api: bool | None = None if settings.use_shipment_tracking_api else False

    # -- check ---------------------------------------------------------------------------

    async def check(self) -> None:
        """The API exists, the key reads, writes (an empty batch) and orderby=modified works."""
        await self.client.get("")          # the index: ConfigError if the route is missing
        await self.client.get("/products", {"per_page": 1})
        try:
            await self.client.get("/orders", {"per_page": 1, "orderby": "modified"})
        except WooApiError as error:
            if error.code == "rest_invalid_param":
                raise ConfigError("this WooCommerce does not accept orderby=modified on "
                                  "/orders; ogo-syncd needs WooCommerce 5.8 or newer") from None
            raise
        await self.client.send("POST", "/products/batch", {})  # AuthError if Read-only

    # -- reading -------------------------------------------------------------------------

    def _fetcher(self, path: str, extra: dict[str, Any]) -> Any:
        """One listing page: ``(rows, last, X-WP-Total)`` (the cursor checks the total)."""
        per_page = self.settings.page_size

        async def fetch(params: dict[str, Any], page: int) -> tuple[list[Row], bool, int | None]:
            response = await self.client.request(
                "GET", path, params={**extra, **params, "per_page": per_page, "page": page})
            rows = response_json(response)
            if not isinstance(rows, list):
                raise TransientError(f"WooCommerce answered GET {path} with "
                                     f"{type(rows).__name__}, not a list")
            total = response.headers.get("X-WP-Total", "")
            last = page >= total_pages(response, len(rows), per_page, page) \
                or len(rows) < per_page
            return rows, last, int(total) if total.isdigit() else None

        return fetch

    async def changed_products(
        self, cursor: str | None
    ) -> AsyncIterator[Page[Product | Unreadable]]:
        """Changed parents by modified time; variable ones are expanded into variations.

        Products (or variations) OGOship's plug-in marks "do not export" are left out.
        """
        async for rows, next_cursor in keyset_pages(self._fetcher("/products", {}), cursor):
            products: list[Product | Unreadable] = []
            for row in rows:
                if row.get("type") == "variable":
                    variations = await self._variations(row["id"])
                    products.extend(self._product(v, row) for v in variations)
                elif row.get("type") not in NOT_SELLABLE:
                    products.append(self._product(row, None))
            yield Page([p for p in products if p is not None], next_cursor)

    def _product(self, row: Row, parent: Row | None) -> Product | Unreadable | None:
        """One SKU; None when not exported. A dropped EAN is logged with its reason."""
        ean_key = self.settings.ean_meta_key
        notes: list[str] = []

        def read() -> Product | None:
            if not_exported(row, parent):
                return None
            if parent is None:
                return to_product(row, ean_key, notes)
            return to_variant(row, parent, ean_key, notes)

        product = _read("product", row, read)
        for note in notes:
            log.warning("product_field_left_out", shop=self.settings.url,
                        product_id=str(row.get("id")), sku=str(row.get("sku") or ""),
                        reason=note)
        return product  # type: ignore[no-any-return]

    async def _variations(self, parent_id: int) -> list[Row]:
        found: list[Row] = []
        async for _, rows, _last in self.client.pages(
            f"/products/{parent_id}/variations",
            {"per_page": self.settings.page_size, "orderby": "id", "order": "asc"},
        ):
            found.extend(rows)
        return found

    async def paid_orders(self, cursor: str | None) -> AsyncIterator[Page[Order | Unreadable]]:
        """Orders in ``paid_statuses``, by modified time (paying an order modifies it).

        Lines of virtual or downloadable products are left out (nothing to ship); an order
        of only such lines is not sent at all.
        """
        fetch = self._fetcher("/orders", {"status": ",".join(self.settings.paid_statuses)})
        keys = self.settings.pickup_point_meta_keys
        async for rows, next_cursor in keyset_pages(fetch, cursor):
            skip = await self._not_shipped(rows)
            orders: list[Order | Unreadable] = []
            for row in rows:
                order = _read("order", row, lambda r=row, s=skip: to_order(r, keys, s))
                if isinstance(order, Order) and not order.lines and line_items(row):
                    continue    # only virtual/downloadable lines: nothing to ship
                orders.append(order)
            yield Page(orders, next_cursor)

    async def _not_shipped(self, rows: list[Row]) -> frozenset[int]:
        """Ids of the page's line products and variations that are virtual or downloadable."""
        ids: set[tuple[int, int]] = set()
        for row in rows:
            try:
                ids |= line_product_ids(row)
            except (DataError, *SHAPE_ERRORS):
                continue        # that order is refused as Unreadable
        products = sorted({p for p, v in ids if p and not v})
        by_parent: dict[int, list[int]] = {}
        for parent, variation in ids:
            if parent and variation:
                by_parent.setdefault(parent, []).append(variation)
        found: list[Row] = []
        batch = self._batch
        for start in range(0, len(products), batch):
            chunk = products[start:start + batch]
            found += await self._listing("/products", {"include": ",".join(map(str, chunk))})
        for parent, variations in by_parent.items():
            for start in range(0, len(variations), batch):
                chunk = sorted(variations)[start:start + batch]
                found += await self._listing(f"/products/{parent}/variations",
                                             {"include": ",".join(map(str, chunk))})
        return frozenset(int(r["id"]) for r in found if isinstance(r, dict)
                         and (r.get("virtual") is True or r.get("downloadable") is True))

    async def _listing(self, path: str, params: dict[str, Any]) -> list[Row]:
        """Every row of a listing (a deleted product simply is not in it)."""
        found: list[Row] = []
        async for _, rows, _last in self.client.pages(
            path, {**params, "per_page": self._batch, "orderby": "id", "order": "asc"},
        ):
            found.extend(rows)
        return found

    async def cancelled_orders(self, cursor: str | None) -> AsyncIterator[Page[OrderRef]]:
        fetch = self._fetcher("/orders", {"status": ",".join(self.settings.cancelled_statuses)})
        async for rows, next_cursor in keyset_pages(fetch, cursor):
            yield Page([to_order_ref(row) for row in rows], next_cursor)

    # -- stock ---------------------------------------------------------------------------

    @property
    def _batch(self) -> int:
        return min(BATCH_LIMIT, self.settings.page_size)

    async def _ids_by_sku(self, skus: Sequence[str]) -> dict[str, Row]:
        """Products and variations by SKU.

        The sku filter takes a comma list, and also matches the whole text as one SKU: a SKU
        that contains a comma is looked up on its own (its parts may match other products,
        only the exact SKU is kept).
        """
        found: dict[str, Row] = {}
        plain = [s for s in skus if s and "," not in s]
        chunks = [plain[i:i + self._batch] for i in range(0, len(plain), self._batch)]
        chunks += [[s] for s in skus if s and "," in s]
        for chunk in chunks:
            for row in await self._listing("/products", {"sku": ",".join(chunk)}):
                if row.get("sku") in chunk:
                    found.setdefault(row["sku"], row)
        return found

    async def stock_levels(self, skus: Sequence[str]) -> Mapping[str, int | None]:
        """``stock_quantity`` where stock is managed (also at the parent: "parent"); an
        unmanaged SKU is None while in stock or on backorder, 0 when out of stock."""
        levels: dict[str, int | None] = {}
        for sku, row in (await self._ids_by_sku(list(skus))).items():
            if row.get("type") == "variable":
                continue            # a parent's SKU: stock is written to its variations
            if row.get("manage_stock") in (True, "parent"):
                levels[sku] = max(0, int(row.get("stock_quantity") or 0))
            else:
                levels[sku] = 0 if row.get("stock_status") == "outofstock" else None
        return levels

    async def set_stock(self, levels: Sequence[StockLevel]) -> Sequence[ItemResult]:
        """Absolute stock, ``manage_stock`` on; batches of <= 100 per endpoint."""
        wanted = {level.sku: level.quantity for level in levels}   # the last one wins
        rows = await self._ids_by_sku(list(wanted))
        errors: dict[str, str] = {}
        groups: dict[int | None, list[tuple[str, int]]] = {}
        for sku, row in rows.items():
            if row.get("type") == "variable":
                errors[sku] = "SKU belongs to a variable product's parent, not a variation"
                continue
            parent = int(row["parent_id"]) if row.get("parent_id") else None
            groups.setdefault(parent, []).append((sku, int(row["id"])))
        for parent, items in groups.items():
            path = "/products/batch" if parent is None else f"/products/{parent}/variations/batch"
            for start in range(0, len(items), self._batch):
                chunk = items[start:start + self._batch]
                errors.update(await self._write_stock(path, chunk, wanted))
        results = []
        for sku in wanted:
            if sku not in rows:
                results.append(ItemResult(key=sku, ok=False, error="unknown SKU"))
            elif sku in errors:
                results.append(ItemResult(key=sku, ok=False, error=errors[sku]))
            else:
                results.append(ItemResult(key=sku, ok=True))
        return results

    async def _write_stock(self, path: str, chunk: list[tuple[str, int]],
                           wanted: Mapping[str, int]) -> dict[str, str]:
        body = {"update": [{"id": item_id, "manage_stock": True,
                            "stock_quantity": wanted[sku]} for sku, item_id in chunk]}
        try:
            # absolute quantities: sending the batch twice is harmless, so it is retried
            answer = await self.client.send("POST", path, body, idempotent=True)
        except DataError as error:
            return {sku: str(error) for sku, _ in chunk}
        by_id = {int(item.get("id") or 0): item for item in answer.get("update") or ()}
        errors: dict[str, str] = {}
        for sku, item_id in chunk:
            item = by_id.get(item_id)
            if item is None:
                errors[sku] = "WooCommerce did not answer for this item"
            elif item.get("error"):
                error = item["error"]
                errors[sku] = f"{error.get('code')}: {error.get('message')}"
            elif item.get("stock_quantity") != wanted[sku]:
                errors[sku] = f"stock is {item.get('stock_quantity')} after the write"
        return errors

    # -- tracking ------------------------------------------------------------------------

    async def mark_shipped(self, shipment: Shipment) -> None:
        """Add missing tracking, tell the customer once, set ``shipped_status``.

        Idempotent: the order and its tracking are read first; a second call with the same
        tracking numbers writes nothing.
        """
        order_id = shipment.store_order_id
        order = await self.client.get(f"/orders/{order_id}")
        held, api = await self._trackings(order)
        new_numbers = [n for n in dict.fromkeys(shipment.tracking_numbers) if n not in held]
        if new_numbers:
            await self._add_trackings(order, held, new_numbers, shipment, api)
        extra = self._ogoship_meta(order, held, new_numbers, shipment)
        completing = order.get("status") != self.settings.shipped_status
        # The Shipment Tracking extension puts tracking into the "Completed order" email,
        # so a note would mail the customer twice; unless the order was completed earlier
        # (by hand) and this call adds tracking the customer has not been told about.
        email_carries_tracking = api and self.settings.shipped_status == "completed" \
            and (completing or not new_numbers)
        if self.settings.notify_customer and shipment.notify_customer \
                and shipment.tracking_numbers and not email_carries_tracking:
            await self._note_once(order_id, shipment)
        body: dict[str, Any] = {"meta_data": extra} if extra else {}
        if completing:
            body["status"] = self.settings.shipped_status
        if body:
            await self.client.send("PUT", f"/orders/{order_id}", body)

    def _ogoship_meta(self, order: Row, held: set[str], new_numbers: list[str],
                      shipment: Shipment) -> list[dict[str, str]]:
        """``ogoship_tracking``/``ogoship_tracking_url`` entries that differ from the order's
        (only with ``ogoship_tracking_meta``); empty when nothing changes."""
        if not self.settings.ogoship_tracking_meta:
            return []
        numbers = sorted(held | set(new_numbers) | set(shipment.tracking_numbers))
        wanted = {"ogoship_tracking": ", ".join(numbers),
                  "ogoship_tracking_url": shipment.tracking_url or ""}
        return [{"key": key, "value": value} for key, value in wanted.items()
                if value and str(meta(order, key) or "") != value]

    async def _trackings(self, order: Row) -> tuple[set[str], bool]:
        """Tracking numbers the order holds, and whether the extension's API is there."""
        if self._tracking_api is not False:
            try:
                rows = await self.client.get(f"/orders/{order['id']}/shipment-trackings",
                                             api=TRACKING_API)
                self._tracking_api = True
                return {str(r.get("tracking_number")) for r in rows}, True
            except ConfigError:     # 404 rest_no_route: the extension is not active
                self._tracking_api = False
        items = meta(order, self.settings.tracking_meta_key)
        numbers = {str(i.get("tracking_number")) for i in items or () if isinstance(i, dict)}
        return numbers, False

    async def _add_trackings(self, order: Row, held: set[str], numbers: list[str],
                             shipment: Shipment, api: bool) -> None:
        provider = shipment.carrier or "OGOship"
        link = shipment.tracking_url or ""
        shipped = str(int(datetime.now(UTC).timestamp()))
        if api:
            for number in numbers:
                await self.client.send(
                    "POST", f"/orders/{order['id']}/shipment-trackings",
                    {"tracking_number": number, "custom_tracking_provider": provider,
                     "custom_tracking_link": link, "date_shipped": shipped}, api=TRACKING_API)
            return
        existing = [i for i in meta(order, self.settings.tracking_meta_key) or ()
                    if isinstance(i, dict)]
        items = existing + [{
            "tracking_provider": "", "custom_tracking_provider": provider,
            "custom_tracking_link": link, "tracking_number": number,
            "date_shipped": int(shipped), "tracking_id": f"ogo-{order['id']}-{number}",
        } for number in numbers]
        await self.client.send("PUT", f"/orders/{order['id']}", {"meta_data": [
            {"key": self.settings.tracking_meta_key, "value": items}]})

    async def _note_once(self, order_id: str, shipment: Shipment) -> None:
        """One customer note naming the tracking; skipped if a note already names it."""
        notes = await self.client.get(f"/orders/{order_id}/notes", {"type": "customer"})
        numbers = list(shipment.tracking_numbers)
        if any(all(n in str(note.get("note")) for n in numbers) for note in notes):
            return
        text = f"Your order has been shipped. Tracking: {', '.join(numbers)}"
        if shipment.tracking_url:
            text += f" {shipment.tracking_url}"
        await self.client.send("POST", f"/orders/{order_id}/notes",
                               {"note": text, "customer_note": True})

    # -- webhooks ------------------------------------------------------------------------

    async def parse_webhook(self, headers: Mapping[str, str],
                            body: bytes) -> WebhookEvent | None:
        """Verify ``X-WC-Webhook-Signature``; a creation ping (form body) is ignored."""
        if self.settings.webhook_secret is None:
            raise ConfigError("webhook_secret is not set; cannot verify WooCommerce webhooks",
                              key="webhook_secret")
        if body.startswith(b"webhook_id="):
            return None
        webhooks.verify(headers, body, self.settings.webhook_secret.get_secret_value())
        return webhooks.to_event(headers, body, self.settings.cancelled_statuses)
