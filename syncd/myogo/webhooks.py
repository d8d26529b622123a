"""Webhook signatures: ``X-OGOship-Hmac-SHA256 = Base64(HMAC-SHA256(key, raw body))``.

Verify against the *raw* request bytes (re-serialised JSON would not match). A webhook is
only a trigger to re-poll (docs/operations.md, webhooks): its body shape is not published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-OGOship-Hmac-SHA256"


def sign_webhook(key: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of ``body`` under the subscription's ``key`` (UTF-8)."""
    digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_webhook(key: str, body: bytes, signature: str | None) -> bool:
    """True only if ``signature`` is the signature of ``body``; constant-time compare."""
    if not signature or not key:
        return False
    try:
        given = signature.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, sign_webhook(key, body).encode("ascii"))
