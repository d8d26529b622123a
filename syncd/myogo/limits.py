"""Client-side limits that protect the API: requests in flight and requests per second.

``RateLimiter`` is a fixed token bucket. ``AdaptiveRateLimiter`` moves its rate AIMD-style
between a floor and a ceiling: it grows while myOGO answers fast and without 429, and halves
on a 429, a 5xx or a timeout (once per burst of them: answers to requests sent before the
last cut do not cut again), pausing every request for a ``Retry-After``. myOGO publishes no
limit, so the rate it can take is learnt instead of guessed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: an answer slower than this many times the fastest one seen (and than ``SLOW_FLOOR``
#: seconds) means myOGO is queueing: no reason to go faster
SLOW_FACTOR = 4.0
SLOW_FLOOR = 0.25
#: the cut on a 429/5xx/timeout (multiplicative decrease)
DECREASE = 0.5


class RateLimiter:
    """Token bucket: ``rate`` requests per second sustained, bursts up to ``burst``.

    ``clock``/``sleep`` are injectable so tests can drive time without waiting. A fixed
    limiter ignores what the API answers (``answered``).
    """

    def __init__(self, rate: float, *, burst: float | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # total seconds spent waiting (for tests and metrics)
        self.epoch = 0     # bumped by each cut of an adaptive limiter

    def now(self) -> float:
        """The limiter's clock (the client times answers with it, so tests can drive it)."""
        return self._clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until one request may be sent. Callers are served in arrival order."""
        async with self._lock:
            self._refill()
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self.rate
                self.waited += wait
                await self._sleep(wait)
                self._refill()
                # we slept exactly long enough for one token; float rounding must not
                # leave us spinning on 0.9999999
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1.0

    def answered(self, epoch: int, status: int | None, seconds: float,
                 retry_after: float | None = None) -> None:
        """What the API answered to a request sent at ``epoch`` (None: no answer in time)."""


class AdaptiveRateLimiter(RateLimiter):
    """AIMD between ``floor`` and ``ceiling``, starting at ``rate``.

    Each fast answer adds ``step / rate`` (so about ``step`` req/s for every second of
    traffic at the full rate); a 429, 5xx or timeout to a request sent since the last cut
    multiplies the rate by ``DECREASE``. The burst is one second's worth at the current rate.
    """

    def __init__(self, rate: float, *, floor: float, ceiling: float, step: float | None = None,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if not 0 < floor <= rate <= ceiling:
            raise ValueError("expected 0 < floor <= rate <= ceiling")
        super().__init__(rate, clock=clock, sleep=sleep)
        self.floor, self.ceiling = floor, ceiling
        self.step = step if step is not None else max(1.0, rate / 4)
        self.cuts = 0
        self._fastest: float | None = None

    def _set_rate(self, rate: float) -> None:
        self._refill()
        self.rate = min(self.ceiling, max(self.floor, rate))
        self.capacity = max(1.0, self.rate)
        self._tokens = min(self._tokens, self.capacity)

    def answered(self, epoch: int, status: int | None, seconds: float,
                 retry_after: float | None = None) -> None:
        if status is None or status == 429 or status >= 500:
            if retry_after:
                self._refill()   # nobody sends before Retry-After has passed
                self._tokens = min(self._tokens, 1.0 - retry_after * self.rate)
            if epoch == self.epoch:          # the first of a burst of refusals cuts
                self._set_rate(self.rate * DECREASE)
                self.epoch += 1
                self.cuts += 1
            return
        self._fastest = seconds if self._fastest is None else min(self._fastest, seconds)
        if seconds <= max(SLOW_FLOOR, SLOW_FACTOR * self._fastest) and self.rate < self.ceiling:
            self._set_rate(self.rate + self.step / self.rate)
