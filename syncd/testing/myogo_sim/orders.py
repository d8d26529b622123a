"""The order book: create/update via the API, warehouse transitions via test controls.

Stock rules [I]: orders in new/pending/reserved/locked reserve their lines; collecting
deducts the stock (and drops the reservation); cancelling releases it (or puts collected
goods back); drafts and returned orders hold nothing. stockAvailable = max(0, stock - reserved).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from syncd.testing.myogo_sim.catalogue import Catalogue
from syncd.testing.myogo_sim.errors import ApiFailure, ControlError
from syncd.testing.myogo_sim.validation import order_problems
from syncd.testing.myogo_sim.wire import emit_time, pick

DUPLICATE = "Trying to add new order but order with same reference '{}' already exists"
RESERVING = frozenset({"new", "pending", "reserved", "locked"})
EDITABLE = frozenset({"new", "draft", "reserved", "pending"})
API_SETTABLE = frozenset({"new", "draft", "reserved", "locked", "cancelled"})
SCALARS = ("shippingCode", "pickUpPointCode", "comments", "priceTotal", "priceCurrency",
           "cashOnDelivery", "test")
LINE_FIELDS = ("code", "quantity", "unitPrice", "vatPercentage", "productInfoUrl",
               "productPictureUrl")
CUSTOMER_FIELDS = ("name", "company", "address1", "address2", "city", "countryCode", "zip",
                   "phone", "email")


def demand(order: dict[str, Any]) -> Counter[str]:
    """Quantity per product code of an order's lines."""
    counts: Counter[str] = Counter()
    for line in order["orderLines"]:
        counts[line["code"]] += line["quantity"]
    return counts


class OrderBook(Catalogue):
    """Orders, their status machine and its effect on stock."""

    # -- lookups ----------------------------------------------------------------------
    def orders_with_reference(self, reference: str) -> list[dict[str, Any]]:
        return [order for order in self.orders if order["reference"] == reference]

    def latest_order(self, reference: str) -> dict[str, Any]:
        """The newest order with that reference (duplicates exist only in "allow" mode)."""
        found = self.orders_with_reference(reference)
        if not found:
            raise ApiFailure(404, f"Order with reference '{reference}' was not found")
        return found[-1]

    # -- API: create / update ---------------------------------------------------------
    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        problems = order_problems(body, create=True)
        if problems:
            raise ApiFailure(400, "; ".join(problems))
        self._check_codes(body["orderLines"])
        reference = body["reference"]
        if self.config.duplicate_reference != "allow" and self.orders_with_reference(reference):
            raise ApiFailure(400, DUPLICATE.format(reference))
        requested = (body.get("status") or "new").lower()
        if requested not in API_SETTABLE - {"cancelled"}:
            raise ApiFailure(400, f"Status '{body['status']}' can not be set through the API")
        order: dict[str, Any] = {
            "id": self.new_id(), "reference": reference, "status": "draft",
            **pick(body, *SCALARS), "orderLines": _lines(body["orderLines"]),
            "customer": _customer(body["customer"]), "documents": _documents(body),
            "trackingNumber": None, "trackingUrl": None, "warehouseComments": None,
        }
        before = self.stock_view(set(demand(order)))
        self.orders.append(order)
        self._apply_status(order, requested)
        order["editTime"] = self.stamp()
        self.commit_stock(before)
        return order

    def update_order(self, reference: str, body: dict[str, Any]) -> dict[str, Any]:
        order = self.latest_order(reference)
        if order["status"] not in EDITABLE:
            raise ApiFailure(400, f"Order '{reference}' is in status '{order['status']}' "
                                  "and can not be updated")
        problems = order_problems(body, create=False)
        if body.get("reference") not in (None, reference):
            problems.append("Reference can not be changed")
        if problems:
            raise ApiFailure(400, "; ".join(problems))
        requested = body["status"].lower() if body.get("status") else None
        if requested is not None and requested not in API_SETTABLE:
            raise ApiFailure(400, f"Status '{body['status']}' can not be set through the API")
        if body.get("orderLines") is not None:
            self._check_codes(body["orderLines"])
        before = self.stock_view(set(demand(order)))
        self._release(order)
        for key in SCALARS:
            if key in body:
                order[key] = body[key]
        if body.get("orderLines") is not None:
            order["orderLines"] = _lines(body["orderLines"])  # replaces all lines
        if body.get("documents") is not None:
            order["documents"] = _documents(body)             # replaces all documents
        if body.get("customer") is not None:
            order["customer"] = _customer(body["customer"])
        before.update(self.stock_view(set(demand(order)) - set(before)))
        target = requested or ("new" if order["status"] in {"new", "pending"}
                               or order.get("_autoReserved") else order["status"])
        self._apply_status(order, target)
        order["editTime"] = self.stamp()
        self.commit_stock(before)
        self.after_stock_arrived()
        return order

    def _check_codes(self, lines: list[dict[str, Any]]) -> None:
        unknown = [f"OrderLines[{i}].Code: product with code '{line['code']}' was not found"
                   for i, line in enumerate(lines) if line["code"] not in self.products]
        if unknown:
            raise ApiFailure(400, "; ".join(unknown))

    # -- status machine ---------------------------------------------------------------
    def _apply_status(self, order: dict[str, Any], requested: str) -> None:
        """Enter ``requested`` (a released order), working out new/pending/reserved."""
        order["_autoReserved"] = False
        if requested == "new":
            problem = self._shipping_problem(order.get("shippingCode"))
            order["warehouseComments"] = problem
            if problem:
                requested, order["_autoReserved"] = "reserved", True
            elif any(self.available(code) < qty for code, qty in demand(order).items()):
                requested = "pending"
        order["status"] = requested
        if requested in RESERVING:
            self.reserved.update(demand(order))

    def _release(self, order: dict[str, Any]) -> None:
        """Drop the order's reservation (its status is about to change)."""
        if order["status"] in RESERVING:
            self.reserved.subtract(demand(order))
            self.reserved += Counter()  # drop zero entries

    def _shipping_problem(self, code: str | None) -> str | None:
        enabled = self.config.enabled_shipping_codes
        if enabled is None or (not code and len(enabled) == 1) or code in enabled:
            return None
        if not code:
            return "Shipping method is missing"
        return f"Shipping method '{code}' is not enabled for this merchant"

    def after_stock_arrived(self) -> None:
        """Pending orders whose lines are now covered by firm stock become new (FIFO)."""
        for order in sorted((o for o in self.orders if o["status"] == "pending"),
                            key=lambda o: (o["editTime"], o["id"])):
            firm: Counter[str] = Counter()
            for other in self.orders:
                if other["status"] in RESERVING - {"pending"}:
                    firm.update(demand(other))
            if all(self.stock[code]["stock"] - firm[code] >= qty
                   for code, qty in demand(order).items()):
                before = self.stock_view(set(demand(order)))
                order["status"] = "new"
                order["editTime"] = self.stamp()
                self.commit_stock(before)

    # -- warehouse controls -----------------------------------------------------------
    def collect(self, reference: str) -> dict[str, Any]:
        order = self._control_order(reference)
        if order["status"] not in {"new", "reserved", "locked"}:
            raise ControlError(f"order {reference!r} is {order['status']}, can not collect")
        before = self.stock_view(set(demand(order)))
        self._release(order)
        for code, qty in demand(order).items():
            self.stock[code]["stock"] -= qty
        order["status"] = "collecting"
        order["editTime"] = self.stamp()
        self.commit_stock(before)
        return order

    def ship(self, reference: str, tracking_number: str,
             tracking_url: str | None) -> dict[str, Any]:
        order = self._control_order(reference)
        if order["status"] in {"new", "reserved", "locked"}:
            self.collect(reference)
        if order["status"] != "collecting":
            raise ControlError(f"order {reference!r} is {order['status']}, can not ship")
        order.update(status="shipped", trackingNumber=tracking_number, trackingUrl=tracking_url,
                     editTime=self.stamp())
        self.on_event("OrderShipped", self.emit_order(order))
        return order

    def cancel(self, reference: str) -> dict[str, Any]:
        order = self._control_order(reference)
        status = order["status"]
        if status not in RESERVING | {"draft", "collecting"}:
            raise ControlError(f"order {reference!r} is {status}, can not cancel")
        before = self.stock_view(set(demand(order)))
        self._release(order)
        if status == "collecting":  # a granted cancellation request: goods back on the shelf
            for code, qty in demand(order).items():
                self.stock[code]["stock"] += qty
        order["status"] = "cancelled"
        order["editTime"] = self.stamp()
        self.commit_stock(before)
        self.after_stock_arrived()
        return order

    def return_order(self, reference: str) -> dict[str, Any]:
        order = self._control_order(reference)
        if order["status"] != "shipped":
            raise ControlError(f"order {reference!r} is {order['status']}, can not return")
        order["status"] = "returned"
        order["editTime"] = self.stamp()
        return order

    def _control_order(self, reference: str) -> dict[str, Any]:
        found = self.orders_with_reference(reference)
        if not found:
            raise KeyError(reference)
        return found[-1]

    # -- emitter ----------------------------------------------------------------------
    def emit_order(self, order: dict[str, Any]) -> dict[str, Any]:
        """The OrderResponse wire shape (all fields present, null when unset)."""
        return {"id": order["id"], "reference": order["reference"], "status": order["status"],
                **pick(order, *SCALARS),
                "orderLines": [dict(line) for line in order["orderLines"]],
                "customer": dict(order["customer"]),
                "documents": [dict(doc) for doc in order["documents"]],
                "trackingNumber": order["trackingNumber"], "trackingUrl": order["trackingUrl"],
                "warehouseComments": order["warehouseComments"],
                "editTime": emit_time(order["editTime"])}


def _lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [pick(line, *LINE_FIELDS) for line in lines]


def _customer(customer: dict[str, Any]) -> dict[str, Any]:
    out = pick(customer, *CUSTOMER_FIELDS)
    out["countryCode"] = out["countryCode"].upper()
    return out


def _documents(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Documents as the response shows them: type and url (uploaded content is not echoed)."""
    return [{"type": doc.get("type"), "url": doc.get("url")} for doc in body.get("documents") or []]
