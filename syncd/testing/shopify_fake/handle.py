"""``ShopifyHandle``: the conformance kit's ``StoreHandle`` for the fake Shopify shop.

It seeds and inspects the shop through ``ShopifyFake``'s Python API (never through the
connector). With an ``http://`` base URL (the fake served by ``serve_in_thread``) the
connectors it builds talk real HTTP (``allow_http`` is set for them); with the default
https placeholder URL they reach the fake in-process over ``httpx.ASGITransport``. The
connector class comes from the entry-point registry: ``syncd`` never imports ``connectors``.
"""

from __future__ import annotations

import httpx

from syncd.connector import ConnectorSettings, StoreConnector, load_connector
from syncd.testing.conformance.handle import Fulfilment, SeedOrder, SeedProduct
from syncd.testing.shopify_fake.app import ShopifyFake

BASE_URL = "https://conformance-shop.myshopify.com"


class ShopifyHandle:
    """A ``StoreHandle`` over one ``ShopifyFake``."""

    shipping_method = "standard"

    def __init__(self, fake: ShopifyFake | None = None, *, base_url: str = BASE_URL) -> None:
        self.fake = fake or ShopifyFake()
        self.base_url = base_url
        self._clients: list[httpx.AsyncClient] = []

    async def reset(self) -> None:
        self.fake.reset()

    async def add_product(self, product: SeedProduct) -> list[str]:
        variants = [
            {"title": v.name, "sku": v.sku, "price": v.price, "barcode": v.ean,
             "stock": v.stock}
            for v in product.variants
        ] or None
        return self.fake.add_product(
            product.name, sku=product.sku, price=product.price, barcode=product.ean,
            description_html=product.description or "", stock=product.stock,
            variants=variants)

    async def update_product_name(self, store_id: str, name: str) -> None:
        """A product without options is renamed; a variant gets ``name`` as its title."""
        product = self.fake.product_of(store_id)
        if len(product.variant_ids) == 1 and self.fake.variant(store_id).title == "Default Title":
            self.fake.update_product(product.id, title=name)
        else:
            self.fake.update_variant(store_id, title=name)

    async def add_order(self, order: SeedOrder) -> str:
        first, _, last = order.address.name.partition(" ")
        address: dict[str, str | None] = {
            "firstName": first, "lastName": last or None, "address1": order.address.address1,
            "city": order.address.city, "zip": order.address.zip,
            "countryCodeV2": order.address.country_code, "phone": order.address.phone,
        }
        method = order.shipping_method or self.shipping_method
        return self.fake.add_order(
            [(sku, qty) for sku, qty in order.lines], paid=order.paid, address=address,
            shipping_code=method, shipping_title=method.title(), email=order.address.email,
            phone=order.address.phone)

    async def pay_order(self, store_id: str) -> None:
        self.fake.pay_order(store_id)

    async def cancel_order(self, store_id: str) -> None:
        self.fake.cancel_order(store_id)

    async def stock_of(self, sku: str) -> int | None:
        return self.fake.stock(sku)

    async def fulfilments(self, store_id: str) -> list[Fulfilment]:
        return [
            Fulfilment(tracking_numbers=tuple(t.number for t in f.tracking),
                       tracking_url=next((t.url for t in f.tracking if t.url), None))
            for f in self.fake.fulfillments_of(store_id)
        ]

    async def customer_notifications(self, store_id: str) -> int:
        return self.fake.notifications(store_id)

    async def is_shipped(self, store_id: str) -> bool:
        return self.fake.fulfillment_status(store_id) == "FULFILLED"

    def settings(self, **overrides: object) -> ConnectorSettings:
        values: dict[str, object] = {"shop": self.base_url, "access_token": self.fake.token,
                                     "location_id": self.fake.location_id}
        if self.base_url.startswith("http://"):
            values["allow_http"] = True
        values.update(overrides)
        return load_connector("shopify").Settings.model_validate(values)

    def connector(self, **overrides: object) -> StoreConnector:
        return load_connector("shopify")(self.settings(**overrides), self._client())

    def bad_credentials_settings(self) -> ConnectorSettings:
        return self.settings(access_token="shpat_refused_token")

    def _client(self) -> httpx.AsyncClient:
        if self.base_url.startswith("http://"):
            client = httpx.AsyncClient(timeout=10.0)
        else:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.fake.app),
                                       timeout=10.0)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close the http clients this handle made for connectors."""
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
