"""Request validation, worded like ASP.NET model validation ("Customer.Name is required").

Each function returns the list of problems (empty = valid); the caller answers 400 with
them joined. Field paths use the .NET property names, as the real API's messages would.
"""

from __future__ import annotations

import re
from typing import Any

from syncd.countries import ISO_COUNTRIES
from syncd.cursor import parse_time

ORDER_STATUSES = frozenset(
    {"draft", "reserved", "new", "locked", "collecting", "pending", "cancelled", "shipped",
     "returned"}
)
WEBHOOK_TYPES = {"ordershipped": "OrderShipped", "1": "OrderShipped",
                 "productstocklevelchanged": "ProductStockLevelChanged",
                 "2": "ProductStockLevelChanged"}
URL_PATTERN = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
BAD_URL = "Field 'Url' has not a proper url value. Url should start with http:// or https://"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _required(body: dict[str, Any], key: str, label: str, problems: list[str]) -> None:
    if _blank(body.get(key)):
        problems.append(f"{label} is required")


def _length(body: dict[str, Any], key: str, label: str, size: int, problems: list[str]) -> None:
    value = body.get(key)
    if not _blank(value) and (not isinstance(value, str) or len(value) != size):
        problems.append(f"{label} must be {size} characters long")


def _country(body: dict[str, Any], key: str, label: str, problems: list[str]) -> None:
    value = body.get(key)
    if _blank(value):
        return
    if not isinstance(value, str) or len(value) != 2:
        problems.append(f"{label} must be 2 characters long")
    elif value.upper() not in ISO_COUNTRIES:
        problems.append(f"{label} '{value}' is not a valid ISO 3166-1 alpha-2 country code")


def _numbers(body: dict[str, Any], keys: dict[str, str], problems: list[str]) -> None:
    for key, label in keys.items():
        if body.get(key) is not None and not _is_number(body[key]):
            problems.append(f"{label} must be a number")


def _object(body: dict[str, Any], key: str, label: str,
            problems: list[str]) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(f"{label} must be an object")
        return None
    return value


def _list(body: dict[str, Any], key: str, label: str, problems: list[str]) -> list[Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append(f"{label} must be an array")
        return None
    return value


def customer_problems(customer: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, label in (("name", "Customer.Name"), ("address1", "Customer.Address1"),
                       ("city", "Customer.City"), ("countryCode", "Customer.CountryCode")):
        _required(customer, key, label, problems)
    _country(customer, "countryCode", "Customer.CountryCode", problems)
    return problems


def order_lines_problems(lines: list[Any], prefix: str = "OrderLines") -> list[str]:
    problems: list[str] = []
    if not lines:
        return [f"{prefix} must contain at least one line"]
    for index, line in enumerate(lines):
        label = f"{prefix}[{index}]"
        if not isinstance(line, dict):
            problems.append(f"{label} must be an object")
            continue
        _required(line, "code", f"{label}.Code", problems)
        quantity = line.get("quantity")
        if quantity is None:
            problems.append(f"{label}.Quantity is required")
        elif not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            problems.append(f"{label}.Quantity must be a whole number of at least 1")
        _numbers(line, {"unitPrice": f"{label}.UnitPrice",
                        "vatPercentage": f"{label}.VatPercentage"}, problems)
    return problems


def order_problems(body: dict[str, Any], *, create: bool) -> list[str]:
    """Problems of an order request; on update only the fields present are checked."""
    problems: list[str] = []
    if create:
        _required(body, "reference", "Reference", problems)
        if body.get("orderLines") is None:
            problems.append("OrderLines is required")
        if body.get("customer") is None:
            problems.append("Customer is required")
    lines = _list(body, "orderLines", "OrderLines", problems)
    if lines is not None:
        problems += order_lines_problems(lines)
    customer = _object(body, "customer", "Customer", problems)
    if customer is not None:
        problems += customer_problems(customer)
    status = body.get("status")
    if status is not None and (not isinstance(status, str) or status.lower() not in ORDER_STATUSES):
        problems.append(f"Status '{status}' is not a valid order status")
    _length(body, "priceCurrency", "PriceCurrency", 3, problems)
    _numbers(body, {"priceTotal": "PriceTotal"}, problems)
    cod = _object(body, "cashOnDelivery", "CashOnDelivery", problems)
    if cod is not None:
        if cod.get("amount") is None:
            problems.append("CashOnDelivery.Amount is required")
        _numbers(cod, {"amount": "CashOnDelivery.Amount"}, problems)
        _length(cod, "currencyCode", "CashOnDelivery.CurrencyCode", 3, problems)
    for index, document in enumerate(_list(body, "documents", "Documents", problems) or []):
        if not isinstance(document, dict) or _blank(document.get("type")):
            problems.append(f"Documents[{index}].Type is required")
    return problems


def product_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _required(body, "code", "Code", problems)
    _required(body, "languageCode", "LanguageCode", problems)
    _length(body, "languageCode", "LanguageCode", 2, problems)
    _length(body, "currencyCode", "CurrencyCode", 3, problems)
    _country(body, "countryOfOrigin", "CountryOfOrigin", problems)
    _numbers(body, {"supplyPrice": "SupplyPrice", "salesPrice": "SalesPrice"}, problems)
    return problems


def stock_update_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, label in (("supplier", "Supplier"), ("receiveDate", "ReceiveDate"),
                       ("reference", "Reference")):
        _required(body, key, label, problems)
    receive_date = body.get("receiveDate")
    if isinstance(receive_date, str) and receive_date.strip():
        try:
            parse_time(receive_date)
        except ValueError:
            problems.append(f"ReceiveDate '{receive_date}' is not a valid date")
    products = _list(body, "products", "Products", problems) or []
    for index, product in enumerate(products):
        label = f"Products[{index}]"
        if not isinstance(product, dict):
            problems.append(f"{label} must be an object")
            continue
        _required(product, "code", f"{label}.Code", problems)
        expected = product.get("expectedQuantity")
        if expected is None:
            problems.append(f"{label}.ExpectedQuantity is required")
        elif not _is_number(expected) or not 0 <= expected <= 1_000_000:
            problems.append(f"{label}.ExpectedQuantity must be between 0 and 1000000")
        _required(product, "countryOfOrigin", f"{label}.CountryOfOrigin", problems)
        _country(product, "countryOfOrigin", f"{label}.CountryOfOrigin", problems)
        description = product.get("customsDescription")
        if isinstance(description, str) and len(description) > 50:
            problems.append(f"{label}.CustomsDescription must be at most 50 characters long")
        hs_code = product.get("hsCode")
        if isinstance(hs_code, str) and len(hs_code) > 8:
            problems.append(f"{label}.HsCode must be at most 8 characters long")
    return problems


def webhook_type(value: Any) -> str | None:
    """The string name of a webhook type given as a name (any case) or the 2019 int."""
    return WEBHOOK_TYPES.get(str(value).lower()) if value is not None else None


def webhook_problems(body: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    url = body.get("url")
    if _blank(url):
        problems.append("Url is required")
    elif not isinstance(url, str) or not URL_PATTERN.match(url):
        problems.append(BAD_URL)
    _required(body, "key", "Key", problems)
    if body.get("type") is None:
        problems.append("Type is required")
    elif webhook_type(body["type"]) is None:
        problems.append(f"Type '{body['type']}' is not a valid webhook type")
    headers = body.get("customHeaders")
    if headers is not None and (not isinstance(headers, dict)
                                or not all(isinstance(v, str) for v in headers.values())):
        problems.append("CustomHeaders must be an object of strings")
    return problems


def return_problems(body: dict[str, Any], *, create: bool) -> list[str]:
    problems: list[str] = []
    if create:
        _required(body, "reference", "Reference", problems)
        _required(body, "orderReference", "OrderReference", problems)
        if body.get("returnLines") is None:
            problems.append("ReturnLines is required")
    lines = _list(body, "returnLines", "ReturnLines", problems)
    if lines is not None:
        problems += order_lines_problems(lines, prefix="ReturnLines")
    return problems


def metadata_problems(body: dict[str, Any]) -> list[str]:
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return ["Metadata is required"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        return ["Metadata must be an object of strings"]
    return []
