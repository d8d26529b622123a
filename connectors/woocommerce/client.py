"""HTTP access to WooCommerce REST v3 with authentication and error classification.

Errors are classified once, here: 401/403 -> ``AuthError`` (with a hint about key
permissions), a missing route -> ``ConfigError``, 5xx/429/network -> ``TransientError``,
other 4xx -> ``DataError``. Messages never contain the keys (query auth puts them in URLs).
Before that, ``syncd.http_retry`` retries what is safe to retry: any request refused with
429/503 (after ``Retry-After``) or never sent, and idempotent ones (GET, PUT, and POSTs the
caller marks ``idempotent``, like the absolute stock batch) after a 5xx or a lost answer.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx

from connectors.woocommerce.settings import WooCommerceSettings
from syncd.errors import AuthError, ConfigError, DataError, TransientError
from syncd.http_retry import (
    DEFAULT_POLICY,
    IDEMPOTENT_METHODS,
    RetryPolicy,
    Sleep,
    send_with_retries,
)

API = "/wp-json/wc/v3"
TRACKING_API = "/wp-json/wc-shipment-tracking/v3"
KEY_HINT = ("check the REST API key in WooCommerce > Settings > Advanced > REST API: it must "
            "exist, belong to a user who can manage WooCommerce, and have Read/Write "
            "permissions")
PERMALINK_HINT = ("WooCommerce's REST API was not found at {url}: enable pretty permalinks "
                  "(WordPress > Settings > Permalinks, anything but 'Plain'), check that "
                  "WooCommerce is active and that no security plugin blocks /wp-json/")


class WooApiError(DataError):
    """A 4xx answer WooCommerce gave for one request (its ``code`` and ``message``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"WooCommerce answered {status} {code}: {message}")
        self.status, self.code, self.api_message = status, code, message


class WooClient:
    """Authenticated JSON requests against one shop; one instance per connector."""

    def __init__(self, settings: WooCommerceSettings, http: httpx.AsyncClient, *,
                 retry: RetryPolicy = DEFAULT_POLICY, sleep: Sleep = asyncio.sleep) -> None:
        self.settings = settings
        self.http = http
        self.retry = retry
        self.sleep = sleep

    def _auth(self) -> tuple[dict[str, str], httpx.Auth | None]:
        key = self.settings.consumer_key.get_secret_value()
        secret = self.settings.consumer_secret.get_secret_value()
        if self.settings.auth == "query":
            return {"consumer_key": key, "consumer_secret": secret}, None
        return {}, httpx.BasicAuth(key, secret)

    def _redact(self, text: str) -> str:
        for secret in (self.settings.consumer_key, self.settings.consumer_secret):
            value = secret.get_secret_value()
            if value:
                text = text.replace(value, "***")
        return text

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None,
        json: Any = None, api: str = API, idempotent: bool | None = None,
    ) -> httpx.Response:
        """One request (retried where safe); returns the 2xx response or raises a classified
        error. ``idempotent`` defaults to the method's nature (POST is not)."""
        auth_params, auth = self._auth()
        url = f"{self.settings.url}{api}{path}"

        async def once() -> httpx.Response:
            return await self.http.request(
                method, url, params={**(params or {}), **auth_params}, json=json,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )

        response = await send_with_retries(
            once, what=f"WooCommerce {method} {api}{path}",
            idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            policy=self.retry, sleep=self.sleep)
        if response.is_success:
            return response
        raise self._error(method, f"{api}{path}", response)

    def _error(self, method: str, where: str, response: httpx.Response) -> Exception:
        status = response.status_code
        code, message = _wp_error(response)
        said = f"{method} {where} -> {status} {code}: {self._redact(message)}".rstrip(": ")
        if status in (401, 403):
            hint = KEY_HINT
            if "write permission" in message:
                hint = "the key is Read-only; give it Read/Write permissions"
            elif code in ("woocommerce_rest_cannot_view", "woocommerce_rest_cannot_edit") \
                    and self.settings.auth == "basic":
                hint += ("; if the key is right, the web server may strip the Authorization "
                         "header: set auth = \"query\"")
            return AuthError(f"WooCommerce refused the REST API key ({said}); {hint}")
        if status == 429 or status >= 500:
            return TransientError(f"WooCommerce is unavailable ({said})")
        if status == 404 and code in ("rest_no_route", ""):
            return ConfigError(f"{said}; " + PERMALINK_HINT.format(url=self.settings.url))
        return WooApiError(status, code, self._redact(message))

    async def get(self, path: str, params: dict[str, Any] | None = None,
                  api: str = API) -> Any:
        return _json(await self.request("GET", path, params=params, api=api))

    async def send(self, method: str, path: str, body: Any, api: str = API, *,
                   idempotent: bool | None = None) -> Any:
        return _json(await self.request(method, path, json=body, api=api,
                                        idempotent=idempotent))

    async def pages(self, path: str, params: dict[str, Any],
                    start: int = 1) -> AsyncIterator[tuple[int, list[Any], bool]]:
        """``(page, rows, last)`` from ``start`` on, ended by ``X-WP-TotalPages``."""
        page = start
        per_page = int(params.get("per_page", self.settings.page_size))
        while True:
            response = await self.request("GET", path,
                                          params={**params, "page": page, "per_page": per_page})
            rows = _json(response)
            total_pages = _total_pages(response, len(rows), per_page, page)
            last = page >= total_pages or len(rows) < per_page
            yield page, rows, last
            if last:
                return
            page += 1


def _json(response: httpx.Response) -> Any:
    """The JSON body; bytes that are not UTF-8 (a plug-in writing Latin-1) become U+FFFD
    instead of failing the whole page, and a body that is not JSON is a transient error."""
    try:
        return json.loads(response.content.decode("utf-8", errors="replace"))
    except ValueError:
        raise TransientError(
            f"WooCommerce answered {response.request.method} {response.request.url.path} "
            f"with a body that is not JSON (HTTP {response.status_code})") from None


def _total_pages(response: httpx.Response, count: int, per_page: int, page: int) -> int:
    header = response.headers.get("X-WP-TotalPages")
    if header and header.isdigit():
        return int(header)
    total = response.headers.get("X-WP-Total")
    if total and total.isdigit():
        return math.ceil(int(total) / per_page)
    return page + 1 if count >= per_page else page


def _wp_error(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` of a WP_Error body, or an empty code for HTML/other bodies."""
    try:
        body = response.json()
    except ValueError:
        return "", "not a WordPress REST answer (HTML or empty body)"
    if isinstance(body, dict):
        return str(body.get("code") or ""), str(body.get("message") or "")
    return "", ""
