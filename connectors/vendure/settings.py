"""Options of the Vendure connector (the store's ``[stores.options]`` table)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.connector import ConnectorSettings

_GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


class VendureSettings(ConnectorSettings):
    """How to reach one Vendure channel through its Admin GraphQL API."""

    url: str                                   # e.g. https://shop.example.com/admin-api
    allow_http: bool = False                   # plain http only when explicitly allowed (tests)
    username: str
    password: SecretStr
    channel_token: str | None = None           # sent as the ``vendure-token`` header
    paid_state: str = "PaymentSettled"         # the order state that means "paid, ship it"
    ean_custom_field: str | None = "ean"       # ProductVariant custom field holding the EAN
    stock_location_id: str | None = None       # None = Vendure's default stock location
    fulfillment_handler: str = "manual-fulfillment"
    fulfillment_method: str = "OGOship"
    page_size: int = Field(default=100, ge=1, le=1000)
    #: changes newer than this (by the server's clock) are re-read on the next run, because
    #: Vendure stamps ``updatedAt`` at transaction start and a slow commit can land later
    settle_seconds: float = Field(default=5.0, ge=0, le=3600)

    @field_validator("url")
    @classmethod
    def _url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL of the Admin API, e.g. "
                             "https://shop.example.com/admin-api")
        return value.rstrip("/")

    @field_validator("ean_custom_field")
    @classmethod
    def _ean_field_is_a_name(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _GRAPHQL_NAME.match(value):
            raise ValueError("must be a GraphQL field name (letters, digits, underscore)")
        return value

    @model_validator(mode="after")
    def _https_unless_allowed(self) -> VendureSettings:
        if urlsplit(self.url).scheme == "http" and not self.allow_http:
            raise ValueError("url uses plain http; use https (or set allow_http = true "
                             "for a local test server)")
        return self
