"""Retries for store HTTP clients: which failures earn another attempt, and how long to wait.

Store-neutral; each connector's client sends through ``send_with_retries`` and classifies the
response it gets back. The rules, from what a failure says about whether the work was done:

- nothing was sent (connect error or timeout, no free connection): retry any request;
- sent, but no answer (read timeout, dropped connection): retry an *idempotent* request; a
  non-idempotent one raises ``UnknownOutcomeError`` at once: the caller must look at the
  store before writing again, never blindly repeat it;
- 429 and 503: refused before doing the work: retry any request, after ``Retry-After``;
- 500, 502, 504: retry an idempotent request; a non-idempotent one is returned as it is
  (its outcome is unknown, the caller decides);
- waits grow exponentially with jitter (tenacity), or are what ``Retry-After`` (or the
  client's own ``judge``) says, never more than ``max_wait``.

When the attempts run out the last response is returned (the caller classifies it, e.g. as
``TransientError``) and a transport error becomes ``TransientError``. Messages name the
request by ``what`` (method and path, never a URL: query strings may hold keys).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from syncd.errors import TransientError, UnknownOutcomeError

log = structlog.get_logger("syncd.http")

Sleep = Callable[[float], Awaitable[None]]
#: the request never left: safe to send again whatever it does
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: the server refused before doing anything: any request may be sent again
REFUSED_STATUSES = frozenset({429, 503})
#: the server failed, maybe half-way: only an idempotent request may be sent again
FAILED_STATUSES = frozenset({500, 502, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and the backoff between them (seconds)."""

    attempts: int = 4
    initial: float = 0.5
    max_wait: float = 30.0


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Retry:
    """A judge's verdict on a response: send again after ``after`` seconds (None = backoff)."""

    after: float | None = None


Judge = Callable[[httpx.Response], Retry | None]


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None
                      ) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent/garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def judge_status(response: httpx.Response, idempotent: bool) -> Retry | None:
    """The default judge: by status code, as in the module docstring."""
    status = response.status_code
    if status in REFUSED_STATUSES or (idempotent and status in FAILED_STATUSES):
        return Retry(parse_retry_after(response.headers.get("Retry-After")))
    return None


class _Again(Exception):
    """A response the judge wants retried (raised inside the loop so tenacity sees it)."""

    def __init__(self, response: httpx.Response, retry: Retry) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry = retry


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    what: str,
    idempotent: bool,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Sleep = asyncio.sleep,
    judge: Judge | None = None,
) -> httpx.Response:
    """Call ``send`` (one attempt, building the request afresh) until the answer is final.

    ``judge`` decides which responses to retry (default ``judge_status``); it is called once
    per response, so a client may also note things there (rate-limit headers).
    """
    verdict = judge or (lambda response: judge_status(response, idempotent))

    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, (_Again, *NOT_SENT)):
            return True
        return idempotent and isinstance(exc, httpx.TransportError)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Again) and exc.retry.after is not None:
            return min(policy.max_wait, exc.retry.after)
        base = policy.initial * 2 ** max(0, state.attempt_number - 1)
        return min(policy.max_wait, base + random.uniform(0, policy.initial))

    async def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("store_http_retry", what=what, attempt=state.attempt_number,
                 sleep=round(state.upcoming_sleep, 3), reason=str(exc) if isinstance(
                     exc, _Again) else type(exc).__name__)

    async def once() -> httpx.Response:
        response = await send()
        retry = verdict(response)
        if retry is not None:
            raise _Again(response, retry)
        return response

    retrying = AsyncRetrying(stop=stop_after_attempt(max(1, policy.attempts)), wait=wait,
                             sleep=sleep, reraise=True, retry=retry_if_exception(retryable),
                             before_sleep=before_sleep)
    try:
        async for attempt in retrying:
            with attempt:
                return await once()
    except _Again as exc:
        return exc.response
    except httpx.TransportError as exc:
        name = type(exc).__name__
        if isinstance(exc, NOT_SENT):
            raise TransientError(f"{what}: cannot connect ({name})") from None
        if not idempotent:
            raise UnknownOutcomeError(
                f"{what}: sent, but no answer ({name}); the write may have happened") from None
        raise TransientError(f"{what}: no answer ({name}) after {policy.attempts} attempts"
                             ) from None
    raise AssertionError("unreachable: tenacity either returns or raises")
