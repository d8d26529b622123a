"""State of the WooCommerce simulator and its Python API (seed, inspect, switch faults).

One ``WooStore`` is one shop. Every method takes the lock, so the HTTP app (running in a
uvicorn thread) and a test (seeding from the main thread) can share it. Records are plain
dicts shaped like WooCommerce's REST v3 JSON; ``date_modified`` is bumped on every change
with WooCommerce's one-second resolution.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

Json = dict[str, Any]
TRACKING_META_KEY = "_wc_shipment_tracking_items"
ORDER_STATUSES = (
    "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed",
)
#: statuses whose transition takes an order's quantities off stock, and those that put
#: them back (WooCommerce's wc_maybe_reduce_stock_levels / wc_maybe_increase_stock_levels)
REDUCES_STOCK = ("processing", "completed", "on-hold")
RESTORES_STOCK = ("cancelled", "pending")


@dataclass
class ApiKey:
    """A REST API key as created in WooCommerce > Settings > Advanced > REST API."""

    secret: str
    permissions: str = "read_write"    # "read" | "write" | "read_write"


@dataclass
class Email:
    """A customer email WooCommerce would send (customer note, completed order)."""

    order_id: int
    kind: str                          # "customer_note" | "customer_completed_order"
    body: str


@dataclass
class Webhook:
    delivery_url: str
    secret: str
    topic: str = "order.updated"
    id: int = 0


@dataclass
class WooStore:
    """One simulated shop. Public attributes are switches tests may flip."""

    #: /wp-json/... answers the WordPress HTML 404 when False (plain permalinks)
    pretty_permalinks: bool = True
    #: the Shipment Tracking extension is active (its routes exist, its email hook runs)
    shipment_tracking: bool = True
    #: the web server drops the Authorization header (some CGI/FastCGI setups)
    strip_authorization: bool = False
    #: orderby=modified is accepted (older WooCommerce rejects it with rest_invalid_param)
    orderby_modified: bool = True
    #: WooCommerce sends the "Completed order" email on the change to completed
    completed_email: bool = True
    batch_limit: int = 100
    #: status codes the next requests answer with (one per request, e.g. [503, 429])
    faults: list[int] = field(default_factory=list)
    #: the site's timezone (non-GMT dates are local; connectors must ask for GMT)
    utc_offset: timedelta = timedelta(hours=2)
    keys: dict[str, ApiKey] = field(default_factory=lambda: {
        "ck_test": ApiKey("cs_test", "read_write"),
    })
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._ids = itertools.count(100)
        self._meta_ids = itertools.count(1)
        self.clock_offset = timedelta()
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the shop (records, counters, emails, webhooks); keys and switches stay."""
        with self.lock:
            self.products: dict[int, Json] = {}
            self.variations: dict[int, Json] = {}
            self.orders: dict[int, Json] = {}
            self.notes: dict[int, list[Json]] = {}
            self.emails: list[Email] = []
            self.webhooks: list[Webhook] = []
            self.pending_deliveries: list[tuple[str, dict[str, str], bytes]] = []
            self.requests: Counter[str] = Counter()
            self.request_log: list[tuple[str, str, dict[str, str]]] = []
            self.stock_reduced: set[int] = set()   # orders whose stock was taken off

    def now(self) -> datetime:
        """The shop's clock: real UTC time plus ``clock_offset``, whole seconds."""
        return (datetime.now(UTC) + self.clock_offset).replace(microsecond=0)

    def advance(self, delta: timedelta) -> None:
        with self.lock:
            self.clock_offset += delta

    def add_key(self, key: str, secret: str, permissions: str = "read_write") -> None:
        with self.lock:
            self.keys[key] = ApiKey(secret, permissions)

    # -- dates ---------------------------------------------------------------------------

    def _stamp(self, record: Json, *fields: str) -> None:
        when = self.now()
        local = when.astimezone(timezone(self.utc_offset))
        for name in fields:
            record[name] = local.strftime("%Y-%m-%dT%H:%M:%S")
            record[f"{name}_gmt"] = when.strftime("%Y-%m-%dT%H:%M:%S")

    def touch(self, record: Json) -> None:
        """Bump ``date_modified`` (every saved change does this in WooCommerce)."""
        self._stamp(record, "date_modified")

    # -- products ------------------------------------------------------------------------

    def add_product(
        self, name: str, sku: str | None = None, *, price: str = "10.00",
        stock: int | None = 0, ean: str | None = None, description: str = "",
        type: str = "simple", meta: dict[str, Any] | None = None,
        virtual: bool = False, downloadable: bool = False,
    ) -> int:
        """Create a product (``type="variable"`` for a parent of variations); return its id."""
        with self.lock:
            if sku and self._sku_taken(sku):
                raise ValueError(f"SKU {sku!r} already exists")
            product_id = next(self._ids)
            record: Json = {
                "id": product_id, "name": name, "slug": f"product-{product_id}",
                "permalink": f"https://shop.test/product/product-{product_id}/",
                "type": type, "status": "publish", "sku": sku or "",
                "price": price if type != "variable" else "",
                "regular_price": price if type != "variable" else "",
                "description": description, "short_description": "",
                "global_unique_id": ean or "", "parent_id": 0,
                "manage_stock": stock is not None and type != "variable",
                "stock_quantity": stock if type != "variable" else None,
                "stock_status": "instock", "images": [
                    {"id": product_id, "src": f"https://shop.test/img/{product_id}.jpg"}],
                "variations": [], "attributes": [],
                "virtual": virtual, "downloadable": downloadable,
                "meta_data": self._meta(meta),
            }
            self._stamp(record, "date_created", "date_modified")
            self._sync_stock_status(record)
            self.products[product_id] = record
            return product_id

    def add_variation(
        self, parent_id: int, sku: str | None, *, option: str, price: str = "10.00",
        stock: int | None = 0, ean: str | None = None, meta: dict[str, Any] | None = None,
        virtual: bool = False, downloadable: bool = False,
    ) -> int:
        """Add a variation to a variable product; return its id."""
        with self.lock:
            parent = self.products[parent_id]
            if parent["type"] != "variable":
                raise ValueError(f"product {parent_id} is not variable")
            if sku and self._sku_taken(sku):
                raise ValueError(f"SKU {sku!r} already exists")
            variation_id = next(self._ids)
            record: Json = {
                "id": variation_id, "type": "variation", "parent_id": parent_id,
                # WooCommerce names a variation by its attribute values only ("M"); its
                # post title "Parent - M" shows only in /products?sku= and order lines
                "name": option, "status": "publish",
                "permalink": f"{parent['permalink']}?attribute_pa_variant={option}",
                "sku": sku or "", "price": price, "regular_price": price,
                "description": "", "global_unique_id": ean or "",
                "manage_stock": stock is not None, "stock_quantity": stock,
                "stock_status": "instock",
                "image": {"id": variation_id,
                          "src": f"https://shop.test/img/{variation_id}.jpg"},
                "attributes": [{"id": 1, "name": "Variant", "option": option}],
                "virtual": virtual, "downloadable": downloadable,
                "meta_data": self._meta(meta),
            }
            self._stamp(record, "date_created", "date_modified")
            self._sync_stock_status(record)
            self.variations[variation_id] = record
            parent["variations"].append(variation_id)
            self.touch(parent)
            return variation_id

    def _sku_taken(self, sku: str) -> bool:
        return any(r["sku"] == sku for r in (*self.products.values(), *self.variations.values()))

    def _meta(self, meta: dict[str, Any] | None) -> list[Json]:
        return [{"id": next(self._meta_ids), "key": k, "value": v}
                for k, v in (meta or {}).items()]

    @staticmethod
    def _sync_stock_status(record: Json) -> None:
        if record.get("manage_stock") and record.get("stock_quantity") is not None:
            record["stock_status"] = "instock" if record["stock_quantity"] > 0 else "outofstock"

    def find_sku(self, sku: str) -> Json | None:
        """The product or variation holding ``sku`` (a copy), or None."""
        with self.lock:
            for record in (*self.products.values(), *self.variations.values()):
                if sku and record["sku"] == sku:
                    return copy.deepcopy(record)
            return None

    def title(self, record: Json) -> str:
        """The post title: a variation's is "Parent - values" (its ``name`` is the values)."""
        if record.get("type") != "variation":
            return str(record["name"])
        parent = self.products[record["parent_id"]]
        return f"{parent['name']} - {record['name']}" if record["name"] else parent["name"]

    def stock_of(self, sku: str) -> int | None:
        record = self.find_sku(sku)
        if record is None or not record.get("manage_stock"):
            return None
        return int(record["stock_quantity"])

    def update_item(self, item_id: int, changes: Json) -> Json:
        """Apply a product/variation update the way the REST controller does; bump dates."""
        with self.lock:
            record = self.products.get(item_id) or self.variations.get(item_id)
            if record is None:
                raise KeyError(item_id)
            for key in ("name", "sku", "regular_price", "description", "status",
                        "manage_stock", "global_unique_id"):
                if key in changes:
                    record[key] = changes[key]
            if "regular_price" in changes:
                record["price"] = changes["regular_price"]
            if "stock_quantity" in changes:
                record["stock_quantity"] = (
                    None if changes["stock_quantity"] is None else int(changes["stock_quantity"]))
            if "meta_data" in changes:
                self._merge_meta(record, changes["meta_data"])
            self._sync_stock_status(record)
            self.touch(record)
            if record["type"] == "variation":
                # the deferred parent sync saves the parent, which bumps its modified date
                self.touch(self.products[record["parent_id"]])
            return copy.deepcopy(record)

    def delete_item(self, item_id: int, *, force: bool = False) -> Json:
        """DELETE /products/{id}: to the trash (still readable by id), or gone with force."""
        with self.lock:
            before = copy.deepcopy(self.products[item_id])
            if force:
                del self.products[item_id]
            else:
                self.products[item_id]["status"] = "trash"
                self.touch(self.products[item_id])
            return before

    def delete_order(self, order_id: int, *, force: bool = False) -> Json:
        """DELETE /orders/{id}: status ``trash`` (listed only with status=trash), or gone."""
        with self.lock:
            before = copy.deepcopy(self.orders[order_id])
            if force:
                del self.orders[order_id]
            else:
                self.orders[order_id]["status"] = "trash"
                self.touch(self.orders[order_id])
            return before

    def _merge_meta(self, record: Json, entries: Iterable[Json]) -> None:
        """WooCommerce semantics: an entry with ``id`` updates it; with a key it replaces."""
        meta: list[Json] = record["meta_data"]
        for entry in entries:
            existing = next((m for m in meta if ("id" in entry and m["id"] == entry["id"])
                             or ("id" not in entry and m["key"] == entry.get("key"))), None)
            if existing is not None:
                existing["value"] = entry.get("value")
            else:
                meta.append({"id": next(self._meta_ids), "key": entry.get("key"),
                             "value": entry.get("value")})

    # -- orders --------------------------------------------------------------------------

    def add_order(
        self, lines: Sequence[tuple[str, int]], *, status: str = "processing",
        billing: Json | None = None, shipping: Json | None = None,
        shipping_method: tuple[str, int] | None = ("flat_rate", 1),
        currency: str = "EUR", meta: dict[str, Any] | None = None, number: str | None = None,
    ) -> int:
        """Create an order for ``(sku, quantity)`` lines; ``status`` processing = paid."""
        with self.lock:
            order_id = next(self._ids)
            line_items: list[Json] = []
            total = 0.0
            for index, (sku, quantity) in enumerate(lines, start=1):
                item = self.find_sku(sku) or {"id": 0, "name": sku, "price": "0", "sku": sku}
                price = float(item.get("price") or 0)
                is_variation = item.get("type") == "variation"
                line_items.append({
                    "id": order_id * 100 + index, "name": self.title(item),
                    "parent_name": self.products[item["parent_id"]]["name"]
                    if is_variation else None,
                    "product_id": item["parent_id"] if is_variation else item["id"],
                    "variation_id": item["id"] if is_variation else 0,
                    "quantity": quantity, "sku": sku, "price": price,
                    "subtotal": f"{price * quantity:.2f}", "total": f"{price * quantity:.2f}",
                    "total_tax": "0.00", "meta_data": [],
                })
                total += price * quantity
            shipping_lines = []
            if shipping_method is not None:
                method_id, instance_id = shipping_method
                shipping_lines.append({
                    "id": order_id * 100 + 99, "method_title": method_id.replace("_", " "),
                    "method_id": method_id, "instance_id": str(instance_id),
                    "total": "5.00", "total_tax": "0.00", "meta_data": [],
                })
                total += 5.0
            record: Json = {
                "id": order_id, "number": number or str(order_id),
                "order_key": f"wc_order_{order_id:08x}", "status": "pending",
                "currency": currency, "total": f"{total:.2f}", "customer_note": "",
                "billing": _address(billing, with_email=True),
                "shipping": _address(shipping, with_email=False),
                "line_items": line_items, "shipping_lines": shipping_lines,
                "meta_data": self._meta(meta), "date_paid": None, "date_paid_gmt": None,
                "date_completed": None, "date_completed_gmt": None,
            }
            self._stamp(record, "date_created", "date_modified")
            self.orders[order_id] = record
            self.notes[order_id] = []
            if status != "pending":
                self.set_order_status(order_id, status)
            return order_id

    def order(self, order_id: int) -> Json:
        with self.lock:
            return copy.deepcopy(self.orders[order_id])

    def pay(self, order_id: int) -> None:
        """What a payment gateway does: ``set_paid`` -> processing, ``date_paid`` set."""
        self.set_order_status(order_id, "processing")

    def cancel(self, order_id: int) -> None:
        self.set_order_status(order_id, "cancelled")

    def set_order_status(self, order_id: int, status: str) -> None:
        if status not in ORDER_STATUSES:
            raise ValueError(f"unknown order status {status!r}")
        with self.lock:
            record = self.orders[order_id]
            previous = record["status"]
            record["status"] = status
            if status == "processing" and record["date_paid_gmt"] is None:
                self._stamp(record, "date_paid")
            if status in REDUCES_STOCK and order_id not in self.stock_reduced:
                self._move_stock(record, -1)
                self.stock_reduced.add(order_id)
            elif status in RESTORES_STOCK and order_id in self.stock_reduced:
                self._move_stock(record, +1)
                self.stock_reduced.discard(order_id)
            if status == "completed" and previous != "completed":
                self._stamp(record, "date_completed")
                if self.completed_email:
                    self.emails.append(Email(order_id, "customer_completed_order",
                                             self._completed_email_body(record)))
            self.touch(record)
            self._fire("order.updated", record)

    def _move_stock(self, order: Json, sign: int) -> None:
        """WooCommerce's wc_reduce/increase_stock_levels: managed stock of each line moves
        by its quantity (no check, it may go negative) and the product is saved."""
        for line in order["line_items"]:
            item_id = line.get("variation_id") or line.get("product_id")
            record = self.variations.get(item_id) or self.products.get(item_id)
            if record is None or not record.get("manage_stock") \
                    or record.get("stock_quantity") is None:
                continue
            record["stock_quantity"] += sign * int(line["quantity"])
            self._sync_stock_status(record)
            self.touch(record)
            if record["type"] == "variation":
                self.touch(self.products[record["parent_id"]])

    def _completed_email_body(self, record: Json) -> str:
        """The Shipment Tracking extension adds the order's tracking to this email."""
        body = f"Your order #{record['number']} is complete."
        if self.shipment_tracking:
            for item in self.trackings(record["id"]):
                body += f" Tracking: {item['tracking_number']} {item['custom_tracking_link']}"
        return body

    def update_order(self, order_id: int, changes: Json) -> Json:
        """PUT /orders/{id}: status, meta_data and address fields."""
        with self.lock:
            record = self.orders[order_id]
            for key in ("billing", "shipping"):
                if isinstance(changes.get(key), dict):
                    record[key].update(changes[key])
            if "customer_note" in changes:
                record["customer_note"] = changes["customer_note"]
            if "meta_data" in changes:
                self._merge_meta(record, changes["meta_data"])
            if "status" in changes and changes["status"] != record["status"]:
                self.set_order_status(order_id, changes["status"])
            else:
                self.touch(record)
                self._fire("order.updated", record)
            return copy.deepcopy(record)

    def meta_value(self, order_id: int, key: str) -> Any:
        with self.lock:
            for entry in self.orders[order_id]["meta_data"]:
                if entry["key"] == key:
                    return copy.deepcopy(entry["value"])
            return None

    # -- notes and tracking ----------------------------------------------------------------

    def add_note(self, order_id: int, note: str, customer_note: bool = False) -> Json:
        """Add an order note; a customer note emails the customer (and does not bump dates)."""
        with self.lock:
            if order_id not in self.orders:
                raise KeyError(order_id)
            entry: Json = {"id": next(self._ids), "author": "WooCommerce", "note": note,
                           "customer_note": bool(customer_note), "added_by_user": False}
            self._stamp(entry, "date_created")
            self.notes[order_id].append(entry)
            if customer_note:
                self.emails.append(Email(order_id, "customer_note", note))
            return copy.deepcopy(entry)

    def order_notes(self, order_id: int) -> list[Json]:
        with self.lock:
            return copy.deepcopy(self.notes[order_id])

    def trackings(self, order_id: int) -> list[Json]:
        """The order's ``_wc_shipment_tracking_items`` (extension API and fallback share it)."""
        value = self.meta_value(order_id, TRACKING_META_KEY)
        return list(value) if isinstance(value, list) else []

    def add_tracking(self, order_id: int, body: Json) -> Json:
        """What the Shipment Tracking extension stores for a POSTed tracking item."""
        with self.lock:
            items = self.trackings(order_id)
            shipped = body.get("date_shipped")
            item: Json = {
                "tracking_provider": body.get("tracking_provider") or "",
                "custom_tracking_provider": body.get("custom_tracking_provider") or "",
                "custom_tracking_link": body.get("custom_tracking_link") or "",
                "tracking_number": str(body["tracking_number"]),
                "date_shipped": int(shipped) if str(shipped or "").isdigit()
                else int(self.now().timestamp()),
                "tracking_id": f"{order_id:x}{len(items) + 1:04x}",
            }
            items.append(item)
            self._merge_meta(self.orders[order_id],
                             [{"key": TRACKING_META_KEY, "value": items}])
            self.touch(self.orders[order_id])
            return copy.deepcopy(item)

    def customer_emails(self, order_id: int) -> list[Email]:
        with self.lock:
            return [e for e in self.emails if e.order_id == order_id]

    # -- webhooks ------------------------------------------------------------------------

    def add_webhook(self, delivery_url: str, secret: str, topic: str = "order.updated") -> int:
        """Register a webhook; matching changes queue signed deliveries (see ``webhooks``)."""
        with self.lock:
            hook = Webhook(delivery_url, secret, topic, id=len(self.webhooks) + 1)
            self.webhooks.append(hook)
            return hook.id

    def _fire(self, topic: str, record: Json) -> None:
        from syncd.testing.woo_sim.webhooks import signed_delivery

        for hook in self.webhooks:
            if hook.topic == topic:
                headers, body = signed_delivery(record, hook.secret, topic, hook.id)
                self.pending_deliveries.append((hook.delivery_url, headers, body))


def _address(values: Json | None, *, with_email: bool) -> Json:
    fields = ["first_name", "last_name", "company", "address_1", "address_2", "city",
              "state", "postcode", "country", "phone"]
    if with_email:
        fields.append("email")
    data = {name: "" for name in fields}
    data.update({k: v for k, v in (values or {}).items() if k in data})
    return data
