"""A small Admin GraphQL client: error classification and cost-based throttling.

Shopify meters GraphQL by calculated query cost in a leaky bucket
(docs/connectors/shopify.md, limits). Every response reports
``extensions.cost.throttleStatus``; we remember it, wait *before* a query whose last
requested cost exceeds what the bucket should hold by now, and after a THROTTLED answer
(HTTP 200 with ``errors[].extensions.code == "THROTTLED"``, or HTTP 429) we wait
``(requested - available) / restoreRate`` seconds and send the same request again. ``sleep``
and ``clock`` are injectable so tests never wait on the wall clock.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from syncd.errors import AuthError, ConfigError, ConnectorError, TransientError, UnknownOutcomeError
from syncd.http_retry import Retry, RetryPolicy, send_with_retries

from .settings import ShopifySettings

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

SCOPE_HINT = (
    "check access_token and the custom app's Admin API scopes (read_products, read_orders, "
    "write_inventory, write_merchant_managed_fulfillment_orders)"
)
_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)", re.MULTILINE)


def operation_name(document: str) -> str:
    """The name of the (single) operation in ``document``."""
    match = _OPERATION.search(document)
    if not match:
        raise ValueError("GraphQL document without a named operation")
    return match.group(1)


@dataclass
class Bucket:
    """What the last response said about the cost bucket, and when we heard it."""

    available: float
    maximum: float
    restore_rate: float
    at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + max(0.0, now - self.at) * self.restore_rate)


class ShopifyGraphQL:
    """POSTs documents to ``/admin/api/{version}/graphql.json`` and returns ``data``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: ShopifySettings,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        max_attempts: int = 6,
        max_wait: float = 60.0,
    ) -> None:
        self.http = http
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.bucket: Bucket | None = None
        self.expected_cost: dict[str, float] = {}
        self.throttled = 0                       # how many THROTTLED answers we waited out

    async def execute(
        self, document: str, variables: dict[str, Any], *, idempotent: bool = True
    ) -> dict[str, Any]:
        """Run one operation; retry throttling and (when ``idempotent``) transient failures.

        A non-idempotent mutation whose answer was lost raises ``UnknownOutcomeError``: the
        caller must look at the store before trying again.
        """
        name = operation_name(document)
        payload = {"query": document, "variables": variables, "operationName": name}
        headers = {
            "X-Shopify-Access-Token": self.settings.access_token.get_secret_value(),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

        async def once() -> httpx.Response:
            await self._wait_for_budget(name)
            return await self.http.post(self.settings.graphql_url, json=payload, headers=headers)

        response = await send_with_retries(
            once, what=f"Shopify {name}", idempotent=idempotent, sleep=self.sleep,
            policy=RetryPolicy(attempts=self.max_attempts, max_wait=self.max_wait),
            judge=lambda r: self._judge(name, r, idempotent))
        return self._result(name, response, idempotent)

    def _judge(self, name: str, response: httpx.Response, idempotent: bool) -> Retry | None:
        """Which answers to send again: throttling (after the bucket refills) always, a
        server error only when the operation is idempotent."""
        status = response.status_code
        if status == 429:
            self.throttled += 1
            return Retry(self._throttle_wait(response, _json_or_none(response)))
        if status >= 500:
            return Retry() if idempotent else None
        if status != 200:
            return None
        body = _json_or_none(response) or {}
        self._note_cost(name, body.get("extensions"))
        codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or ()
                 if isinstance(e, dict)}
        if "THROTTLED" in codes:
            self.throttled += 1
            return Retry(self._throttle_wait(response, body))
        if "INTERNAL_SERVER_ERROR" in codes and idempotent:
            return Retry()
        return None

    def _result(self, name: str, response: httpx.Response, idempotent: bool) -> dict[str, Any]:
        """``data`` of the final answer, or its error classified."""
        status = response.status_code
        gave_up = f"(gave up after {self.max_attempts} attempts)"
        if status in (401, 403):
            raise AuthError(f"Shopify refused the credentials (HTTP {status}): {SCOPE_HINT}")
        if status == 404:
            raise ConfigError(
                f"no Admin API at {self.settings.graphql_url} (HTTP 404): check shop and "
                "api_version",
                key="shop",
            )
        if status == 429:
            raise TransientError(f"Shopify {name}: HTTP 429 {gave_up}")
        if status >= 500:
            if not idempotent:
                raise UnknownOutcomeError(f"Shopify {name}: HTTP {status}; outcome unknown")
            raise TransientError(f"Shopify {name}: HTTP {status} {gave_up}")
        if status != 200:
            raise ConnectorError(f"Shopify {name}: unexpected HTTP {status}")
        body = response.json()
        errors = body.get("errors") or []
        if not errors:
            return dict(body.get("data") or {})
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        messages = "; ".join(str(e.get("message")) for e in errors)
        if "THROTTLED" in codes:
            raise TransientError(f"Shopify {name}: throttled {gave_up}")
        if "ACCESS_DENIED" in codes:
            raise AuthError(f"Shopify denied {name}: {messages}; {SCOPE_HINT}")
        if "INTERNAL_SERVER_ERROR" in codes and idempotent:
            raise TransientError(f"Shopify {name}: {messages} {gave_up}")
        raise ConnectorError(f"Shopify {name} failed: {messages}")

    def _note_cost(self, name: str, extensions: dict[str, Any] | None) -> None:
        cost = (extensions or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in status and status.get("restoreRate"):
            self.bucket = Bucket(
                available=float(status["currentlyAvailable"]),
                maximum=float(status.get("maximumAvailable") or status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
                at=self.clock(),
            )
        if "requestedQueryCost" in cost:
            self.expected_cost[name] = float(cost["requestedQueryCost"])

    def _throttle_wait(self, response: httpx.Response, body: dict[str, Any] | None = None) -> float:
        """Seconds until the bucket holds the requested cost again (bounded)."""
        retry_after = response.headers.get("Retry-After")
        cost = ((body or {}).get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        try:
            if status.get("restoreRate"):
                need = float(cost.get("requestedQueryCost", 0)) - float(
                    status.get("currentlyAvailable", 0)
                )
                wait = need / float(status["restoreRate"])
            elif retry_after is not None:
                wait = float(retry_after)
            else:
                wait = 1.0
        except (TypeError, ValueError):
            wait = 1.0
        return min(self.max_wait, max(0.05, wait))

    async def _wait_for_budget(self, name: str) -> None:
        """Wait before sending when the bucket cannot hold the operation's expected cost."""
        need = self.expected_cost.get(name)
        if self.bucket is None or need is None:
            return
        need = min(need, self.bucket.maximum)
        available = self.bucket.available_at(self.clock())
        if need > available:
            await self.sleep(min(self.max_wait, (need - available) / self.bucket.restore_rate))


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
