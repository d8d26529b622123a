"""Client-side limits that protect the API: requests in flight and requests per second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Token bucket: ``rate`` requests per second sustained, bursts up to ``burst``.

    ``clock``/``sleep`` are injectable so tests can drive time without waiting.
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
