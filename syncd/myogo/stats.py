"""Counters the client keeps for metrics (exported by the daemon, asserted by tests)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

SIDE = "myogo"


class StatsListener(Protocol):
    """Told about each retry and failed call as it happens (``syncd.metrics.Metrics``)."""

    def record_api_error(self, side: str, kind: str) -> None: ...

    def record_api_retry(self, side: str, kind: str) -> None: ...


@dataclass
class ClientStats:
    """Monotonic counters; read them, never reset them in place (take a snapshot instead)."""

    requests: int = 0           # API requests put on the wire (attempts and 401 replays)
    retries: int = 0            # back-off sleeps taken before another attempt
    token_requests: int = 0     # POSTs to the token endpoint
    token_grants: Counter[str] = field(default_factory=Counter)  # grant_type -> count
    reauths: int = 0            # 401s answered with a fresh token and one replay
    errors_by_kind: Counter[str] = field(default_factory=Counter)  # MyogoError.kind -> count
    responses_by_status: Counter[int] = field(default_factory=Counter)
    retries_by_reason: Counter[str] = field(default_factory=Counter)  # 429|5xx|network|token
    listeners: list[StatsListener] = field(default_factory=list, repr=False)

    def count_retry(self, reason: str) -> None:
        """One back-off sleep before another attempt, for ``reason`` (a fixed set)."""
        self.retries += 1
        self.retries_by_reason[reason] += 1
        for listener in self.listeners:
            listener.record_api_retry(SIDE, reason)

    def count_error(self, kind: str) -> None:
        """One API operation that failed for good with a ``MyogoError`` of ``kind``."""
        self.errors_by_kind[kind] += 1
        for listener in self.listeners:
            listener.record_api_error(SIDE, kind)

    def snapshot(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "token_requests": self.token_requests,
            "token_grants": dict(self.token_grants),
            "reauths": self.reauths,
            "errors_by_kind": dict(self.errors_by_kind),
            "responses_by_status": dict(self.responses_by_status),
            "retries_by_reason": dict(self.retries_by_reason),
        }
