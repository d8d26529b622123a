"""``StoreHandle`` for a real Vendure server (see ``tests/vendure/server.js``).

Seeds and inspects the store through Vendure's own APIs, never through the connector:
the Admin API for products, stock, payments, cancellations and fulfilments; the Shop API
to place orders the way a customer does (cart, address, shipping method, dummy payment).

``reset()`` cannot delete orders (Vendure has no such mutation), so it creates a fresh
*channel* instead: products, orders and fulfilments are channel-scoped, and the connectors
this handle builds carry the new channel's token. The store is then empty as far as they
can see, and resetting costs a handful of requests instead of a 5 s server restart.
Back-orders are allowed (a global out-of-stock threshold far below zero) so that orders
can be placed for SKUs seeded with stock 0; stock is still tracked and allocated.

Connectors built here use ``settle_seconds = 0``: the test server (sql.js) runs one
transaction at a time, so no change can commit behind one already read.

``customer_notifications`` is a proxy: Vendure has no built-in shipping notification (the
EmailPlugin sends none by default) and nothing records one. The handle counts the order's
fulfilments that reached Shipped/Delivered, i.e. the events a notification plugin would
mail about. It cannot observe ``Shipment.notify_customer``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx

from connectors.vendure import VendureConnector, VendureSettings
from syncd.testing.conformance.handle import Fulfilment, SeedOrder, SeedProduct

SUPERADMIN = ("superadmin", "superadmin")
SHIPPED_STATES = ("Shipped", "Delivered")
_channel_numbers = itertools.count(1)


class VendureApiError(RuntimeError):
    """The test store refused a seeding/inspection call (a bug in the test, not the connector)."""


def _minor(price: str) -> int:
    return int((Decimal(price) * 100).to_integral_value())


def _codes(tracking_code: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (tracking_code or "").split(",") if part.strip())


class _Api:
    """One GraphQL endpoint; keeps the session token Vendure hands out in a header."""

    def __init__(self, url: str, channel_token: str | None = None) -> None:
        self.url = url
        self.channel_token = channel_token
        self.token: str | None = None
        # A client of its own: Vendure also sets a session cookie, which must not leak
        # into another session (admin vs. shop vs. the connector under test).
        self.http = httpx.AsyncClient(timeout=30)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.channel_token:
            headers["vendure-token"] = self.channel_token
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=headers
        )
        self.token = response.headers.get("vendure-auth-token", self.token)
        payload = response.json()
        if payload.get("errors"):
            raise VendureApiError(f"{self.url}: {payload['errors'][0].get('message')}")
        data = payload["data"]
        for value in data.values():
            if isinstance(value, dict) and "errorCode" in value:
                raise VendureApiError(f"{value['errorCode']}: {value.get('message')}")
        return data

    async def aclose(self) -> None:
        await self.http.aclose()


class VendureHandle:
    """A test store on a running Vendure server; ``reset()`` gives an empty channel."""

    shipping_method = "standard-shipping"

    def __init__(self, admin_url: str, shop_url: str) -> None:
        self.admin_url = admin_url
        self.shop_url = shop_url
        self.admin = _Api(admin_url)
        self.channel_token: str | None = None
        self._clients: list[httpx.AsyncClient] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def login(self) -> None:
        user, password = SUPERADMIN
        await self.admin(
            "mutation($u:String!,$p:String!){login(username:$u,password:$p){"
            "... on CurrentUser{id} ... on ErrorResult{errorCode message}}}",
            {"u": user, "p": password},
        )

    async def reset(self) -> None:
        """Switch to a brand-new channel with shipping, payment and stock location."""
        if self.admin.token is None:
            await self.login()
        self.admin.channel_token = None
        # Allow back-orders (inventory still tracked): the kit seeds stock 0 by default and
        # orders it anyway; Vendure would refuse with INSUFFICIENT_STOCK_ERROR.
        await self.admin(
            "mutation{updateGlobalSettings(input:{outOfStockThreshold:-1000000}){"
            "... on GlobalSettings{id} ... on ErrorResult{errorCode message}}}"
        )
        setup = await self.admin(
            "{zones{items{id name}} shippingMethods{items{id}} paymentMethods{items{id}}"
            " stockLocations{items{id}}}"
        )
        zone = setup["zones"]["items"][0]["id"]
        token = f"ogo-test-{uuid.uuid4().hex[:12]}"
        created = await self.admin(
            "mutation($in:CreateChannelInput!){createChannel(input:$in){"
            "... on Channel{id} ... on ErrorResult{errorCode message}}}",
            {"in": {
                "code": f"test-{next(_channel_numbers)}-{token[-6:]}", "token": token,
                "defaultLanguageCode": "en", "pricesIncludeTax": True,
                "defaultCurrencyCode": "EUR", "defaultTaxZoneId": zone,
                "defaultShippingZoneId": zone,
            }},
        )
        channel_id = created["createChannel"]["id"]
        ids = {key: [row["id"] for row in setup[key]["items"]]
               for key in ("shippingMethods", "paymentMethods", "stockLocations")}
        await self.admin(
            "mutation($c:ID!,$s:[ID!]!,$p:[ID!]!,$l:[ID!]!){"
            "assignShippingMethodsToChannel(input:{channelId:$c,shippingMethodIds:$s}){id}"
            " assignPaymentMethodsToChannel(input:{channelId:$c,paymentMethodIds:$p}){id}"
            " assignStockLocationsToChannel(input:{channelId:$c,stockLocationIds:$l}){id}}",
            {"c": channel_id, "s": ids["shippingMethods"], "p": ids["paymentMethods"],
             "l": ids["stockLocations"]},
        )
        self.channel_token = self.admin.channel_token = token

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        await self.admin.aclose()

    # -- products -------------------------------------------------------------------------

    async def add_product(self, product: SeedProduct) -> list[str]:
        slug = f"p-{uuid.uuid4().hex[:12]}"
        created = await self.admin(
            "mutation($in:CreateProductInput!){createProduct(input:$in){id}}",
            {"in": {"translations": [{
                "languageCode": "en", "name": product.name, "slug": slug,
                "description": product.description or "",
            }]}},
        )
        product_id = created["createProduct"]["id"]
        variants = list(product.variants) or [product]
        options: list[str | None] = [None]
        if product.variants:
            options = await self._variant_options(product_id, slug, len(variants))
        inputs = [{
            "productId": product_id, "sku": variant.sku or "", "price": _minor(variant.price),
            "stockOnHand": variant.stock, "trackInventory": "TRUE",
            "translations": [{"languageCode": "en", "name": variant.name}],
            "customFields": {"ean": variant.ean},
            **({"optionIds": [option]} if option else {}),
        } for variant, option in zip(variants, options, strict=True)]
        made = await self.admin(
            "mutation($in:[CreateProductVariantInput!]!){createProductVariants(input:$in){id}}",
            {"in": inputs},
        )
        return [row["id"] for row in made["createProductVariants"]]

    async def _variant_options(self, product_id: str, slug: str, count: int) -> list[str | None]:
        """Vendure needs one option per variant of a multi-variant product."""
        group = await self.admin(
            "mutation($in:CreateProductOptionGroupInput!){createProductOptionGroup(input:$in)"
            "{id options{id}}}",
            {"in": {
                "code": f"{slug}-variant",
                "translations": [{"languageCode": "en", "name": "Variant"}],
                "options": [{"code": f"v{i}", "translations": [
                    {"languageCode": "en", "name": f"V{i}"}]} for i in range(count)],
            }},
        )
        await self.admin(
            "mutation($p:ID!,$g:ID!){addOptionGroupToProduct(productId:$p,optionGroupId:$g){id}}",
            {"p": product_id, "g": group["createProductOptionGroup"]["id"]},
        )
        return [row["id"] for row in group["createProductOptionGroup"]["options"]]

    async def update_product_name(self, store_id: str, name: str) -> None:
        """Rename a variant, in a later second than anything read before this call.

        The test server's SQLite stores ``updatedAt`` to the second, so a change in the very
        second a connector last read would keep the same timestamp. A production store is
        covered by the connector's ``settle_seconds``; this handle's connectors use 0.
        """
        await asyncio.sleep(1.02 - time.time() % 1)
        await self.admin(
            "mutation($in:[UpdateProductVariantInput!]!){updateProductVariants(input:$in){id}}",
            {"in": [{"id": store_id, "translations": [{"languageCode": "en", "name": name}]}]},
        )

    async def _variant(self, sku: str) -> dict[str, Any] | None:
        data = await self.admin(
            "query($s:String!){productVariants(options:{filter:{sku:{eq:$s}}}){items{"
            "id sku stockOnHand trackInventory stockLevels{stockLocationId stockOnHand}}}}",
            {"s": sku},
        )
        items = data["productVariants"]["items"]
        return items[0] if items else None

    async def stock_of(self, sku: str) -> int | None:
        variant = await self._variant(sku)
        return None if variant is None else int(variant["stockOnHand"])

    # -- orders ---------------------------------------------------------------------------

    async def add_order(self, order: SeedOrder) -> str:
        """Place an order through the Shop API as a guest; paid with the dummy handler."""
        shop = _Api(self.shop_url, self.channel_token)
        try:
            for sku, quantity in order.lines:
                variant = await self._variant(sku)
                if variant is None:
                    raise VendureApiError(f"no variant with SKU {sku!r}")
                await shop(
                    "mutation($v:ID!,$q:Int!){addItemToOrder(productVariantId:$v,quantity:$q){"
                    "... on Order{id} ... on ErrorResult{errorCode message}}}",
                    {"v": variant["id"], "q": quantity},
                )
            address = order.address
            first, _, last = address.name.partition(" ")
            await shop(
                "mutation($in:CreateCustomerInput!){setCustomerForOrder(input:$in){"
                "... on Order{id} ... on ErrorResult{errorCode message}}}",
                {"in": {"emailAddress": address.email, "firstName": first,
                        "lastName": last or first}},
            )
            await shop(
                "mutation($in:CreateAddressInput!){setOrderShippingAddress(input:$in){"
                "... on Order{id} ... on ErrorResult{errorCode message}}}",
                {"in": {"fullName": address.name, "streetLine1": address.address1,
                        "city": address.city, "postalCode": address.zip,
                        "countryCode": address.country_code, "phoneNumber": address.phone}},
            )
            methods = (await shop("{eligibleShippingMethods{id code}}"))["eligibleShippingMethods"]
            wanted = order.shipping_method or self.shipping_method
            method = next((m for m in methods if m["code"] == wanted), None)
            if method is None:
                raise VendureApiError(f"shipping method {wanted!r} not eligible: {methods}")
            await shop(
                "mutation($m:[ID!]!){setOrderShippingMethod(shippingMethodId:$m){"
                "... on Order{id} ... on ErrorResult{errorCode message}}}",
                {"m": [method["id"]]},
            )
            placed = await shop(
                "mutation{transitionOrderToState(state:\"ArrangingPayment\"){"
                "... on Order{id} ... on ErrorResult{errorCode message}}}"
            )
            order_id: str = placed["transitionOrderToState"]["id"]
            if order.paid:
                await shop(
                    "mutation{addPaymentToOrder(input:{method:\"dummy\",metadata:{}}){"
                    "... on Order{id state} ... on ErrorResult{errorCode message}}}"
                )
            return order_id
        finally:
            await shop.aclose()

    async def pay_order(self, store_id: str) -> None:
        """Settle an order left in ArrangingPayment (a manual payment, as an admin would)."""
        await self.admin(
            "mutation($in:ManualPaymentInput!){addManualPaymentToOrder(input:$in){"
            "... on Order{id state} ... on ErrorResult{errorCode message}}}",
            {"in": {"orderId": store_id, "method": "dummy",
                    "transactionId": f"test-{uuid.uuid4().hex[:8]}", "metadata": {}}},
        )

    async def cancel_order(self, store_id: str) -> None:
        await self.admin(
            "mutation($id:ID!){cancelOrder(input:{orderId:$id,reason:\"test\"}){"
            "... on Order{id state} ... on ErrorResult{errorCode message}}}",
            {"id": store_id},
        )

    async def order(self, store_id: str) -> dict[str, Any]:
        data = await self.admin(
            "query($id:ID!){order(id:$id){id code state updatedAt orderPlacedAt "
            "lines{id quantity productVariant{sku}} "
            "fulfillments{id state method trackingCode lines{orderLineId quantity}}}}",
            {"id": store_id},
        )
        if data["order"] is None:
            raise VendureApiError(f"order {store_id} not found in the current channel")
        return data["order"]  # type: ignore[no-any-return]

    async def fulfilments(self, store_id: str) -> list[Fulfilment]:
        order = await self.order(store_id)
        return [
            Fulfilment(tracking_numbers=_codes(f["trackingCode"]))
            for f in order["fulfillments"] or ()
            if f["state"] != "Cancelled"
        ]

    async def customer_notifications(self, store_id: str) -> int:
        """Proxy (see module doc): fulfilments of the order that reached Shipped/Delivered."""
        order = await self.order(store_id)
        return sum(1 for f in order["fulfillments"] or () if f["state"] in SHIPPED_STATES)

    async def is_shipped(self, store_id: str) -> bool:
        return (await self.order(store_id))["state"] in SHIPPED_STATES

    # -- connector --------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> VendureSettings:
        user, password = SUPERADMIN
        fields: dict[str, Any] = {
            "url": self.admin_url, "allow_http": True, "username": user,
            "password": password, "channel_token": self.channel_token,
            # sql.js runs one transaction at a time: no late commits to wait for
            "settle_seconds": 0,
        }
        fields.update(overrides)
        return VendureSettings(**fields)

    def connector(self, **overrides: object) -> VendureConnector:
        http = httpx.AsyncClient(timeout=30)
        self._clients.append(http)
        return VendureConnector(self.settings(**overrides), http)

    def bad_credentials_settings(self) -> VendureSettings:
        return self.settings(password="not-the-password")
