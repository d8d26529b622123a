"""Signed webhook deliveries, as ``WC_Webhook::deliver`` sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx


def signature(body: bytes, secret: str) -> str:
    """``X-WC-Webhook-Signature``: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_delivery(
    record: dict[str, Any], secret: str, topic: str, webhook_id: int = 1,
    source: str = "https://shop.test/",
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one delivery of ``record`` for ``topic`` (e.g. order.updated)."""
    body = json.dumps(record, separators=(",", ":")).encode()
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        "X-WC-Webhook-Signature": signature(body, secret),
    }
    return headers, body


def deliver_pending(store: Any, client: httpx.Client | None = None) -> list[int]:
    """POST every queued delivery of ``store``; return the HTTP status codes."""
    with store.lock:
        queued = list(store.pending_deliveries)
        store.pending_deliveries.clear()
    own = client is None
    http = client or httpx.Client(timeout=10)
    try:
        return [http.post(url, headers=headers, content=body).status_code
                for url, headers, body in queued]
    finally:
        if own:
            http.close()
