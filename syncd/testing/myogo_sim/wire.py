"""Wire conventions: case-insensitive keys in, camelCase out, ISO times, bare-array paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypeVar

from syncd.cursor import format_time, parse_time
from syncd.testing.myogo_sim.errors import ApiFailure

T = TypeVar("T")

MAX_LIMIT = 250
DEFAULT_LIMIT = 50

# Every property name the simulator knows, in wire casing. Input keys are matched to these
# case-insensitively (ASP.NET/Newtonsoft binds that way); unknown keys get a lower first letter.
KNOWN_FIELDS = """
reference shippingCode pickUpPointCode status orderLines code quantity unitPrice vatPercentage
productInfoUrl productPictureUrl customer name company address1 address2 city countryCode zip
phone email comments priceTotal priceCurrency cashOnDelivery amount currencyCode documents type
url base64Content test id trackingNumber trackingUrl warehouseComments editTime description
supplierCode supplier group eanCode supplyPrice salesPrice infoUrl pictureUrl countryOfOrigin
languageCode customsDescription hsCode stock stockAvailable reserved stockUpdate stockUpdateTime
productCode modified warehouseCode containers pallets parcels deliveredBy receiveDate
merchantComments trackingCodes specialAction products expectedQuantity receivedQuantity
arrivalDate autoReference created key customHeaders metadata orderReference returnLines reason
advance kind method path count rate retryAfter seconds seed duplicateReference
enabledShippingCodes stockUnknownCode webhooksNullWhenEmpty
""".split()
_BY_LOWER = {name.lower(): name for name in KNOWN_FIELDS}
# Values under these keys are free-form string maps: their keys are data, not field names.
_FREE_FORM = {"metadata", "customHeaders"}


def wire_key(key: str) -> str:
    """The canonical camelCase spelling of an input key, whatever its casing."""
    return _BY_LOWER.get(key.lower()) or (key[:1].lower() + key[1:])


def normalize_keys(value: Any) -> Any:
    """Recursively rename dict keys to wire casing (free-form maps keep their keys)."""
    if isinstance(value, list):
        return [normalize_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = wire_key(str(raw_key))
        out[key] = item if key in _FREE_FORM else normalize_keys(item)
    return out


def api_error_body(status: int, message: str) -> dict[str, Any]:
    """The swagger ``ApiError`` model, camelCase."""
    try:
        description = HTTPStatus(status).phrase
    except ValueError:
        description = None
    return {"statusCode": status, "statusDescription": description, "message": message}


def emit_time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


class Query:
    """Query parameters looked up case-insensitively (ASP.NET binds them that way)."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, str] = {}
        for key, value in items:
            self._values.setdefault(key.lower(), value)

    def get(self, name: str) -> str | None:
        value = self._values.get(name.lower())
        return value if value not in (None, "") else None

    def flag(self, name: str) -> bool:
        return (self.get(name) or "").lower() in {"true", "1", "yes"}

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            number = int(raw)
        except ValueError:
            raise ApiFailure(400, f"The value '{raw}' is not valid for {name}.") from None
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ApiFailure(400, f"{name} must be {bound}.")
        return number

    def time(self, name: str) -> datetime | None:
        raw = self.get(name)
        if raw is None:
            return None
        # An unencoded "+02:00" in a URL arrives as " 02:00": put the plus back.
        for candidate in (raw, raw.replace(" ", "+")):
            try:
                return parse_time(candidate)
            except ValueError:
                continue
        raise ApiFailure(400, f"The value '{raw}' is not valid for {name}.")


def paged(query: Query, items: list[T], sort_key: Callable[[T], Any]) -> list[T]:
    """One page of ``items`` in a stable order: ``limit`` (1..250, default 50), 1-based ``page``.

    Past the end the page is simply empty, like the real API's bare arrays.
    """
    limit = query.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = query.integer("page", 1, 1)
    ordered = sorted(items, key=sort_key)
    start = (page - 1) * limit
    return ordered[start:start + limit]


def modified_after(query: Query, items: list[T], stamp: Callable[[T], datetime]) -> list[T]:
    """Keep the items changed strictly after ``modifiedAfter`` (all of them when absent)."""
    since = query.time("modifiedAfter")
    return items if since is None else [item for item in items if stamp(item) > since]


def pick(mapping: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The named keys of ``mapping`` (missing ones as None), in that order."""
    return {name: mapping.get(name) for name in names}
