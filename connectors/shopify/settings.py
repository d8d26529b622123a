"""Settings of the Shopify connector (the store's ``[stores.options]`` table)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.connector import ConnectorSettings

_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")


class ShopifySettings(ConnectorSettings):
    """Options of one Shopify store; unknown keys are refused (``extra="forbid"``)."""

    shop: str = Field(description='"example.myshopify.com", or a full base URL (tests, proxies)')
    access_token: SecretStr = Field(description="Admin API access token of the custom app")
    api_version: str = "2026-04"
    location_id: str | None = Field(
        default=None, description="gid://shopify/Location/... that OGOship stock is written to"
    )
    notify_customer: bool = True
    page_size: int = Field(default=100, ge=1, le=250)
    webhook_secret: SecretStr | None = None
    stock_quantity_name: Literal["available", "on_hand"] = "available"
    allow_http: bool = False

    @field_validator("api_version")
    @classmethod
    def _known_version_shape(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("expected a Shopify API version such as 2026-04")
        return value

    @field_validator("location_id")
    @classmethod
    def _location_gid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.isdigit():
            return f"gid://shopify/Location/{value}"
        if not value.startswith("gid://shopify/Location/"):
            raise ValueError("expected gid://shopify/Location/<number> (or just the number)")
        return value

    @model_validator(mode="after")
    def _https_only(self) -> ShopifySettings:
        if self.base_url.startswith("http://") and not self.allow_http:
            raise ValueError("plain http:// is refused; use https:// (or allow_http = true)")
        return self

    @property
    def base_url(self) -> str:
        """``https://example.myshopify.com`` from any accepted form of ``shop``."""
        shop = self.shop.strip().rstrip("/")
        if "://" in shop:
            return shop
        if "." not in shop:
            shop = f"{shop}.myshopify.com"
        return f"https://{shop}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"
