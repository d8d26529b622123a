"""Products and stock: create/update/rename, stock levels, reservations, stock events."""

from __future__ import annotations

from typing import Any

from syncd.testing.myogo_sim.base import StoreBase
from syncd.testing.myogo_sim.errors import ApiFailure, ControlError
from syncd.testing.myogo_sim.validation import product_problems
from syncd.testing.myogo_sim.wire import emit_time, pick

PRODUCT_FIELDS = ("name", "description", "code", "supplierCode", "supplier", "group", "eanCode",
                  "supplyPrice", "salesPrice", "currencyCode", "infoUrl", "pictureUrl",
                  "countryOfOrigin", "languageCode", "customsDescription", "hsCode")
StockView = dict[str, tuple[int, int]]


class Catalogue(StoreBase):
    """Products (by code) and their stock records."""

    # -- products ---------------------------------------------------------------------
    def create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        problems = product_problems(body)
        if problems:
            raise ApiFailure(400, "; ".join(problems))
        if body["code"] in self.products:
            raise ApiFailure(400, f"Product with code '{body['code']}' already exists")
        product = {**pick(body, *PRODUCT_FIELDS), "id": self.new_id(), "editTime": self.stamp()}
        self.products[product["code"]] = product
        self.stock[product["code"]] = {"productCode": product["code"], "stock": 0,
                                       "modified": product["editTime"]}
        return product

    def update_product(self, code: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /products/{code}: the path names the product, the body may rename it."""
        product = self.products.get(code)
        if product is None:
            raise ApiFailure(404, f"Product with code '{code}' was not found")
        problems = product_problems(body)
        if problems:
            raise ApiFailure(400, "; ".join(problems))
        new_code = body["code"]
        if new_code != code and new_code in self.products:
            raise ApiFailure(400, f"Product with code '{new_code}' already exists")
        for key in PRODUCT_FIELDS:
            if key not in body:
                continue
            if key == "eanCode" and product.get("eanCode"):
                continue  # "Existing EAN code will not be overwritten" (Product.cs)
            product[key] = body[key]
        if new_code != code:
            self._rename(code, new_code)
        product["editTime"] = self.stamp()
        return product

    def _rename(self, old: str, new: str) -> None:
        """Move the product, its stock and open order lines to the new code."""
        self.products[new] = self.products.pop(old)
        record = self.stock.pop(old)
        record["productCode"] = new
        self.stock[new] = record
        if old in self.reserved:
            self.reserved[new] = self.reserved.pop(old)
        for order in self.orders:
            for line in order["orderLines"]:
                if line["code"] == old:
                    line["code"] = new
        self.touch_stock(new)  # the stock now shows under a new code: let pollers see it

    def seed_product(self, body: dict[str, Any]) -> None:
        """Create or update a product for a test, with an optional starting ``stock``."""
        if not body.get("code"):
            raise ControlError("a seeded product needs a code")
        body = {"languageCode": "en", **body}
        if body["code"] in self.products:
            self.update_product(body["code"], body)
        else:
            self.create_product(body)
        if body.get("stock") is not None:
            self.set_stock(body["code"], int(body["stock"]))

    # -- stock ------------------------------------------------------------------------
    def stock_view(self, codes: set[str] | list[str]) -> StockView:
        """(stock, reserved) per code, to notice what a change really changed."""
        return {code: (self.stock[code]["stock"], self.reserved.get(code, 0))
                for code in codes if code in self.stock}

    def commit_stock(self, before: StockView) -> None:
        """Bump ``modified`` and fire ProductStockLevelChanged for each code that changed."""
        for code, old in before.items():
            if code in self.stock and self.stock_view([code])[code] != old:
                self.touch_stock(code)

    def touch_stock(self, code: str) -> None:
        self.stock[code]["modified"] = self.stamp()
        self.on_event("ProductStockLevelChanged", self.emit_stock(code))

    def set_stock(self, code: str, stock: int) -> None:
        if code not in self.stock:
            raise ControlError(f"unknown product code {code!r}")
        self.stock[code]["stock"] = stock
        self.touch_stock(code)
        self.after_stock_arrived()

    def after_stock_arrived(self) -> None:
        """Hook for the order book: pending orders may now be served."""

    def available(self, code: str) -> int:
        return max(0, self.stock[code]["stock"] - self.reserved.get(code, 0))

    # -- emitters ---------------------------------------------------------------------
    def emit_stock(self, code: str) -> dict[str, Any]:
        record = self.stock[code]
        return {"productCode": code, "stock": record["stock"],
                "stockAvailable": self.available(code),
                "reserved": self.reserved.get(code, 0), "modified": emit_time(record["modified"])}

    def emit_product(self, product: dict[str, Any]) -> dict[str, Any]:
        code = product["code"]
        incoming = [(line, update) for update in self.stock_updates if update["status"] == "new"
                    for line in update["products"] if line.get("code") == code]
        return {"id": product["id"], **pick(product, *PRODUCT_FIELDS),
                "stock": self.stock[code]["stock"], "stockAvailable": self.available(code),
                "reserved": self.reserved.get(code, 0),
                "stockUpdate": sum(line.get("expectedQuantity") or 0 for line, _ in incoming),
                "stockUpdateTime": min((u["receiveDate"] for _, u in incoming), default=None),
                "editTime": emit_time(product["editTime"])}
