"""A stateful fake of the Shopify Admin GraphQL API (starlette ASGI app + Python API).

Every request is parsed, validated against the real Admin schema and *executed* by
graphql-core with resolvers over ``ShopState``: the connector gets exactly the fields it
selects, search filters and ``first/after`` pagination are honoured, mutations apply the
same rules Shopify documents (atomic ``inventorySetQuantities`` with ``@idempotent``,
fulfillment-order state transitions, ``userErrors``), each response carries the
``extensions.cost`` of a leaky bucket that can be tuned to force throttling, and a wrong
token gets HTTP 401. Tests seed and inspect the shop through the Python methods.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    default_field_resolver,
    execute,
    parse,
    validate,
    value_from_ast_untyped,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.testing.shopify_fake.cost import CostCalculator
from syncd.testing.shopify_fake.schema import load_schema
from syncd.testing.shopify_fake.search import SearchError, matcher
from syncd.testing.shopify_fake.store import (
    OPEN_STATUSES,
    REASONS,
    STOCK_NAMES,
    AdjustmentGroup,
    FakeClock,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLine,
    LineItem,
    Location,
    Order,
    Product,
    ShopState,
    Tracking,
    UserErrors,
    Variant,
    gid,
    number_of,
)

T = TypeVar("T")
DEFAULT_TOKEN = "shpat_fake_token"
DEFAULT_SCOPES = frozenset({
    "read_products", "read_orders", "read_inventory", "write_inventory", "read_locations",
    "read_merchant_managed_fulfillment_orders", "write_merchant_managed_fulfillment_orders",
})
ROOT_SCOPES = {
    "productVariants": "read_products", "products": "read_products",
    "orders": "read_orders", "order": "read_orders",
    "inventorySetQuantities": "write_inventory",
    "fulfillmentCreate": "write_merchant_managed_fulfillment_orders",
    "fulfillmentTrackingInfoUpdate": "write_merchant_managed_fulfillment_orders",
}
MAX_PAGE = 250
MAX_INPUT_ITEMS = 250
_ROOT = object()


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


@dataclass
class RequestRecord:
    operation: str | None
    query: str
    variables: dict[str, Any]
    status: int


@dataclass
class Fault:
    status: int
    count: int
    after_commit: bool
    operation: str | None


class ShopifyFake:
    """The fake shop. ``app`` is the ASGI app; the rest is its seeding/inspection API."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        api_version: str = "2026-04",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        max_query_cost: int = 1000,
        throttle_status: int = 200,
        schema: GraphQLSchema | None = None,
        currency: str = "EUR",
    ) -> None:
        self.schema = schema or load_schema()
        self.token = token
        self.api_versions = {api_version}
        self.scopes = set(scopes)
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.max_query_cost = max_query_cost
        self.throttle_status = throttle_status
        self.clock = FakeClock()
        self.state = ShopState(currency=currency)
        self.requests: list[RequestRecord] = []
        self.calls: Counter[str] = Counter()
        self.documents: set[str] = set()
        self.throttled = 0
        self._available = bucket_size
        self._bucket_at = self.clock.monotonic()
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self._parsed: dict[str, tuple[DocumentNode | None, list[dict[str, Any]]]] = {}
        self.location_id = self.add_location("OGOship warehouse")
        self.app = Starlette(routes=[
            Route("/admin/api/{version}/graphql.json", self._endpoint, methods=["POST"]),
        ])
        self._roots: dict[str, Callable[..., Any]] = {
            "shop": self._q_shop, "currentAppInstallation": self._q_installation,
            "location": self._q_location, "productVariants": self._q_product_variants,
            "products": self._q_products, "orders": self._q_orders, "order": self._q_order,
            "inventorySetQuantities": self._m_set_quantities,
            "fulfillmentCreate": self._m_fulfillment_create,
            "fulfillmentTrackingInfoUpdate": self._m_tracking_update,
        }

    # == seeding and inspection (Python API) ==============================================

    def reset(self) -> None:
        """Forget products, orders, stock and logs; keep locations, token and bucket."""
        with self._lock:
            locations = self.state.locations
            self.state = ShopState(currency=self.state.currency, locations=locations,
                                   _next={"Location": max(locations, default=0)})
            self.requests.clear()
            self.calls.clear()
            self.documents.clear()
            self._idempotency.clear()
            self._faults.clear()
            self._available = self.bucket_size

    def add_location(self, name: str, *, active: bool = True) -> str:
        with self._lock:
            number = self.state.next_id("Location")
            self.state.locations[number] = Location(number, name, active)
            return gid("Location", number)

    def add_product(
        self,
        title: str,
        *,
        sku: str | None = None,
        price: str = "10.00",
        barcode: str | None = None,
        description_html: str = "",
        image_url: str | None = None,
        stock: int = 0,
        variants: list[dict[str, Any]] | None = None,
        location_id: str | None = None,
        stocked: bool = True,
    ) -> list[str]:
        """Create a product; ``variants`` dicts take title/sku/price/barcode/stock/image_url.

        Without ``variants`` the product has one "Default Title" variant. Returns the
        variant gids. Stock is set at ``location_id`` (default: the warehouse) if stocked.
        """
        with self._lock:
            now = self.clock.now()
            product = Product(self.state.next_id("Product"), title, description_html, now,
                              image_url)
            self.state.products[product.id] = product
            specs = variants or [{"title": "Default Title", "sku": sku, "price": price,
                                  "barcode": barcode, "stock": stock}]
            location = number_of(location_id or self.location_id) or 0
            result = []
            for spec in specs:
                variant = Variant(
                    id=self.state.next_id("ProductVariant"), product_id=product.id,
                    inventory_item_id=self.state.next_id("InventoryItem"),
                    sku=spec.get("sku"), title=spec.get("title", "Default Title"),
                    price=Decimal(str(spec.get("price", "10.00"))),
                    barcode=spec.get("barcode"), updated_at=now,
                    image_url=spec.get("image_url"),
                )
                self.state.variants[variant.id] = variant
                product.variant_ids.append(variant.id)
                if stocked:
                    qty = int(spec.get("stock", 0))
                    self.state.levels[(variant.inventory_item_id, location)] = {
                        "available": qty, "on_hand": qty}
                result.append(gid("ProductVariant", variant.id))
            return result

    def variant(self, variant_id: str) -> Variant:
        return self.state.variants[number_of(variant_id) or 0]

    def product_of(self, variant_id: str) -> Product:
        return self.state.products[self.variant(variant_id).product_id]

    def update_product(self, product_id: int, **changes: Any) -> None:
        """Change product fields (title, description_html, image_url, status).

        Like Shopify, only the product's ``updatedAt`` moves, not its variants'.
        """
        with self._lock:
            product = self.state.products[product_id]
            for key, value in changes.items():
                setattr(product, key, value)
            product.updated_at = self.clock.now()

    def update_variant(self, variant_id: str, **changes: Any) -> None:
        """Change variant fields (title, sku, price, barcode, image_url); bumps both times."""
        with self._lock:
            variant = self.variant(variant_id)
            for key, value in changes.items():
                setattr(variant, key, Decimal(str(value)) if key == "price" else value)
            variant.updated_at = self.clock.now()
            self.state.products[variant.product_id].updated_at = variant.updated_at

    def stock(self, sku: str, name: str = "available",
              location_id: str | None = None) -> int | None:
        """The quantity of the first variant with ``sku`` at the location (None if not stocked)."""
        location = number_of(location_id or self.location_id) or 0
        for variant in self.state.variants.values():
            if variant.sku == sku:
                level = self.state.levels.get((variant.inventory_item_id, location))
                return None if level is None else level[name]
        return None

    def unstock(self, sku: str, location_id: str | None = None) -> None:
        """Make ``sku`` not stocked at the location (the ITEM_NOT_STOCKED_AT_LOCATION case)."""
        location = number_of(location_id or self.location_id) or 0
        with self._lock:
            for variant in self.state.variants.values():
                if variant.sku == sku:
                    self.state.levels.pop((variant.inventory_item_id, location), None)

    def add_order(
        self,
        lines: list[tuple[str, int]],
        *,
        paid: bool = True,
        address: dict[str, str | None] | None = None,
        shipping_code: str | None = "standard",
        shipping_title: str | None = "Standard",
        email: str | None = "maija@example.com",
        phone: str | None = None,
        note: str | None = None,
        line_locations: dict[str, str] | None = None,
        digital_skus: Iterable[str] = (),
    ) -> str:
        """Create an order; one fulfillment order per location (``line_locations`` sku->gid)."""
        with self._lock:
            now = self.clock.now()
            number = self.state.next_id("Order")
            digital = set(digital_skus)
            items = []
            for sku, quantity in lines:
                variant = next((v for v in self.state.variants.values() if v.sku == sku), None)
                title = self.state.products[variant.product_id].title if variant else sku
                items.append(LineItem(
                    id=self.state.next_id("LineItem"), variant_id=variant.id if variant else None,
                    sku=sku, name=title, quantity=quantity,
                    price=variant.price if variant else Decimal("1.00"),
                    requires_shipping=sku not in digital))
            default_address = {
                "firstName": "Maija", "lastName": "Meikäläinen", "address1": "Testikatu 1",
                "city": "Helsinki", "zip": "00100", "countryCodeV2": "FI",
            }
            order = Order(
                id=number, number=1000 + self.state._next["Order"], email=email, phone=phone,
                financial_status="paid" if paid else "pending", created_at=now,
                updated_at=now, shipping_address=address if address is not None
                else default_address, shipping_code=shipping_code,
                shipping_title=shipping_title, lines=items, note=note)
            self.state.orders[order.id] = order
            by_location: dict[int, list[LineItem]] = {}
            for item in items:
                if not item.requires_shipping:
                    continue
                location = (line_locations or {}).get(item.sku or "", self.location_id)
                by_location.setdefault(number_of(location) or 0, []).append(item)
            for location, group in by_location.items():
                fo = FulfillmentOrder(self.state.next_id("FulfillmentOrder"), order.id, location)
                fo.lines = [FulfillmentOrderLine(self.state.next_id("FulfillmentOrderLineItem"),
                                                 li.id, li.quantity) for li in group]
                self.state.fulfillment_orders[fo.id] = fo
                order.fulfillment_order_ids.append(fo.id)
            return gid("Order", order.id)

    def order(self, order_id: str) -> Order:
        return self.state.orders[number_of(order_id) or 0]

    def pay_order(self, order_id: str) -> None:
        with self._lock:
            order = self.order(order_id)
            order.financial_status = "paid"
            order.updated_at = self.clock.now()

    def cancel_order(self, order_id: str) -> None:
        """Cancel: open fulfillment orders close, the order shows up as ``status:cancelled``."""
        with self._lock:
            order = self.order(order_id)
            order.cancelled_at = order.updated_at = self.clock.now()
            for fo_id in order.fulfillment_order_ids:
                fo = self.state.fulfillment_orders[fo_id]
                if fo.status in OPEN_STATUSES:
                    fo.status = "CLOSED"

    def fulfil_by_hand(self, order_id: str, tracking: Sequence[str] = ()) -> str:
        """The merchant fulfils the whole order in the admin (optionally with tracking)."""
        with self._lock:
            order = self.order(order_id)
            fos = [gid("FulfillmentOrder", f) for f in order.fulfillment_order_ids
                   if self.state.fulfillment_orders[f].status in OPEN_STATUSES]
            fulfillment = self._fulfil(
                [{"fulfillmentOrderId": f} for f in fos],
                [Tracking(n) for n in tracking], notify=False)
            return gid("Fulfillment", fulfillment.id)

    def fulfillments_of(self, order_id: str) -> list[Fulfillment]:
        order = self.order(order_id)
        return [self.state.fulfillments[f] for f in order.fulfillment_ids]

    def notifications(self, order_id: str) -> int:
        return self.order(order_id).notifications

    def fulfillment_status(self, order_id: str) -> str:
        return self.state.fulfillment_status(self.order(order_id))

    def fail_next(self, status: int = 503, *, count: int = 1, after_commit: bool = False,
                  operation: str | None = None) -> None:
        """Answer the next ``count`` requests (of ``operation``) with HTTP ``status``.

        ``after_commit`` runs the request first and then loses its answer.
        """
        with self._lock:
            self._faults.append(Fault(status, count, after_commit, operation))

    def set_bucket(self, *, available: float | None = None, size: float | None = None,
                   restore_rate: float | None = None) -> None:
        with self._lock:
            self._refill()
            if size is not None:
                self.bucket_size = size
            if restore_rate is not None:
                self.restore_rate = restore_rate
            self._available = min(self.bucket_size,
                                   self._available if available is None else available)

    # == HTTP =============================================================================

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["version"] not in self.api_versions:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        raw = await request.body()
        try:
            body = json.loads(raw)
            query = str(body["query"])
            variables = dict(body.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": "Bad Request"}, status_code=400)
        operation = body.get("operationName")
        with self._lock:
            record = RequestRecord(operation, query, variables, 200)
            self.requests.append(record)
            if request.headers.get("x-shopify-access-token") != self.token:
                record.status = 401
                return JSONResponse({"errors": "[API] Invalid API key or access token "
                                               "(unrecognized login or wrong password)"},
                                    status_code=401)
            self.calls[operation or "?"] += 1
            self.documents.add(query)
            fault = self._take_fault(operation)
            if fault and not fault.after_commit:
                record.status = fault.status
                return JSONResponse({"errors": "fault injected"}, status_code=fault.status)
            status, payload = self._run(query, variables, operation)
            record.status = status
            if fault:
                record.status = fault.status
                return JSONResponse({"errors": "fault injected"}, status_code=fault.status)
            headers = {}
            if status == 429:
                cost = payload["extensions"]["cost"]
                wait = (cost["requestedQueryCost"]
                        - cost["throttleStatus"]["currentlyAvailable"]) / self.restore_rate
                headers["Retry-After"] = f"{max(wait, 0.0):.1f}"
            return JSONResponse(payload, status_code=status, headers=headers)

    def _take_fault(self, operation: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.operation in (None, operation):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self._available = min(self.bucket_size,
                              self._available + max(0.0, now - self._bucket_at)
                              * self.restore_rate)
        self._bucket_at = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        cost: dict[str, Any] = {"requestedQueryCost": requested}
        if actual is not None:
            cost["actualQueryCost"] = actual
        cost["throttleStatus"] = {"maximumAvailable": self.bucket_size,
                                  "currentlyAvailable": int(self._available),
                                  "restoreRate": self.restore_rate}
        return {"cost": cost}

    def _document(self, query: str) -> tuple[DocumentNode | None, list[dict[str, Any]]]:
        if query not in self._parsed:
            try:
                document = parse(query)
            except GraphQLError as exc:
                self._parsed[query] = (None, [exc.formatted])
            else:
                errors = [dict(e.formatted, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
                          for e in validate(self.schema, document)]
                self._parsed[query] = (document, errors)
        return self._parsed[query]

    def _run(self, query: str, variables: dict[str, Any],
             operation: str | None) -> tuple[int, dict[str, Any]]:
        document, errors = self._document(query)
        if document is None or errors:
            return 200, {"errors": errors}
        calc = CostCalculator(self.schema, document, variables)
        requested = calc.requested()
        self._refill()
        if requested > self.max_query_cost:
            return 200, {"errors": [{
                "message": f"Query cost is {requested}, which exceeds the single query max "
                           f"cost limit ({self.max_query_cost}).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                               "maxCost": self.max_query_cost}}],
                "extensions": self._cost(requested, None)}
        if requested > self._available:
            self.throttled += 1
            return self.throttle_status, {
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": self._cost(requested, None)}
        self._available -= requested
        result = execute(self.schema, document, root_value=_ROOT, variable_values=variables,
                         operation_name=operation, field_resolver=self._resolve)
        actual = calc.actual(result.data)
        self._available = min(self.bucket_size, self._available + requested - actual)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        payload["extensions"] = self._cost(requested, actual)
        return 200, payload

    def _resolve(self, source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if source is not _ROOT:
            return default_field_resolver(source, info, **args)
        handler = self._roots.get(info.field_name)
        if handler is None:
            raise GraphQLError(f"the fake does not implement {info.field_name}")
        scope = ROOT_SCOPES.get(info.field_name)
        if scope and scope not in self.scopes:
            raise GraphQLError(
                f"Access denied for {info.field_name} field. Required access: `{scope}`.",
                extensions={"code": "ACCESS_DENIED"})
        try:
            return handler(info, **args)
        except SearchError as exc:
            raise GraphQLError(str(exc), extensions={"code": "BAD_SEARCH_QUERY"}) from exc

    # == connections ======================================================================

    @staticmethod
    def _connection(items: Iterable[T], key: Callable[[T], tuple[Any, ...]],
                    view: Callable[[T], dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        first, last = args.get("first"), args.get("last")
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        size = first if first is not None else last
        if size > MAX_PAGE or size < 0:
            raise GraphQLError(f"first/last must be between 0 and {MAX_PAGE}")
        ordered = sorted(items, key=key, reverse=bool(args.get("reverse")))
        if args.get("after"):
            after = tuple(json.loads(base64.b64decode(args["after"])))
            ordered = [i for i in ordered
                       if (key(i) < after if args.get("reverse") else key(i) > after)]
        page = ordered[:size]
        cursors = [base64.b64encode(json.dumps(list(key(i))).encode()).decode() for i in page]
        nodes = [view(i) for i in page]
        return {
            "nodes": nodes,
            "edges": [{"node": n, "cursor": c} for n, c in zip(nodes, cursors, strict=True)],
            "pageInfo": {"hasNextPage": len(ordered) > size,
                         "hasPreviousPage": bool(args.get("after")),
                         "startCursor": cursors[0] if cursors else None,
                         "endCursor": cursors[-1] if cursors else None},
        }

    # == views (what a node looks like to the executor) ===================================

    @staticmethod
    def _media(url: str | None) -> dict[str, Any] | None:
        if not url:
            return None
        return {"__typename": "MediaImage", "id": f"gid://shopify/MediaImage/{abs(hash(url))}",
                "mediaContentType": "IMAGE", "status": "READY", "alt": None,
                "preview": {"status": "READY", "image": {"url": url}}}

    def _product_view(self, product: Product) -> dict[str, Any]:
        variants = [self.state.variants[v] for v in product.variant_ids]
        return {
            "__typename": "Product", "id": gid("Product", product.id), "title": product.title,
            "description": lambda info, **a: product.description,
            "descriptionHtml": product.description_html, "updatedAt": iso(product.updated_at),
            "status": product.status, "featuredMedia": self._media(product.image_url),
            "hasOnlyDefaultVariant": len(variants) == 1
            and variants[0].title == "Default Title",
            "variants": lambda info, **a: self._connection(
                variants, lambda v: (v.id,), self._variant_view, a),
        }

    def _variant_view(self, variant: Variant) -> dict[str, Any]:
        product = self.state.products[variant.product_id]
        images = [variant] if variant.image_url else []
        return {
            "__typename": "ProductVariant", "id": gid("ProductVariant", variant.id),
            "sku": variant.sku, "barcode": variant.barcode, "price": _money(variant.price),
            "title": variant.title, "displayName": f"{product.title} - {variant.title}",
            "updatedAt": iso(variant.updated_at),
            "inventoryItem": {"id": gid("InventoryItem", variant.inventory_item_id),
                              "sku": variant.sku, "tracked": True},
            "media": lambda info, **a: self._connection(
                images, lambda v: (v.id,), lambda v: self._media(v.image_url) or {}, a),
            "product": self._product_view(product),
        }

    def _line_view(self, line: LineItem) -> dict[str, Any]:
        variant = self.state.variants.get(line.variant_id or 0)
        money = {"amount": _money(line.price), "currencyCode": self.state.currency}
        return {
            "id": gid("LineItem", line.id), "sku": line.sku, "name": line.name,
            "quantity": line.quantity, "currentQuantity": line.current_quantity,
            "requiresShipping": line.requires_shipping,
            "originalUnitPriceSet": {"shopMoney": money, "presentmentMoney": money},
            "variant": self._variant_view(variant) if variant else None,
        }

    def _fulfillment_view(self, fulfillment: Fulfillment) -> dict[str, Any]:
        return {
            "id": gid("Fulfillment", fulfillment.id), "status": fulfillment.status,
            "trackingInfo": lambda info, **a: [
                {"number": t.number, "company": t.company, "url": t.url}
                for t in fulfillment.tracking[: a.get("first") or None]],
        }

    def _fulfillment_order_view(self, fo: FulfillmentOrder) -> dict[str, Any]:
        location = self.state.locations[fo.location_id]

        def line_view(line: FulfillmentOrderLine) -> dict[str, Any]:
            item = self.state.line_item(line.line_item_id)
            return {"id": gid("FulfillmentOrderLineItem", line.id),
                    "remainingQuantity": line.remaining, "sku": item.sku if item else None,
                    "lineItem": self._line_view(item) if item else None}

        return {
            "id": gid("FulfillmentOrder", fo.id), "status": fo.status,
            "assignedLocation": {"name": location.name, "countryCode": "FI",
                                 "location": self._location_view(location)},
            "lineItems": lambda info, **a: self._connection(
                fo.lines, lambda li: (li.id,), line_view, a),
        }

    @staticmethod
    def _location_view(location: Location) -> dict[str, Any]:
        return {"id": gid("Location", location.id), "name": location.name,
                "isActive": location.is_active, "fulfillsOnlineOrders": True}

    def _order_view(self, order: Order) -> dict[str, Any]:
        total = {"amount": _money(order.total), "currencyCode": self.state.currency}
        address = None
        if order.shipping_address is not None:
            address = {k: order.shipping_address.get(k) for k in (
                "name", "firstName", "lastName", "company", "address1", "address2", "city",
                "province", "provinceCode", "zip", "countryCodeV2", "phone")}
            address["name"] = address["name"] or " ".join(
                p for p in (address["firstName"], address["lastName"]) if p) or None
        return {
            "id": gid("Order", order.id), "name": order.name, "email": order.email,
            "phone": order.phone, "note": order.note, "createdAt": iso(order.created_at),
            "updatedAt": iso(order.updated_at), "cancelledAt": iso(order.cancelled_at),
            "currencyCode": self.state.currency,
            "displayFinancialStatus": order.financial_status.upper(),
            "displayFulfillmentStatus": self.state.fulfillment_status(order),
            "totalPriceSet": {"shopMoney": total, "presentmentMoney": total},
            "shippingAddress": address,
            "shippingLine": None if order.shipping_code is None and order.shipping_title is None
            else {"code": order.shipping_code, "title": order.shipping_title},
            "lineItems": lambda info, **a: self._connection(
                order.lines, lambda li: (li.id,), self._line_view, a),
            "fulfillments": lambda info, **a: [
                self._fulfillment_view(self.state.fulfillments[f])
                for f in order.fulfillment_ids[: a.get("first") or None]],
            "fulfillmentOrders": lambda info, **a: self._connection(
                [self.state.fulfillment_orders[f] for f in order.fulfillment_order_ids],
                lambda fo: (fo.id,), self._fulfillment_order_view, a),
        }

    # == root queries =====================================================================

    def _q_shop(self, info: GraphQLResolveInfo) -> dict[str, Any]:
        return {"name": self.state.name, "currencyCode": self.state.currency}

    def _q_installation(self, info: GraphQLResolveInfo) -> dict[str, Any]:
        return {"accessScopes": [{"handle": s, "description": s} for s in sorted(self.scopes)]}

    def _q_location(self, info: GraphQLResolveInfo, id: str | None = None) -> Any:
        number = number_of(id) if id else min(self.state.locations)
        location = self.state.locations.get(number or 0)
        return self._location_view(location) if location else None

    def _q_product_variants(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        match = matcher(args.get("query"), {
            "updated_at": lambda v: v.updated_at, "sku": lambda v: v.sku,
            "product_id": lambda v: str(v.product_id), "barcode": lambda v: v.barcode,
            "id": lambda v: str(v.id)})
        sort = args.get("sortKey") or "ID"
        if sort != "ID":
            raise GraphQLError(f"the fake only sorts variants by ID, not {sort}")
        items = [v for v in self.state.variants.values() if match(v)]
        return self._connection(items, lambda v: (v.id,), self._variant_view, args)

    def _q_products(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        match = matcher(args.get("query"), {
            "updated_at": lambda p: p.updated_at, "status": lambda p: p.status,
            "id": lambda p: str(p.id),
            "sku": lambda p: {self.state.variants[v].sku for v in p.variant_ids}})
        key = _sort_key(args.get("sortKey") or "ID", lambda p: p.updated_at)
        items = [p for p in self.state.products.values() if match(p)]
        return self._connection(items, key, self._product_view, args)

    def _q_orders(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        match = matcher(args.get("query"), {
            "updated_at": lambda o: o.updated_at, "created_at": lambda o: o.created_at,
            "financial_status": lambda o: o.financial_status,
            "fulfillment_status": self.state.search_fulfillment_status,
            "status": self.state.order_status, "name": lambda o: o.name,
            "sku": lambda o: {li.sku for li in o.lines}})
        key = _sort_key(args.get("sortKey") or "ID", lambda o: o.updated_at)
        items = [o for o in self.state.orders.values() if match(o)]
        return self._connection(items, key, self._order_view, args)

    def _q_order(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        order = self.state.orders.get(number_of(id) or 0)
        return self._order_view(order) if order else None

    # == mutations ========================================================================

    def _m_set_quantities(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
        key = _directive_arg(info, "idempotent", "key")
        if not key:
            raise GraphQLError("The @idempotent directive is required for this mutation.",
                               extensions={"code": "BAD_REQUEST"})
        fingerprint = json.dumps(input, sort_keys=True, default=str)
        if key in self._idempotency:
            seen, payload = self._idempotency[key]
            if seen != fingerprint:
                return {"inventoryAdjustmentGroup": None, "userErrors": [{
                    "code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "field": None,
                    "message": "The same idempotency key was used with different input."}]}
            return payload
        quantities = input["quantities"]
        if len(quantities) > MAX_INPUT_ITEMS:
            raise GraphQLError(f"The input array size of {len(quantities)} is greater than "
                               f"the maximum allowed of {MAX_INPUT_ITEMS}.",
                               extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
        try:
            group = self._set_quantities(input)
        except UserErrors as exc:
            payload = {"inventoryAdjustmentGroup": None, "userErrors": exc.errors}
        else:
            payload = {"inventoryAdjustmentGroup": {
                "id": gid("InventoryAdjustmentGroup", group.id), "reason": group.reason,
                "changes": lambda info, **a: [
                    {"name": group.name, "delta": d, "quantityAfterChange": after,
                     "item": {"id": gid("InventoryItem", i)},
                     "location": self._location_view(self.state.locations[loc])}
                    for i, loc, d, after in group.changes]},
                "userErrors": []}
        self._idempotency[key] = (fingerprint, payload)
        return payload

    def _set_quantities(self, data: dict[str, Any]) -> AdjustmentGroup:
        """Validate every quantity first; apply all or nothing (Shopify is atomic here)."""
        errors: list[dict[str, object]] = []
        name, reason = data["name"], data["reason"]
        if name not in STOCK_NAMES:
            errors.append({"code": "INVALID_NAME", "field": ["input", "name"],
                           "message": f"The quantity name {name!r} is not valid."})
        if reason not in REASONS:
            errors.append({"code": "INVALID_REASON", "field": ["input", "reason"],
                           "message": "The specified reason is invalid."})
        items = {v.inventory_item_id for v in self.state.variants.values()}
        seen: set[tuple[int, int]] = set()
        for index, q in enumerate(data["quantities"]):
            field = ["input", "quantities", str(index)]
            item, location = number_of(q["inventoryItemId"]), number_of(q["locationId"])
            if item not in items:
                errors.append({"code": "INVALID_INVENTORY_ITEM",
                               "field": [*field, "inventoryItemId"],
                               "message": "The specified inventory item could not be found."})
            elif location not in self.state.locations:
                errors.append({"code": "INVALID_LOCATION", "field": [*field, "locationId"],
                               "message": "The specified location could not be found."})
            elif (item, location) not in self.state.levels:
                errors.append({"code": "ITEM_NOT_STOCKED_AT_LOCATION",
                               "field": [*field, "locationId"],
                               "message": "The specified inventory item is not stocked at "
                                          "the location."})
            elif (item, location) in seen:
                errors.append({"code": "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                               "field": [*field, "inventoryItemId"],
                               "message": "The combination of inventoryItemId and "
                                          "locationId must be unique."})
            elif "changeFromQuantity" not in q:
                errors.append({"code": "COMPARE_QUANTITY_REQUIRED",
                               "field": [*field, "changeFromQuantity"],
                               "message": "changeFromQuantity must be given (null is allowed)."})
            elif q["changeFromQuantity"] is not None and name in STOCK_NAMES \
                    and self.state.levels[(item, location)][name] != q["changeFromQuantity"]:
                errors.append({"code": "CHANGE_FROM_QUANTITY_STALE",
                               "field": [*field, "changeFromQuantity"],
                               "message": "The changeFromQuantity is stale."})
            seen.add((item or 0, location or 0))
        if errors:
            raise UserErrors(errors)
        changes = []
        for q in data["quantities"]:
            item, location = number_of(q["inventoryItemId"]) or 0, number_of(q["locationId"]) or 0
            level = self.state.levels[(item, location)]
            delta = int(q["quantity"]) - level[name]
            level[name] += delta
            other = "on_hand" if name == "available" else "available"
            level[other] += delta
            changes.append((item, location, delta, level[name]))
        group = AdjustmentGroup(self.state.next_id("InventoryAdjustmentGroup"), reason, name,
                                changes)
        self.state.adjustments.append(group)
        return group

    def _m_fulfillment_create(self, info: GraphQLResolveInfo, fulfillment: dict[str, Any],
                              message: str | None = None) -> dict[str, Any]:
        tracking = _tracking(fulfillment.get("trackingInfo") or {})
        try:
            created = self._fulfil(fulfillment["lineItemsByFulfillmentOrder"], tracking,
                                   bool(fulfillment.get("notifyCustomer")))
        except UserErrors as exc:
            return {"fulfillment": None, "userErrors": exc.errors}
        return {"fulfillment": self._fulfillment_view(created), "userErrors": []}

    def _fulfil(self, groups: list[dict[str, Any]], tracking: list[Tracking],
                notify: bool) -> Fulfillment:
        """Validate, then fulfil: remaining quantities drop, fulfillment orders close."""
        errors: list[dict[str, object]] = []
        plan: list[tuple[FulfillmentOrder, dict[int, int]]] = []
        for index, group in enumerate(groups):
            field = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            fo = self.state.fulfillment_orders.get(number_of(group["fulfillmentOrderId"]) or 0)
            if fo is None:
                errors.append({"field": [*field, "fulfillmentOrderId"],
                               "message": "Fulfillment order does not exist."})
                continue
            if fo.status not in OPEN_STATUSES:
                errors.append({"field": [*field, "fulfillmentOrderId"],
                               "message": f"Fulfillment order {gid('FulfillmentOrder', fo.id)} "
                                          f"has an unfulfillable status= {fo.status.lower()}."})
                continue
            wanted: dict[int, int] = {}
            requested = group.get("fulfillmentOrderLineItems")
            lines = {line.id: line for line in fo.lines}
            if requested is None:
                wanted = {line.id: line.remaining for line in fo.lines if line.remaining}
            for item in requested or []:
                line = lines.get(number_of(item["id"]) or 0)
                if line is None or not 0 < item["quantity"] <= line.remaining:
                    errors.append({"field": [*field, "fulfillmentOrderLineItems"],
                                   "message": "Invalid fulfillment order line item quantity "
                                              "requested."})
                    continue
                wanted[line.id] = item["quantity"]
            if not wanted:
                errors.append({"field": field, "message": "Nothing to fulfil."})
            plan.append((fo, wanted))
        if len({fo.location_id for fo, _ in plan}) > 1:
            errors.append({"field": ["fulfillment", "lineItemsByFulfillmentOrder"],
                           "message": "All fulfillment orders must be assigned to the same "
                                      "location."})
        if len({fo.order_id for fo, _ in plan}) > 1:
            errors.append({"field": ["fulfillment", "lineItemsByFulfillmentOrder"],
                           "message": "All fulfillment orders must belong to the same order."})
        if errors or not plan:
            raise UserErrors(errors or [{"field": None, "message": "No fulfillment orders."}])
        order = self.state.orders[plan[0][0].order_id]
        fulfillment = Fulfillment(self.state.next_id("Fulfillment"), order.id,
                                  plan[0][0].location_id, tracking,
                                  created_at=self.clock.now())
        for fo, wanted in plan:
            for line in fo.lines:
                taken = wanted.get(line.id, 0)
                line.remaining -= taken
                if taken:
                    fulfillment.quantities[line.line_item_id] = (
                        fulfillment.quantities.get(line.line_item_id, 0) + taken)
            fo.status = "CLOSED" if all(li.remaining == 0 for li in fo.lines) else "IN_PROGRESS"
        self.state.fulfillments[fulfillment.id] = fulfillment
        order.fulfillment_ids.append(fulfillment.id)
        order.updated_at = self.clock.now()
        if notify:
            order.notifications += 1
        return fulfillment

    def _m_tracking_update(self, info: GraphQLResolveInfo, fulfillmentId: str,
                           trackingInfoInput: dict[str, Any],
                           notifyCustomer: bool | None = None) -> dict[str, Any]:
        fulfillment = self.state.fulfillments.get(number_of(fulfillmentId) or 0)
        if fulfillment is None:
            return {"fulfillment": None, "userErrors": [
                {"field": ["fulfillmentId"], "message": "Fulfillment does not exist."}]}
        fulfillment.tracking = _tracking(trackingInfoInput)
        order = self.state.orders[fulfillment.order_id]
        order.updated_at = self.clock.now()
        if notifyCustomer:
            order.notifications += 1
        return {"fulfillment": self._fulfillment_view(fulfillment), "userErrors": []}


def _sort_key(sort: str, updated: Callable[[Any], datetime]) -> Callable[[Any], tuple[Any, ...]]:
    if sort == "UPDATED_AT":
        return lambda r: (iso(updated(r)), r.id)
    if sort == "ID":
        return lambda r: (r.id,)
    raise GraphQLError(f"the fake does not sort by {sort}")


def _tracking(data: dict[str, Any]) -> list[Tracking]:
    numbers = list(data.get("numbers") or []) or ([data["number"]] if data.get("number") else [])
    urls = list(data.get("urls") or []) or ([data["url"]] if data.get("url") else [])
    return [Tracking(n, data.get("company"), urls[i] if i < len(urls) else None)
            for i, n in enumerate(numbers)]


def _directive_arg(info: GraphQLResolveInfo, directive: str, name: str) -> Any:
    for node in info.field_nodes[0].directives or ():
        if node.name.value == directive:
            for arg in node.arguments or ():
                if arg.name.value == name:
                    # graphql-core 3.3 wraps the values (``.coerced``); 3.2 passes a dict
                    values = getattr(info.variable_values, "coerced", info.variable_values)
                    return value_from_ast_untyped(arg.value, values)
    return None


def operation_of(document: DocumentNode) -> OperationDefinitionNode:
    return next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
