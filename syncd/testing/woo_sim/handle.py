"""``StoreHandle`` for the WooCommerce simulator (the conformance kit's view of the shop).

Seeds and inspects the shop through the simulator's Python API, never through the
connector under test. Connectors it builds talk to the simulator over HTTP at ``url``.

``customer_notifications`` counts the customer emails that carry the order's tracking:
customer notes and, when the Shipment Tracking extension is active, the "Completed order"
email (the extension adds the tracking to it). So a connector that both completes the
order and adds a tracking note while the extension is active mails the customer twice,
and the kit sees 2.
"""

from __future__ import annotations

from typing import Any

import httpx

from syncd.connector import ConnectorSettings, StoreConnector
from syncd.testing.conformance.handle import Fulfilment, SeedOrder, SeedProduct
from syncd.testing.woo_sim.store import WooStore

KEY, SECRET = "ck_test", "cs_test"


class WooHandle:
    """A handle on one ``WooStore`` served at ``url`` (``serve_in_thread`` or ASGI)."""

    shipping_method = "flat_rate:1"

    def __init__(self, store: WooStore, url: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.store = store
        self.url = url
        self.transport = transport
        self._clients: list[httpx.AsyncClient] = []

    async def reset(self) -> None:
        self.store.reset()

    async def add_product(self, product: SeedProduct) -> list[str]:
        if not product.variants:
            pid = self.store.add_product(product.name, product.sku, price=product.price,
                                         stock=product.stock, ean=product.ean,
                                         description=product.description or "")
            return [str(pid)]
        parent = self.store.add_product(product.name, product.sku, type="variable",
                                        description=product.description or "")
        return [str(self.store.add_variation(parent, v.sku, option=v.name, price=v.price,
                                             stock=v.stock, ean=v.ean))
                for v in product.variants]

    async def update_product_name(self, store_id: str, name: str) -> None:
        self.store.update_item(int(store_id), {"name": name})

    async def add_order(self, order: SeedOrder) -> str:
        address = order.address
        first, _, last = address.name.partition(" ")
        person = {"first_name": first, "last_name": last, "address_1": address.address1,
                  "city": address.city, "postcode": address.zip,
                  "country": address.country_code, "phone": address.phone}
        method_code = order.shipping_method or self.shipping_method
        method_id, _, instance = method_code.partition(":")
        order_id = self.store.add_order(
            list(order.lines), status="processing" if order.paid else "pending",
            billing={**person, "email": address.email}, shipping=person,
            shipping_method=(method_id, int(instance or 0)),
        )
        return str(order_id)

    async def pay_order(self, store_id: str) -> None:
        self.store.pay(int(store_id))

    async def cancel_order(self, store_id: str) -> None:
        self.store.cancel(int(store_id))

    async def stock_of(self, sku: str) -> int | None:
        return self.store.stock_of(sku)

    async def fulfilments(self, store_id: str) -> list[Fulfilment]:
        return [Fulfilment((item["tracking_number"],), item["custom_tracking_link"] or None)
                for item in self.store.trackings(int(store_id))]

    async def customer_notifications(self, store_id: str) -> int:
        numbers = {item["tracking_number"] for item in self.store.trackings(int(store_id))}
        return sum(1 for email in self.store.customer_emails(int(store_id))
                   if any(number in email.body for number in numbers))

    async def is_shipped(self, store_id: str) -> bool:
        return bool(self.store.order(int(store_id))["status"] == "completed")

    def settings(self, **overrides: Any) -> ConnectorSettings:
        from connectors.woocommerce import WooCommerceSettings

        fields: dict[str, Any] = {"url": self.url, "consumer_key": KEY,
                                  "consumer_secret": SECRET, "allow_http": True}
        fields.update(overrides)
        return WooCommerceSettings(**fields)

    def connector(self, **overrides: object) -> StoreConnector:
        from connectors.woocommerce import WooCommerceConnector

        http = httpx.AsyncClient(timeout=30, transport=self.transport)
        self._clients.append(http)
        return WooCommerceConnector(self.settings(**overrides), http)  # type: ignore[arg-type]

    def bad_credentials_settings(self) -> ConnectorSettings:
        return self.settings(consumer_secret="cs_wrong_secret_value")

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
