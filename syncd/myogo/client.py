"""The async myOGO API client (one per merchant).

Every call goes through ``_call``: concurrency limit -> rate limit -> httpx send (auth flow
adds the token, re-auths once on 401) -> tenacity retry for transient failures only ->
status mapped to a typed error. docs/simulator.md says what each endpoint is known (or
assumed) to do.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from syncd.cursor import format_time
from syncd.http_retry import parse_retry_after
from syncd.myogo.auth import MyogoAuth, MyogoTokenUnavailable, TokenManager
from syncd.myogo.errors import (
    MyogoAuthError,
    MyogoError,
    MyogoNotFoundError,
    MyogoPagingError,
    MyogoTransientError,
    MyogoUnknownOutcomeError,
    MyogoValidationError,
)
from syncd.myogo.limits import AdaptiveRateLimiter, RateLimiter
from syncd.myogo.models import (
    MyogoModel,
    ObjectMetadata,
    OrderRequest,
    OrderResponse,
    OrderStatus,
    ProductRequest,
    ProductResponse,
    ReturnRequest,
    ReturnResponse,
    StockResponse,
    StockUpdateRequest,
    StockUpdateResponse,
    WebHook,
    WebHookResponse,
)
from syncd.myogo.paging import DEFAULT_MAX_PAGES, iter_pages
from syncd.myogo.settings import MyogoSettings
from syncd.myogo.stats import ClientStats

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=MyogoModel)
Sleep = Callable[[float], Awaitable[None]]

USER_AGENT = "ogo-syncd/0.1 (+myogo client)"
#: nothing was sent: safe to retry any method
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: a POST answered with these was not processed, so it may be retried
_POST_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_AUTH_HINT = ("check the credentials (myogo.merchant_id/secret_token or api_key) and that "
              "the API client has the scopes it needs")


class _RetryableStatus(Exception):
    """A 5xx/429 answer, raised inside the retry loop so tenacity can decide."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


def _retry_reason(exc: BaseException | None) -> str:
    """The bounded ``kind`` label of a retry: 429, 5xx, token or network."""
    if isinstance(exc, _RetryableStatus):
        return "429" if exc.response.status_code == 429 else "5xx"
    if isinstance(exc, MyogoTokenUnavailable):
        return "token"
    return "network"


def encode_code(code: str) -> str:
    """Base64url without padding, as ASP.NET ``WebEncoders.Base64UrlEncode`` (product paths)."""
    return base64.urlsafe_b64encode(code.encode("utf-8")).decode("ascii").rstrip("=")


def _segment(value: str) -> str:
    return quote(value, safe="")


def api_message(response: httpx.Response) -> str | None:
    """The API's ``message`` (ApiError), else ProblemDetails/field errors, else body text."""
    text = response.text.strip()
    if not text:
        return None
    try:
        data = response.json()
    except ValueError:
        return text[:300]
    if isinstance(data, str):
        return data[:300]
    if not isinstance(data, dict):
        return text[:300]
    lower = {k.lower(): v for k, v in data.items() if isinstance(k, str)}
    message = next((str(lower[k]) for k in ("message", "title", "error_description",
                                             "statusdescription", "error") if lower.get(k)),
                   None)
    fields = lower.get("errors") if isinstance(lower.get("errors"), dict) else None
    if fields is None and message is None:
        fields = {k: v for k, v in data.items() if isinstance(v, list)} or None
    if fields:
        detail = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in fields.items())
        message = f"{message}: {detail}" if message else detail
    return (message or text)[:500]


class MyogoClient:
    """Async client for the myOGO REST API v1. Use as ``async with MyogoClient(s) as c:``.

    ``transport`` lets tests plug in ``httpx.ASGITransport(app=sim.app)``; ``sleep`` replaces
    the back-off sleep and ``clock`` the token-expiry clock (tests drive both).
    """

    def __init__(
        self,
        settings: MyogoSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self.settings = settings
        self.stats = ClientStats()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._max_pages = max_pages
        self._token_url = httpx.URL(settings.token_url)
        self._http = httpx.AsyncClient(
            base_url=settings.api_url.rstrip("/") + "/",
            transport=transport,
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(max_connections=settings.concurrency + 2),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            event_hooks={"request": [self._count_request]},
        )
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        self.tokens: TokenManager | None = None
        if not api_key:
            self.tokens = TokenManager(settings, lambda: self._http, self.stats,
                                       clock or time.monotonic)
        self._auth = MyogoAuth(self.tokens, api_key, self.stats)
        self._in_flight = asyncio.Semaphore(settings.concurrency)
        floor, ceiling = settings.rate_bounds
        self.rate_limiter: RateLimiter = AdaptiveRateLimiter(
            settings.rate_limit, floor=floor, ceiling=ceiling)

    def __repr__(self) -> str:
        return f"MyogoClient(api_url={self.settings.api_url!r})"

    async def __aenter__(self) -> MyogoClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ transport core

    async def _count_request(self, request: httpx.Request) -> None:
        if request.url != self._token_url:
            self.stats.requests += 1

    async def _send_once(self, method: str, path: str, params: Mapping[str, Any] | None,
                         body: Any) -> httpx.Response:
        limiter = self.rate_limiter
        async with self._in_flight:
            await limiter.acquire()
            epoch, started = limiter.epoch, limiter.now()
            request = self._http.build_request(method, path, params=params, json=body)
            try:
                response = await self._http.send(request, auth=self._auth)
            except httpx.TimeoutException:
                limiter.answered(epoch, None, limiter.now() - started)
                raise
        self.stats.responses_by_status[response.status_code] += 1
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        limiter.answered(epoch, response.status_code, limiter.now() - started, retry_after)
        if response.status_code == 429 or response.status_code >= 500:
            if method == "POST" and response.status_code not in _POST_RETRY_STATUSES:
                return response  # the server may have committed: not retried (see _check)
            raise _RetryableStatus(response, retry_after)
        return response

    def _retryable(self, exc: BaseException, method: str) -> bool:
        if isinstance(exc, (_RetryableStatus, MyogoTokenUnavailable, *_NOT_SENT)):
            return True
        return isinstance(exc, httpx.TransportError) and method in _IDEMPOTENT

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return exc.retry_after
        exponent = max(0, state.attempt_number - 1)
        base = min(self._backoff_max, self._backoff_initial * (2 ** exponent))
        return base + random.uniform(0, self._backoff_initial)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.settings.retry_attempts:
            return True
        spent = max(state.seconds_since_start, state.idle_for)
        return spent + (state.upcoming_sleep or 0.0) > self.settings.retry_max_seconds

    async def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.stats.count_retry(_retry_reason(exc))
        log.info("myogo.retry", attempt=state.attempt_number, sleep=round(state.upcoming_sleep, 3),
                 reason=str(exc) if isinstance(exc, _RetryableStatus | MyogoError)
                 else type(exc).__name__)

    async def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                    body: Any = None) -> httpx.Response:
        """One API operation with retries; returns the 2xx response or raises a MyogoError."""
        try:
            return self._check(method, path, await self._attempts(method, path, params, body))
        except MyogoError as exc:
            if exc.method is None:
                exc.method, exc.path = method, path
            self.stats.count_error(exc.kind)
            raise

    async def _attempts(self, method: str, path: str, params: Mapping[str, Any] | None,
                        body: Any) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=self._stop, wait=self._wait, sleep=self._sleep, reraise=True,
            retry=retry_if_exception(lambda e: self._retryable(e, method)),
            before_sleep=self._before_sleep,
        )
        where = f"{method} /{path.lstrip('/')}"
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send_once(method, path, params, body)
        except _RetryableStatus as exc:
            status = exc.response.status_code
            raise MyogoTransientError(
                f"{where}: HTTP {status} after {self.settings.retry_attempts} attempt(s) at most",
                status=status, api_message=api_message(exc.response)) from None
        except httpx.TransportError as exc:
            name = type(exc).__name__
            if method not in _IDEMPOTENT and not isinstance(exc, _NOT_SENT):
                raise MyogoUnknownOutcomeError(
                    f"{where}: sent, but no answer ({name}); the write may have happened") from None
            raise MyogoTransientError(f"{where}: {name}, retries exhausted") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        where = f"{method} /{path.lstrip('/')}"
        message = api_message(response)
        text = f"{where}: HTTP {status}" + (f": {message}" if message else "")
        kwargs: dict[str, Any] = {"status": status, "api_message": message,
                                  "method": method, "path": path}
        if status in (401, 403):
            raise MyogoAuthError(f"{text} ({_AUTH_HINT})", **kwargs)
        if status == 404:
            raise MyogoNotFoundError(text, **kwargs)
        if status >= 500:  # only a POST gets here: 500 after sending = may have committed
            raise MyogoUnknownOutcomeError(f"{text}; the write may have happened", **kwargs)
        raise MyogoValidationError(text, **kwargs)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise MyogoTransientError(
                f"unparseable JSON from {response.request.method} {response.request.url.path}",
                status=response.status_code) from None

    async def _get_list(self, path: str, params: Mapping[str, Any]) -> list[Any]:
        data = self._json(await self._call("GET", path, params=params))
        if data is None:
            return []
        if not isinstance(data, list):
            raise MyogoTransientError(f"GET /{path}: expected a JSON array, got "
                                      f"{type(data).__name__}")
        return data

    async def _paged(self, path: str, model: type[M], filters: Mapping[str, Any],
                     *, missing_is_empty: bool = False) -> AsyncIterator[list[M]]:
        limit = self.settings.page_size
        query = {k: v for k, v in filters.items() if v is not None}

        async def fetch(page: int) -> list[Any]:
            try:
                return await self._get_list(path, {**query, "limit": limit, "page": page})
            except MyogoNotFoundError:
                if missing_is_empty:
                    return []
                raise

        try:
            async for raw in iter_pages(fetch, limit, max_pages=self._max_pages, what=path):
                yield [model.model_validate(item) for item in raw]
        except MyogoPagingError as exc:
            self.stats.count_error(exc.kind)
            raise

    async def _one(self, method: str, path: str, model: type[M], body: MyogoModel | None = None,
                   params: Mapping[str, Any] | None = None) -> M:
        response = await self._call(method, path, params=params,
                                    body=body.to_wire() if body is not None else None)
        data = self._json(response)
        if data is None and body is not None:
            # some writes answer with an empty 200: echo what we sent
            return model.model_validate(body.to_wire())
        if not isinstance(data, dict):
            raise MyogoTransientError(f"{method} /{path}: expected a JSON object",
                                      status=response.status_code)
        return model.model_validate(data)

    @staticmethod
    def _time(value: datetime | None) -> str | None:
        return format_time(value) if value is not None else None

    # ------------------------------------------------------------------ orders

    def iter_orders(self, *, modified_after: datetime | None = None,
                    reference: str | None = None) -> AsyncIterator[list[OrderResponse]]:
        """Orders changed after ``modified_after`` (or with ``reference``), one list per page."""
        return self._paged("orders", OrderResponse, {
            "modifiedAfter": self._time(modified_after), "reference": reference})

    async def find_order(self, reference: str) -> OrderResponse | None:
        """The order with this reference (exact match preferred, then case-insensitive)."""
        found: list[OrderResponse] = []
        async for page in self.iter_orders(reference=reference):
            found.extend(page)
        exact = [o for o in found if o.reference == reference]
        if exact:
            return exact[0]
        folded = [o for o in found if o.reference.lower() == reference.lower()]
        return folded[0] if folded else None

    async def create_order(self, order: OrderRequest) -> OrderResponse:
        """POST /orders. A send without an answer raises ``MyogoUnknownOutcomeError``."""
        return await self._one("POST", "orders", OrderResponse, order)

    async def update_order(self, reference: str, order: OrderRequest) -> OrderResponse:
        """PUT /orders/{reference}; lines/documents in ``order`` replace the existing ones."""
        return await self._one("PUT", f"orders/{_segment(reference)}", OrderResponse, order)

    async def set_order_status(self, reference: str, status: str) -> OrderResponse:
        """Change only the status (PUT with ``reference`` + ``status``) [I]."""
        body = OrderRequest(reference=reference, status=status)
        return await self._one("PUT", f"orders/{_segment(reference)}", OrderResponse, body)

    async def cancel_order(self, reference: str) -> OrderResponse:
        """Cancel = status ``cancelled``; myOGO allows it from new/draft/pending/reserved."""
        return await self.set_order_status(reference, OrderStatus.CANCELLED)

    # ------------------------------------------------------------------ products

    def iter_products(self, *, modified_after: datetime | None = None, code: str | None = None,
                      ean_code: str | None = None) -> AsyncIterator[list[ProductResponse]]:
        return self._paged("products", ProductResponse, {
            "modifiedAfter": self._time(modified_after), "code": code, "eanCode": ean_code})

    async def find_product(self, code: str) -> ProductResponse | None:
        """The product with this code; myOGO may hold duplicates: the first exact one wins."""
        found: list[ProductResponse] = []
        async for page in self.iter_products(code=code):
            found.extend(page)
        exact = [p for p in found if p.code == code]
        if len(exact) > 1:
            log.warning("myogo.duplicate_product_code", code=code, count=len(exact))
        return exact[0] if exact else None

    async def create_product(self, product: ProductRequest) -> ProductResponse:
        return await self._one("POST", "products", ProductResponse, product)

    async def update_product(self, code: str, product: ProductRequest) -> ProductResponse:
        """PUT /products/{base64url(code)}?base64url=true; ``code`` is the *current* code,
        ``product.code`` may differ (a rename)."""
        return await self._one("PUT", f"products/{encode_code(code)}", ProductResponse, product,
                               params={"base64url": "true"})

    # ------------------------------------------------------------------ stock

    def iter_stock(self, *, modified_after: datetime | None = None,
                   product_code: str | None = None) -> AsyncIterator[list[StockResponse]]:
        """Stock levels; a 404 (documented for unknown product codes) means none."""
        return self._paged("stock", StockResponse, {
            "modifiedAfter": self._time(modified_after), "productCode": product_code},
            missing_is_empty=True)

    # ------------------------------------------------------------------ stock updates (ASN)

    def iter_stock_updates(self, *, modified_after: datetime | None = None,
                           reference: str | None = None, auto_reference: str | None = None,
                           ) -> AsyncIterator[list[StockUpdateResponse]]:
        return self._paged("StockUpdate", StockUpdateResponse, {
            "modifiedAfter": self._time(modified_after), "reference": reference,
            "autoreference": auto_reference})

    async def create_stock_update(self, update: StockUpdateRequest) -> StockUpdateResponse:
        return await self._one("POST", "StockUpdate", StockUpdateResponse, update)

    # ------------------------------------------------------------------ returns [I]

    def iter_returns(self, *, modified_after: datetime | None = None,
                     reference: str | None = None) -> AsyncIterator[list[ReturnResponse]]:
        """[I] GET /returns (path and filters inferred)."""
        return self._paged("returns", ReturnResponse, {
            "modifiedAfter": self._time(modified_after), "reference": reference})

    async def create_return(self, item: ReturnRequest) -> ReturnResponse:
        """[I] POST /returns."""
        return await self._one("POST", "returns", ReturnResponse, item)

    async def update_return(self, reference: str, item: ReturnRequest) -> ReturnResponse:
        """[I] PUT /returns/{reference} (status ``cancelled`` cancels a new return)."""
        return await self._one("PUT", f"returns/{_segment(reference)}", ReturnResponse, item)

    # ------------------------------------------------------------------ webhooks

    async def list_webhooks(self) -> list[WebHookResponse]:
        """GET /webhooks; a literal ``null`` body means none."""
        data = self._json(await self._call("GET", "webhooks"))
        if data is None:
            return []
        if not isinstance(data, list):
            raise MyogoTransientError("GET /webhooks: expected a JSON array")
        return [WebHookResponse.model_validate(item) for item in data]

    async def create_webhook(self, hook: WebHook) -> WebHookResponse:
        return await self._one("POST", "webhooks", WebHookResponse, hook)

    async def get_webhook(self, webhook_id: str) -> WebHookResponse | None:
        """GET /webhooks/{id}; ``null`` or 404 -> None."""
        try:
            data = self._json(await self._call("GET", f"webhooks/{_segment(webhook_id)}"))
        except MyogoNotFoundError:
            return None
        return WebHookResponse.model_validate(data) if isinstance(data, dict) else None

    async def update_webhook(self, hook: WebHookResponse) -> WebHookResponse:
        """PUT /webhooks/{hook.id} with the full subscription."""
        return await self._one("PUT", f"webhooks/{_segment(hook.id)}", WebHookResponse, hook)

    async def delete_webhook(self, webhook_id: str) -> None:
        """DELETE /webhooks/{id} (204)."""
        await self._call("DELETE", f"webhooks/{_segment(webhook_id)}")

    # ------------------------------------------------------------------ metadata [I]

    async def get_metadata(self, object_id: str) -> ObjectMetadata | None:
        """[I] GET /metadata/{objectId}; 404 or empty -> None."""
        try:
            data = self._json(await self._call("GET", f"metadata/{_segment(object_id)}"))
        except MyogoNotFoundError:
            return None
        return ObjectMetadata.model_validate(data) if isinstance(data, dict) else None

    async def update_metadata(self, metadata: ObjectMetadata) -> ObjectMetadata:
        """[I] PUT /metadata/{objectId}."""
        return await self._one("PUT", f"metadata/{_segment(metadata.id)}", ObjectMetadata,
                               metadata)

    async def delete_metadata(self, object_id: str) -> None:
        """[I] DELETE /metadata/{objectId}."""
        await self._call("DELETE", f"metadata/{_segment(object_id)}")
