"""A small Admin GraphQL client: bearer-token login, one re-login, errors classified once.

Vendure answers almost everything with HTTP 200: refused permissions come back as a GraphQL
error with ``extensions.code == "FORBIDDEN"``, and mutation failures as ``ErrorResult``
*data*. Both are turned into ``syncd.errors`` classes here (results by ``raise_error_result``).
Every POST goes through ``syncd.http_retry``: queries (and mutations the caller marks
idempotent, like setting absolute stock) are retried after a 5xx or a lost answer; any
request refused with 429/503 or never sent is retried; a non-idempotent mutation whose
answer was lost raises ``UnknownOutcomeError``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.vendure.settings import VendureSettings
from syncd.errors import AuthError, ConfigError, DataError, TransientError
from syncd.http_retry import DEFAULT_POLICY, RetryPolicy, Sleep, send_with_retries

AUTH_TOKEN_HEADER = "vendure-auth-token"
CHANNEL_HEADER = "vendure-token"

LOGIN = """
mutation Login($username: String!, $password: String!) {
  login(username: $username, password: $password, rememberMe: false) {
    ... on CurrentUser { id identifier }
    ... on ErrorResult { errorCode message }
  }
}
"""

_CONFIG_CODES = {"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"}
_DATA_CODES = {"ENTITY_NOT_FOUND", "USER_INPUT_ERROR", "BAD_USER_INPUT", "ILLEGAL_OPERATION"}


def raise_error_result(result: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """Return a union mutation's success object, or raise ``DataError`` for an ErrorResult."""
    if result is None:
        raise DataError(f"{what}: Vendure returned no result")
    if "errorCode" in result:
        raise DataError(f"{what}: {result['errorCode']}: {result.get('message', '')}".rstrip())
    return result


class VendureClient:
    """Posts GraphQL documents to one Admin API URL as one administrator."""

    def __init__(self, settings: VendureSettings, http: httpx.AsyncClient, *,
                 retry: RetryPolicy = DEFAULT_POLICY, sleep: Sleep = asyncio.sleep) -> None:
        self.settings = settings
        self.http = http
        self.retry = retry
        self.sleep = sleep
        self._token: str | None = None
        self._session_cookies: dict[str, str] = {}
        self._logged_in = False
        self._login_lock = asyncio.Lock()
        #: the server's clock (HTTP ``Date``) at the last response; None before any
        self.server_time: datetime | None = None

    async def login(self) -> None:
        """Log in with the native username/password strategy; keep the bearer token."""
        self._session_cookies.clear()
        credentials = {
            "username": self.settings.username,
            "password": self.settings.password.get_secret_value(),
        }
        try:
            data, response = await self._post(   # a second login is harmless
                LOGIN, credentials, authenticate=False, mutation=True, idempotent=True
            )
        except _Forbidden:
            raise AuthError(f"Vendure at {self.settings.url} refused the login") from None
        result = data.get("login") or {}
        if "errorCode" in result:
            code = result["errorCode"]
            if code == "INVALID_CREDENTIALS_ERROR":
                raise AuthError(
                    f"Vendure at {self.settings.url} refused the username/password "
                    f"of {self.settings.username!r} ({code})"
                )
            raise AuthError(f"Vendure login failed: {code}: {result.get('message', '')}")
        # Bearer token when the server issues one; otherwise the session cookie kept aside.
        self._token = response.headers.get(AUTH_TOKEN_HEADER)
        self._logged_in = True

    async def request(
        self, document: str, variables: dict[str, Any] | None = None, *, mutation: bool = False,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Run one query/mutation; re-login once when the session is refused.

        ``idempotent`` defaults to ``not mutation``: pass True for a mutation that may safely
        run twice (it is then retried after a lost answer).
        """
        if not self._logged_in:
            await self._login_once(stale=None)
        token = self._token
        try:
            data, _ = await self._post(document, variables, mutation=mutation,
                                       idempotent=idempotent)
        except _Forbidden:
            await self._login_once(stale=token)
            try:
                data, _ = await self._post(document, variables, mutation=mutation,
                                           idempotent=idempotent)
            except _Forbidden as refused:
                raise AuthError(
                    f"Vendure refused {refused.path or 'the request'} for "
                    f"{self.settings.username!r}: the administrator's role lacks a permission "
                    "(see docs/connectors/vendure.md for the permissions needed)"
                ) from None
        return data

    async def _login_once(self, stale: str | None) -> None:
        async with self._login_lock:
            if self._logged_in and self._token != stale:
                return  # another task already logged in again
            await self.login()

    def _headers(self, authenticate: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.settings.channel_token:
            headers[CHANNEL_HEADER] = self.settings.channel_token
        if authenticate and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        elif authenticate and self._session_cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._session_cookies.items())
        return headers

    def _keep_session_private(self, response: httpx.Response) -> None:
        """Take Vendure's session cookies out of the shared client's jar.

        The ``http`` client may serve other stores on the same host; a session cookie left
        in its jar would be sent with their requests (and Vendure accepts a cookie even
        next to a wrong bearer token). Cookies are kept here and sent only when the server
        issued no bearer token (``tokenMethod: 'cookie'``).
        """
        names = {
            header.split("=", 1)[0].strip()
            for header in response.headers.get_list("set-cookie")
        }
        if not names:
            return
        self._session_cookies.update(
            {name: value for name, value in response.cookies.items() if name in names}
        )
        host = response.request.url.host
        jar = self.http.cookies.jar
        for cookie in list(jar):
            if cookie.name in names and cookie.domain.lstrip(".") in (host, f"{host}.local"):
                jar.clear(cookie.domain, cookie.path, cookie.name)

    async def _post(
        self,
        document: str,
        variables: dict[str, Any] | None,
        *,
        authenticate: bool = True,
        mutation: bool = False,
        idempotent: bool | None = None,
    ) -> tuple[dict[str, Any], httpx.Response]:
        body = {"query": document, "variables": variables or {}}

        async def once() -> httpx.Response:
            request = self.http.build_request(
                "POST", self.settings.url, json=body, headers=self._headers(authenticate)
            )
            if not (authenticate and not self._token and self._session_cookies):
                request.headers.pop("Cookie", None)  # never another session's cookie
            return await self.http.send(request)

        kind = "mutation" if mutation else "query"
        response = await send_with_retries(
            once, what=f"Vendure {kind} at {self.settings.url}",
            idempotent=not mutation if idempotent is None else idempotent,
            policy=self.retry, sleep=self.sleep)
        self._note_server_time(response)
        self._keep_session_private(response)
        return self._decode(response), response

    def _note_server_time(self, response: httpx.Response) -> None:
        date = response.headers.get("date")
        if date:
            try:
                self.server_time = parsedate_to_datetime(date)
            except (TypeError, ValueError):
                pass

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status in (401, 403):
            raise _Forbidden(None)
        if status == 429 or status >= 500:
            raise TransientError(f"Vendure answered HTTP {status}")
        try:
            payload = response.json()
        except ValueError:
            if status >= 400:
                raise ConfigError(
                    f"{self.settings.url} answered HTTP {status} without GraphQL; "
                    "is this the Admin API URL?", key="url"
                ) from None
            raise TransientError(f"Vendure sent a non-JSON answer (HTTP {status})") from None
        if not isinstance(payload, dict):
            raise TransientError("Vendure sent an unexpected answer")
        errors = payload.get("errors") or []
        if errors:
            self._raise_graphql_error(errors[0])
        if status >= 400:
            raise ConfigError(f"{self.settings.url} answered HTTP {status}", key="url")
        return payload.get("data") or {}

    def _raise_graphql_error(self, error: dict[str, Any]) -> None:
        code = (error.get("extensions") or {}).get("code", "")
        message = error.get("message", "")
        path = ".".join(str(p) for p in error.get("path") or ()) or None
        if code == "FORBIDDEN":
            raise _Forbidden(path)
        if code == "CHANNEL_NOT_FOUND":
            raise ConfigError("no Vendure channel has this token", key="channel_token")
        if code in _CONFIG_CODES:
            raise ConfigError(
                f"Vendure rejected the query ({code}): {message} - check the server version "
                "and options such as ean_custom_field"
            )
        if code in _DATA_CODES:
            raise DataError(f"Vendure: {code}: {message}")
        raise TransientError(f"Vendure error {code or 'without code'}: {message}")


class _Forbidden(Exception):
    """The session or the role was refused; handled by a re-login, then ``AuthError``."""

    def __init__(self, path: str | None) -> None:
        super().__init__(path)
        self.path = path
