"""Shopify webhook verification: HMAC first, JSON second (docs/connectors/shopify.md, webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from syncd.connector import WebhookEvent

TOPIC_KINDS = {
    "orders/paid": "order_paid",
    "orders/cancelled": "order_cancelled",
    "products/update": "product_changed",
    "products/create": "product_changed",
}


def sign(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256`` for ``body`` (what Shopify sends; used by tests too)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse(secret: str | None, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    """The event a verified webhook stands for; ``None`` for topics we do not act on.

    Raises ``ValueError`` when no secret is configured or the signature does not match:
    the body is not even parsed then.
    """
    if not secret:
        raise ValueError("shopify webhook refused: webhook_secret is not configured")
    given = _header(headers, "X-Shopify-Hmac-Sha256") or ""
    if not hmac.compare_digest(sign(secret, body).encode(), given.strip().encode()):
        raise ValueError("shopify webhook refused: bad X-Shopify-Hmac-Sha256 signature")
    kind = TOPIC_KINDS.get((_header(headers, "X-Shopify-Topic") or "").strip().lower())
    if kind is None:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    store_id = payload.get("admin_graphql_api_id") if isinstance(payload, dict) else None
    return WebhookEvent(kind=kind, store_id=str(store_id) if store_id else None)
