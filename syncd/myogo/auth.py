"""Authentication: OAuth2 password grant with rotating refresh tokens, or ``X-OgoKey``.

* One token request in flight at a time (``asyncio.Lock``): concurrent callers wait for it.
* Refresh ``REFRESH_MARGIN`` seconds before expiry, by the injectable ``clock``.
* Refresh tokens are single-use and rotated; a refused refresh falls back to the password
  grant.
* ``MyogoAuth.async_auth_flow``: a 401 gets one fresh token and one replay; a second 401 is
  handed back to the client, which raises ``MyogoAuthError``.

Token values never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field

import httpx
import structlog

from syncd.myogo.errors import MyogoAuthError, MyogoTransientError
from syncd.myogo.settings import MyogoSettings
from syncd.myogo.stats import ClientStats

log = structlog.get_logger(__name__)

#: renew the access token when fewer seconds than this are left
REFRESH_MARGIN = 60.0
#: used when the token response has no usable ``expires_in``
DEFAULT_TTL = 3600.0

CREDENTIALS_HINT = "check myogo.merchant_id / myogo.secret_token and client_id/client_secret"


class MyogoTokenUnavailable(MyogoTransientError):
    """The token endpoint could not be reached or failed (5xx/429): the API call was not sent."""

    kind = "token_unavailable"


class _GrantRefused(Exception):
    """The token endpoint said no (4xx) to a grant."""

    def __init__(self, status: int, error: str | None) -> None:
        super().__init__(f"HTTP {status} {error or ''}".strip())
        self.status = status
        self.error = error


@dataclass
class _Token:
    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    expires_at: float


class TokenManager:
    """Holds the current token pair and renews it; safe under concurrency."""

    def __init__(self, settings: MyogoSettings, http: Callable[[], httpx.AsyncClient],
                 stats: ClientStats, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._http = http
        self._stats = stats
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        state = "none" if self._token is None else f"expires_at={self._token.expires_at:.0f}"
        return f"TokenManager({state})"

    def _fresh(self, token: _Token | None) -> bool:
        return token is not None and token.expires_at - self._clock() > REFRESH_MARGIN

    async def access_token(self) -> str:
        """A token valid for at least ``REFRESH_MARGIN`` seconds (renewing if needed)."""
        token = self._token
        if token is not None and self._fresh(token):
            return token.access
        async with self._lock:
            if self._token is None or not self._fresh(self._token):
                await self._renew()
            assert self._token is not None
            return self._token.access

    async def renew_after_rejection(self, rejected: str) -> str:
        """The server refused ``rejected``: renew, unless another caller already did."""
        async with self._lock:
            current = self._token
            if current is None or current.access == rejected or not self._fresh(current):
                await self._renew()
            assert self._token is not None
            return self._token.access

    def forget(self) -> None:
        """Drop both tokens (next call does the password grant)."""
        self._token = None

    async def _renew(self) -> None:
        previous = self._token
        if previous is not None and previous.refresh:
            try:
                self._token = await self._grant("refresh_token", {
                    "grant_type": "refresh_token",
                    "refresh_token": previous.refresh,
                })
                return
            except _GrantRefused as exc:
                # single-use refresh tokens: expired, reused or revoked -> log in again
                log.info("myogo.refresh_refused", status=exc.status, error=exc.error)
                self._token = None
        s = self._settings
        if not s.merchant_id or s.secret_token is None:
            raise MyogoAuthError(
                "no myOGO credentials: set myogo.merchant_id and myogo.secret_token "
                "(or myogo.api_key)")
        try:
            self._token = await self._grant("password", {
                "grant_type": "password",
                "username": s.merchant_id,
                "password": s.secret_token.get_secret_value(),
                "scope": s.scopes,
            })
        except _GrantRefused as exc:
            raise MyogoAuthError(
                f"myOGO refused the password grant (HTTP {exc.status}"
                f"{', ' + exc.error if exc.error else ''}): {CREDENTIALS_HINT}; "
                f"requested scopes: {s.scopes}",
                status=exc.status, api_message=exc.error) from None

    async def _grant(self, grant: str, form: dict[str, str]) -> _Token:
        s = self._settings
        form = {**form, "client_id": s.client_id,
                "client_secret": s.client_secret.get_secret_value()}
        self._stats.token_requests += 1
        self._stats.token_grants[grant] += 1
        started = self._clock()
        try:
            response = await self._http().post(
                s.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise MyogoTokenUnavailable(
                f"token request failed: {type(exc).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise MyogoTokenUnavailable(f"token endpoint answered HTTP {status}", status=status)
        if status != 200:
            raise _GrantRefused(status, _oauth_error(response))
        try:
            data = response.json()
            access = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise MyogoTokenUnavailable(
                "token endpoint answered 200 without an access_token", status=status) from None
        try:
            ttl = float(data.get("expires_in") or DEFAULT_TTL)
        except (TypeError, ValueError):
            ttl = DEFAULT_TTL
        refresh = data.get("refresh_token")
        log.debug("myogo.token", grant=grant, expires_in=ttl)
        return _Token(access=access, refresh=str(refresh) if refresh else None,
                      expires_at=started + ttl)


def _oauth_error(response: httpx.Response) -> str | None:
    """``error`` (+ ``error_description``) of an OAuth error body; never echoes the form."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    parts = [str(data[k]) for k in ("error", "error_description", "message") if data.get(k)]
    return ": ".join(parts)[:200] or None


class MyogoAuth(httpx.Auth):
    """Adds credentials to each API request; one re-auth and replay on 401."""

    requires_request_body = True

    def __init__(self, tokens: TokenManager | None, api_key: str | None,
                 stats: ClientStats) -> None:
        if tokens is None and not api_key:
            raise ValueError("either a TokenManager or an api_key is needed")
        self._tokens = tokens
        self._api_key = api_key
        self._stats = stats

    def __repr__(self) -> str:
        return f"MyogoAuth(mode={'api_key' if self._api_key else 'oauth'})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("MyogoAuth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()  # so a replay can resend the body
        if self._api_key:
            request.headers["X-OgoKey"] = self._api_key
            yield request
            return
        assert self._tokens is not None
        token = await self._tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        self._stats.reauths += 1
        token = await self._tokens.renew_after_rejection(token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
