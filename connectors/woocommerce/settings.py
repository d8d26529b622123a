"""Options of the WooCommerce connector (the store's ``[stores.options]`` table)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.connector import ConnectorSettings


class WooCommerceSettings(ConnectorSettings):
    """How to reach one WooCommerce shop through its REST API v3."""

    url: str                                    # the site, e.g. https://shop.example.com
    consumer_key: SecretStr                     # ck_...
    consumer_secret: SecretStr                  # cs_...
    #: "basic" = HTTP Basic header; "query" = keys in the query string, for servers that
    #: strip the Authorization header ("Consumer key is missing")
    auth: Literal["basic", "query"] = "basic"
    #: order statuses that mean "paid, ship it"
    paid_statuses: list[str] = Field(default_factory=lambda: ["processing"], min_length=1)
    #: order statuses reported as cancellations (a full refund before shipping cancels too)
    cancelled_statuses: list[str] = Field(
        default_factory=lambda: ["cancelled", "refunded"], min_length=1)
    shipped_status: str = "completed"
    #: order meta key holding tracking items when the Shipment Tracking API is absent
    tracking_meta_key: str = "_wc_shipment_tracking_items"
    use_shipment_tracking_api: bool = True
    #: also write the tracking to ``ogoship_tracking`` / ``ogoship_tracking_url`` order meta,
    #: which OGOship's own plug-in shows to the customer (in its emails)
    ogoship_tracking_meta: bool = False
    #: tell the customer about the tracking (a customer note unless WooCommerce's own
    #: "Completed order" email already carries it, see docs/connectors/woocommerce.md)
    notify_customer: bool = True
    #: items per read request and per batch write (WooCommerce caps both at 100)
    page_size: int = Field(default=100, ge=1, le=100)
    #: product/variation meta key holding the EAN; None = core ``global_unique_id`` (WC 9.2+)
    ean_meta_key: str | None = None
    #: order meta keys that may hold a pickup-point id, first non-empty wins
    pickup_point_meta_keys: list[str] = Field(default_factory=lambda: [
        "_pickup_point_id", "pickup_point_id", "_woo_carrier_agent_id",
        "_posti_pickup_point", "_shipping_pickup_point_id",
        "_wc_posti_pickup_id", "_wc_schenker_pickup_id", "_budbee_locker",
    ])
    #: plain http only when explicitly allowed (local test servers)
    allow_http: bool = False
    #: secret of the shop's webhooks (WooCommerce > Settings > Advanced > Webhooks)
    webhook_secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be the shop's absolute URL, e.g. https://shop.example.com")
        path = parts.path.rstrip("/")
        for suffix in ("/wp-json/wc/v3", "/wp-json"):
            path = path.removesuffix(suffix)
        return f"{parts.scheme}://{parts.netloc}{path}"

    @model_validator(mode="after")
    def _https_unless_allowed(self) -> WooCommerceSettings:
        if urlsplit(self.url).scheme == "http" and not self.allow_http:
            raise ValueError(
                "url uses plain http: WooCommerce only accepts key authentication over "
                "https (plain http needs OAuth 1.0a signatures and would expose the keys); "
                "use https, or set allow_http = true for a local test server")
        return self
