"""``StoreHandle`` for a real WooCommerce shop, through its REST API v3 with an admin key.

Seeds and inspects the shop with plain REST calls of its own, never through the connector
under test. ``reset`` is given by whoever runs the shop (the test suite restores a
database dump). The shop has no Shipment Tracking extension, so tracking is read from the
order meta the connector falls back to, and ``customer_notifications`` counts the
customer notes that name the order's tracking numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from syncd.connector import ConnectorSettings, StoreConnector
from syncd.testing.conformance.handle import Fulfilment, SeedOrder, SeedProduct

API = "/wp-json/wc/v3"
TRACKING_META_KEY = "_wc_shipment_tracking_items"
ATTRIBUTE = "Size"


class WooRestError(RuntimeError):
    """The shop refused a seeding/inspection call (a bug in the test, not the connector)."""


class WooRestHandle:
    """A handle on one real shop at ``url`` (site URL, without ``/wp-json``)."""

    shipping_method = "flat_rate:1"

    def __init__(self, url: str, key: str, secret: str,
                 reset: Callable[[], None] | None = None) -> None:
        self.url = url
        self.key, self.secret = key, secret
        self._reset = reset
        self.http = httpx.AsyncClient(base_url=url + API, auth=(key, secret), timeout=60)
        self._by_sku: dict[str, tuple[int, int | None]] = {}   # sku -> (id, parent id)
        self._clients: list[httpx.AsyncClient] = []

    async def call(self, method: str, path: str, body: Any = None,
                   params: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, path, json=body, params=params)
        if not response.is_success:
            raise WooRestError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    async def reset(self) -> None:
        if self._reset is None:
            raise WooRestError("this handle was made without a reset function")
        await asyncio.to_thread(self._reset)
        self._by_sku.clear()

    # -- products ------------------------------------------------------------------------

    async def add_product(self, product: SeedProduct) -> list[str]:
        if not product.variants:
            row = await self.call("POST", "/products", {
                "name": product.name, "type": "simple", "regular_price": product.price,
                "description": product.description or "", **_sku_stock_ean(
                    product.sku, product.stock, product.ean)})
            if product.sku:
                self._by_sku[product.sku] = (row["id"], None)
            return [str(row["id"])]
        parent = await self.call("POST", "/products", {
            "name": product.name, "type": "variable", "description": product.description or "",
            "attributes": [{"name": ATTRIBUTE, "variation": True, "visible": True,
                            "options": [v.name for v in product.variants]}]})
        found = []
        for variant in product.variants:
            row = await self.call("POST", f"/products/{parent['id']}/variations", {
                "regular_price": variant.price,
                "attributes": [{"name": ATTRIBUTE, "option": variant.name}],
                **_sku_stock_ean(variant.sku, variant.stock, variant.ean)})
            if variant.sku:
                self._by_sku[variant.sku] = (row["id"], parent["id"])
            found.append(str(row["id"]))
        return found

    async def update_product_name(self, store_id: str, name: str) -> None:
        """Rename a simple product; for a variation its parent (the variation has no name
        of its own, WooCommerce makes it from the attribute values)."""
        row = await self.call("GET", f"/products/{store_id}")
        target = row.get("parent_id") or store_id
        await self.call("PUT", f"/products/{target}", {"name": name})

    async def _find(self, sku: str) -> tuple[int, int | None] | None:
        if sku in self._by_sku:
            return self._by_sku[sku]
        rows = await self.call("GET", "/products", params={"sku": sku})
        for row in rows:
            if row.get("sku") == sku:
                return row["id"], row.get("parent_id") or None
        return None

    async def stock_of(self, sku: str) -> int | None:
        found = await self._find(sku)
        if found is None:
            return None
        item_id, parent = found
        path = f"/products/{parent}/variations/{item_id}" if parent else f"/products/{item_id}"
        row = await self.call("GET", path)
        return int(row["stock_quantity"]) if row.get("manage_stock") is True \
            and row.get("stock_quantity") is not None else None

    # -- orders --------------------------------------------------------------------------

    async def add_order(self, order: SeedOrder) -> str:
        address = order.address
        first, _, last = address.name.partition(" ")
        person = {"first_name": first, "last_name": last, "address_1": address.address1,
                  "city": address.city, "postcode": address.zip,
                  "country": address.country_code, "phone": address.phone}
        lines = []
        for sku, quantity in order.lines:
            found = await self._find(sku)
            if found is None:
                raise WooRestError(f"no product with SKU {sku!r} in the shop")
            item_id, parent = found
            lines.append({"product_id": parent, "variation_id": item_id, "quantity": quantity}
                         if parent else {"product_id": item_id, "quantity": quantity})
        method_id, _, instance = (order.shipping_method or self.shipping_method).partition(":")
        row = await self.call("POST", "/orders", {
            "set_paid": order.paid, "payment_method": "bacs", "payment_method_title": "Bank",
            "billing": {**person, "email": address.email}, "shipping": person,
            "line_items": lines,
            "shipping_lines": [{"method_id": method_id, "instance_id": instance or "0",
                                "method_title": method_id, "total": "4.90"}]})
        return str(row["id"])

    async def order(self, store_id: str) -> dict[str, Any]:
        row: dict[str, Any] = await self.call("GET", f"/orders/{store_id}")
        return row

    async def pay_order(self, store_id: str) -> None:
        await self.call("PUT", f"/orders/{store_id}", {"set_paid": True})

    async def cancel_order(self, store_id: str) -> None:
        await self.call("PUT", f"/orders/{store_id}", {"status": "cancelled"})

    async def fulfilments(self, store_id: str) -> list[Fulfilment]:
        row = await self.order(store_id)
        items = next((m.get("value") for m in row.get("meta_data") or ()
                      if m.get("key") == TRACKING_META_KEY), None) or []
        return [Fulfilment((str(i["tracking_number"]),), i.get("custom_tracking_link") or None)
                for i in items if isinstance(i, dict)]

    async def customer_notifications(self, store_id: str) -> int:
        numbers = [f.tracking_numbers[0] for f in await self.fulfilments(store_id)]
        notes = await self.call("GET", f"/orders/{store_id}/notes", params={"type": "customer"})
        return sum(1 for note in notes if any(n in str(note.get("note")) for n in numbers))

    async def is_shipped(self, store_id: str) -> bool:
        return bool((await self.order(store_id))["status"] == "completed")

    # -- connectors ----------------------------------------------------------------------

    def settings(self, **overrides: Any) -> ConnectorSettings:
        from connectors.woocommerce import WooCommerceSettings

        fields: dict[str, Any] = {"url": self.url, "consumer_key": self.key,
                                  "consumer_secret": self.secret, "allow_http": True}
        fields.update(overrides)
        return WooCommerceSettings(**fields)

    def connector(self, **overrides: object) -> StoreConnector:
        from connectors.woocommerce import WooCommerceConnector

        http = httpx.AsyncClient(timeout=60)
        self._clients.append(http)
        return WooCommerceConnector(self.settings(**overrides), http)  # type: ignore[arg-type]

    def bad_credentials_settings(self) -> ConnectorSettings:
        return self.settings(consumer_secret="cs_wrong_secret_value")

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        await self.http.aclose()


def _sku_stock_ean(sku: str | None, stock: int, ean: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"manage_stock": True, "stock_quantity": stock}
    if sku:
        fields["sku"] = sku
    if ean:
        fields["global_unique_id"] = ean
    return fields
