"""Typed myOGO payloads (routes in docs/simulator.md), with the API's own camelCase field names.

Python attributes are snake_case; the wire names are camelCase aliases. Incoming JSON keys
are matched case-insensitively (the .NET server and its clients mix casings), responses
ignore unknown keys, and requests serialize with ``by_alias=True, exclude_none=True``
(the old plugins note that myOGO "does not handle well null values").
Shapes marked [I] are inferred, not verified (docs/simulator.md, assumptions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from syncd.cursor import parse_time


def _lenient_time(value: Any) -> Any:
    """ISO 8601 with up to 7 fractional digits (.NET "O"), ``Z`` or offset; naive = UTC."""
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


LenientTime = Annotated[datetime, BeforeValidator(_lenient_time)]


@cache
def _key_lookup(model: type[BaseModel]) -> dict[str, str]:
    """lower-cased alias/name -> the alias pydantic expects, per model class."""
    lookup: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.alias or name
        lookup.setdefault(name.lower(), alias)
        lookup[alias.lower()] = alias
    return lookup


class MyogoModel(BaseModel):
    """Base of every payload: camelCase aliases, case-insensitive keys on input."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore",
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_key_case(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        lookup = _key_lookup(cls)
        folded: dict[str, Any] = {}
        # exact keys first, so {"reference": a, "Reference": b} keeps a
        for key in sorted(data, key=lambda k: k not in lookup.values()):
            target = lookup.get(key.lower(), key) if isinstance(key, str) else key
            folded.setdefault(target, data[key])
        return folded

    def to_wire(self) -> dict[str, Any]:
        """The JSON body to send: camelCase keys, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# --------------------------------------------------------------------------- orders


class OrderLine(MyogoModel):
    code: str
    quantity: int
    unit_price: float | None = None
    vat_percentage: float | None = None
    product_info_url: str | None = None
    product_picture_url: str | None = None


class Customer(MyogoModel):
    name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    country_code: str | None = None
    zip: str | None = None
    phone: str | None = None
    email: str | None = None


class CashOnDelivery(MyogoModel):
    amount: float
    currency_code: str | None = None
    reference: str | None = None


class OrderDocument(MyogoModel):
    type: str
    url: str | None = None
    base64_content: str | None = None


class OrderStatus:
    """Known status strings (lowercase, as the swagger lists them)."""

    DRAFT = "draft"
    RESERVED = "reserved"
    NEW = "new"
    LOCKED = "locked"
    COLLECTING = "collecting"
    PENDING = "pending"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    RETURNED = "returned"
    #: states in which myOGO still accepts edits and cancellation via the API [I]
    EDITABLE: ClassVar[frozenset[str]] = frozenset({NEW, DRAFT, PENDING, RESERVED})


class OrderRequest(MyogoModel):
    """Body of POST /orders and PUT /orders/{reference}.

    On update, ``order_lines``/``documents`` *replace* all existing ones when present.
    """

    reference: str
    shipping_code: str | None = None
    pick_up_point_code: str | None = None
    status: str | None = None
    order_lines: list[OrderLine] | None = None
    customer: Customer | None = None
    comments: str | None = None
    price_total: float | None = None
    price_currency: str | None = None
    cash_on_delivery: CashOnDelivery | None = None
    documents: list[OrderDocument] | None = None
    test: bool | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_lowercase(cls, value: Any) -> Any:
        return _lower(value)


class OrderResponse(MyogoModel):
    """An order as myOGO returns it; ``status`` is normalised to lowercase."""

    id: str | None = None
    reference: str = ""
    status: str = ""
    shipping_code: str | None = None
    pick_up_point_code: str | None = None
    order_lines: list[OrderLine] = Field(default_factory=list)
    customer: Customer | None = None
    comments: str | None = None
    price_total: float | None = None
    price_currency: str | None = None
    cash_on_delivery: CashOnDelivery | None = None
    documents: list[OrderDocument] = Field(default_factory=list)
    test: bool | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    warehouse_comments: str | None = None
    edit_time: LenientTime | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_lowercase(cls, value: Any) -> str:
        return "" if value is None else str(_lower(str(value)))

    @property
    def tracking_numbers(self) -> list[str]:
        """``trackingNumber`` may hold several comma-separated codes."""
        return [t.strip() for t in (self.tracking_number or "").split(",") if t.strip()]


# --------------------------------------------------------------------------- products


class ProductRequest(MyogoModel):
    """Body of POST /products and PUT /products/{code}. ``eanCode`` is never overwritten."""

    code: str
    name: str | None = None
    description: str | None = None
    supplier_code: str | None = None
    supplier: str | None = None
    group: str | None = None
    ean_code: str | None = None
    supply_price: float | None = None
    sales_price: float | None = None
    currency_code: str | None = None
    info_url: str | None = None
    picture_url: str | None = None
    country_of_origin: str | None = None
    language_code: str | None = None
    customs_description: str | None = None
    hs_code: str | None = None


class ProductResponse(ProductRequest):
    code: str = ""
    id: str | None = None
    stock: int | None = None
    stock_available: int | None = None
    reserved: int | None = None
    stock_update: int | None = None
    stock_update_time: LenientTime | None = None
    edit_time: LenientTime | None = None


# --------------------------------------------------------------------------- stock


class StockResponse(MyogoModel):
    """Stock of one product. Shops get ``stock_available`` (what can still be ordered)."""

    product_code: str = ""
    stock: int | None = None
    stock_available: int | None = None
    reserved: int | None = None
    modified: LenientTime | None = None


class StockUpdateProduct(MyogoModel):
    code: str
    name: str | None = None
    expected_quantity: int = Field(ge=0, le=1_000_000)
    supply_price: float | None = None
    ean_code: str | None = None
    country_of_origin: str | None = None
    customs_description: str | None = Field(None, max_length=50)
    hs_code: str | None = None


class StockUpdateRequest(MyogoModel):
    """An incoming delivery (purchase order / ASN): POST /StockUpdate."""

    reference: str
    supplier: str
    receive_date: LenientTime
    products: list[StockUpdateProduct] = Field(default_factory=list)
    warehouse_code: str | None = None
    containers: int | None = None
    pallets: int | None = None
    parcels: int | None = None
    delivered_by: str | None = None
    merchant_comments: str | None = None
    tracking_codes: list[str] | None = None
    special_action: str | None = None
    status: str | None = None  # read-only on the server (set to NEW)


class StockUpdateProductResponse(StockUpdateProduct):
    expected_quantity: int = 0
    received_quantity: int | None = None
    warehouse_comments: str | None = None


class StockUpdateResponse(MyogoModel):
    id: str | None = None
    reference: str = ""
    supplier: str | None = None
    receive_date: LenientTime | None = None
    products: list[StockUpdateProductResponse] = Field(default_factory=list)
    warehouse_code: str | None = None
    containers: int | None = None
    pallets: int | None = None
    parcels: int | None = None
    delivered_by: str | None = None
    merchant_comments: str | None = None
    tracking_codes: list[str] | None = None
    special_action: str | None = None
    status: str | None = None
    arrival_date: LenientTime | None = None
    auto_reference: str | None = None
    warehouse_comments: str | None = None
    created: LenientTime | None = None
    modified: LenientTime | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status_lowercase(cls, value: Any) -> Any:
        return _lower(value)


# --------------------------------------------------------------------------- returns [I]


class ReturnLine(MyogoModel):
    """[I] One returned product."""

    code: str
    quantity: int


class ReturnRequest(MyogoModel):
    """[I] A return; its shape is not published, so unknown fields pass through as given."""

    model_config = ConfigDict(extra="allow")

    reference: str | None = None
    order_reference: str | None = None
    return_lines: list[ReturnLine] | None = None
    reason: str | None = None
    comments: str | None = None
    status: str | None = None


class ReturnResponse(ReturnRequest):
    """[I] A return as the API sends it; every field it sends is kept (``model_extra``)."""

    id: str | None = None
    created: LenientTime | None = None
    edit_time: LenientTime | None = None


# --------------------------------------------------------------------------- webhooks


class WebhookType:
    ORDER_SHIPPED = "OrderShipped"
    PRODUCT_STOCK_LEVEL_CHANGED = "ProductStockLevelChanged"
    #: the 2019 model sent integers
    BY_NUMBER: ClassVar[dict[int, str]] = {1: ORDER_SHIPPED, 2: PRODUCT_STOCK_LEVEL_CHANGED}


def _webhook_type(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return WebhookType.BY_NUMBER.get(value, str(value))
    return value


class WebHook(MyogoModel):
    """A webhook subscription. ``key`` is the HMAC secret: hidden in reprs, sent on the wire."""

    url: str
    key: SecretStr
    type: Annotated[str, BeforeValidator(_webhook_type)]
    custom_headers: dict[str, str] | None = None

    @field_serializer("key", when_used="json")
    def _reveal_key(self, key: SecretStr) -> str:
        return key.get_secret_value()


class WebHookResponse(WebHook):
    id: str = ""
    key: SecretStr = SecretStr("")
    url: str = ""
    type: Annotated[str, BeforeValidator(_webhook_type)] = ""


# --------------------------------------------------------------------------- metadata [I]


class ObjectMetadata(MyogoModel):
    """Free key/value metadata attached to a myOGO object (path inferred: /metadata/{id})."""

    id: str
    metadata: dict[str, str] = Field(default_factory=dict)


__all__ = [
    "CashOnDelivery",
    "Customer",
    "LenientTime",
    "MyogoModel",
    "ObjectMetadata",
    "OrderDocument",
    "OrderLine",
    "OrderRequest",
    "OrderResponse",
    "OrderStatus",
    "ProductRequest",
    "ProductResponse",
    "ReturnLine",
    "ReturnRequest",
    "ReturnResponse",
    "StockResponse",
    "StockUpdateProduct",
    "StockUpdateProductResponse",
    "StockUpdateRequest",
    "StockUpdateResponse",
    "WebHook",
    "WebHookResponse",
    "WebhookType",
]
