"""OAuth2 token endpoint and request authentication (bearer token or X-OgoKey).

Tokens are opaque random strings (production issues JWTs; clients must not look inside).
Refresh tokens are single-use: each refresh returns a new one and forgets the old.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncd.testing.myogo_sim.clock import SimClock
from syncd.testing.myogo_sim.errors import ApiFailure, OAuthFailure

ALL_SCOPES = frozenset(
    "read:order write:order read:product write:product read:webhook write:webhook "
    "read:metadata write:metadata".split()
)
DENIED = "Authorization has been denied for this request."


@dataclass(frozen=True)
class Grant:
    """Who a token speaks for, with which scopes, until when."""

    merchant: str
    scopes: frozenset[str]
    expires_at: datetime | None  # None = never (API keys)


class TokenIssuer:
    """Issues, rotates and checks tokens against the controllable clock."""

    def __init__(self, clock: SimClock, *, client_id: str, client_secret: str,
                 merchants: Mapping[str, str], api_keys: Mapping[str, str] | None,
                 access_token_ttl: int, refresh_token_ttl: int) -> None:
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.merchants = dict(merchants)
        self.api_keys = dict(api_keys or {})
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()

    # -- token endpoint ---------------------------------------------------------------
    def grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Answer a token request (already parsed form fields) or raise OAuthFailure."""
        if (form.get("client_id") != self.client_id
                or not _same(form.get("client_secret", ""), self.client_secret)):
            raise OAuthFailure("invalid_client", "Client credentials are invalid.")
        grant_type = form.get("grant_type")
        if grant_type == "password":
            return self._password_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        raise OAuthFailure("unsupported_grant_type", f"Grant type '{grant_type}' is not supported.")

    def _password_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        secret = self.merchants.get(form.get("username", ""))
        if secret is None or not _same(form.get("password", ""), secret):
            raise OAuthFailure("invalid_grant", "The user name or password is incorrect.")
        requested = frozenset(form.get("scope", "").split())
        unknown = requested - ALL_SCOPES
        if unknown:
            raise OAuthFailure("invalid_scope", f"Unknown scope: {' '.join(sorted(unknown))}")
        return self._issue(form["username"], requested or ALL_SCOPES)

    def _refresh_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.pop(token, None)  # single use, valid or not
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self.clock.now()):
            raise OAuthFailure("invalid_grant", "The refresh token is invalid or expired.")
        return self._issue(grant.merchant, grant.scopes)

    def _issue(self, merchant: str, scopes: frozenset[str]) -> dict[str, Any]:
        now = self.clock.now()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            self._access[access] = Grant(merchant, scopes,
                                         now + timedelta(seconds=self.access_token_ttl))
            self._refresh[refresh] = Grant(merchant, scopes,
                                           now + timedelta(seconds=self.refresh_token_ttl))
        return {"access_token": access, "token_type": "bearer",
                "expires_in": self.access_token_ttl, "refresh_token": refresh}

    # -- API requests -----------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str]) -> Grant:
        """The grant behind a request's credentials, or ApiFailure 401."""
        api_key = headers.get("x-ogokey")
        if api_key:
            merchant = self.api_keys.get(api_key)
            if merchant is None:
                raise _unauthorized()
            return Grant(merchant, ALL_SCOPES, None)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized()
        with self._lock:
            grant = self._access.get(token.strip())
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self.clock.now()):
            raise _unauthorized()
        return grant


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also works for non-ASCII text."""
    return secrets.compare_digest(given.encode(), expected.encode())


def _unauthorized() -> ApiFailure:
    return ApiFailure(401, DENIED, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
