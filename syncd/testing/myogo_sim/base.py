"""Shared state of the simulated myOGO account and the bits every part of it needs.

One account for all configured merchants (they are only credentials here). All methods
expect the caller (``MyogoSim``) to hold its lock; state is plain dicts in wire casing with
``datetime`` values for times, converted to text only when emitted.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from syncd.testing.myogo_sim.clock import SimClock

# Called with (webhook type, wire payload) when something webhook-worthy happens.
EventSink = Callable[[str, dict[str, Any]], None]


@dataclass
class SimConfig:
    """Merchant-level switches for the behaviours the real API does not document."""

    duplicate_reference: str = "reject"            # "reject" (400) or "allow" (new order)
    enabled_shipping_codes: set[str] | None = None  # None = any shipping code accepted
    stock_unknown_code: str = "empty"              # GET /stock?productCode=<unknown>: or "404"
    webhooks_null_when_empty: bool = True          # GET /webhooks with none: literal null or []
    #: API requests per second (sliding one-second window) above which the account answers
    #: 429, as an undisclosed server-side limit would; None = no limit
    hidden_rate_limit: float | None = None

    def as_wire(self) -> dict[str, Any]:
        codes = self.enabled_shipping_codes
        return {"duplicateReference": self.duplicate_reference,
                "enabledShippingCodes": sorted(codes) if codes is not None else None,
                "stockUnknownCode": self.stock_unknown_code,
                "webhooksNullWhenEmpty": self.webhooks_null_when_empty,
                "hiddenRateLimit": self.hidden_rate_limit}


@dataclass
class StoreBase:
    """State containers plus the monotonic timestamp source."""

    clock: SimClock
    config: SimConfig
    on_event: EventSink
    products: dict[str, dict[str, Any]] = field(default_factory=dict)   # by code
    stock: dict[str, dict[str, Any]] = field(default_factory=dict)      # by product code
    reserved: Counter[str] = field(default_factory=Counter)             # by product code
    orders: list[dict[str, Any]] = field(default_factory=list)          # creation order
    stock_updates: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)   # by id
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)   # by object id
    returns: list[dict[str, Any]] = field(default_factory=list)
    _last_stamp: datetime | None = None

    def stamp(self) -> datetime:
        """The time of a change: the clock, but strictly after the previous change.

        Strictly increasing stamps keep ``modifiedAfter`` and (editTime, id) paging
        deterministic even when many changes happen within one clock tick.
        """
        now = self.clock.now()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())
