"""A controllable clock: real time plus an offset tests can move forward.

Token expiry and every timestamp the simulator writes come from here, so a test can jump
past the 1.5 h access-token lifetime without waiting.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    """``now()`` = wall clock (or a frozen start) + everything passed to ``advance``."""

    def __init__(self, start: datetime | None = None) -> None:
        # A given start freezes the clock: it then moves only through advance().
        self._frozen = start.astimezone(UTC) if start is not None else None
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated current time (UTC, timezone-aware)."""
        with self._lock:
            base = self._frozen if self._frozen is not None else datetime.now(UTC)
            return base + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` (never backwards) and return the new now."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()
