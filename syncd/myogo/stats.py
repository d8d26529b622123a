"""Counters the client keeps for metrics (exported by the daemon, asserted by tests)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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

    def snapshot(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "token_requests": self.token_requests,
            "token_grants": dict(self.token_grants),
            "reauths": self.reauths,
            "errors_by_kind": dict(self.errors_by_kind),
            "responses_by_status": dict(self.responses_by_status),
        }
