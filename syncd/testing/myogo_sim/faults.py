"""Fault injection: which request gets which failure.

A fault matches on method and a regex searched (case-insensitively) in the URL path. With
``count`` it fires on the next N matching requests and is then used up; with ``rate`` it
fires with that probability (seeded for repeatable runs); with neither, on every match.
The first matching fault that fires wins.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset({"latency", "stall", "error", "rate_limit", "drop", "commit_timeout"})


@dataclass
class Fault:
    kind: str
    method: str | None = None
    path: str | None = None
    count: int | None = None
    rate: float | None = None
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    seed: int | None = None
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(KINDS)}")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        self._pattern = re.compile(self.path, re.IGNORECASE) if self.path else None
        self._random = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    def as_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "path": self.path, "count": self.count,
                "rate": self.rate, "status": self.status, "retryAfter": self.retry_after,
                "seconds": self.seconds}


class FaultSet:
    """The active faults; thread-safe because tests add them while a server thread serves."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request (consuming one use of a counted fault)."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.rate is not None and fault._random.random() >= fault.rate:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                return fault
        return None
