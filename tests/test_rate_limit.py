"""The adaptive myOGO rate limit against the simulator's hidden limit, over real HTTP.

Time is driven, not waited for: the simulator's clock is frozen and moves only when the
client sleeps (a back-off, a Retry-After, the bucket), so what is asserted is what the
simulator counted and where the limiter's rate went, never how long anything took.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from syncd.myogo import MyogoClient
from syncd.myogo.limits import AdaptiveRateLimiter
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.myogo_sim.clock import SimClock
from syncd.testing.server import serve_in_thread
from tests.test_myogo_client import FakeTime, hits, make_settings


class SharedTime(FakeTime):
    """The client's and the limiter's clock; sleeping also moves the simulator's clock."""

    def __init__(self, sim_clock: SimClock) -> None:
        super().__init__()
        self.sim_clock = sim_clock

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.sim_clock.advance(seconds)


@pytest.fixture
def limited() -> Iterator[tuple[MyogoSim, str]]:
    sim = MyogoSim(clock=SimClock(start=datetime(2026, 12, 1, tzinfo=UTC)))
    with serve_in_thread(sim.app) as server:
        yield sim, server.url
    sim.close()


def client_for(url: str, time: SharedTime, **limits: Any) -> tuple[MyogoClient, Any]:
    client = MyogoClient(make_settings(url, retry_attempts=5), sleep=time.sleep,
                         clock=time.clock)
    limiter = AdaptiveRateLimiter(clock=time.clock, sleep=time.sleep, **limits)
    client.rate_limiter = limiter
    return client, limiter


async def test_limiter_backs_off_on_429_and_grows_while_answers_are_fast(
    limited: tuple[MyogoSim, str]
) -> None:
    sim, url = limited
    sim.configure(hidden_rate_limit=4)      # 4 requests per (simulated) second, then 429
    time = SharedTime(sim.clock)
    client, limiter = client_for(url, time, rate=10.0, floor=2.0, ceiling=50.0)
    async with client:
        for i in range(4):                  # within the hidden limit: fast, no 429
            assert await client.find_order(f"R-{i}") is None
        grown = limiter.rate
        assert grown > 10.0 and sim.throttled == 0 and limiter.cuts == 0

        assert await client.find_order("R-4") is None    # refused once, then let through
        assert sim.throttled == 1
        assert hits(sim, "GET /api/v1/orders") == 6     # 4 + the refused one + its retry
        assert limiter.cuts == 1
        assert limiter.rate < grown                      # halved, then one fast answer
        assert time.now >= 10_000.0 + 1.0                # Retry-After: 1 was honoured

        # A burst of refusals to requests sent before the cut cuts once, not per answer.
        before, epoch = limiter.rate, limiter.epoch
        for _ in range(5):
            limiter.answered(epoch, 429, 0.0)
        assert limiter.cuts == 2 and limiter.rate == pytest.approx(before / 2)
        for _ in range(50):
            limiter.answered(limiter.epoch, 503, 0.0)
        assert limiter.rate == 2.0                       # never below the floor
