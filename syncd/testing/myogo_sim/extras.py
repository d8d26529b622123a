"""Stock updates (ASN), webhook subscriptions, object metadata and returns.

Metadata paths and the whole returns shape are inferred [I]; see docs/simulator.md.
"""

from __future__ import annotations

from typing import Any

from syncd.testing.myogo_sim.errors import ApiFailure
from syncd.testing.myogo_sim.orders import OrderBook
from syncd.testing.myogo_sim.validation import (
    metadata_problems,
    return_problems,
    stock_update_problems,
    webhook_problems,
    webhook_type,
)
from syncd.testing.myogo_sim.wire import emit_time, pick

STOCK_UPDATE_FIELDS = ("warehouseCode", "supplier", "containers", "pallets", "parcels",
                       "deliveredBy", "receiveDate", "merchantComments", "trackingCodes",
                       "specialAction", "reference")
SU_PRODUCT_FIELDS = ("code", "name", "expectedQuantity", "supplyPrice", "eanCode",
                     "countryOfOrigin", "customsDescription", "hsCode")


def _fail(problems: list[str]) -> None:
    if problems:
        raise ApiFailure(400, "; ".join(problems))


class Extras(OrderBook):
    """The smaller resources, on top of the order book (returns need orders)."""

    # -- stock updates ----------------------------------------------------------------
    def create_stock_update(self, body: dict[str, Any]) -> dict[str, Any]:
        _fail(stock_update_problems(body))
        if any(u["reference"] == body["reference"] for u in self.stock_updates):
            raise ApiFailure(400, f"Stock update with reference '{body['reference']}' "
                                  "already exists")
        now = self.stamp()
        update = {**pick(body, *STOCK_UPDATE_FIELDS), "id": self.new_id(), "status": "new",
                  "autoReference": f"SU{len(self.stock_updates) + 1:06d}",
                  "arrivalDate": None, "warehouseComments": None, "created": now, "modified": now,
                  "products": [{**pick(p, *SU_PRODUCT_FIELDS), "receivedQuantity": 0,
                                "warehouseComments": None} for p in body.get("products") or []]}
        self.stock_updates.append(update)
        return update

    @staticmethod
    def emit_stock_update(update: dict[str, Any]) -> dict[str, Any]:
        return {**update, "products": [dict(p) for p in update["products"]],
                "created": emit_time(update["created"]), "modified": emit_time(update["modified"])}

    # -- webhooks ---------------------------------------------------------------------
    def create_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        _fail(webhook_problems(body))
        hook = {"id": self.new_id(), "url": body["url"], "key": body["key"],
                "type": webhook_type(body["type"]), "customHeaders": body.get("customHeaders")}
        self.webhooks[hook["id"]] = hook
        return hook

    def webhook(self, hook_id: str) -> dict[str, Any]:
        hook = self.webhooks.get(hook_id.lower())
        if hook is None:
            raise ApiFailure(404, f"Webhook '{hook_id}' was not found")
        return hook

    def update_webhook(self, hook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        hook = self.webhook(hook_id)
        _fail(webhook_problems(body))
        hook.update(url=body["url"], key=body["key"], type=webhook_type(body["type"]),
                    customHeaders=body.get("customHeaders"))
        return hook

    def delete_webhook(self, hook_id: str) -> None:
        self.webhooks.pop(self.webhook(hook_id)["id"])

    def webhooks_of_type(self, kind: str) -> list[dict[str, Any]]:
        return [dict(hook) for hook in self.webhooks.values() if hook["type"] == kind]

    # -- metadata ---------------------------------------------------------------------
    def _known_object(self, object_id: str) -> str:
        wanted = object_id.lower()
        ids = ([o["id"] for o in self.orders] + [p["id"] for p in self.products.values()]
               + [u["id"] for u in self.stock_updates] + [r["id"] for r in self.returns])
        if wanted not in ids:
            raise ApiFailure(404, f"Object '{object_id}' was not found")
        return wanted

    def get_metadata(self, object_id: str) -> dict[str, Any]:
        key = self._known_object(object_id)
        return {"id": key, "metadata": dict(self.metadata.get(key, {}))}

    def put_metadata(self, object_id: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self._known_object(object_id)
        _fail(metadata_problems(body))
        self.metadata[key] = dict(body["metadata"])
        return self.get_metadata(key)

    def delete_metadata(self, object_id: str) -> None:
        self.metadata.pop(self._known_object(object_id), None)

    # -- returns ----------------------------------------------------------------------
    def create_return(self, body: dict[str, Any]) -> dict[str, Any]:
        _fail(return_problems(body, create=True))
        if any(r["reference"] == body["reference"] for r in self.returns):
            raise ApiFailure(400, f"Return with reference '{body['reference']}' already exists")
        if not self.orders_with_reference(body["orderReference"]):
            raise ApiFailure(400, f"Order with reference '{body['orderReference']}' was not found")
        self._check_return_codes(body["returnLines"])
        now = self.stamp()
        item = {"id": self.new_id(), "reference": body["reference"],
                "orderReference": body["orderReference"], "status": "new",
                "returnLines": [pick(line, "code", "quantity") for line in body["returnLines"]],
                "reason": body.get("reason"), "comments": body.get("comments"),
                "created": now, "editTime": now}
        self.returns.append(item)
        return item

    def update_return(self, reference: str, body: dict[str, Any]) -> dict[str, Any]:
        found = [r for r in self.returns if r["reference"] == reference]
        if not found:
            raise ApiFailure(404, f"Return with reference '{reference}' was not found")
        item = found[-1]
        if item["status"] != "new":
            raise ApiFailure(400, f"Return '{reference}' is {item['status']} "
                                  "and can not be updated")
        _fail(return_problems(body, create=False))
        status = (body.get("status") or "new").lower()
        if status not in {"new", "cancelled"}:
            raise ApiFailure(400, f"Status '{body['status']}' can not be set through the API")
        if body.get("returnLines") is not None:
            self._check_return_codes(body["returnLines"])
            item["returnLines"] = [pick(line, "code", "quantity") for line in body["returnLines"]]
        for key in ("reason", "comments"):
            if key in body:
                item[key] = body[key]
        item["status"] = status
        item["editTime"] = self.stamp()
        return item

    def _check_return_codes(self, lines: list[dict[str, Any]]) -> None:
        _fail([f"ReturnLines[{i}].Code: product with code '{line['code']}' was not found"
               for i, line in enumerate(lines) if line["code"] not in self.products])

    @staticmethod
    def emit_return(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "returnLines": [dict(line) for line in item["returnLines"]],
                "created": emit_time(item["created"]), "editTime": emit_time(item["editTime"])}


class SimStore(Extras):
    """The whole simulated myOGO account."""
